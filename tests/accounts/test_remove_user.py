"""An admin removes a user; removed users are purged when the storage time of users is up (both
backends, service level and pages)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from litestar.testing import TestClient
from sqlalchemy import text
from sqlmodel import Session

from govsms.accounts import login, service
from govsms.accounts.models import User
from govsms.audit.actions import Action
from govsms.auth import Role
from govsms.errors import Conflict, Forbidden, LoginRefused, NotFound
from govsms.retention.categories import BY_KEY
from tests.factories import audit_events, make_account, make_api_key, make_user, now, system
from tests.web_helpers import login as web_login, post_form

POLICY = login.LoginPolicy(max_failures=5, lockout=timedelta(minutes=15), session_lifetime=timedelta(hours=1))


def _raw_user_ids(session: Session, account_id: int) -> set[int]:
    return set(session.execute(text("SELECT id FROM app_user WHERE account_id = :a"), {"a": account_id}).scalars())


def test_admin_removes_a_user_whose_login_ends_at_once(session: Session) -> None:
    account = make_account(session)
    admin, _ = make_user(session, account, roles={Role.ADMIN})
    user, password = make_user(session, account)
    token = login.start_login_session(session, user, policy=POLICY, now=now())
    actor = login.actor_for_user(admin, account)
    moment = now()
    removed = service.remove_user(session, actor, user.id, now=moment)  # type: ignore[arg-type]
    assert removed.removed_at == moment and not removed.is_active
    assert login.resolve_login_session(session, token, policy=POLICY, now=now()) is None
    assert session.execute(text("SELECT count(*) FROM login_session WHERE user_id = :u"), {"u": user.id}).scalar_one() == 0
    with pytest.raises(LoginRefused) as wrong_password:
        login.authenticate(session, email="nobody-at-all@example.se", password=password, policy=POLICY, now=now())
    with pytest.raises(LoginRefused) as refused:
        login.authenticate(session, email=user.email, password=password, policy=POLICY, now=now())
    assert refused.value.message == wrong_password.value.message
    assert [u.id for u in service.list_users(session, actor, now=now()).items] == [admin.id]
    with pytest.raises(NotFound):
        service.get_user(session, actor, user.id)  # type: ignore[arg-type]
    (event,) = audit_events(session, Action.USER_REMOVED, account.id)
    assert (event.target_type, event.target_id) == ("user", str(user.id))


def test_removal_is_for_admins_of_the_account_and_keeps_an_admin(session: Session) -> None:
    account, other_account = make_account(session), make_account(session)
    admin, _ = make_user(session, account, roles={Role.ADMIN})
    sender, _ = make_user(session, account, roles={Role.SENDER})
    stranger, _ = make_user(session, other_account, roles={Role.ADMIN})
    actor = login.actor_for_user(admin, account)
    with pytest.raises(Forbidden):
        service.remove_user(session, login.actor_for_user(sender, account), admin.id, now=now())  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        service.remove_user(session, actor, stranger.id, now=now())  # type: ignore[arg-type]
    with pytest.raises(Conflict, match="own login"):
        service.remove_user(session, actor, admin.id, now=now())  # type: ignore[arg-type]
    second, _ = make_user(session, account, roles={Role.ADMIN})
    second_actor = login.actor_for_user(second, account)
    service.remove_user(session, second_actor, admin.id, now=now())  # type: ignore[arg-type]
    third, _ = make_user(session, account, roles={Role.ADMIN})
    service.remove_user(session, login.actor_for_user(third, account), second.id, now=now())  # type: ignore[arg-type]
    # The last active admin cannot go, whoever asks (here a system actor of the account).
    with pytest.raises(Conflict, match="at least one active administrator"):
        service.remove_user(session, system(account), third.id, now=now())  # type: ignore[arg-type]
    assert session.get(User, stranger.id) is not None and session.get(User, sender.id).removed_at is None  # type: ignore[union-attr]


def test_removed_users_are_purged_after_their_storage_time(session: Session) -> None:
    account, other_account = make_account(session), make_account(session)
    admin, _ = make_user(session, account, roles={Role.ADMIN})
    old, _ = make_user(session, account)
    recent, _ = make_user(session, account)
    active, _ = make_user(session, account)
    other_admin, _ = make_user(session, other_account, roles={Role.ADMIN})
    other_old, _ = make_user(session, other_account)
    moment = now()
    actor = login.actor_for_user(admin, account)
    service.remove_user(session, actor, old.id, now=moment - timedelta(days=31))  # type: ignore[arg-type]
    service.remove_user(session, actor, recent.id, now=moment - timedelta(days=29))  # type: ignore[arg-type]
    service.remove_user(session, login.actor_for_user(other_admin, other_account), other_old.id, now=moment - timedelta(days=31))  # type: ignore[arg-type]
    login.start_login_session(session, old, policy=POLICY, now=moment)  # as if one were left behind
    session.execute(
        text("INSERT INTO recovery_code (user_id, code_hash, created_at) VALUES (:u, :h, :t)"),
        {"u": old.id, "h": "0" * 64, "t": moment.replace(tzinfo=None)},
    )
    api_key, _key = make_api_key(session, account)
    session.execute(text("UPDATE api_key SET created_by_user_id = :u WHERE id = :k"), {"u": old.id, "k": api_key.id})
    days = BY_KEY["users"].default_days
    assert days == 30
    before = moment - timedelta(days=days)
    assert service.purge_removed_users(session, account_id=account.id, before=before, limit=100) == 1  # type: ignore[arg-type]
    session.expire_all()
    assert _raw_user_ids(session, account.id) == {admin.id, recent.id, active.id}  # type: ignore[arg-type]
    assert _raw_user_ids(session, other_account.id) == {other_admin.id, other_old.id}  # type: ignore[arg-type]
    for table in ("recovery_code", "login_session"):
        assert session.execute(text(f"SELECT count(*) FROM {table} WHERE user_id = :u"), {"u": old.id}).scalar_one() == 0
    assert session.execute(text("SELECT created_by_user_id FROM api_key WHERE id = :k"), {"k": api_key.id}).scalar_one() is None
    assert service.purge_removed_users(session, account_id=account.id, before=before, limit=100) == 0  # type: ignore[arg-type]


def test_admin_removes_a_user_through_the_confirmation_page(client: TestClient, session: Session) -> None:
    account = make_account(session)
    admin, admin_password = make_user(session, account, roles={Role.ADMIN})
    sender, sender_password = make_user(session, account, roles={Role.SENDER})
    other = TestClient(client.app)
    with other:
        web_login(other, sender.email, sender_password)
        web_login(client, admin.email, admin_password)
        user_page = client.get(f"/settings/users/{sender.id}")
        assert f'href="/settings/users/{sender.id}/remove"' in user_page.text
        confirm = client.get(f"/settings/users/{sender.id}/remove")
        assert confirm.status_code == 200 and 'name="confirm"' in confirm.text and sender.email in confirm.text
        # A post that did not come from the confirmation step removes nobody.
        unconfirmed = post_form(client, f"/settings/users/{sender.id}/remove", {}, token_from=f"/settings/users/{sender.id}/remove")
        assert unconfirmed.status_code == 303 and unconfirmed.headers["location"].endswith("/remove")
        assert other.get("/", follow_redirects=False).status_code == 200
        removed = post_form(client, f"/settings/users/{sender.id}/remove", {"confirm": "1"}, token_from=f"/settings/users/{sender.id}/remove")
        assert removed.status_code == 303 and removed.headers["location"] == "/settings/users?done=removed"
        listing = client.get("/settings/users?done=removed")
        assert sender.email not in listing.text and admin.email in listing.text
        assert other.get("/", follow_redirects=False).status_code == 303
        assert client.get(f"/settings/users/{sender.id}").status_code == 404
        again = post_form(other, "/login", {"email": sender.email, "password": sender_password})
        wrong = post_form(other, "/login", {"email": admin.email, "password": "inte-lösenordet-alls"})
        message = "Fel e-postadress eller lösenord"  # the wrong-password message, in Swedish (the default)
        assert again.status_code == wrong.status_code == 401 and message in again.text and message in wrong.text
        own = client.get(f"/settings/users/{admin.id}")
        assert f'href="/settings/users/{admin.id}/remove"' not in own.text
