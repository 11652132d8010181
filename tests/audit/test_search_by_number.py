"""The access log's search by number (issue 10): the number travels in a POST body only, never in
a URL (page or API), the old GET parameter searches nothing, and the full public key is shown."""

from __future__ import annotations

import json
import re

import pytest
from litestar.testing import TestClient
from sqlalchemy import func, select
from sqlmodel import Session

from govsms.auth import Role
from govsms.audit.actions import Action
from govsms.audit.models import AuditEvent
from govsms.audit.record import record_event
from govsms.audit.service import public_key, public_key_text
from govsms.keys.ring import KeyRing
from govsms.keys.store import vault_of
from tests.factories import make_account, make_api_key, make_contact, make_user, now, system
from tests.web_helpers import login, post_form

NUMBER, E164 = "070-123 45 67", "+46701234567"
DIGITS = ("0701234567", "701234567", "46701234567", "123 45 67", "1234567")
events = AuditEvent.__table__


def person_with_history(session: Session, views: int = 0):  # type: ignore[no-untyped-def]
    account = make_account(session)
    actor = system(account)
    make_contact(session, account, number=E164, name="Åsa")
    make_contact(session, account, number="+46709999999", name="Per")
    subject = vault_of(session).find_subjects(session, account.id, [E164], now=now())[E164].id  # type: ignore[arg-type]
    for _ in range(views):
        record_event(session, actor, Action.CONTACT_VIEWED, now=now(), target=("contact", 1), subjects=[subject])
    return account


def searches_by_number(session: Session, account_id: int) -> int:
    return session.execute(
        select(func.count()).select_from(events).where(
            events.c.account_id == account_id, events.c.action == Action.AUDIT_VIEWED.value, events.c.details.like('%"by_number":true%')
        )
    ).scalar_one()


def log_reads(session: Session, account_id: int) -> list[dict[str, object]]:
    rows = session.execute(
        select(events.c.details, events.c.subject_ids).where(events.c.account_id == account_id, events.c.action == Action.AUDIT_VIEWED.value)
    ).all()
    return [{"details": json.loads(row.details), "subjects": json.loads(row.subject_ids)} for row in rows]


def no_number_in_links(html: str) -> None:
    for target in re.findall(r'(?:href|action|src)="([^"]*)"', html):
        for digits in DIGITS:
            assert digits not in target.replace("%20", " ").replace("+", " "), target


def test_ui_search_by_number_is_a_post_and_the_get_parameter_searches_nothing(client: TestClient, session: Session) -> None:
    account = person_with_history(session, views=55)  # more than a page
    auditor, password = make_user(session, account, roles={Role.AUDITOR})
    login(client, auditor.email, password)

    page = client.get("/audit")
    assert page.status_code == 200 and 'method="post" action="/audit"' in page.text
    refused = client.get("/audit", params={"number": NUMBER})
    assert refused.status_code == 400 and "aldrig i adressen" in refused.text
    assert "<tbody>" not in refused.text and E164 not in refused.text and "123 45 67" not in refused.text
    assert searches_by_number(session, account.id) == 0  # nothing was searched

    found = post_form(client, "/audit", {"number": NUMBER}, token_from="/audit")
    assert found.status_code == 200
    assert searches_by_number(session, account.id) == 1
    rows = found.text.split("<tbody>")[1].split("</tbody>")[0]
    assert rows.count("<tr>") == 50 and "Kontakt skapad" not in rows  # the newest 50: the search itself, the views
    assert "(57)" in found.text  # created, 55 views, and this search (it names the person too)
    no_number_in_links(found.text)
    # The next page is a form posting the filter again, not a link carrying the number.
    pager = found.text.split('class="pager"')[1].split("</nav>")[0]
    assert 'name="page" value="2"' in pager and 'type="hidden" name="number"' in pager and "href" not in pager
    second = post_form(client, "/audit", {"number": NUMBER, "page": "2"}, token_from="/audit")
    assert second.status_code == 200
    rows = second.text.split("<tbody>")[1].split("</tbody>")[0]
    assert "(58)" in second.text and rows.count("<tr>") == 8 and "Kontakt skapad" in rows
    no_number_in_links(second.text)

    # Other filters without a number keep plain links.
    listed = post_form(client, "/audit", {"action": Action.CONTACT_VIEWED.value}, token_from="/audit")
    assert listed.status_code == 200 and "page=2&amp;action=contact.viewed" in listed.text


@pytest.mark.parametrize(
    "form",
    [
        {"number": "not a number"}, {"number": "0" * 5000}, {"number": "070\x00123"}, {"page": "abc", "number": NUMBER},
        {"page": "9" * 5000, "number": NUMBER}, {"page": "-3"}, {"since": "2026-13-45"}, {"who": "user:\x01"},
        {"action": "nope"}, {"number": ["a", "b"]},
    ],
)
def test_ui_search_refuses_hostile_forms_with_a_4xx_or_answers(client: TestClient, session: Session, form: dict[str, object]) -> None:
    account = person_with_history(session)
    auditor, password = make_user(session, account, roles={Role.AUDITOR})
    login(client, auditor.email, password)
    response = post_form(client, "/audit", form, token_from="/audit")
    assert response.status_code in (200, 400, 422), response.text[:300]
    no_number_in_links(response.text)


def test_ui_search_needs_the_csrf_token(client: TestClient, session: Session) -> None:
    account = person_with_history(session)
    auditor, password = make_user(session, account, roles={Role.AUDITOR})
    login(client, auditor.email, password)
    assert client.post("/audit", data={"number": NUMBER}).status_code == 403
    assert searches_by_number(session, account.id) == 0


def test_api_search_by_number_is_a_post_and_scoped_to_the_account(client: TestClient, session: Session) -> None:
    account = person_with_history(session, views=3)
    _key, token = make_api_key(session, account, roles={Role.AUDITOR})
    headers = {"Authorization": f"Bearer {token}"}
    refused = client.get("/api/v1/audit", params={"number": NUMBER}, headers=headers)
    assert refused.status_code == 400 and "/api/v1/audit/search" in refused.json()["message"]
    assert searches_by_number(session, account.id) == 0
    listed = client.get("/api/v1/audit", headers=headers)
    assert listed.status_code == 200 and listed.json()["total"] >= 5
    # Reading the log through the API is itself an event: no person, counts only.
    assert log_reads(session, account.id) == [
        {"details": {"shown": len(listed.json()["items"]), "total": listed.json()["total"], "page": 1}, "subjects": []}
    ]

    found = client.post("/api/v1/audit/search", json={"number": NUMBER}, headers=headers)
    assert found.status_code == 200, found.text
    assert found.json()["total"] == 5  # created, 3 views, and this search
    assert {item["action"] for item in found.json()["items"]} == {"contact.created", "contact.viewed", "audit.viewed"}
    assert searches_by_number(session, account.id) == 1
    paged = client.post("/api/v1/audit/search", json={"number": NUMBER, "page": 2, "per_page": 4}, headers=headers)
    assert paged.status_code == 200 and paged.json()["total"] == 6 and len(paged.json()["items"]) == 2

    # Another account with the same person: its auditor finds only its own events.
    other = person_with_history(session, views=0)
    _other_key, other_token = make_api_key(session, other, roles={Role.AUDITOR})
    theirs = client.post("/api/v1/audit/search", json={"number": NUMBER}, headers={"Authorization": f"Bearer {other_token}"})
    assert theirs.status_code == 200 and theirs.json()["total"] == 2  # its own creation and search, nothing of the first account
    assert all(item["seq"] not in {mine["seq"] for mine in found.json()["items"]} for item in theirs.json()["items"])
    # A role without the audit permission gets nothing.
    _sender_key, sender_token = make_api_key(session, account, roles={Role.SENDER})
    assert client.post("/api/v1/audit/search", json={"number": NUMBER}, headers={"Authorization": f"Bearer {sender_token}"}).status_code == 403


@pytest.mark.parametrize(
    "body",
    [
        {}, {"number": ""}, {"number": "   "}, {"number": 46701234567}, {"number": None}, {"number": "x" * 100_000},
        {"number": NUMBER, "page": 0}, {"number": NUMBER, "page": "one"}, {"number": NUMBER, "per_page": 2**40},
        {"number": NUMBER, "since": "yesterday"}, {"number": NUMBER, "since": "2026-01-01T00:00:00"}, {"number": NUMBER, "action": "nope"},
        {"number": NUMBER, "actor": "user:\x00"}, [NUMBER], "0701234567",
    ],
)
def test_api_search_refuses_hostile_bodies_with_a_4xx(client: TestClient, session: Session, body: object) -> None:
    account = person_with_history(session)
    _key, token = make_api_key(session, account, roles={Role.AUDITOR})
    response = client.post("/api/v1/audit/search", json=body, headers={"Authorization": f"Bearer {token}"})
    assert 400 <= response.status_code < 500, (body, response.status_code, response.text[:300])


def test_full_public_key_is_shown_on_the_audit_pages(client: TestClient, session: Session, keys: KeyRing) -> None:
    account = make_account(session)
    auditor, password = make_user(session, account, roles={Role.AUDITOR})
    login(client, auditor.email, password)
    key = public_key(keys)
    shown = public_key_text(key)
    assert len(shown.replace(" ", "")) == 64  # 32 bytes, every one of them
    assert shown in client.get("/audit").text
    assert shown in post_form(client, "/audit/verify", {}, token_from="/audit").text
