"""The access log as an auditor reads it (issue 15 item 7): actors by name or key name (resolved
when shown; the event keeps the id), each event one translated sentence, and a CSV export that
follows the filter, never holds another account's events, and is itself logged."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

from litestar.testing import TestClient
from sqlmodel import Session

from govsms.accounts.login import actor_for_user
from govsms.accounts.service import create_user
from govsms.audit.actions import Action
from govsms.audit.chain import seal_events, verify_export
from govsms.audit.describe import actor_text, sentence
from govsms.audit.record import record_event
from govsms.audit.service import public_key
from govsms.auth import Actor, Role
from govsms.i18n import language
from tests.factories import audit_events, make_account, make_api_key, make_password, make_user, now
from tests.web_helpers import login, post_form


EMPTY = {"since": "", "until": "", "who": "", "action": "", "reference": "", "number": ""}


def _rows(content: bytes) -> list[list[str]]:
    text = content.decode("utf-8")
    assert text.startswith("\ufeff")  # Swedish Excel reads UTF-8 with its mark
    return list(csv.reader(io.StringIO(text[1:]), delimiter=";"))


def _setup(session: Session):  # type: ignore[no-untyped-def]
    ours, theirs = make_account(session, name="Kommunen Norr"), make_account(session, name="Bolaget Syd")
    admin, _password = make_user(session, ours, roles={Role.ADMIN}, display_name="=Åsa Admin")
    auditor, password = make_user(session, ours, roles={Role.AUDITOR}, display_name="Greta Granskare")
    acting = actor_for_user(admin, ours)
    create_user(session, acting, email="ny@kommun.example", display_name="Nils Ny", password=make_password(), roles={Role.SENDER}, now=now())
    key, _secret = make_api_key(session, ours, roles={Role.SENDER}, name="Ärendesystemet")
    key_actor = Actor(kind="api_key", id=key.id, account_id=ours.id, account_name=ours.name, roles=frozenset({Role.SENDER}))  # type: ignore[arg-type]
    record_event(session, key_actor, Action.CONTACTS_LISTED, now=now(), details={"shown": 3, "total": 3, "page": 1})
    # Another account's staff and events: never in ours.
    other_admin, _ = make_user(session, theirs, roles={Role.ADMIN}, display_name="Olle Annan")
    create_user(
        session, actor_for_user(other_admin, theirs), email="x@syd.example", display_name="Xerxes Syd", password=make_password(),
        roles={Role.SENDER}, now=now(),
    )
    return ours, auditor, password, admin


def test_events_read_as_sentences_with_names(client: TestClient, session: Session) -> None:
    ours, auditor, password, admin = _setup(session)
    login(client, auditor.email, password)
    page = client.get("/audit").text
    # The admin by name, the new user by name in the sentence, the API key by its name.
    assert "=Åsa Admin" in page and "Användare skapad: användare Nils Ny (roller sender)." in page
    assert "API: Ärendesystemet" in page and "Kontakter listade (sida 1, visade 3, matchande 3)." in page
    assert "Olle Annan" not in page and "Xerxes Syd" not in page
    # The event keeps the id: the name shown is looked up now.
    [created] = [event for event in audit_events(session, "user.created", ours.id) if event.actor.startswith("user:")]
    assert created.actor == f"user:{admin.id}" and "Nils" not in created.details and "Åsa" not in created.details
    assert "API-nyckel skapad: API-nyckel Ärendesystemet (roller sender)." in page


def test_the_csv_follows_the_filter_and_holds_only_the_accounts_events(client: TestClient, session: Session) -> None:
    ours, auditor, password, _admin = _setup(session)
    login(client, auditor.email, password)
    everything = client.get("/audit/export.csv")
    assert everything.status_code == 200 and everything.headers["content-type"].startswith("text/csv")
    assert "attachment" in everything.headers["content-disposition"] and everything.headers["cache-control"] == "no-store"
    rows = _rows(everything.content)
    assert rows[0][:3] == ["Händelse", "Tid", "Vem"]
    actions = {row[4] for row in rows[1:]}
    assert {"user.created", "contacts.listed", "user.logged_in"} <= actions
    text = everything.content.decode()
    assert "Olle Annan" not in text and "Xerxes Syd" not in text and "Bolaget Syd" not in text
    # A name a spreadsheet would run as a formula is made inert.
    assert any(row[2] == "'=Åsa Admin" for row in rows[1:])

    only = _rows(client.get("/audit/export.csv", params={"action": "user.created"}).content)
    assert {row[4] for row in only[1:]} == {"user.created"} and len(only) > 1
    assert any("Nils Ny" in row[5] for row in only[1:])
    key_rows = _rows(client.get("/audit/export.csv", params={"who": only[1][3]}).content)
    assert {row[3] for row in key_rows[1:]} == {only[1][3]}
    future = _rows(client.get("/audit/export.csv", params={"since": "2999-01-01"}).content)
    assert future[1:] == []
    # The form's filter, posted (the way a number travels), gives the same.
    posted = post_form(client, "/audit/export.csv", {**EMPTY, "action": "user.created"}, token_from="/audit")
    assert posted.status_code == 200 and {row[4] for row in _rows(posted.content)[1:]} == {"user.created"}
    # Each export is logged, with its format and count.
    exported = audit_events(session, "audit.exported", ours.id)
    assert len(exported) == 5 and '"format":"csv"' in exported[-1].details


def test_the_verifiable_export_follows_the_filter_and_still_verifies(client: TestClient, session: Session) -> None:
    ours, auditor, password, _admin = _setup(session)
    keys = client.app.state.key_ring
    seal_events(session, keys.audit_signing_seed, now=datetime.now(UTC))
    login(client, auditor.email, password)

    def full_events(lines: list[str]) -> list[dict]:  # type: ignore[type-arg]
        return [json.loads(line)["event"] for line in lines if json.loads(line)["type"] == "event"]

    whole = client.get("/audit/export").text.splitlines()
    assert verify_export(whole, public_key(keys)).ok
    assert {"user.created", "contacts.listed"} <= {event["action"] for event in full_events(whole)}
    filtered = client.get("/audit/export", params={"action": "user.created"}).text.splitlines()
    assert json.loads(filtered[0])["filtered"] is True
    assert verify_export(filtered, public_key(keys)).ok  # the chain is whole: the rest are hashes
    events = full_events(filtered)
    assert events and {event["action"] for event in events} == {"user.created"}
    assert all(event["account"] == ours.id for event in events)
    posted = post_form(client, "/audit/export", {**EMPTY, "action": "contacts.listed"}, token_from="/audit")
    assert posted.status_code == 200 and {event["action"] for event in full_events(posted.text.splitlines())} == {"contacts.listed"}
    assert client.get("/audit/export", params={"number": "0701234567"}).status_code == 400
    assert client.get("/audit/export", params={"action": "bogus"}).status_code == 422
    assert '"filtered":true' in audit_events(session, "audit.exported", ours.id)[-1].details


def test_hostile_filters_get_reasons_not_errors(client: TestClient, session: Session) -> None:
    _ours, auditor, password, _admin = _setup(session)
    login(client, auditor.email, password)
    assert client.get("/audit/export.csv", params={"number": "0701234567"}).status_code == 400
    for params in ({"since": "2026-13-45"}, {"action": "bogus"}, {"reference": "x" * 500}, {"who": "user:\x01"}, {"since": "9" * 300}):
        response = client.get("/audit/export.csv", params=params)
        assert response.status_code == 422 and "text/html" in response.headers["content-type"], params
    for number in ("", "abc", "+4670" + "1" * 40, "\x00"):
        posted = post_form(client, "/audit/export.csv", {**EMPTY, "number": number}, token_from="/audit")
        assert posted.status_code in (200, 422), number
    # A number of a person the account never had: an empty CSV, and the search is logged.
    posted = post_form(client, "/audit/export.csv", {**EMPTY, "number": "070-123 45 67"}, token_from="/audit")
    assert posted.status_code == 200 and _rows(posted.content)[1:] == []


def test_actor_and_sentence_texts() -> None:
    names = {"user:1": "Åsa", "api_key:2": "API: Ärendesystemet"}
    with language("sv"):
        assert actor_text("user:1", names) == "Åsa" and actor_text("system", names) == "Systemet"
        assert actor_text("user:99", names) == "Användare 99 (finns inte längre i kontot)"
        assert actor_text("api_key:98", names) == "API-nyckel 98 (finns inte längre i kontot)"
        assert sentence("api_key.revoked", "api_key", "2", {}, names) == "API-nyckel återkallad: API-nyckel Ärendesystemet."
        verified = sentence("audit.verified", None, None, {"ok": True, "first_bad_seq": None}, names)
        assert verified == "Åtkomstloggen verifierad (intakt ja, första felaktiga händelse –)."
        assert sentence("made.up", "thing", "7", {"odd_key": 1}, names) == "made.up: thing 7 (odd key 1)."
    with language("en"):
        assert sentence("user.created", "user", "1", {"roles": "sender"}, names) == "User created: user Åsa (roles sender)."


def test_the_api_gives_the_name_and_the_sentence_too(client: TestClient, session: Session) -> None:
    ours, _auditor, _password, admin = _setup(session)
    _key, token = make_api_key(session, ours, roles={Role.AUDITOR})
    listed = client.get("/api/v1/audit", params={"action": "user.created", "per_page": 100}, headers={"Authorization": f"Bearer {token}"})
    assert listed.status_code == 200
    by_admin = [item for item in listed.json()["items"] if item["actor"] == f"user:{admin.id}"]
    assert [item["actor_name"] for item in by_admin] == ["=Åsa Admin"]
    assert by_admin[0]["description"].startswith(("User created: user Nils Ny", "Användare skapad: användare Nils Ny"))
    assert all("Xerxes" not in item["description"] for item in listed.json()["items"])


def test_no_cell_of_the_csv_runs_as_a_formula(client: TestClient, session: Session) -> None:
    """The request id comes from the client's X-Request-ID (anyone, the public opt-out page too):
    a value a spreadsheet would calculate is made inert like every other text cell."""
    from govsms.log import request_id

    ours, auditor, password, _admin = _setup(session)
    token = request_id.set("-A1-A1")
    try:
        record_event(session, Actor.system(ours.id, ours.name), Action.CONTACTS_LISTED, now=now(), details={"shown": 0, "total": 0, "page": 1})
    finally:
        request_id.reset(token)
    login(client, auditor.email, password)
    rows = _rows(client.get("/audit/export.csv").content)
    assert any(row[7] == "'-A1-A1" for row in rows[1:])
    assert not [cell for row in rows[1:] for cell in row if cell[:1] in ("=", "+", "-", "@")]
