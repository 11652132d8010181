"""The inbox's pages and API on SQLite and PostgreSQL: the unread count in the navigation,
conversations masked until shown (recorded), mark as read, search by POST, reply from the inbox,
the API's cursor and reply, another account's SMS answered 404, hostile input refused with a
reason, and the demo's button only in demo mode."""

from __future__ import annotations

import re
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import select
from sqlalchemy.engine import Connection
from sqlmodel import Session

from govsms.accounts.models import Account
from govsms.auth import Role
from govsms.receiving.models import InboundMessage
from govsms.sending import blocklist
from govsms.sending.models import Dispatch
from govsms.sending.pricing import seed_default_prices
from govsms.sending.text import MAX_CHARACTERS
from govsms.web.params import MAX_ID
from tests.conftest import app_on_connection, make_settings
from tests.factories import audit_events, make_account, make_api_key, make_user, now, system
from tests.receiving.inbox_helpers import stored_inbound
from tests.web_helpers import csrf_token, login, post_form

ANNA, BO = "+46701234567", "+46709876543"
NAV_INBOX = re.compile(r'<a href="/inbox"[^>]*>Inkorg(?: <span class="nav-count">\((\d+)\)</span>)?</a>')


@pytest.fixture
def sender(client: TestClient, session: Session) -> dict[str, Any]:
    """A logged-in sender and a sender API key of one account, and an SMS of another account."""
    seed_default_prices(session, now=now())
    account = make_account(session)
    user, password = make_user(session, account, roles={Role.SENDER})
    _, key = make_api_key(session, account, roles={Role.SENDER})
    other = make_account(session)
    theirs = stored_inbound(session, other, BO, "Till ett annat konto")
    login(client, user.email, password)
    return {"account": account, "headers": {"Authorization": f"Bearer {key}"}, "other": other, "theirs": theirs}


def unread_in_nav(client: TestClient, path: str = "/") -> int:
    match = NAV_INBOX.search(client.get(path).text)
    assert match, "the inbox is in the navigation"
    return int(match.group(1) or 0)


def test_the_navigation_counts_the_unread_sms(client: TestClient, session: Session, sender: dict[str, Any]) -> None:
    assert unread_in_nav(client) == 0
    first = stored_inbound(session, sender["account"], ANNA, "Hej")
    stored_inbound(session, sender["account"], ANNA, "Hallå")
    stored_inbound(session, sender["account"], BO, "Läst redan", read_at=now())
    assert unread_in_nav(client) == 2 and unread_in_nav(client, "/messages") == 2
    post_form(client, f"/inbox/{first.subject_id}/read", {}, token_from="/inbox")
    assert unread_in_nav(client) == 0


def test_the_inbox_masks_numbers_and_shows_them_on_request(client: TestClient, session: Session, sender: dict[str, Any]) -> None:
    row = stored_inbound(session, sender["account"], ANNA, "Kan jag komma på torsdag?")
    listing = client.get("/inbox")
    assert listing.status_code == 200 and listing.headers["cache-control"] == "no-store"
    assert "Kan jag komma på torsdag?" in listing.text and ANNA not in listing.text and "+46 70" in listing.text
    assert "Till ett annat konto" not in listing.text
    page = client.get(f"/inbox/{row.subject_id}")
    assert page.status_code == 200 and ANNA not in page.text and "Visa hela numret" in page.text
    assert audit_events(session, "inbound.viewed", sender["account"].id)
    shown = post_form(client, f"/inbox/{row.subject_id}/reveal", {}, token_from=f"/inbox/{row.subject_id}")
    assert shown.status_code == 200 and ANNA in shown.text and shown.headers["cache-control"] == "no-store"
    assert audit_events(session, "inbound.number_shown", sender["account"].id)
    assert client.get(f"/inbox/{row.subject_id}").text.count(ANNA) == 0  # shown once, not remembered


def test_a_reply_is_shown_under_the_sms_it_answers(client: TestClient, session: Session, connection: Connection, sender: dict[str, Any]) -> None:
    from govsms.accounts.login import actor_for_user
    from govsms.sending.models import OutboundMessage
    from tests.receiving.inbox_helpers import send_and_submit

    user, _ = make_user(session, sender["account"], roles={Role.SENDER})
    dispatch_id = send_and_submit(session, connection, client.app.state.vault, actor_for_user(user, sender["account"]), [ANNA],
                                  text="Glöm inte mötet på tisdag")
    message = session.execute(select(OutboundMessage).where(OutboundMessage.dispatch_id == dispatch_id)).scalars().one()
    row = stored_inbound(session, sender["account"], ANNA, "Jag kommer", reply_to=message.id)
    page = client.get(f"/inbox/{row.subject_id}").text
    assert page.index("Glöm inte mötet på tisdag") < page.index("Jag kommer")
    assert f'href="/messages/{dispatch_id}"' in page and "Ert sms från 72323" in page


def test_search_is_posted_and_never_in_the_address(client: TestClient, session: Session, sender: dict[str, Any]) -> None:
    row = stored_inbound(session, sender["account"], ANNA, "Hej")
    found = post_form(client, "/inbox/search", {"number": "070-123 45 67"}, token_from="/inbox")
    assert found.status_code == 303 and found.headers["location"] == f"/inbox/{row.subject_id}"
    none = post_form(client, "/inbox/search", {"number": "0709876543"}, token_from="/inbox")
    assert none.status_code == 200 and "Inga sms från det här numret" in none.text
    bad = post_form(client, "/inbox/search", {"number": "07"}, token_from="/inbox")
    assert bad.status_code == 422 and 'class="field-error"' in bad.text
    assert client.get("/inbox", params={"number": ANNA}).status_code == 400


def test_a_reply_from_the_inbox_is_sent_from_72323_and_a_blocked_number_is_refused(
    client: TestClient, session: Session, sender: dict[str, Any]
) -> None:
    row = stored_inbound(session, sender["account"], ANNA, "Fråga")
    answered = post_form(client, f"/inbox/{row.subject_id}/reply", {"text": "Svar från kommunen"}, token_from=f"/inbox/{row.subject_id}")
    assert answered.status_code == 303 and answered.headers["location"] == f"/inbox/{row.subject_id}?done=replied"
    [dispatch] = session.execute(select(Dispatch).where(Dispatch.account_id == sender["account"].id)).scalars().all()
    assert (dispatch.sender, dispatch.channel, dispatch.accepted) == ("72323", "inbox", 1)
    empty = post_form(client, f"/inbox/{row.subject_id}/reply", {"text": ""}, token_from=f"/inbox/{row.subject_id}")
    assert empty.status_code == 422 and 'class="field-error"' in empty.text
    blocklist.block_number(session, system(sender["account"]), ANNA, source="stop", now=now())
    refused = post_form(client, f"/inbox/{row.subject_id}/reply", {"text": "Men vänta"}, token_from=f"/inbox/{row.subject_id}")
    assert refused.status_code == 422 and "blockeringslista" in refused.text and "STOP" in refused.text
    assert len(session.execute(select(Dispatch).where(Dispatch.account_id == sender["account"].id)).all()) == 1


def test_another_accounts_sms_is_404_on_every_page_and_operation(client: TestClient, session: Session, sender: dict[str, Any]) -> None:
    theirs: InboundMessage = sender["theirs"]
    conversation = theirs.subject_id
    assert client.get(f"/inbox/{conversation}").status_code == 404
    for path in (f"/inbox/{conversation}/reveal", f"/inbox/{conversation}/read", f"/inbox/{conversation}/reply"):
        response = post_form(client, path, {"text": "Hej", "message_id": str(theirs.id)}, token_from="/inbox")
        assert response.status_code == 404, path
    headers = sender["headers"]
    assert client.get(f"/api/v1/inbound/{theirs.id}", headers=headers).status_code == 404
    assert client.post(f"/api/v1/inbound/{theirs.id}/reply", json={"text": "Hej"}, headers=headers).status_code == 404
    assert client.get("/api/v1/inbound", headers=headers).json()["items"] == []
    session.refresh(theirs)
    assert theirs.read_at is None
    assert session.execute(select(Dispatch).where(Dispatch.account_id == sender["account"].id)).first() is None
    assert BO not in client.get("/inbox").text


def test_the_api_polls_with_a_stable_cursor_and_replies(client: TestClient, session: Session, sender: dict[str, Any]) -> None:
    headers = sender["headers"]
    rows = [stored_inbound(session, sender["account"], number, f"SMS {serial}") for serial, number in enumerate([ANNA, BO, ANNA])]
    first = client.get("/api/v1/inbound", params={"limit": 2}, headers=headers)
    assert first.status_code == 200, first.text
    body = first.json()
    assert [item["text"] for item in body["items"]] == ["SMS 0", "SMS 1"] and body["more"] is True
    assert body["items"][0]["from"] == ANNA and body["items"][0]["to"] == "72323" and body["items"][0]["read"] is False
    assert body["items"][0]["conversation_id"] == body["items"][2 - 2]["conversation_id"] == rows[0].subject_id
    assert client.get("/api/v1/inbound", params={"limit": 2}, headers=headers).json() == body  # the same page again
    rest = client.get("/api/v1/inbound", params={"after": body["cursor"], "limit": 2}, headers=headers).json()
    assert [item["text"] for item in rest["items"]] == ["SMS 2"] and rest["more"] is False and rest["cursor"] == rows[2].id
    nothing = client.get("/api/v1/inbound", params={"after": rest["cursor"]}, headers=headers).json()
    assert nothing == {"items": [], "cursor": rest["cursor"], "more": False}
    one = client.get(f"/api/v1/inbound/{rows[1].id}", headers=headers).json()
    assert (one["from"], one["text"], one["reply_to"]) == (BO, "SMS 1", None)
    assert len(audit_events(session, "inbound.number_shown", sender["account"].id)) == 4  # every page read, and the one SMS
    sent = client.post(f"/api/v1/inbound/{rows[1].id}/reply", json={"text": "Tack för svaret"}, headers=headers)
    assert sent.status_code == 201, sent.text
    assert sent.json()["accepted"] == 1 and sent.json()["replies_possible"] is True
    dispatch = session.get(Dispatch, sent.json()["dispatch_id"])
    assert dispatch is not None and (dispatch.sender, dispatch.channel) == ("72323", "api")
    blocklist.block_number(session, system(sender["account"]), BO, source="stop", now=now())
    blocked = client.post(f"/api/v1/inbound/{rows[1].id}/reply", json={"text": "Igen"}, headers=headers)
    assert blocked.status_code == 422 and "text" in blocked.json()["fields"] and "STOP" in blocked.json()["fields"]["text"]


def test_keys_without_the_inbox_get_403(client: TestClient, session: Session, sender: dict[str, Any]) -> None:
    for role in (Role.DPO, Role.AUDITOR):  # the admin reads the inbox (issue 14: senders and admins)
        _, key = make_api_key(session, sender["account"], roles={role})
        assert client.get("/api/v1/inbound", headers={"Authorization": f"Bearer {key}"}).status_code == 403
    _, admin_key = make_api_key(session, sender["account"], roles={Role.ADMIN})
    assert client.get("/api/v1/inbound", headers={"Authorization": f"Bearer {admin_key}"}).status_code == 200


@pytest.mark.parametrize(
    ("params", "field"),
    [({"after": -1}, "after"), ({"after": 2**31}, "after"), ({"after": "x"}, "after"), ({"after": "١"}, "after"),
     ({"limit": 0}, "limit"), ({"limit": 501}, "limit"), ({"limit": "1e3"}, "limit")],
)
def test_the_api_refuses_hostile_cursors_and_limits(client: TestClient, sender: dict[str, Any], params: dict[str, Any], field: str) -> None:
    response = client.get("/api/v1/inbound", params=params, headers=sender["headers"])
    assert response.status_code in (400, 422), response.text
    assert response.json()["message"] and field in str(response.json().get("fields", response.json()["message"]))


def test_the_api_refuses_hostile_ids_and_texts(client: TestClient, session: Session, sender: dict[str, Any]) -> None:
    headers = sender["headers"]
    row = stored_inbound(session, sender["account"], ANNA, "Hej")
    for bad in (0, -1, 2**31, 2**63):
        response = client.get(f"/api/v1/inbound/{bad}", headers=headers)
        assert 400 <= response.status_code < 500 and response.json()["message"], (bad, response.text)
    assert client.get(f"/api/v1/inbound/{MAX_ID}", headers=headers).status_code == 404
    for body in ({"text": ""}, {"text": "x" * (MAX_CHARACTERS + 1)}, {"text": 5}, {"text": None}, {}, {"text": ["x"]}):
        response = client.post(f"/api/v1/inbound/{row.id}/reply", json=body, headers=headers)
        assert 400 <= response.status_code < 500 and response.json()["message"], (body, response.status_code, response.text)
    surrogate = client.post(f"/api/v1/inbound/{row.id}/reply", content='{"text": "a\\ud800b"}', headers={**headers, "Content-Type": "application/json"})
    assert 400 <= surrogate.status_code < 500 and surrogate.json()["message"]
    deep = client.post(f"/api/v1/inbound/{row.id}/reply", content="[" * 10_000 + "]" * 10_000, headers={**headers, "Content-Type": "application/json"})
    assert 400 <= deep.status_code < 500
    assert session.execute(select(Dispatch).where(Dispatch.account_id == sender["account"].id)).first() is None


def test_the_pages_refuse_hostile_input(client: TestClient, session: Session, sender: dict[str, Any]) -> None:
    row = stored_inbound(session, sender["account"], ANNA, "Hej")
    for path in ("/inbox/0", "/inbox/-1", f"/inbox/{2**31}", "/inbox/x"):
        assert 400 <= client.get(path).status_code < 500, path
    assert client.get("/inbox", params={"page": 0}).status_code == 400
    for digit in ("²", "١", str(2**64), "x"):
        response = post_form(client, f"/inbox/{row.subject_id}/read", {"message_id": digit}, token_from="/inbox")
        assert response.status_code == 422 and '<section class="card narrow">' in response.text, digit
    for text in ("", "x" * (MAX_CHARACTERS + 1)):
        response = post_form(client, f"/inbox/{row.subject_id}/reply", {"text": text}, token_from="/inbox")
        assert response.status_code == 422 and 'class="field-error"' in response.text
    session.refresh(row)
    assert row.read_at is None


def test_the_demo_button_simulates_a_reply_in_demo_mode_only(
    client: TestClient, session: Session, connection: Connection, sender: dict[str, Any], tmp_path: Any
) -> None:
    from tests.receiving.inbox_helpers import send_and_submit
    from govsms.accounts.login import actor_for_user

    make_account(session, is_provider=True)  # an SMS no account sent to lands in its queue
    user, password = make_user(session, sender["account"], roles={Role.SENDER})
    send_and_submit(session, connection, client.app.state.vault, actor_for_user(user, sender["account"]), [ANNA], text="Kommer du?")
    page = client.get("/inbox")
    assert 'action="/inbox/simulate"' in page.text
    done = post_form(client, "/inbox/simulate", {"from": ANNA, "to": "72323", "text": "Ja!"}, token_from="/inbox")
    assert done.status_code == 303 and done.headers["location"] == "/inbox?done=simulated"
    assert "Ja!" in client.get("/inbox").text
    elsewhere = post_form(client, "/inbox/simulate", {"from": "+46700000001", "to": "72323", "text": "Vem?"}, token_from="/inbox")
    assert elsewhere.headers["location"] == "/inbox?done=simulated_elsewhere"
    missing = post_form(client, "/inbox/simulate", {"from": "", "to": "72323", "text": ""}, token_from="/inbox")
    assert missing.status_code == 422 and missing.text.count('class="field-error"') == 2

    with TestClient(app_on_connection(make_settings(tmp_path, transport="smpp", smpp_host="127.0.0.1"), connection)) as smpp:
        login(smpp, user.email, password)
        assert 'action="/inbox/simulate"' not in smpp.get("/inbox").text
        refused = smpp.post("/inbox/simulate", data={"_csrf_token": csrf_token(smpp, "/inbox"), "from": ANNA, "text": "Ja"})
        assert refused.status_code == 404
    assert session.get(Account, sender["account"].id) is not None


def test_the_count_is_read_in_the_requests_own_transaction(client: TestClient, session: Session, sender: dict[str, Any]) -> None:
    """One count on the index per page, in the handler's session: no second connection."""
    stored_inbound(session, sender["account"], ANNA, "Hej")
    state = client.app.state
    opened: list[object] = []
    factory = state.read_factory

    def counting() -> Session:
        opened.append(object())
        return factory()

    state.read_factory = counting
    try:
        assert unread_in_nav(client, "/inbox") == 1
        with_count = len(opened)
        counters, state.nav_counts = state.nav_counts, {}
        try:
            opened.clear()
            assert unread_in_nav(client, "/inbox") == 0  # no counter: no count
            assert len(opened) == with_count
        finally:
            state.nav_counts = counters
        opened.clear()
        assert client.get("/inbox/999999").status_code == 404 and unread_in_nav(client, "/inbox") == 1  # the error page counts too
    finally:
        state.read_factory = factory
    assert NAV_INBOX.search(client.get("/inbox/999999").text).group(1) == "1"  # type: ignore[union-attr]
