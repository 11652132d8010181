"""Admin UI of the accounts domain: login, logout, profile, users and API keys."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from litestar import Request, get, post
from litestar.params import FromQuery
from litestar.response import Redirect, Template
from sqlalchemy import event

from govsms.accounts import apikey, login, service, totp_ui
from govsms.auth import Actor, CUSTOMER_ROLES, Permission, Role
from govsms.errors import GovsmsError, LoginRefused
from govsms.db import session_scope
from govsms.i18n import N_, _
from govsms.web.controller import PageController
from govsms.web.context import LANGUAGE_COOKIE, SESSION_COOKIE, expired_session_cookie, session_cookie
from govsms.web.forms import Db, Now, Form, form_list, form_text, refused_form, safe_next
from govsms.web.guards import requires, users_only
from govsms.web.params import Id, PageNumber
from govsms.web.render import NavItem, page

NAV = [
    NavItem(N_("Users"), "/settings/users", Permission.USERS_MANAGE),
    NavItem(N_("API keys"), "/settings/api-keys", Permission.API_KEYS_MANAGE),
]

NOTICES = {
    "created": N_("The user was created."),
    "saved": N_("The changes were saved."),
    "disabled": N_("The user was disabled and logged out everywhere."),
    "enabled": N_("The user was enabled and unlocked."),
    "removed": N_("The user was removed and logged out everywhere. Their details are deleted when the storage time of users is up."),
    "revoked": N_("The key was revoked; requests with it now get 401."),
    "password": N_("Your password was changed. Other sessions of yours were logged out."),
    "language": N_("Your language was saved."),
    "totp_on": N_("Two-step login is on: logging in now also takes a code from your app."),
    "totp_off": N_("Two-step login is off."),
    "totp_reset": N_("Two-step login of this user was reset and the user logged out everywhere."),
}


def _actor(request: Request[Any, Any, Any]) -> Actor:
    actor: Actor = request.scope["user"]
    return actor


def _roles(data: dict[str, Any]) -> set[Role]:
    known = {role.value for role in Role}
    return {Role(name) for name in form_list(data, "roles") if name in known}


# -- login ---------------------------------------------------------------------------------------


class LoginPages(PageController):
    """Logging in and out: open to anyone."""

    @get("/login", sync_to_thread=False)
    def login_page(self, request: Request[Any, Any, Any], next: FromQuery[str | None] = None) -> Template | Redirect:
        if request.scope.get("user") is not None:
            return Redirect(safe_next(next))
        return page(request, "accounts/login.html", next=safe_next(next), email="", error=None)

    @post("/login")
    def login_submit(self, request: Request[Any, Any, Any], db: Db, data: Form, now: Now) -> Template | Redirect:
        state = request.app.state
        email, password, target = form_text(data, "email"), form_text(data, "password"), safe_next(form_text(data, "next"))
        address = request.client.host if request.client else "-"
        if (wait := state.login_limiter.attempt(address, email)) is not None:
            message = _("Too many login attempts from here or for this address. Wait %(seconds)d seconds and try again.") % {"seconds": wait}
            refused = page(request, "accounts/login.html", status_code=429, next=target, email=email, error=message)
            refused.headers["Retry-After"] = str(wait)
            return refused
        # The password is checked (argon2, the slow part) before the write transaction starts.
        with session_scope(state.read_factory) as reader:
            checked = login.check_password(reader, email=email, password=password)
        try:
            user = login.authenticate(
                db, email=email, password=password, policy=state.login_policy, now=now, checked=checked, unknown=state.unknown_logins
            )
        except LoginRefused as refused:
            # Returned, not raised: the failure count must be committed with this request.
            return page(request, "accounts/login.html", status_code=401, next=target, email=email, error=refused.message)
        # A user with two-step login (or whose role requires it) gets a half login that reaches only
        # the code or enrolment step; the attempt is given back when that step is passed.
        stage = login.first_stage(db, user)
        token = login.start_login_session(db, user, policy=state.login_policy, now=now, stage=stage)
        if stage:
            response = Redirect(totp_ui.second_step_location(stage, target), status_code=303)
        else:
            state.login_limiter.succeeded(address, email)
            response = Redirect(target, status_code=303)
        response.set_cookie(session_cookie(token, secure=state.settings.secure_cookies))
        return response

    @post("/logout")
    def logout(self, request: Request[Any, Any, Any], db: Db) -> Redirect:
        if token := request.cookies.get(SESSION_COOKIE):
            login.end_login_session(db, token)
        response = Redirect("/login", status_code=303)
        response.set_cookie(expired_session_cookie(secure=request.app.state.settings.secure_cookies))
        return response


# -- the change of a one-time password, at login ---------------------------------------------------


def _password_stage(request: Request[Any, Any, Any], db: Db, *, now: datetime) -> login.PendingLogin | None:
    token = request.cookies.get(SESSION_COOKIE)
    pending = login.pending_login(db, token, now=now) if token else None
    return pending if pending is not None and pending.stage == "password" else None


class PasswordStagePages(PageController):
    """After an administrator's reset: the login with the one-time password (a half login) reaches
    this page only, where the user chooses a password of their own."""

    @get("/login/password")
    def password_stage_page(self, request: Request[Any, Any, Any], db: Db, now: Now, next: FromQuery[str | None] = None) -> Template | Redirect:
        if _password_stage(request, db, now=now) is None:
            return totp_ui.to_login(request)
        return page(request, "accounts/login_password.html", next=safe_next(next), errors={}, error=None)

    @post("/login/password")
    def password_stage_submit(self, request: Request[Any, Any, Any], db: Db, data: Form, now: Now) -> Template | Redirect:
        state = request.app.state
        target = safe_next(form_text(data, "next"))
        pending = _password_stage(request, db, now=now)
        if pending is None:
            return totp_ui.to_login(request)
        address = request.client.host if request.client else "-"
        if (wait := state.login_limiter.attempt(address, pending.user.email)) is not None:
            message = _("Too many login attempts from here or for this address. Wait %(seconds)d seconds and try again.") % {"seconds": wait}
            refused = page(request, "accounts/login_password.html", status_code=429, next=target, errors={}, error=message)
            refused.headers["Retry-After"] = str(wait)
            return refused
        try:
            token, stage = login.change_one_time_password(
                db, pending, new=form_text(data, "new"), repeat=form_text(data, "repeat"), policy=state.login_policy, now=now
            )
        except GovsmsError as refused_change:
            return page(request, "accounts/login_password.html", next=target, **refused_form(refused_change))
        if stage:
            response = Redirect(totp_ui.second_step_location(stage, target), status_code=303)
        else:
            state.login_limiter.succeeded(address, pending.user.email)
            response = Redirect(target, status_code=303)
        response.set_cookie(session_cookie(token, secure=state.settings.secure_cookies))
        return response


# -- own profile ---------------------------------------------------------------------------------


class ProfilePages(PageController):
    """The user's own profile: language and password."""

    guards = (users_only,)

    @get("/settings/profile")
    def profile_page(self, request: Request[Any, Any, Any], db: Db, done: FromQuery[str | None] = None) -> Template:
        return page(request, "accounts/profile.html", notice=NOTICES.get(done or ""), errors={}, **totp_ui.profile_context(db, _actor(request)))

    @post("/settings/profile/language")
    def profile_language(self, request: Request[Any, Any, Any], db: Db, data: Form) -> Redirect:
        language = service.set_language(db, _actor(request), form_text(data, "language"))
        response = Redirect("/settings/profile?done=language", status_code=303)
        response.set_cookie(LANGUAGE_COOKIE, language, httponly=True, samesite="lax", path="/")
        return response

    @post("/settings/profile/password")
    def profile_password(self, request: Request[Any, Any, Any], db: Db, data: Form, now: Now) -> Template | Redirect:
        try:
            login.change_password(
                db,
                _actor(request),
                current=form_text(data, "current"),
                new=form_text(data, "new"),
                keep_token=request.cookies.get(SESSION_COOKIE),
                now=now,
            )
        except GovsmsError as refused:
            return page(
                request, "accounts/profile.html", notice=None, **refused_form(refused, shown=(422,)),
                **totp_ui.profile_context(db, _actor(request)),
            )
        return Redirect("/settings/profile?done=password", status_code=303)


# -- users of the account ------------------------------------------------------------------------


def _users_page(request: Request[Any, Any, Any], db: Db, *, page_number: int, status_code: int = 200, now: datetime, **context: Any) -> Template:
    users = service.list_users(db, _actor(request), page=page_number, now=now)
    context.setdefault("form", {"roles": [Role.SENDER.value], "language": "sv"})
    context.setdefault("errors", {})
    return page(
        request, "accounts/users.html", status_code=status_code, users=users, roles=CUSTOMER_ROLES, **context
    )


class UserPages(PageController):
    """The users of the account, for those who manage them."""

    guards = (users_only, requires(Permission.USERS_MANAGE))

    @get("/settings/users")
    def users_page(
        self, request: Request[Any, Any, Any], db: Db, now: Now, page_number: PageNumber = 1, done: FromQuery[str | None] = None
    ) -> Template:
        return _users_page(request, db, page_number=page_number, notice=NOTICES.get(done or ""), now=now)

    @post("/settings/users")
    def users_create(self, request: Request[Any, Any, Any], db: Db, data: Form, now: Now) -> Template | Redirect:
        email, display_name = form_text(data, "email"), form_text(data, "display_name")
        language = form_text(data, "language") or "sv"
        form = {"email": email, "display_name": display_name, "language": language, "roles": form_list(data, "roles")}
        try:
            service.create_user(
                db,
                _actor(request),
                email=email,
                display_name=display_name,
                password=form_text(data, "password"),
                roles=_roles(data),
                language=language,
                now=now,
            )
        except GovsmsError as refused:
            return _users_page(request, db, page_number=1, form=form, now=now, **refused_form(refused, db))
        return Redirect("/settings/users?done=created", status_code=303)

    @get("/settings/users/{user_id:int}")
    def user_page(self, request: Request[Any, Any, Any], db: Db, user_id: Id, now: Now, done: FromQuery[str | None] = None) -> Template:
        user = service.view_user(db, _actor(request), user_id, now=now)
        return page(
            request, "accounts/user.html", user=user, roles=CUSTOMER_ROLES, now=now, notice=NOTICES.get(done or ""), errors={}
        )

    @post("/settings/users/{user_id:int}/roles")
    def user_roles(self, request: Request[Any, Any, Any], db: Db, user_id: Id, data: Form, now: Now) -> Redirect:
        service.update_user_roles(db, _actor(request), user_id, _roles(data), now=now)
        return Redirect(f"/settings/users/{user_id}?done=saved", status_code=303)

    @post("/settings/users/{user_id:int}/active")
    def user_active(self, request: Request[Any, Any, Any], db: Db, user_id: Id, data: Form, now: Now) -> Redirect:
        active = form_text(data, "active") == "1"
        service.set_user_active(db, _actor(request), user_id, active=active, now=now)
        return Redirect(f"/settings/users/{user_id}?done={'enabled' if active else 'disabled'}", status_code=303)

    @post("/settings/users/{user_id:int}/password")
    def user_password_reset(self, request: Request[Any, Any, Any], db: Db, user_id: Id, now: Now) -> Template:
        """A one-time password, shown in this one response (never in a URL, a log or the database)."""
        user, password = service.reset_password(db, _actor(request), user_id, now=now)
        response = page(
            request, "accounts/user.html", user=user, roles=CUSTOMER_ROLES, now=now, notice=None, errors={}, one_time_password=password
        )
        response.headers["Cache-Control"] = "no-store"
        return response

    @get("/settings/users/{user_id:int}/remove")
    def user_remove_page(self, request: Request[Any, Any, Any], db: Db, user_id: Id, now: Now) -> Template:
        """The confirmation step before a removal: a page of its own, so it needs no JavaScript."""
        user = service.view_user(db, _actor(request), user_id, now=now)
        return page(request, "accounts/user_remove.html", user=user, errors={})

    @post("/settings/users/{user_id:int}/remove")
    def user_remove(self, request: Request[Any, Any, Any], db: Db, user_id: Id, data: Form, now: Now) -> Redirect:
        if form_text(data, "confirm") != "1":  # not sent from the confirmation page
            service.get_user(db, _actor(request), user_id)  # another account's user is not found
            return Redirect(f"/settings/users/{user_id}/remove", status_code=303)
        service.remove_user(db, _actor(request), user_id, now=now)
        return Redirect("/settings/users?done=removed", status_code=303)


# -- API keys ------------------------------------------------------------------------------------


def _keys_page(request: Request[Any, Any, Any], db: Db, *, status_code: int = 200, **context: Any) -> Template:
    keys = apikey.list_api_keys(db, _actor(request))
    context.setdefault("form", {"roles": [Role.SENDER.value]})
    context.setdefault("errors", {})
    return page(request, "accounts/api_keys.html", status_code=status_code, keys=keys, roles=CUSTOMER_ROLES, **context)


def _confirm_revoke(request: Request[Any, Any, Any], db: Db, key_id: int) -> Template | Redirect:
    key = apikey.get_api_key(db, _actor(request), key_id)  # another account's key is not found
    if key.revoked_at is not None:
        return Redirect("/settings/api-keys", status_code=303)
    return page(
        request, "web/confirm.html", title=_("Revoke API key"), back="/settings/api-keys", back_label=_("All API keys"),
        question=_(
            "Revoke the key “%(name)s” (starts with %(prefix)s)? Every request with it gets 401 from now on; "
            "a system that uses it stops sending. This cannot be undone: make a new key instead."
        ) % {"name": key.name, "prefix": key.prefix},
        action=f"/settings/api-keys/{key_id}/revoke", button=_("Yes, revoke the key"),
    )


class ApiKeyPages(PageController):
    """The account's API keys, for those who manage them."""

    guards = (users_only, requires(Permission.API_KEYS_MANAGE))

    @get("/settings/api-keys")
    def api_keys_page(self, request: Request[Any, Any, Any], db: Db, done: FromQuery[str | None] = None) -> Template:
        return _keys_page(request, db, notice=NOTICES.get(done or ""))

    @post("/settings/api-keys")
    def api_keys_create(self, request: Request[Any, Any, Any], db: Db, data: Form, now: Now) -> Template:
        name = form_text(data, "name")
        form = {"name": name, "roles": form_list(data, "roles")}
        try:
            created, key = apikey.create_api_key(db, _actor(request), name=name, roles=_roles(data), now=now)
        except GovsmsError as refused:
            return _keys_page(request, db, form=form, **refused_form(refused, db))
        # The key is in this one response body only: never in a URL, a log or the database.
        response = _keys_page(request, db, created=created, new_key=key)
        response.headers["Cache-Control"] = "no-store"
        return response

    @get("/settings/api-keys/{key_id:int}/revoke")
    def api_keys_revoke_page(self, request: Request[Any, Any, Any], db: Db, key_id: Id) -> Template | Redirect:
        """The confirmation step before a revocation: a page of its own, so it needs no JavaScript."""
        return _confirm_revoke(request, db, key_id)

    @post("/settings/api-keys/{key_id:int}/revoke")
    def api_keys_revoke(self, request: Request[Any, Any, Any], db: Db, key_id: Id, data: Form, now: Now) -> Template | Redirect:
        if form_text(data, "confirm") != "1":  # not sent from the confirmation page: ask first
            return _confirm_revoke(request, db, key_id)
        apikey.revoke_api_key(db, _actor(request), key_id, now=now)
        # The key stops working at once in this process: the cache is emptied now and once more when
        # the revocation has committed (a request in between could have cached the key again).
        cache = request.app.state.actor_cache
        cache.clear()
        event.listen(db, "after_commit", lambda _session: cache.clear(), once=True)
        return Redirect("/settings/api-keys?done=revoked", status_code=303)


ROUTES = [LoginPages, PasswordStagePages, ProfilePages, UserPages, ApiKeyPages, *totp_ui.ROUTES]
