"""Searching contacts by number (issue 10, item 5): only by POST, so numbers stay out of URLs,
proxy logs and browser histories; the old GET forms are refused without searching. Both backends."""

from __future__ import annotations

from litestar.testing import TestClient
from sqlalchemy import func, select
from sqlmodel import Session

from govsms.auth import Role
from govsms.audit.models import AuditEvent
from tests.factories import make_account, make_api_key, make_contact, make_user
from tests.web_helpers import login, post_form


def searches(session: Session) -> int:
    return session.execute(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "contacts.searched")).scalar_one()


def two_accounts(session: Session):  # type: ignore[no-untyped-def]
    mine, theirs = make_account(session), make_account(session)
    make_contact(session, mine, number="070-123 45 67", name="Åsa Öberg")
    make_contact(session, theirs, number="070-765 43 21", name="Björn Berg")
    return mine, theirs


def test_the_ui_searches_by_post_and_refuses_the_old_get(client: TestClient, session: Session) -> None:
    mine, _ = two_accounts(session)
    user, password = make_user(session, mine, roles={Role.SENDER})
    login(client, user.email, password)
    page = client.get("/contacts")
    assert 'method="post" action="/contacts/search"' in page.text and 'method="get"' not in page.text
    before = searches(session)
    old = client.get("/contacts", params={"number": "+46 70 123 45 67"})
    assert old.status_code == 400 and "Åsa Öberg" not in old.text and "70 123 45 67" not in old.text
    assert "POST" in old.text or "sökformuläret" in old.text
    assert searches(session) == before  # nothing was searched
    found = post_form(client, "/contacts/search", {"number": "+46 70 123 45 67"}, token_from="/contacts")
    assert found.status_code == 200 and "Åsa Öberg" in found.text and "(1)" in found.text
    assert searches(session) == before + 1
    assert "?number=" not in found.text and "number=%2B" not in found.text  # no link carries the number
    other = post_form(client, "/contacts/search", {"number": "070-765 43 21"}, token_from="/contacts")  # another account's
    assert other.status_code == 200 and "Björn Berg" not in other.text and "Ingen kontakt har det här numret." in other.text
    bad = post_form(client, "/contacts/search", {"number": "0701"}, token_from="/contacts")
    assert bad.status_code == 422 and 'id="search-error"' in bad.text
    for hostile in ("", " ", "\x00", "٠٧٠١٢٣٤٥٦٧", "0701234567" * 500, "+46 70 123 45 67\n0701"):
        response = post_form(client, "/contacts/search", {"number": hostile}, token_from="/contacts")
        assert response.status_code in (200, 422), repr(hostile)[:40]
    assert client.post("/contacts/search", data={"number": "0701234567"}).status_code == 403  # no CSRF token


def test_the_ui_search_needs_the_contacts_permission(client: TestClient, session: Session) -> None:
    auditor, password = make_user(session, make_account(session), roles={Role.AUDITOR})
    login(client, auditor.email, password)
    assert post_form(client, "/contacts/search", {"number": "0701234567"}, token_from="/").status_code == 403


def test_the_api_searches_by_post_and_refuses_the_old_get(client: TestClient, session: Session) -> None:
    mine, theirs = two_accounts(session)
    _, key = make_api_key(session, mine, roles={Role.SENDER})
    headers = {"Authorization": f"Bearer {key}"}
    before = searches(session)
    old = client.get("/api/v1/contacts", params={"number": "+46701234567"}, headers=headers)
    assert old.status_code == 400 and "POST /api/v1/contacts/search" in old.json()["message"]
    assert "Åsa" not in old.text and searches(session) == before
    listed = client.get("/api/v1/contacts", headers=headers)
    assert listed.status_code == 200 and listed.json()["total"] == 1
    found = client.post("/api/v1/contacts/search", json={"number": "070-123 45 67"}, headers=headers)
    assert found.status_code == 200, found.text
    assert found.json()["total"] == 1 and found.json()["items"][0]["name"] == "Åsa Öberg"
    assert searches(session) == before + 1
    other = client.post("/api/v1/contacts/search", json={"number": "070-765 43 21"}, headers=headers)
    assert other.status_code == 200 and other.json()["total"] == 0  # another account's contact
    invalid = client.post("/api/v1/contacts/search", json={"number": "0701"}, headers=headers)
    assert invalid.status_code == 422 and "number" in invalid.json()["fields"]
    for body in ({}, {"number": None}, {"number": 701234567}, {"number": ["0701234567"]}, {"number": ""}, {"number": "\x00"},
                 {"number": "0701234567" * 1000}, {"number": {"e164": "+46701234567"}}, [], "0701234567"):
        response = client.post("/api/v1/contacts/search", json=body, headers=headers)
        assert response.status_code in (400, 422), (body, response.status_code)
    plain = client.post("/api/v1/contacts/search", content='{"number": "0701234567"}', headers={**headers, "Content-Type": "text/plain"})
    assert plain.status_code == 415
    schema = client.get("/api/schema/openapi.json").json()
    assert "post" in schema["paths"]["/api/v1/contacts/search"]
    assert "number" not in {parameter["name"] for parameter in schema["paths"]["/api/v1/contacts"]["get"].get("parameters", [])}


def test_the_api_search_needs_the_contacts_permission(client: TestClient, session: Session) -> None:
    _, key = make_api_key(session, make_account(session), roles={Role.AUDITOR})
    response = client.post("/api/v1/contacts/search", json={"number": "0701234567"}, headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 403
