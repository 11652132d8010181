"""A confirmation step that works without JavaScript before deleting a contact or a group and
revoking an API key (issue 15 item 8; removing a user: tests/accounts). The page's link opens a
confirmation page; its form sends ``confirm=1``; the same POST without it only asks. Both backends."""

from __future__ import annotations

import re

from litestar.testing import TestClient
from sqlmodel import Session, select

from govsms.accounts.models import ApiKey
from govsms.auth import Role
from govsms.contacts import groups
from govsms.contacts.models import Contact
from tests.factories import make_account, make_api_key, make_contact, make_user, now, system
from tests.web_helpers import login, post_form


def _h1(html: str) -> str:
    match = re.search(r"<h1[^>]*>(.*?)</h1>", html, re.S)
    assert match, html[:300]
    return match.group(1).strip()


def _contact_exists(session: Session, contact_id: int) -> bool:
    session.expire_all()
    return session.exec(select(Contact.id).where(Contact.id == contact_id)).first() is not None


def test_deleting_a_contact_asks_first(client: TestClient, session: Session) -> None:
    account = make_account(session)
    user, password = make_user(session, account, language="sv")
    contact = make_contact(session, account, name="Åsa Öberg", number="+46701112233")
    other = make_contact(session, make_account(session), name="Björn", number="+46701112244")
    login(client, user.email, password)
    detail = client.get(f"/contacts/{contact.id}").text
    assert f'href="/contacts/{contact.id}/delete"' in detail and f'action="/contacts/{contact.id}/delete"' not in detail
    confirm = client.get(f"/contacts/{contact.id}/delete")
    assert confirm.status_code == 200 and _h1(confirm.text) == "Radera kontakten"
    assert "Radera Åsa Öberg (+46701112233)?" in confirm.text and "Ja, radera kontakten" in confirm.text
    assert f'href="/contacts/{contact.id}"' in confirm.text  # the way back
    # Without confirm=1 (an old form, a hand-made request, a wrong value): asked again, nothing deleted.
    for sent in ({}, {"confirm": ""}, {"confirm": "yes"}, {"confirm": "1\x00"}):
        asked = post_form(client, f"/contacts/{contact.id}/delete", sent, token_from="/contacts")
        assert asked.status_code == 200 and _h1(asked.text) == "Radera kontakten", sent
        assert _contact_exists(session, contact.id)
    # Another account's contact: not found, at either step.
    assert client.get(f"/contacts/{other.id}/delete").status_code == 404
    assert post_form(client, f"/contacts/{other.id}/delete", {"confirm": "1"}, token_from="/contacts").status_code == 404
    assert _contact_exists(session, other.id)
    deleted = post_form(client, f"/contacts/{contact.id}/delete", {"confirm": "1"}, token_from="/contacts")
    assert deleted.status_code == 303 and deleted.headers["location"] == "/contacts?done=deleted"
    assert not _contact_exists(session, contact.id)
    assert client.get(f"/contacts/{contact.id}/delete").status_code == 404


def test_deleting_a_group_asks_first(client: TestClient, session: Session) -> None:
    account = make_account(session)
    user, password = make_user(session, account, language="sv")
    group = groups.create_group(session, system(account), name="Föräldrar 4B", now=now())
    other = groups.create_group(session, system(make_account(session)), name="Annan", now=now())
    login(client, user.email, password)
    assert f'href="/groups/{group.id}/delete"' in client.get(f"/groups/{group.id}").text
    confirm = client.get(f"/groups/{group.id}/delete")
    assert confirm.status_code == 200 and _h1(confirm.text) == "Radera gruppen" and "Föräldrar 4B" in confirm.text
    asked = post_form(client, f"/groups/{group.id}/delete", {}, token_from="/groups")
    assert asked.status_code == 200 and _h1(asked.text) == "Radera gruppen"
    assert [summary.group.id for summary in groups.list_groups(session, system(account))] == [group.id]
    assert post_form(client, f"/groups/{other.id}/delete", {"confirm": "1"}, token_from="/groups").status_code == 404
    deleted = post_form(client, f"/groups/{group.id}/delete", {"confirm": "1"}, token_from="/groups")
    assert deleted.status_code == 303
    session.expire_all()
    assert groups.list_groups(session, system(account)) == []
    assert len(groups.list_groups(session, system(make_account(session)))) == 0  # another account sees nothing of it


def test_revoking_an_api_key_asks_first(client: TestClient, session: Session) -> None:
    account = make_account(session)
    admin, password = make_user(session, account, roles={Role.ADMIN}, language="sv")
    key, _secret = make_api_key(session, account, name="Bokningssystem")
    other, _other_secret = make_api_key(session, make_account(session), name="Annat")
    login(client, admin.email, password)
    listing = client.get("/settings/api-keys").text
    assert f'href="/settings/api-keys/{key.id}/revoke"' in listing and f'action="/settings/api-keys/{key.id}/revoke"' not in listing
    confirm = client.get(f"/settings/api-keys/{key.id}/revoke")
    assert confirm.status_code == 200 and _h1(confirm.text) == "Återkalla API-nyckel"
    assert "Bokningssystem" in confirm.text and key.prefix in confirm.text
    asked = post_form(client, f"/settings/api-keys/{key.id}/revoke", {}, token_from="/settings/api-keys")
    assert asked.status_code == 200
    session.refresh(key)
    assert key.revoked_at is None
    assert client.get(f"/settings/api-keys/{other.id}/revoke").status_code == 404
    assert post_form(client, f"/settings/api-keys/{other.id}/revoke", {"confirm": "1"}, token_from="/settings/api-keys").status_code == 404
    revoked = post_form(client, f"/settings/api-keys/{key.id}/revoke", {"confirm": "1"}, token_from="/settings/api-keys")
    assert revoked.status_code == 303
    session.refresh(key)
    session.refresh(other)
    assert key.revoked_at is not None and other.revoked_at is None
    # A revoked key has nothing to confirm: back to the list.
    again = client.get(f"/settings/api-keys/{key.id}/revoke", follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"] == "/settings/api-keys"
    assert session.exec(select(ApiKey).where(ApiKey.id == key.id)).one().revoked_at is not None
