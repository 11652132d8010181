"""An administrator resets a user's password (issue 15 item 9): a one-time password shown once, the
user's sessions end, and the next login reaches nothing but the change to a password of their own;
audited. Both backends."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from litestar.testing import TestClient
from sqlmodel import Session

from govsms.accounts import login, service
from govsms.audit.actions import Action
from govsms.auth import Role
from govsms.errors import Conflict, LoginRefused, NotFound
from tests import sensitive
from tests.factories import audit_events, make_account, make_password, make_user, now
from tests.web_helpers import csrf_token, login as web_login, post_form

POLICY = login.LoginPolicy(max_failures=5, lockout=timedelta(minutes=15), session_lifetime=timedelta(hours=1))
ONE_TIME = re.compile(r'id="one-time-password">([^<]+)<')


def _error_of(html: str, field: str) -> str:
    match = re.search(rf'id="{field}-error">([^<]+)<', html)
    assert match, html[:2000]
    return match.group(1)


def _log_in(client: TestClient, email: str, password: str):  # type: ignore[no-untyped-def]
    return post_form(client, "/login", {"email": email, "password": password})


def test_admin_resets_a_password_and_the_user_must_change_it_at_next_login(client: TestClient, session: Session) -> None:
    account = make_account(session)
    admin, admin_password = make_user(session, account, roles={Role.ADMIN}, language="sv")
    user, old_password = make_user(session, account, language="sv")
    with TestClient(client.app) as users_browser:
        web_login(users_browser, user.email, old_password)
        assert users_browser.get("/", follow_redirects=False).status_code == 200

        web_login(client, admin.email, admin_password)
        assert "Återställ lösenordet" in client.get(f"/settings/users/{user.id}").text
        reset = post_form(client, f"/settings/users/{user.id}/password", {}, token_from=f"/settings/users/{user.id}")
        assert reset.status_code == 200 and reset.headers["cache-control"] == "no-store"
        one_time = sensitive.register(ONE_TIME.search(reset.text).group(1))  # type: ignore[union-attr]
        assert re.fullmatch(r"[a-z2-9]{4}(-[a-z2-9]{4}){3}", one_time)
        assert "Engångslösenord för" in reset.text and 'id="must-change"' in reset.text
        assert one_time not in client.get(f"/settings/users/{user.id}").text  # shown once only
        session.refresh(user)
        assert user.must_change_password and one_time not in user.password_hash
        [event] = audit_events(session, Action.PASSWORD_CHANGED, account.id)
        assert event.actor == f"user:{admin.id}" and event.target_id == str(user.id) and json.loads(event.details) == {"by": "admin"}

        # The user's session ended; the old password no longer works.
        assert users_browser.get("/", follow_redirects=False).status_code == 303
        assert _log_in(users_browser, user.email, old_password).status_code == 401
        # The one-time password leads to the change of password only.
        first = _log_in(users_browser, user.email, one_time)
        assert first.status_code == 303 and first.headers["location"] == "/login/password"
        assert users_browser.get("/", follow_redirects=False).headers["location"].startswith("/login")  # a half login is no session
        assert users_browser.get("/messages", follow_redirects=False).status_code == 303
        form = users_browser.get("/login/password")
        assert form.status_code == 200 and "Välj ett nytt lösenord" in form.text
        token = csrf_token(users_browser, "/login/password")

        def change(new: str, repeat: str):  # type: ignore[no-untyped-def]
            return users_browser.post(
                "/login/password", data={"new": new, "repeat": repeat, "_csrf_token": token}, follow_redirects=False
            )

        same = change(one_time, one_time)
        assert same.status_code == 422 and _error_of(same.text, "new") == "Välj ett eget lösenord, inte det du fick."
        new_password = make_password()
        differ = change(new_password, new_password + "x")
        assert differ.status_code == 422 and "Lösenorden är olika" in _error_of(differ.text, "repeat")
        weak = change("password123", "password123")
        assert weak.status_code == 422
        for hostile in ("", "\x00" * 20, "a" * 10_000):
            assert change(hostile, hostile).status_code == 422
        session.refresh(user)
        assert user.must_change_password  # nothing changed yet
        done = change(new_password, new_password)
        assert done.status_code == 303 and done.headers["location"] == "/"
        assert users_browser.get("/", follow_redirects=False).status_code == 200
    session.refresh(user)
    assert not user.must_change_password and user.last_login_at is not None
    assert [json.loads(e.details) for e in audit_events(session, Action.PASSWORD_CHANGED, account.id)] == [{"by": "admin"}, {"by": "user"}]
    with TestClient(client.app) as later:
        assert _log_in(later, user.email, one_time).status_code == 401  # the one-time password is gone
        again = _log_in(later, user.email, new_password)
        assert again.status_code == 303 and again.headers["location"] == "/"  # no change asked any more


def test_the_change_comes_before_the_second_step(client: TestClient, session: Session) -> None:
    account = make_account(session)
    admin, _ = make_user(session, account, roles={Role.ADMIN})
    user, _ = make_user(session, account)
    user.totp_enabled_at = now()  # two-step login on: after the change, the code step
    session.add(user)
    _user, one_time = service.reset_password(session, login.actor_for_user(admin, account), user.id, now=now())  # type: ignore[arg-type]
    sensitive.register(one_time)
    first = _log_in(client, user.email, one_time)
    assert first.headers["location"] == "/login/password"
    token = csrf_token(client, "/login/password")
    new_password = make_password()
    done = client.post("/login/password", data={"new": new_password, "repeat": new_password, "_csrf_token": token}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/login/code"
    assert client.get("/", follow_redirects=False).status_code == 303  # still no session before the code


def test_a_reset_lifts_a_lockout_and_stays_in_the_account(session: Session) -> None:
    account, other_account = make_account(session), make_account(session)
    admin, _ = make_user(session, account, roles={Role.ADMIN})
    other_admin, _ = make_user(session, other_account, roles={Role.ADMIN})
    user, password = make_user(session, account)
    for _attempt in range(POLICY.max_failures - 1):
        with pytest.raises(LoginRefused):
            login.authenticate(session, email=user.email, password="fel-lösenord-här", policy=POLICY, now=now())
    with pytest.raises(LoginRefused, match="locked"):
        login.authenticate(session, email=user.email, password="fel-lösenord-här", policy=POLICY, now=now())
    assert user.locked_until is not None
    actor = login.actor_for_user(admin, account)
    with pytest.raises(NotFound):
        service.reset_password(session, login.actor_for_user(other_admin, other_account), user.id, now=now())  # type: ignore[arg-type]
    with pytest.raises(Conflict):
        service.reset_password(session, actor, admin.id, now=now())  # type: ignore[arg-type]  # own: the profile
    _user, one_time = service.reset_password(session, actor, user.id, now=now())  # type: ignore[arg-type]
    sensitive.register(one_time)
    assert user.locked_until is None and user.failed_logins == 0
    assert login.authenticate(session, email=user.email, password=one_time, policy=POLICY, now=now()).id == user.id
    assert login.first_stage(session, user) == "password"
    with pytest.raises(LoginRefused):
        login.authenticate(session, email=user.email, password=password, policy=POLICY, now=now())


def test_only_admins_of_the_account_reset(client: TestClient, session: Session) -> None:
    account, other_account = make_account(session), make_account(session)
    admin, admin_password = make_user(session, account, roles={Role.ADMIN})
    sender, sender_password = make_user(session, account, roles={Role.SENDER})
    stranger, _ = make_user(session, other_account)
    web_login(client, sender.email, sender_password)
    assert post_form(client, f"/settings/users/{admin.id}/password", {}, token_from="/").status_code == 403
    web_login(client, admin.email, admin_password)
    assert post_form(client, f"/settings/users/{stranger.id}/password", {}, token_from="/").status_code == 404
    own = post_form(client, f"/settings/users/{admin.id}/password", {}, token_from="/")
    assert own.status_code == 409 and "Ändra ditt eget lösenord under din profil." in own.text
    for user in (admin, stranger):
        session.refresh(user)
        assert not user.must_change_password
    assert client.get("/login/password", follow_redirects=False).headers["location"] == "/login"  # no half login: nothing to do
