"""Searching sending data by number (issue 10, item 5): the blocklist and sent messages are searched
by POST only, so numbers stay out of URLs, proxy logs and browser histories; the old GET forms
(and DELETE /api/v1/blocklist?number=) are refused with 400 and touch nothing. Each search stays a
read in the access log naming the person, under the account that searched. Both backends."""

from __future__ import annotations

import json
import re
from datetime import timedelta

from litestar.testing import TestClient
from sqlmodel import Session

from govsms.auth import Role
from govsms.contacts import service
from govsms.keys.store import vault_of
from govsms.sending import blocklist
from govsms.sending.dispatch import DispatchRequest, create_dispatch
from govsms.sending.pricing import seed_default_prices
from tests.factories import audit_events, linked_subjects, make_account, make_api_key, make_contact, make_user, now, system
from tests.web_helpers import login, post_form

NUMBER = "+46701234567"
NATIONAL = "070-123 45 67"
SECOND = "+46702345678"
THEIRS = "+46703456789"
HOSTILE_NUMBERS = ("", " ", "\x00", "070\x001234567", "\u202e0701234567", "0701234567" * 1000, "+46 70 123 45 67\n0701", "x" * 100_000)
ODD_NUMBERS = ("٠٧٠١٢٣٤٥٦٧", "  +46 (0)70-123 45 67  ", "+46701234567" + " " * 10_000)
"""Numbers a person might type: found or refused (200 or 422), never a 500."""
WRONG_BODIES = (
    {}, {"number": None}, {"number": 701234567}, {"number": ["0701234567"]}, {"number": {"e164": NUMBER}}, {"number": True},
    [], "0701234567", 701234567, None,
)


def post_json(client: TestClient, path: str, body: object, headers: dict[str, str]):  # type: ignore[no-untyped-def]
    """Any JSON value as the body (``null`` too, which ``json=None`` would leave out)."""
    return client.post(path, content=json.dumps(body), headers={**headers, "Content-Type": "application/json"})


def subject_of(session: Session, account_id: int, number: str) -> int:
    return vault_of(session).find_subjects(session, account_id, [number], now=now())[number].id  # type: ignore[return-value]


def api_account(session: Session, roles: set[Role] | None = None):  # type: ignore[no-untyped-def]
    account = make_account(session)
    api_key, key = make_api_key(session, account, roles=roles or {Role.SENDER})
    return account, f"api_key:{api_key.id}", {"Authorization": f"Bearer {key}"}


def send(session: Session, account, numbers: list[str], *, later: bool = False) -> int:  # type: ignore[no-untyped-def]
    request = DispatchRequest(sender="Skolan", text="Hej", numbers=numbers, send_at=now() + timedelta(days=1) if later else None)
    return create_dispatch(session, system(account), request, public_url="https://sms.example", now=now()).dispatch_id  # type: ignore[return-value]


def masked_rows(html: str) -> int:
    """Rows of a messages table that show a masked number (its first cell)."""
    return len(re.findall(r"<td>\+\d+ \d+ \*\*\* \*\*", html))


def no_number_in_links(html: str, *numbers: str) -> None:
    """No link, form address or redirect of the page carries a number (in any of its writings)."""
    targets = re.findall(r'(?:href|action|formaction)="([^"]*)"', html)
    for target in targets:
        assert not re.search(r"[?&](number|to|phone|msisdn|recipient)=", target), target
        for number in numbers:
            digits = re.sub(r"\D", "", number)
            assert digits[-9:] not in re.sub(r"\D", "", target), target


# -- the blocklist, API ---------------------------------------------------------------------------


def test_api_blocklist_is_checked_by_post_and_the_old_get_is_refused(client: TestClient, session: Session) -> None:
    account_a, actor_a, headers_a = api_account(session)
    account_b, actor_b, headers_b = api_account(session)
    make_contact(session, account_a, number=NUMBER, name="Åsa Öberg")
    blocklist.block_number(session, system(account_a), NUMBER, source="manual", now=now())
    subject_a = subject_of(session, account_a.id, NUMBER)  # type: ignore[arg-type]

    old = client.get("/api/v1/blocklist", params={"number": NUMBER}, headers=headers_a)
    assert old.status_code == 400 and "POST /api/v1/blocklist/search" in old.json()["message"]
    assert "blocked" not in old.json() and audit_events(session, "blocklist.checked", account_a.id) == []  # nothing was looked up
    counts = client.get("/api/v1/blocklist", headers=headers_a)
    assert counts.status_code == 200 and counts.json()["counts"]["manual"] == 1

    found = client.post("/api/v1/blocklist/search", json={"number": NATIONAL}, headers=headers_a)
    assert found.status_code == 200, found.text
    assert found.json()["blocked"] is True and found.json()["source"] == "manual" and found.json()["since"]
    [checked] = audit_events(session, "blocklist.checked", account_a.id)
    assert checked.actor == actor_a and linked_subjects(session, checked) == {subject_a}
    assert "701234567" not in checked.details + str(checked.target_id)

    # Account B asks about A's number: its own (empty) list answers, logged under B, not naming A's person.
    other = client.post("/api/v1/blocklist/search", json={"number": NUMBER}, headers=headers_b)
    assert other.status_code == 200 and other.json() == {"blocked": False, "source": None, "since": None}
    [checked_b] = audit_events(session, "blocklist.checked", account_b.id)
    assert checked_b.actor == actor_b and subject_a not in linked_subjects(session, checked_b)
    assert len(audit_events(session, "blocklist.checked", account_a.id)) == 1
    schema = client.get("/api/schema/openapi.json").json()["paths"]
    assert "post" in schema["/api/v1/blocklist/search"] and "post" in schema["/api/v1/blocklist/unblock"]


def test_api_blocklist_unblocks_by_post_and_the_old_delete_is_refused(client: TestClient, session: Session) -> None:
    account_a, actor_a, headers_a = api_account(session)
    account_b, _, headers_b = api_account(session)
    blocklist.block_number(session, system(account_a), NUMBER, source="manual", now=now())

    old = client.delete("/api/v1/blocklist", params={"number": NUMBER}, headers=headers_a)
    assert old.status_code == 400 and "POST /api/v1/blocklist/unblock" in old.json()["message"]
    assert blocklist.check_number(session, system(account_a), NUMBER, now=now()).blocked  # still blocked
    assert audit_events(session, "blocklist.removed", account_a.id) == []

    # B cannot unblock A's number: its own list has nothing to remove.
    theirs = client.post("/api/v1/blocklist/unblock", json={"number": NUMBER}, headers=headers_b)
    assert theirs.status_code == 200 and theirs.json() == {"removed": False}
    assert blocklist.check_number(session, system(account_a), NUMBER, now=now()).blocked
    assert len(audit_events(session, "blocklist.removed", account_b.id)) == 1

    removed = client.post("/api/v1/blocklist/unblock", json={"number": NATIONAL}, headers=headers_a)
    assert removed.status_code == 200 and removed.json() == {"removed": True}
    assert not blocklist.check_number(session, system(account_a), NUMBER, now=now()).blocked
    [event] = audit_events(session, "blocklist.removed", account_a.id)
    assert event.actor == actor_a


def test_api_blocklist_bodies_refuse_hostile_input(client: TestClient, session: Session) -> None:
    _, _, headers = api_account(session)
    for path in ("/api/v1/blocklist/search", "/api/v1/blocklist/unblock"):
        for body in WRONG_BODIES:
            response = post_json(client, path, body, headers)
            assert response.status_code in (400, 422), (path, body, response.status_code)
        for number in HOSTILE_NUMBERS:
            response = client.post(path, json={"number": number}, headers=headers)
            assert response.status_code == 422 and "number" in response.json()["fields"], (path, repr(number)[:30], response.status_code)
        for number in ODD_NUMBERS:
            assert client.post(path, json={"number": number}, headers=headers).status_code in (200, 422), repr(number)[:30]
        broken = client.post(path, content=b'{"number": "0701', headers={**headers, "Content-Type": "application/json"})
        assert broken.status_code == 400
        plain = client.post(path, content=json.dumps({"number": NUMBER}), headers={**headers, "Content-Type": "text/plain"})
        assert plain.status_code == 415
        form = client.post(path, data={"number": NUMBER}, headers=headers)
        assert form.status_code == 415
        huge = client.post(path, json={"number": NUMBER, "padding": "x" * 2_000_000}, headers=headers)
        assert huge.status_code in (200, 400, 413, 422), huge.status_code


def test_api_blocklist_search_needs_the_permission(client: TestClient, session: Session) -> None:
    _, _, headers = api_account(session, roles={Role.AUDITOR})
    assert client.post("/api/v1/blocklist/search", json={"number": NUMBER}, headers=headers).status_code == 403
    assert client.post("/api/v1/blocklist/unblock", json={"number": NUMBER}, headers=headers).status_code == 403


# -- sent messages, API ---------------------------------------------------------------------------


def test_api_messages_are_searched_by_post_and_the_old_get_is_refused(client: TestClient, session: Session) -> None:
    seed_default_prices(session, now=now())
    account_a, actor_a, headers_a = api_account(session)
    account_b, actor_b, headers_b = api_account(session)
    first = send(session, account_a, [NUMBER, SECOND])
    second = send(session, account_a, [NUMBER])
    third = send(session, account_a, [NUMBER], later=True)
    theirs = send(session, account_b, [THEIRS])
    subject_a = subject_of(session, account_a.id, NUMBER)  # type: ignore[arg-type]

    listed_before = len(audit_events(session, "messages.listed", account_a.id))
    old = client.get("/api/v1/messages", params={"number": NUMBER}, headers=headers_a)
    assert old.status_code == 400 and "POST /api/v1/messages/search" in old.json()["message"] and "items" not in old.json()
    old_filtered = client.get("/api/v1/messages", params={"dispatch_id": first, "number": NATIONAL}, headers=headers_a)
    assert old_filtered.status_code == 400
    assert len(audit_events(session, "messages.listed", account_a.id)) == listed_before  # nothing was read
    assert client.get("/api/v1/messages", params={"dispatch_id": first}, headers=headers_a).json()["total"] == 2  # the rest stays
    listed_before += 1

    found = client.post("/api/v1/messages/search", json={"number": NATIONAL}, headers=headers_a)
    assert found.status_code == 200, found.text
    body = found.json()
    assert body["total"] == 3 and {item["to"] for item in body["items"]} == {"+46 70 *** ** 67"}
    [listed] = audit_events(session, "messages.listed", account_a.id)[listed_before:]
    assert listed.actor == actor_a and subject_a in linked_subjects(session, listed)
    assert "701234567" not in listed.details

    narrowed = client.post("/api/v1/messages/search", json={"number": NUMBER, "dispatch_id": second}, headers=headers_a).json()
    assert narrowed["total"] == 1
    scheduled = client.post("/api/v1/messages/search", json={"number": NUMBER, "status": "scheduled"}, headers=headers_a).json()
    assert scheduled["total"] == 1
    paged = client.post("/api/v1/messages/search", json={"number": NUMBER, "page": 2, "per_page": 2}, headers=headers_a).json()
    assert paged["total"] == 3 and paged["page"] == 2 and paged["per_page"] == 2 and len(paged["items"]) == 1
    revealed = client.post("/api/v1/messages/search", json={"number": NUMBER, "dispatch_id": third, "reveal": True}, headers=headers_a)
    assert revealed.json()["items"][0]["to"] == NUMBER
    [shown] = audit_events(session, "message.number_shown", account_a.id)
    assert shown.actor == actor_a and linked_subjects(session, shown) == {subject_a}
    assert client.post("/api/v1/messages/search", json={"number": SECOND, "dispatch_id": second}, headers=headers_a).json()["total"] == 0

    # Account B: A's dispatch is not there; A's number finds nothing and is logged under B only.
    a_events = len(audit_events(session, "messages.listed", account_a.id))
    assert client.post("/api/v1/messages/search", json={"number": NUMBER, "dispatch_id": first}, headers=headers_b).status_code == 404
    other = client.post("/api/v1/messages/search", json={"number": NUMBER}, headers=headers_b)
    assert other.status_code == 200 and other.json()["total"] == 0 and other.json()["items"] == []
    assert len(audit_events(session, "messages.listed", account_a.id)) == a_events
    [listed_b] = audit_events(session, "messages.listed", account_b.id)
    assert listed_b.actor == actor_b and subject_a not in linked_subjects(session, listed_b)
    own = client.post("/api/v1/messages/search", json={"number": THEIRS, "dispatch_id": theirs}, headers=headers_b).json()
    assert own["total"] == 1


def test_api_message_search_names_a_known_person_even_when_nothing_was_sent(client: TestClient, session: Session) -> None:
    """The answer 'no messages to this number' is about that person too."""
    account, actor, headers = api_account(session)
    make_contact(session, account, number=SECOND, name="Björn")
    found = client.post("/api/v1/messages/search", json={"number": SECOND}, headers=headers)
    assert found.status_code == 200 and found.json()["total"] == 0
    [listed] = audit_events(session, "messages.listed", account.id)
    assert listed.actor == actor and linked_subjects(session, listed) == {subject_of(session, account.id, SECOND)}  # type: ignore[arg-type]


def test_api_message_search_refuses_hostile_bodies(client: TestClient, session: Session) -> None:
    seed_default_prices(session, now=now())
    account, _, headers = api_account(session)
    dispatch = send(session, account, [NUMBER])
    path = "/api/v1/messages/search"
    for body in WRONG_BODIES:
        response = post_json(client, path, body, headers)
        assert response.status_code in (400, 422), (body, response.status_code)
    for number in HOSTILE_NUMBERS:
        response = client.post(path, json={"number": number}, headers=headers)
        assert response.status_code == 422 and "number" in response.json()["fields"], (repr(number)[:30], response.status_code)
    for number in ODD_NUMBERS:
        assert client.post(path, json={"number": number}, headers=headers).status_code in (200, 422), repr(number)[:30]
    for extra in (
        {"dispatch_id": 0}, {"dispatch_id": -1}, {"dispatch_id": 2**31}, {"dispatch_id": 2**70},
        {"dispatch_id": 1.5}, {"dispatch_id": True}, {"status": 3}, {"status": "nope"}, {"status": "\x00"}, {"status": "x" * 100_000},
        {"reveal": "yes"}, {"reveal": 2}, {"page": 0}, {"page": -3}, {"page": 2**31}, {"page": 2**64},
        {"per_page": 0}, {"per_page": 2**31}, {"per_page": None},
    ):
        response = client.post(path, json={"number": NUMBER, **extra}, headers=headers)
        assert response.status_code in (400, 422), (extra, response.status_code)
    for lenient in ({"dispatch_id": str(dispatch)}, {"page": "2"}, {"reveal": "false"}, {"reveal": 1}):  # what the JSON decoder may coerce
        assert client.post(path, json={"number": NUMBER, **lenient}, headers=headers).status_code in (200, 400, 422), lenient
    assert client.post(path, json={"number": NUMBER, "per_page": 100_000}, headers=headers).status_code == 200  # clamped
    broken = client.post(path, content=b'{"number": ', headers={**headers, "Content-Type": "application/json"})
    assert broken.status_code == 400
    plain = client.post(path, content=json.dumps({"number": NUMBER}), headers={**headers, "Content-Type": "text/plain"})
    assert plain.status_code == 415
    assert client.post(path, data={"number": NUMBER}, headers=headers).status_code == 415


def test_api_message_search_needs_the_permission(client: TestClient, session: Session) -> None:
    _, _, headers = api_account(session, roles={Role.AUDITOR})
    assert client.post("/api/v1/messages/search", json={"number": NUMBER}, headers=headers).status_code == 403


# -- sent messages, UI ----------------------------------------------------------------------------


def test_ui_dispatch_page_searches_by_post_and_refuses_the_old_get(client: TestClient, session: Session) -> None:
    seed_default_prices(session, now=now())
    account_a, account_b = make_account(session), make_account(session)
    dispatch = send(session, account_a, [NUMBER, SECOND])
    dispatch_b = send(session, account_b, [THEIRS])
    subject_a = subject_of(session, account_a.id, NUMBER)  # type: ignore[arg-type]
    user, password = make_user(session, account_a, roles={Role.SENDER})
    login(client, user.email, password)

    shown = client.get(f"/messages/{dispatch}")
    assert shown.status_code == 200
    assert f'method="post" action="/messages/{dispatch}/search"' in shown.text and 'method="get"' not in shown.text
    listed_before = len(audit_events(session, "messages.listed", account_a.id))
    old = client.get(f"/messages/{dispatch}", params={"number": NUMBER})
    assert old.status_code == 400 and "*** ** 67" not in old.text and "70 123 45 67" not in old.text
    assert len(audit_events(session, "messages.listed", account_a.id)) == listed_before  # nothing was read
    assert client.get(f"/messages/{dispatch}", params={"status": "queued"}).status_code == 200  # status alone still filters

    found = post_form(client, f"/messages/{dispatch}/search", {"number": NATIONAL, "status": ""}, token_from=f"/messages/{dispatch}")
    assert found.status_code == 200, found.text[:300]
    assert "+46 70 *** ** 67" in found.text and "+46 70 *** ** 78" not in found.text
    no_number_in_links(found.text, NUMBER)
    # The search's own event (the page's dispatch text has one of its own, naming the dispatch's first recipients).
    listed = [event for event in audit_events(session, "messages.listed", account_a.id) if '"texts"' not in (event.details or "")][-1]
    assert listed.actor == f"user:{user.id}" and linked_subjects(session, listed) == {subject_a}
    # The reveal of a search result posts the number too, and shows it in clear there only.
    revealed = post_form(client, f"/messages/{dispatch}/reveal", {"number": NATIONAL, "status": "", "page": "1"}, token_from=f"/messages/{dispatch}")
    assert revealed.status_code == 200 and "+46 70 123 45 67" in revealed.text and "70 234 56 78" not in revealed.text  # readable, in clear
    no_number_in_links(revealed.text, NUMBER)
    queued = post_form(client, f"/messages/{dispatch}/search", {"number": "", "status": "queued"}, token_from=f"/messages/{dispatch}")
    assert queued.status_code == 200 and "+46 70 *** ** 78" in queued.text

    invalid = post_form(client, f"/messages/{dispatch}/search", {"number": "0701", "status": ""}, token_from=f"/messages/{dispatch}")
    assert invalid.status_code == 422 and 'class="field-error"' in invalid.text
    for hostile in (*HOSTILE_NUMBERS, *ODD_NUMBERS):
        response = post_form(client, f"/messages/{dispatch}/search", {"number": hostile, "status": ""}, token_from=f"/messages/{dispatch}")
        assert response.status_code in (200, 422), repr(hostile)[:30]
    for form in (
        {"number": NUMBER, "status": "nope"}, {"number": NUMBER, "page": "x"}, {"number": NUMBER, "page": str(2**40)}, {"number": NUMBER, "page": "0"},
    ):
        response = post_form(client, f"/messages/{dispatch}/search", form, token_from=f"/messages/{dispatch}")
        assert 400 <= response.status_code < 500, form
    assert client.post(f"/messages/{dispatch}/search", data={"number": NUMBER}).status_code == 403  # no CSRF token

    # Account B's dispatch is not reachable from A; B searching its own dispatch for A's number finds nothing.
    assert post_form(client, f"/messages/{dispatch_b}/search", {"number": THEIRS}, token_from="/messages").status_code == 404
    user_b, password_b = make_user(session, account_b, roles={Role.SENDER})
    login(client, user_b.email, password_b)
    other = post_form(client, f"/messages/{dispatch_b}/search", {"number": NUMBER, "status": ""}, token_from="/messages")
    assert other.status_code == 200 and "*** ** 67" not in other.text and "*** ** 89" not in other.text
    listed_b = audit_events(session, "messages.listed", account_b.id)[-1]
    assert listed_b.actor == f"user:{user_b.id}" and subject_a not in linked_subjects(session, listed_b)


def test_ui_search_results_page_by_post(client: TestClient, session: Session) -> None:
    """Paging a posted search posts again: the page number and the filter travel in the body."""
    seed_default_prices(session, now=now())
    account = make_account(session)
    numbers = [f"+467012{index:05d}" for index in range(55)]
    dispatch = send(session, account, numbers)
    user, password = make_user(session, account, roles={Role.SENDER})
    login(client, user.email, password)

    first = post_form(client, f"/messages/{dispatch}/search", {"number": "", "status": "queued"}, token_from=f"/messages/{dispatch}")
    assert first.status_code == 200 and masked_rows(first.text) == 50
    assert not re.search(r'href="[^"]*[?&]page=', first.text)  # no paging by link from a posted search
    pager = first.text.split('class="pager"')[1].split("</nav>")[0]
    assert f'method="post" action="/messages/{dispatch}/search"' in pager and 'name="page" value="2"' in pager
    assert 'name="status" value="queued"' in pager and 'name="number"' in pager
    second = post_form(client, f"/messages/{dispatch}/search", {"number": "", "status": "queued", "page": "2"}, token_from=f"/messages/{dispatch}")
    assert second.status_code == 200 and masked_rows(second.text) == 5

    revealed = post_form(client, f"/messages/{dispatch}/reveal", {"number": "", "status": "queued", "page": "1"}, token_from=f"/messages/{dispatch}")
    pager = revealed.text.split('class="pager"')[1].split("</nav>")[0]
    assert f'method="post" action="/messages/{dispatch}/reveal"' in pager and 'name="page" value="2"' in pager
    assert not re.search(r'href="[^"]*[?&]page=', revealed.text)

    # A single number's search in the same dispatch: found, and the page holds it nowhere but the form.
    one = post_form(client, f"/messages/{dispatch}/search", {"number": numbers[7], "status": ""}, token_from=f"/messages/{dispatch}")
    assert one.status_code == 200 and masked_rows(one.text) == 1
    no_number_in_links(one.text, numbers[7])


def test_numbers_typed_into_searches_are_read_in_the_accounts_region(session: Session) -> None:
    """A Norwegian customer types numbers as Norwegians write them (no country code): the message
    history, the blocklist and the contact search read them as Norwegian, not Swedish."""
    from govsms.sending.history import list_messages

    account = make_account(session)
    account.default_region = "NO"
    session.flush()
    actor = system(account)
    seed_default_prices(session, now=now())
    sent = create_dispatch(session, actor, DispatchRequest(sender="Kommunen", text="Hei", numbers=["41234567"]), public_url="http://x", now=now())
    assert sent.accepted == 1 and sent.by_country == {"NO": 1}
    found = list_messages(session, actor, number="41234567", reveal=True, now=now())
    assert [item.recipient for item in found.items] == ["+4741234567"]
    blocklist.block_number(session, actor, "41234567", source="manual", now=now())
    assert blocklist.check_number(session, actor, "+4741234567", now=now()).blocked
    assert blocklist.check_number(session, actor, "41 23 45 67", now=now()).blocked
    service.create_contact(session, actor, number="+4741234567", name="Kari", now=now())
    assert [view.name for view in service.list_contacts(session, actor, number="41234567", now=now()).items] == ["Kari"]
