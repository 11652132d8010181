"""Issue 13's roles: /subjects is the DPO's and also the admin's (pages, navigation and API); the
sender and the auditor stay out. Both backends."""

from __future__ import annotations

import pytest
from litestar.testing import TestClient
from sqlmodel import Session

from govsms.audit.actions import Action
from govsms.auth import Role
from tests.factories import audit_events, linked_subjects, make_account, make_api_key, make_contact, make_user
from tests.web_helpers import login, post_form

NUMBER = "070-123 45 67"


@pytest.mark.parametrize("role", [Role.ADMIN, Role.DPO])
def test_the_admin_and_the_dpo_open_the_subjects_pages_and_api(client: TestClient, session: Session, role: Role) -> None:
    account = make_account(session)
    make_contact(session, account, number=NUMBER, name="Åsa Öberg")
    user, password = make_user(session, account, roles={role})
    login(client, user.email, password)
    page = client.get("/subjects")
    assert page.status_code == 200 and 'href="/subjects"' in page.text and 'href="/subjects/requests"' in page.text
    assert client.get("/subjects/requests").status_code == 200
    found = post_form(client, "/subjects/search", {"number": NUMBER}, token_from="/subjects")
    assert found.status_code == 200
    searches = audit_events(session, Action.SUBJECT_SEARCHED.value, account.id)
    assert [event.actor for event in searches] == [f"user:{user.id}"] and linked_subjects(session, searches[0])
    _key, token = make_api_key(session, account, roles={role})
    searched = client.post("/api/v1/subjects/search", json={"number": NUMBER}, headers={"Authorization": f"Bearer {token}"})
    assert searched.status_code == 200, searched.text
    assert len(audit_events(session, Action.SUBJECT_SEARCHED.value, account.id)) == 2


@pytest.mark.parametrize("role", [Role.SENDER, Role.AUDITOR])
def test_the_sender_and_the_auditor_do_not(client: TestClient, session: Session, role: Role) -> None:
    account = make_account(session)
    user, password = make_user(session, account, roles={role})
    login(client, user.email, password)
    assert client.get("/subjects").status_code == 403
    assert 'href="/subjects"' not in client.get("/").text
    _key, token = make_api_key(session, account, roles={role})
    searched = client.post("/api/v1/subjects/search", json={"number": NUMBER}, headers={"Authorization": f"Bearer {token}"})
    assert searched.status_code == 403
    assert audit_events(session, Action.SUBJECT_SEARCHED.value, account.id) == []
