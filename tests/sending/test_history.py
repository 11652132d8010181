"""The sent history (issue 15, item 1 and the dispatch's cancel confirmation of item 8): each
dispatch shows its text; one recipient's text with their own opt-out link is shown on request
(recorded, naming them); a search by number across all dispatches (POST); filters by state and
date; states that match the messages (all final: not "queued"), on the pages and in the API;
numbers in clear in the readable form; cancelling asks first. Both backends; every read is tried
from another account too."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from litestar.testing import TestClient
from sqlalchemy import delete, select, update
from sqlmodel import Session, col

from govsms.auth import Role
from govsms.sending import history
from govsms.sending.dispatch import DispatchRequest, create_dispatch
from govsms.sending.models import Dispatch, OutboundMessage
from govsms.sending.pricing import seed_default_prices
from govsms.sending.status import DispatchState, DispatchStatus, MessageStatus, dispatch_state
from tests.factories import audit_events, linked_subjects, make_account, make_api_key, make_user, now, system
from tests.sending.test_search_by_number import no_number_in_links, subject_of
from tests.web_helpers import login, post_form

NUMBER = "+46701234567"
SECOND = "+46702345678"
THEIRS = "+46703456789"
TEXT = "Skolan stänger 12.00 idag. Inga fler sms: _BLOCKSMSLINK_"
PUBLIC_URL = "https://sms.example"


def send(session: Session, account, numbers: list[str], *, text: str = TEXT, later: bool = False) -> int:  # type: ignore[no-untyped-def]
    request = DispatchRequest(sender="Skolan", text=text, numbers=numbers, send_at=now() + timedelta(days=1) if later else None)
    return create_dispatch(session, system(account), request, public_url=PUBLIC_URL, now=now()).dispatch_id  # type: ignore[return-value]


def set_statuses(session: Session, dispatch_id: int, *statuses: str) -> None:
    """The dispatch's messages (oldest first) get these statuses."""
    ids = session.execute(
        select(col(OutboundMessage.id)).where(col(OutboundMessage.dispatch_id) == dispatch_id).order_by(col(OutboundMessage.id))
    ).scalars().all()
    assert len(ids) == len(statuses)
    for message_id, status in zip(ids, statuses, strict=True):
        session.execute(update(OutboundMessage).where(col(OutboundMessage.id) == message_id).values(status=status))
    session.flush()


def tokens_of(session: Session, dispatch_id: int) -> list[str]:
    return list(session.execute(
        select(col(OutboundMessage.optout_token)).where(col(OutboundMessage.dispatch_id) == dispatch_id).order_by(col(OutboundMessage.id))
    ).scalars().all())


def message_ids(session: Session, dispatch_id: int) -> list[int]:
    return list(session.execute(
        select(col(OutboundMessage.id)).where(col(OutboundMessage.dispatch_id) == dispatch_id).order_by(col(OutboundMessage.id))
    ).scalars().all())


def user_of(session: Session, account, roles: set[Role] | None = None) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    user, password = make_user(session, account, roles=roles or {Role.SENDER})
    return user.email, password


# -- the state of a dispatch ----------------------------------------------------------------------


STATE_TABLE = [
    (DispatchStatus.QUEUED, {"queued": 2}, DispatchState.QUEUED),
    (DispatchStatus.SCHEDULED, {"scheduled": 2}, DispatchState.SCHEDULED),
    (DispatchStatus.SCHEDULED, {"scheduled": 1, "queued": 1}, DispatchState.QUEUED),
    (DispatchStatus.QUEUED, {"queued": 1, "sent": 1}, DispatchState.SENDING),
    (DispatchStatus.QUEUED, {"sending": 1, "delivered": 1}, DispatchState.SENDING),
    (DispatchStatus.QUEUED, {"sending": 2}, DispatchState.SENDING),
    (DispatchStatus.QUEUED, {"sent": 1, "delivered": 1}, DispatchState.SENT),
    (DispatchStatus.QUEUED, {"sent": 1, "cancelled": 1}, DispatchState.SENT),
    (DispatchStatus.QUEUED, {"delivered": 1, "failed": 1, "unknown": 1, "blocked": 1, "expired": 1}, DispatchState.DONE),
    (DispatchStatus.QUEUED, {"delivered": 3}, DispatchState.DONE),
    (DispatchStatus.QUEUED, {}, DispatchState.DONE),
    (DispatchStatus.CANCELLED, {"cancelled": 2}, DispatchState.CANCELLED),
    # Messages cancelled (a person's erasure) or blocked before they went leave the rest where it is.
    (DispatchStatus.QUEUED, {"queued": 2, "cancelled": 1}, DispatchState.QUEUED),
    (DispatchStatus.QUEUED, {"queued": 1, "blocked": 1}, DispatchState.QUEUED),
    (DispatchStatus.SCHEDULED, {"scheduled": 2, "cancelled": 1}, DispatchState.SCHEDULED),
    (DispatchStatus.SCHEDULED, {"scheduled": 1, "blocked": 1, "cancelled": 1}, DispatchState.SCHEDULED),
    (DispatchStatus.SCHEDULED, {"scheduled": 1, "queued": 1, "cancelled": 1}, DispatchState.QUEUED),
    (DispatchStatus.SCHEDULED, {"scheduled": 1, "delivered": 1}, DispatchState.SENDING),  # one retried early: some have gone
    (DispatchStatus.QUEUED, {"queued": 1, "failed": 1}, DispatchState.SENDING),
    (DispatchStatus.QUEUED, {"blocked": 1, "cancelled": 1}, DispatchState.DONE),
]


@pytest.mark.parametrize(("stored", "counts", "expected"), STATE_TABLE)
def test_a_dispatch_state_follows_its_messages(stored: str, counts: dict[str, int], expected: DispatchState) -> None:
    assert dispatch_state(stored, counts) == expected


def make_with_statuses(session: Session, account, stored: str, counts: dict[str, int]) -> int:  # type: ignore[no-untyped-def]
    """A dispatch of the account stored as ``stored`` whose messages have these ``counts``."""
    statuses = [status for status, count in counts.items() for _ in range(count)]
    numbers = [f"+4670555{index:04d}" for index in range(max(len(statuses), 1))]
    dispatch_id = send(session, account, numbers, later=stored == DispatchStatus.SCHEDULED)
    if statuses:
        set_statuses(session, dispatch_id, *statuses)
    else:
        session.execute(delete(OutboundMessage).where(col(OutboundMessage.dispatch_id) == dispatch_id))
    session.execute(update(Dispatch).where(col(Dispatch.id) == dispatch_id).values(status=stored))
    session.flush()
    return dispatch_id


def test_the_state_filter_and_the_shown_state_agree_and_stay_in_the_account(session: Session) -> None:
    """Every case of the Python rule's table goes through the SQL filter too: each state's filter
    lists exactly the dispatches shown in that state; another account's are never listed."""
    seed_default_prices(session, now=now())
    account, other = make_account(session), make_account(session)
    made = {make_with_statuses(session, account, stored, counts): expected for stored, counts, expected in STATE_TABLE}
    theirs = {state: make_with_statuses(session, other, stored, counts) for stored, counts, state in STATE_TABLE}

    actor = system(account)
    everything = history.list_dispatches(session, actor, per_page=100).items
    assert {dispatch.id for dispatch in everything} == set(made)
    assert history.dispatch_states(session, everything) == made
    for state in DispatchState:
        listed = history.list_dispatches(session, actor, state=state, per_page=100)
        expected = {dispatch_id for dispatch_id, shown in made.items() if shown == state}
        assert {dispatch.id for dispatch in listed.items} == expected and listed.total == len(expected), state
    assert [dispatch.id for dispatch in history.list_dispatches(session, system(other), state=DispatchState.CANCELLED).items] == [
        theirs[DispatchState.CANCELLED]
    ]
    with pytest.raises(Exception, match="Unknown status"):
        history.list_dispatches(session, actor, state="nope")


def test_the_api_schema_lists_the_dispatch_status_values(client: TestClient) -> None:
    schema = client.get("/api/schema/openapi.json").json()
    status = schema["components"]["schemas"]["Dispatch"]["properties"]["status"]
    assert all(f"`{state.value}`" in status["description"] for state in DispatchState), status
    assert status["allOf"] == [{"$ref": "#/components/schemas/DispatchState"}]
    assert schema["components"]["schemas"]["DispatchState"]["enum"] == [state.value for state in DispatchState]  # the enum too
    page = client.get("/api/schema").text  # the docs page: the field's description in its schema's table
    row = page.split('id="schema-Dispatch"')[1].split("<code>status</code>")[1].split("</tr>")[0]
    assert all(f"`{state.value}`" in row for state in DispatchState), row


def test_a_page_that_shows_texts_is_recorded_without_text_or_number(client: TestClient, session: Session) -> None:
    """/messages and /messages/{id} (its refused filter too) show texts: each view is one event
    of the account naming the recipients, with counts only; another account's views write none."""
    seed_default_prices(session, now=now())
    account, other = make_account(session), make_account(session)
    personal = "Hej Anna Andersson, ditt provsvar: positivt"
    dispatch_id = send(session, account, [NUMBER], text=personal)
    subject = subject_of(session, account.id, NUMBER)  # type: ignore[arg-type]
    send(session, other, [THEIRS], text="Deras text")
    login(client, *user_of(session, other))
    assert client.get("/messages").status_code == 200 and client.get(f"/messages/{dispatch_id}").status_code == 404
    assert audit_events(session, "messages.listed", account.id) == []  # another account's views: nothing in ours
    client.cookies.clear()
    login(client, *user_of(session, account))

    for path, code in (("/messages", 200), (f"/messages/{dispatch_id}", 200), (f"/messages/{dispatch_id}?status=nope", 422)):
        before = len(audit_events(session, "messages.listed", account.id))
        answer = client.get(path)
        assert answer.status_code == code and "Anna Andersson" in answer.text, path
        events = audit_events(session, "messages.listed", account.id)[before:]
        texts = [event for event in events if "texts" in json.loads(event.details or "{}")]
        assert len(texts) == 1 and json.loads(texts[0].details or "") == {"texts": 1, "in_clear": False}, (path, [e.details for e in events])
        assert linked_subjects(session, texts[0]) == {subject}
        assert not any("Anna" in (event.details or "") or "701234567" in (event.details or "") for event in events)


def test_the_api_reports_a_dispatch_whose_messages_are_final_as_done(client: TestClient, session: Session) -> None:
    seed_default_prices(session, now=now())
    account, other = make_account(session), make_account(session)
    _key, secret = make_api_key(session, account, roles={Role.SENDER})
    _other_key, other_secret = make_api_key(session, other, roles={Role.SENDER})
    headers = {"Authorization": f"Bearer {secret}"}
    dispatch_id = send(session, account, [NUMBER, SECOND])
    assert client.get(f"/api/v1/dispatches/{dispatch_id}", headers=headers).json()["status"] == "queued"
    set_statuses(session, dispatch_id, MessageStatus.SENT, MessageStatus.DELIVERED)
    assert client.get(f"/api/v1/dispatches/{dispatch_id}", headers=headers).json()["status"] == "sent"
    set_statuses(session, dispatch_id, MessageStatus.DELIVERED, MessageStatus.FAILED)
    body = client.get(f"/api/v1/dispatches/{dispatch_id}", headers=headers).json()
    assert body["status"] == "done" and body["messages"] == {"delivered": 1, "failed": 1}
    assert client.get(f"/api/v1/dispatches/{dispatch_id}", headers={"Authorization": f"Bearer {other_secret}"}).status_code == 404


# -- the pages ------------------------------------------------------------------------------------


def test_the_history_shows_each_dispatch_text_with_its_state(client: TestClient, session: Session) -> None:
    seed_default_prices(session, now=now())
    account, other = make_account(session), make_account(session)
    dispatch_id = send(session, account, [NUMBER, SECOND])
    plain = send(session, account, [NUMBER], text="Välkommen på föräldramöte!")
    set_statuses(session, plain, MessageStatus.DELIVERED)
    theirs = send(session, other, [THEIRS], text="Hemligt för andra kunder")
    tokens = tokens_of(session, dispatch_id)
    login(client, *user_of(session, account))

    listed = client.get("/messages")
    assert listed.status_code == 200
    assert "Skolan stänger 12.00 idag." in listed.text and "Välkommen på föräldramöte!" in listed.text
    assert "Hemligt för andra kunder" not in listed.text
    assert re.search(r'data-state="done">Slutfört<', listed.text) and re.search(r'data-state="queued">Väntar på att skickas<', listed.text)
    assert not any(token in listed.text for token in tokens)

    page = client.get(f"/messages/{dispatch_id}")
    assert page.status_code == 200
    text = re.search(r'id="dispatch-text">([^<]*)<', page.text).group(1)  # type: ignore[union-attr]
    assert re.fullmatch(r"Skolan stänger 12\.00 idag\. Inga fler sms: https?://[^ ]+/u/\*{12}", text), text
    assert not any(token in page.text for token in tokens)  # each row shows its link masked: Ab**********
    assert all(f"/u/{token[:2]}{'*' * 10}" in page.text for token in tokens)
    assert "Väntar på att skickas" in page.text  # the state, in Swedish
    assert client.get(f"/messages/{theirs}").status_code == 404


def test_one_recipients_text_with_their_link_is_shown_on_request_and_recorded(client: TestClient, session: Session) -> None:
    seed_default_prices(session, now=now())
    account, other = make_account(session), make_account(session)
    dispatch_id = send(session, account, [NUMBER, SECOND])
    second_dispatch = send(session, account, [THEIRS])
    theirs = send(session, other, [THEIRS])
    first, second = message_ids(session, dispatch_id)
    token = tokens_of(session, dispatch_id)[0]
    subject = subject_of(session, account.id, NUMBER)  # type: ignore[arg-type]
    login(client, *user_of(session, account))
    path = f"/messages/{dispatch_id}"

    shown = post_form(client, f"{path}/messages/{first}", {"status": "", "page": "1"}, token_from=path)
    assert shown.status_code == 200, shown.text[:300]
    shown_text = re.search(r'id="shown-text">([^<]*)<', shown.text).group(1)  # type: ignore[union-attr]
    assert re.fullmatch(rf"Skolan stänger 12\.00 idag\. Inga fler sms: https?://[^ ]+/u/{re.escape(token)}", shown_text), shown_text
    assert re.search(r'id="shown-recipient">([^<]*)<', shown.text).group(1) == "+46 70 123 45 67"  # type: ignore[union-attr]
    assert tokens_of(session, dispatch_id)[1] not in shown.text  # the other recipient's link stays masked
    no_number_in_links(shown.text, NUMBER)
    event = audit_events(session, "message.text_shown", account.id)[-1]
    assert linked_subjects(session, event) == {subject} and event.target_id == str(dispatch_id)
    assert NUMBER not in str(event.details) and token not in str(event.details)

    # Another dispatch's message, another account's message, and ids that name nothing: 404, nothing shown.
    events = len(audit_events(session, "message.text_shown"))
    for target in (f"{path}/messages/{message_ids(session, second_dispatch)[0]}", f"{path}/messages/{message_ids(session, theirs)[0]}",
                   f"/messages/{theirs}/messages/{message_ids(session, theirs)[0]}", f"{path}/messages/{2**31 - 1}"):
        assert post_form(client, target, {}, token_from=path).status_code == 404, target
    for target in (f"{path}/messages/0", f"{path}/messages/{2**40}", f"{path}/messages/x"):
        assert 400 <= post_form(client, target, {}, token_from=path).status_code < 500, target
    assert 400 <= post_form(client, f"{path}/messages/{second}", {"page": "x"}, token_from=path).status_code < 500
    assert client.post(f"{path}/messages/{first}", data={}).status_code == 403  # no CSRF token
    assert len(audit_events(session, "message.text_shown")) == events

    login(client, *user_of(session, other))
    assert post_form(client, f"{path}/messages/{first}", {}, token_from="/messages").status_code == 404
    assert len(audit_events(session, "message.text_shown")) == events


def test_revealed_numbers_are_readable(client: TestClient, session: Session) -> None:
    seed_default_prices(session, now=now())
    account = make_account(session)
    dispatch_id = send(session, account, [NUMBER])
    login(client, *user_of(session, account))
    revealed = post_form(client, f"/messages/{dispatch_id}/reveal", {"status": "", "number": "", "page": "1"}, token_from=f"/messages/{dispatch_id}")
    assert revealed.status_code == 200 and "+46 70 123 45 67" in revealed.text


def test_search_by_number_across_all_dispatches(client: TestClient, session: Session) -> None:
    seed_default_prices(session, now=now())
    account, other = make_account(session), make_account(session)
    first = send(session, account, [NUMBER, SECOND])
    second = send(session, account, [NUMBER])
    send(session, account, [SECOND])
    theirs = send(session, other, [NUMBER])
    subject = subject_of(session, account.id, NUMBER)  # type: ignore[arg-type]
    login(client, *user_of(session, account))

    found = post_form(client, "/messages/search", {"number": "070-123 45 67"}, token_from="/messages")
    assert found.status_code == 200, found.text[:300]
    table = found.text.split('id="found"')[1].split("</table>")[0]
    assert sorted(int(value) for value in re.findall(r'href="/messages/(\d+)"', table)) == sorted([first, second])
    assert table.count("+46 70 *** ** 67") == 2 and "** 78" not in table
    no_number_in_links(found.text, NUMBER)
    event = audit_events(session, "messages.listed", account.id)[-1]
    assert linked_subjects(session, event) == {subject} and json.loads(event.details)["by_number"] is True

    nothing = post_form(client, "/messages/search", {"number": "0709999999"}, token_from="/messages")
    assert nothing.status_code == 200 and 'id="found-none"' in nothing.text
    for hostile in ("", " ", "\x00", "0701", "x" * 100_000, "070\x001234567", "\u202e0701234567"):
        response = post_form(client, "/messages/search", {"number": hostile}, token_from="/messages")
        assert response.status_code == 422 and 'class="field-error"' in response.text, repr(hostile)[:30]
    assert 400 <= post_form(client, "/messages/search", {"number": NUMBER, "page": "x"}, token_from="/messages").status_code < 500
    assert client.get("/messages", params={"number": NUMBER}).status_code == 400  # never in an address
    assert client.post("/messages/search", data={"number": NUMBER}).status_code == 403  # no CSRF token

    login(client, *user_of(session, other))
    theirs_found = post_form(client, "/messages/search", {"number": NUMBER}, token_from="/messages")
    table = theirs_found.text.split('id="found"')[1].split("</table>")[0]
    assert re.findall(r'href="/messages/(\d+)"', table) == [str(theirs)]


def test_dispatches_are_filtered_by_state_and_date(client: TestClient, session: Session) -> None:
    seed_default_prices(session, now=now())
    account, other = make_account(session), make_account(session)
    done = send(session, account, [NUMBER])
    set_statuses(session, done, MessageStatus.DELIVERED)
    queued = send(session, account, [SECOND])
    old = send(session, account, [NUMBER])
    session.execute(update(Dispatch).where(col(Dispatch.id) == old).values(created_at=now() - timedelta(days=40)))
    theirs = send(session, other, [THEIRS])
    set_statuses(session, theirs, MessageStatus.DELIVERED)
    login(client, *user_of(session, account))

    def listed(**params: str) -> list[int]:
        response = client.get("/messages", params=params)
        assert response.status_code == 200, response.text[:300]
        return [int(value) for value in re.findall(r'data-dispatch="(\d+)"', response.text)]

    assert listed() == [old, queued, done]
    assert listed(status="done") == [done]
    assert listed(status="queued") == [old, queued]
    today = now().date()
    assert listed(from_day=(today - timedelta(days=1)).isoformat()) == [queued, done]
    assert listed(to_day=(today - timedelta(days=20)).isoformat()) == [old]
    assert listed(status="queued", from_day=(today - timedelta(days=1)).isoformat(), to_day=(today + timedelta(days=1)).isoformat()) == [queued]
    assert listed(status="cancelled") == []

    for params in ({"status": "nope"}, {"from_day": "2026-13-01"}, {"to_day": "x" * 10_000}, {"from_day": "\x00"},
                   {"from_day": "0001-01-01"}, {"to_day": "9999-12-31"}, {"from_day": "2026-05-02", "to_day": "2026-05-01"},
                   {"status": "\u202edone"}):
        response = client.get("/messages", params=params)
        assert response.status_code == 422 and 'class="field-error"' in response.text, params
    assert client.get("/messages", params={"page": "0"}).status_code == 400
    for repeated in ([("status", "done"), ("status", "queued")], [("from_day", "2026-01-01"), ("from_day", "x")]):
        assert client.get("/messages", params=repeated).status_code in (200, 400, 422), repeated  # never a 500


def test_the_pager_keeps_the_filters(client: TestClient, session: Session) -> None:
    seed_default_prices(session, now=now())
    account = make_account(session)
    for _ in range(26):
        send(session, account, [NUMBER], text="Hej")
    login(client, *user_of(session, account))
    first = client.get("/messages", params={"status": "queued"})
    assert 'href="/messages?page=2&amp;status=queued"' in first.text
    assert len(re.findall(r'data-dispatch="', client.get("/messages", params={"status": "queued", "page": "2"}).text)) == 1


def test_cancelling_a_dispatch_asks_first(client: TestClient, session: Session) -> None:
    seed_default_prices(session, now=now())
    account, other = make_account(session), make_account(session)
    dispatch_id = send(session, account, [NUMBER, SECOND], later=True)
    path = f"/messages/{dispatch_id}"
    login(client, *user_of(session, account))

    page = client.get(path)
    assert f'href="{path}/cancel"' in page.text and f'action="{path}/cancel"' not in page.text
    asked = client.get(f"{path}/cancel")
    assert asked.status_code == 200 and "Avbryta utskicket?" in asked.text and 'name="confirm" value="yes"' in asked.text
    unconfirmed = post_form(client, f"{path}/cancel", {}, token_from=path)
    assert unconfirmed.status_code == 200 and "Avbryta utskicket?" in unconfirmed.text
    assert session.get(Dispatch, dispatch_id, populate_existing=True).status == DispatchStatus.SCHEDULED  # type: ignore[union-attr]
    assert post_form(client, f"{path}/cancel", {"confirm": "no"}, token_from=path).status_code == 200
    assert session.get(Dispatch, dispatch_id, populate_existing=True).status == DispatchStatus.SCHEDULED  # type: ignore[union-attr]

    login(client, *user_of(session, other))
    assert client.get(f"{path}/cancel").status_code == 404
    assert post_form(client, f"{path}/cancel", {"confirm": "yes"}, token_from="/messages").status_code == 404
    assert session.get(Dispatch, dispatch_id, populate_existing=True).status == DispatchStatus.SCHEDULED  # type: ignore[union-attr]

    login(client, *user_of(session, account, roles={Role.AUDITOR}))
    assert client.get(f"{path}/cancel").status_code == 403

    login(client, *user_of(session, account))
    done = post_form(client, f"{path}/cancel", {"confirm": "yes"}, token_from=path)
    assert done.status_code == 303 and done.headers["location"] == f"{path}?done=cancelled"
    assert session.get(Dispatch, dispatch_id, populate_existing=True).status == DispatchStatus.CANCELLED  # type: ignore[union-attr]
    after = client.get(done.headers["location"])
    assert 'data-state="cancelled"' in after.text and f"{path}/cancel" not in after.text
    assert client.get(f"{path}/cancel", follow_redirects=False).headers["location"] == path  # nothing more to cancel


def test_a_text_that_does_not_open_is_marked_and_recorded(client: TestClient, session: Session) -> None:
    """An altered text: the history says it cannot be read (the rest of the page is shown), and each
    read is a data.unreadable event of the account; a recipient's SMS shows the same marker."""
    seed_default_prices(session, now=now())
    account = make_account(session)
    dispatch_id = send(session, account, [NUMBER])
    good = send(session, account, [SECOND], text="Läsbar text")
    session.execute(update(Dispatch).where(col(Dispatch.id) == dispatch_id).values(text_ct=b"\x00" * 40))
    session.flush()
    login(client, *user_of(session, account))

    listed = client.get("/messages")
    assert listed.status_code == 200 and "kan inte läsas" in listed.text and "Läsbar text" in listed.text
    page = client.get(f"/messages/{dispatch_id}")
    assert page.status_code == 200 and re.search(r'id="dispatch-text">kan inte läsas<', page.text)
    shown = post_form(client, f"/messages/{dispatch_id}/messages/{message_ids(session, dispatch_id)[0]}", {}, token_from=f"/messages/{good}")
    assert shown.status_code == 200 and re.search(r'id="shown-text">kan inte läsas<', shown.text)
    events = [event for event in audit_events(session, "data.unreadable", account.id) if event.target_type == "dispatch"]
    assert len(events) >= 3 and all(event.target_id == str(dispatch_id) for event in events)
