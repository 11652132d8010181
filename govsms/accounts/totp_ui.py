"""Admin UI of two-step login: the code and enrolment steps of a login, setting it up and turning
it off in the profile, new recovery codes, and an administrator's reset of another user's."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

import segno
from litestar import Request, get, post
from litestar.params import FromQuery
from litestar.response import Redirect, Template
from sqlmodel import Session

from govsms.accounts import login, service, totp
from govsms.auth import Actor, Permission
from govsms.accounts.models import User
from govsms.errors import GovsmsError, InvalidInput, LoginRefused
from govsms.i18n import _
from govsms.web.controller import PageController
from govsms.web.context import SESSION_COOKIE, expired_session_cookie, session_cookie
from govsms.web.forms import Db, Now, Form, form_text, refused_form, safe_next
from govsms.web.guards import requires, users_only
from govsms.web.params import Id
from govsms.web.render import page


def _no_store(response: Template) -> Template:
    """Secrets and recovery codes are in this one response only: no cache may keep it."""
    response.headers["Cache-Control"] = "no-store"
    return response


def _pending(request: Request[Any, Any, Any], db: Session, stage: str, *, now: datetime) -> login.PendingLogin | None:
    token = request.cookies.get(SESSION_COOKIE)
    pending = login.pending_login(db, token, now=now) if token else None
    return pending if pending is not None and pending.stage == stage else None


def to_login(request: Request[Any, Any, Any]) -> Redirect:
    """No half login (expired, or never there): the password step again."""
    response = Redirect("/login", status_code=303)
    response.set_cookie(expired_session_cookie(secure=request.app.state.settings.secure_cookies))
    return response


def _too_many(request: Request[Any, Any, Any], template: str, wait: int, **context: Any) -> Template:
    message = _("Too many login attempts from here or for this address. Wait %(seconds)d seconds and try again.") % {"seconds": wait}
    refused = page(request, template, status_code=429, error=message, **context)
    refused.headers["Retry-After"] = str(wait)
    return refused


def _address(request: Request[Any, Any, Any]) -> str:
    return request.client.host if request.client else "-"


def _enrol_page(
    request: Request[Any, Any, Any], enrolment: totp.Enrolment, *, action: str, next: str, status_code: int = 200, **context: Any
) -> Template:
    groups = " ".join(enrolment.secret[start : start + 4] for start in range(0, len(enrolment.secret), 4))
    qr = segno.make(enrolment.uri, error="m").svg_inline(scale=4, light="#fff", title=_("QR code for your authenticator app"))
    context.setdefault("errors", {})
    return _no_store(
        page(
            request, "accounts/totp_enrol.html", status_code=status_code, secret=groups, uri=enrolment.uri, qr=qr, action=action,
            next=next, **context,
        )
    )


def profile_context(db: Session, actor: Actor) -> dict[str, Any]:
    """What the profile page shows about the user's two-step login."""
    user = service.own_user(db, actor)
    return {
        "totp_since": user.totp_enabled_at,
        "totp_required": totp.required_for(db, user),
        "codes_left": totp.recovery_codes_left(db, user) if user.totp_enabled_at else 0,
    }


# -- the second step of a login -----------------------------------------------------------------


class SecondStepPages(PageController):
    """The second step of a login, open to a half login: the code, or enrolment when the role requires it."""

    @get("/login/code")
    def code_page(self, request: Request[Any, Any, Any], db: Db, now: Now, next: FromQuery[str | None] = None) -> Template | Redirect:
        if _pending(request, db, "code", now=now) is None:
            return to_login(request)
        return page(request, "accounts/login_code.html", next=safe_next(next), error=None)

    @post("/login/code")
    def code_submit(self, request: Request[Any, Any, Any], db: Db, data: Form, now: Now) -> Template | Redirect:
        state = request.app.state
        target = safe_next(form_text(data, "next"))
        pending = _pending(request, db, "code", now=now)
        if pending is None:
            return to_login(request)
        if (wait := state.login_limiter.attempt(_address(request), pending.user.email)) is not None:
            return _too_many(request, "accounts/login_code.html", wait, next=target)
        try:
            token = totp.log_in_with_code(db, pending, form_text(data, "code"), policy=state.login_policy, now=now)
        except LoginRefused as refused:
            # Returned, not raised: the failure count must be committed with this request.
            return page(request, "accounts/login_code.html", status_code=401, next=target, error=refused.message)
        state.login_limiter.succeeded(_address(request), pending.user.email)
        response = Redirect(target, status_code=303)
        response.set_cookie(session_cookie(token, secure=state.settings.secure_cookies))
        return response

    @get("/login/enrol")
    def enrol_page(self, request: Request[Any, Any, Any], db: Db, now: Now, next: FromQuery[str | None] = None) -> Template | Redirect:
        pending = _pending(request, db, "enrol", now=now)
        if pending is None:
            return to_login(request)
        try:
            enrolment = totp.begin_enrolment(db, pending.user, now=now, anew=False)  # begun by this login's password step
        except LoginRefused as refused:
            return page(request, "accounts/login.html", status_code=401, next=safe_next(next), email="", error=refused.message)
        return _enrol_page(request, enrolment, action="/login/enrol", next=safe_next(next), required=True)

    @post("/login/enrol")
    def enrol_submit(self, request: Request[Any, Any, Any], db: Db, data: Form, now: Now) -> Template | Redirect:
        state = request.app.state
        target = safe_next(form_text(data, "next"))
        pending = _pending(request, db, "enrol", now=now)
        if pending is None:
            return to_login(request)
        try:
            if (wait := state.login_limiter.attempt(_address(request), pending.user.email)) is not None:
                enrolment = totp.begin_enrolment(db, pending.user, now=now, anew=False)
                response = _enrol_page(
                    request, enrolment, action="/login/enrol", next=target, required=True, status_code=429,
                    error=_("Too many login attempts from here or for this address. Wait %(seconds)d seconds and try again.") % {"seconds": wait},
                )
                response.headers["Retry-After"] = str(wait)
                return response
            try:
                codes = totp.confirm_enrolment(db, pending.user, form_text(data, "code"), now=now)
            except InvalidInput as invalid:
                enrolment = totp.begin_enrolment(db, pending.user, now=now, anew=False)
                return _enrol_page(request, enrolment, action="/login/enrol", next=target, required=True, **refused_form(invalid))
        except LoginRefused as refused:
            return page(request, "accounts/login.html", status_code=401, next=target, email="", error=refused.message)
        token = login.complete_login(db, pending, policy=state.login_policy, now=now, details={"second_step": "enrolled"})
        state.login_limiter.succeeded(_address(request), pending.user.email)
        response = _no_store(page(request, "accounts/recovery_codes.html", codes=codes, next=target))
        response.set_cookie(session_cookie(token, secure=state.settings.secure_cookies))
        return response


def second_step_location(stage: str, target: str) -> str:
    """Where a right password leads when a second step is due."""
    return f"/login/{stage}" + (f"?next={quote(target, safe='/')}" if target != "/" else "")


# -- the user's own two-step login (profile) -----------------------------------------------------


def _user(request: Request[Any, Any, Any], db: Session) -> User:
    return service.own_user(db, request.scope["user"])


def _profile_refusal(request: Request[Any, Any, Any], db: Session, refused: GovsmsError, prefix: str) -> Template:
    reasons = refused_form(refused)
    reasons["errors"] = {f"{prefix}_{name}": problem for name, problem in reasons["errors"].items()}
    return page(request, "accounts/profile.html", notice=None, **reasons, **profile_context(db, request.scope["user"]))


class TotpProfilePages(PageController):
    """The user's own two-step login, in the profile."""

    guards = (users_only,)

    @post("/settings/profile/totp/start")
    def totp_start(self, request: Request[Any, Any, Any], db: Db, now: Now) -> Template:
        enrolment = totp.begin_enrolment(db, _user(request, db), now=now)
        return _enrol_page(request, enrolment, action="/settings/profile/totp/confirm", next="/settings/profile", required=False)

    @post("/settings/profile/totp/confirm")
    def totp_confirm(self, request: Request[Any, Any, Any], db: Db, data: Form, now: Now) -> Template:
        user = _user(request, db)
        try:
            codes = totp.confirm_enrolment(
                db, user, form_text(data, "code"), now=now, keep_token=request.cookies.get(SESSION_COOKIE), password=form_text(data, "password")
            )
        except InvalidInput as invalid:
            enrolment = totp.begin_enrolment(db, user, now=now, anew=False)  # the same set-up: the app has it already
            return _enrol_page(
                request, enrolment, action="/settings/profile/totp/confirm", next="/settings/profile", required=False, **refused_form(invalid),
            )
        return _no_store(page(request, "accounts/recovery_codes.html", codes=codes, next="/settings/profile?done=totp_on"))

    @post("/settings/profile/totp/disable")
    def totp_disable(self, request: Request[Any, Any, Any], db: Db, data: Form, now: Now) -> Template | Redirect:
        try:
            totp.disable_totp(db, request.scope["user"], password=form_text(data, "password"), code=form_text(data, "code"), now=now)
        except GovsmsError as refused:
            return _profile_refusal(request, db, refused, "totp")
        return Redirect("/settings/profile?done=totp_off", status_code=303)

    @post("/settings/profile/totp/recovery-codes")
    def totp_recovery_codes(self, request: Request[Any, Any, Any], db: Db, data: Form, now: Now) -> Template:
        try:
            codes = totp.renew_recovery_codes(db, request.scope["user"], code=form_text(data, "code"), now=now)
        except GovsmsError as refused:
            return _profile_refusal(request, db, refused, "renew")
        return _no_store(page(request, "accounts/recovery_codes.html", codes=codes, next="/settings/profile"))


# -- an administrator's reset --------------------------------------------------------------------


class TotpResetPages(PageController):
    """An administrator's reset of another user's two-step login."""

    guards = (users_only, requires(Permission.USERS_MANAGE))

    @post("/settings/users/{user_id:int}/totp/reset")
    def user_totp_reset(self, request: Request[Any, Any, Any], db: Db, user_id: Id, now: Now) -> Redirect:
        totp.reset_totp(db, request.scope["user"], user_id, now=now)
        return Redirect(f"/settings/users/{user_id}?done=totp_reset", status_code=303)


ROUTES = [SecondStepPages, TotpProfilePages, TotpResetPages]
