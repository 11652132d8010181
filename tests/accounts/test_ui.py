"""The accounts pages and API through HTTP: login, lockout, CSRF, users, keys (both backends)."""

from __future__ import annotations

import re

from litestar.testing import TestClient
from sqlmodel import Session

from govsms.accounts.models import User
from govsms.auth import Role
from tests import sensitive
from tests.factories import make_account, make_api_key, make_user
from tests.web_helpers import login, post_form


def test_login_page_is_swedish_by_default_and_english_on_request(client: TestClient) -> None:
    page = client.get("/login")
    assert page.status_code == 200
    assert '<html lang="sv">' in page.text and "Logga in" in page.text
    client.cookies.set("govsms_lang", "en")
    assert "Log in to govsms" in client.get("/login").text


def test_anonymous_ui_request_goes_to_login(client: TestClient) -> None:
    response = client.get("/settings/users?page=2", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/settings/users?page=2"


def test_login_logout_and_next(client: TestClient, session: Session) -> None:
    account = make_account(session)
    user, password = make_user(session, account, roles={Role.ADMIN})
    response = post_form(client, "/login", {"email": user.email, "password": password, "next": "/settings/users"})
    assert response.status_code == 303 and response.headers["location"] == "/settings/users"
    cookie = response.headers["set-cookie"]
    assert "govsms_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert client.get("/settings/users").status_code == 200
    logout = post_form(client, "/logout", {}, token_from="/")
    assert logout.status_code == 303
    assert client.get("/", follow_redirects=False).status_code == 303


def test_login_refuses_offsite_next(client: TestClient, session: Session) -> None:
    user, password = make_user(session, make_account(session))
    response = post_form(client, "/login", {"email": user.email, "password": password, "next": "//evil.example/"})
    assert response.headers["location"] == "/"


def test_form_without_csrf_token_is_refused(client: TestClient, session: Session) -> None:
    user, password = make_user(session, make_account(session))
    client.get("/login")  # the CSRF cookie is there; only the form field is missing
    response = client.post("/login", data={"email": user.email, "password": password}, follow_redirects=False)
    assert response.status_code == 403
    assert "reload the page" in response.text or "ladda om sidan" in response.text
    assert "govsms_session" not in response.headers.get("set-cookie", "")
    wrong = client.post("/login", data={"email": user.email, "password": password, "_csrf_token": "x" * 64})
    assert wrong.status_code == 403


def test_five_wrong_passwords_lock_the_login(client: TestClient, session: Session) -> None:
    user, password = make_user(session, make_account(session), language="en")
    client.cookies.set("govsms_lang", "en")
    for _ in range(4):
        response = post_form(client, "/login", {"email": user.email, "password": "inte-rätt-lösen"})
        assert response.status_code == 401 and "Wrong e-mail address or password" in response.text
    fifth = post_form(client, "/login", {"email": user.email, "password": "inte-rätt-lösen"})
    assert fifth.status_code == 401 and "locked for 15 more minutes" in fifth.text
    right = post_form(client, "/login", {"email": user.email, "password": password})
    assert right.status_code == 401 and "locked" in right.text
    session.refresh(user)
    assert user.locked_until is not None


def test_sender_gets_403_page_for_users(client: TestClient, session: Session) -> None:
    user, password = make_user(session, make_account(session), roles={Role.SENDER})
    login(client, user.email, password)
    response = client.get("/settings/users")
    assert response.status_code == 403
    assert "<h1>" in response.text and "administratör" in response.text.lower()


def test_navigation_shows_only_what_roles_allow(client: TestClient, session: Session) -> None:
    account = make_account(session)
    admin, admin_password = make_user(session, account, roles={Role.ADMIN})
    login(client, admin.email, admin_password)
    nav = client.get("/").text.split('<nav aria-label="Huvudmeny"')[1].split("</nav>")[0]
    assert 'href="/settings/users"' in nav and 'href="/settings/api-keys"' in nav
    sender, sender_password = make_user(session, account, roles={Role.SENDER})
    post_form(client, "/logout", {}, token_from="/")
    login(client, sender.email, sender_password)
    nav = client.get("/").text.split('<nav aria-label="Huvudmeny"')[1].split("</nav>")[0]
    assert "/settings/users" not in nav and "/settings/api-keys" not in nav


def test_admin_creates_user_with_errors_shown_per_field(client: TestClient, session: Session) -> None:
    account = make_account(session)
    admin, password = make_user(session, account, roles={Role.ADMIN})
    login(client, admin.email, password)
    bad = post_form(
        client, "/settings/users", {"email": "nope", "password": "kort", "roles": "sender"}, token_from="/settings/users"
    )
    assert bad.status_code == 422
    assert 'id="email-error"' in bad.text and 'id="password-error"' in bad.text
    new_password = sensitive.register("Ett-långt-lösenord-för-Märta")
    good = post_form(
        client,
        "/settings/users",
        {"email": "marta@example.se", "display_name": "Märta", "password": new_password, "roles": ["sender", "dpo"], "language": "sv"},
        token_from="/settings/users",
    )
    assert good.status_code == 303
    listing = client.get("/settings/users?done=created").text
    assert "marta@example.se" in listing and "Användaren skapades." in listing
    created = session.exec(__import__("sqlmodel").select(User).where(User.email == "marta@example.se")).one()
    assert set(created.roles.split(",")) == {"sender", "dpo"}


def test_admin_disables_user_and_their_session_ends(client: TestClient, session: Session) -> None:
    account = make_account(session)
    admin, admin_password = make_user(session, account, roles={Role.ADMIN})
    sender, sender_password = make_user(session, account, roles={Role.SENDER})
    other = TestClient(client.app)
    with other:
        login(other, sender.email, sender_password)
        assert other.get("/", follow_redirects=False).status_code == 200
        login(client, admin.email, admin_password)
        response = post_form(client, f"/settings/users/{sender.id}/active", {"active": "0"}, token_from="/settings/users")
        assert response.status_code == 303
        assert other.get("/", follow_redirects=False).status_code == 303


def test_api_key_created_once_then_revoked_gets_401(client: TestClient, session: Session) -> None:
    account = make_account(session)
    admin, password = make_user(session, account, roles={Role.ADMIN})
    login(client, admin.email, password)
    created = post_form(client, "/settings/api-keys", {"name": "Bokningssystem", "roles": "sender"}, token_from="/settings/api-keys")
    assert created.status_code == 200 and created.headers["cache-control"] == "no-store"
    key = sensitive.register(re.search(r'id="new-key">([^<]+)<', created.text).group(1))  # type: ignore[union-attr]
    assert key not in client.get("/settings/api-keys").text  # shown once only
    api = TestClient(client.app)
    with api:
        me = api.get("/api/v1/me", headers={"Authorization": f"Bearer {key}"})
        assert me.status_code == 200 and me.json()["account"] == account.name and "send" in me.json()["permissions"]
        key_id = re.search(r'/settings/api-keys/(\d+)/revoke', client.get("/settings/api-keys").text).group(1)  # type: ignore[union-attr]
        revoked = post_form(client, f"/settings/api-keys/{key_id}/revoke", {"confirm": "1"}, token_from="/settings/api-keys")
        assert revoked.status_code == 303
        refused = api.get("/api/v1/me", headers={"Authorization": f"Bearer {key}"})
        assert refused.status_code == 401 and refused.json()["error"] == "unauthorized"


def test_api_without_key_gets_401_json(client: TestClient) -> None:
    response = client.get("/api/v1/me")
    assert response.status_code == 401 and response.json()["error"] == "unauthorized"
    assert client.get("/api/v1/me", headers={"Authorization": "Bearer gsk_nonsense"}).status_code == 401


def test_api_key_cannot_use_the_ui(client: TestClient, session: Session) -> None:
    account = make_account(session)
    _, key = make_api_key(session, account, roles={Role.ADMIN})
    response = client.get("/settings/users", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 403


def test_password_change_through_profile(client: TestClient, session: Session) -> None:
    user, password = make_user(session, make_account(session))
    login(client, user.email, password)
    new = sensitive.register("Nytt-lösenord-för-Åke-2026")
    wrong = post_form(client, "/settings/profile/password", {"current": "fel", "new": new}, token_from="/settings/profile")
    assert wrong.status_code == 422 and 'id="current-error"' in wrong.text
    right = post_form(client, "/settings/profile/password", {"current": password, "new": new}, token_from="/settings/profile")
    assert right.status_code == 303
    assert client.get("/", follow_redirects=False).status_code == 200  # this session stays


def test_language_choice_is_kept_per_user(client: TestClient, session: Session) -> None:
    user, password = make_user(session, make_account(session))
    login(client, user.email, password)
    assert "Översikt" in client.get("/").text
    post_form(client, "/settings/profile/language", {"language": "en"}, token_from="/settings/profile")
    assert "Dashboard" in client.get("/").text
    session.refresh(user)
    assert user.language == "en"


def test_operator_creates_customer_account_with_first_admin(client: TestClient, session: Session) -> None:
    provider = make_account(session, is_provider=True)
    operator, password = make_user(session, provider, roles={Role.OPERATOR})
    login(client, operator.email, password)
    assert "Kundkonton" in client.get("/").text
    admin_password = sensitive.register("Första-admin-lösen-2026")
    form = {
        "name": "Region Östergötland",
        "org_number": "232100-0040",
        "billing_email": "faktura@region.example",
        "first_admin_email": "it@region.example",
        "first_admin_password": admin_password,
    }
    bad = post_form(client, "/operator/accounts", {**form, "first_admin_password": "kort"}, token_from="/operator/accounts")
    assert bad.status_code == 422 and 'id="first_admin_password-error"' in bad.text
    assert "Region Östergötland" not in client.get("/operator/accounts").text.split("<tbody>")[1]  # nothing half-written
    created = post_form(client, "/operator/accounts", form, token_from="/operator/accounts")
    assert created.status_code == 303
    assert "Region Östergötland" in client.get("/operator/accounts?created=1").text
    post_form(client, "/logout", {}, token_from="/")
    login(client, "it@region.example", admin_password)
    assert "Du arbetar i kontot Region Östergötland" in client.get("/").text
