"""/settings/senders: the account's mobile-number senders, for admins: list, add (a code goes to
the number by SMS), confirm the code, send a new one, remove. In demo mode (the loopback
transport, which sends nothing anywhere, outside production) the page shows the code it sent."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from litestar import Request, get, post
from litestar.params import FromQuery
from litestar.response import Redirect, Template

from govsms.auth import Permission
from govsms.errors import GovsmsError
from govsms.i18n import N_, _
from govsms.sending import sender_numbers
from govsms.sending.sender_numbers import CodeSent, Outcome
from govsms.settings import Settings
from govsms.web.controller import PageController
from govsms.web.forms import Db, Now, Form, form_text, refused_form
from govsms.web.guards import requires, users_only
from govsms.web.params import Id
from govsms.web.render import NavItem, page

NAV = [NavItem(N_("Senders"), "/settings/senders", Permission.ACCOUNT_SETTINGS)]
NOTICES = {"verified": N_("The number is verified: it can be used as a sender now."), "removed": N_("The number is no longer a sender.")}
OUTCOMES = {
    Outcome.WRONG: N_("That is not the code. Tries left: %(left)d."),
    Outcome.EXPIRED: N_("The code has expired. Send a new one."),
    Outcome.LOCKED: N_("Too many wrong codes. Send a new one."),
    Outcome.NO_CODE: N_("No code is waiting for this number."),
}


def demo_codes_visible(settings: Settings) -> bool:
    """Only in demo mode: the loopback transport delivers nothing, so the page shows the code it
    sent. Never in production, never with a transport that reaches phones."""
    return settings.transport == "loopback" and not settings.is_production


def _page(request: Request[Any, Any, Any], db: Db, *, status_code: int = 200, sent: CodeSent | None = None, now: datetime, **context: Any) -> Template:
    actor = request.scope["user"]
    context.setdefault("errors", {})
    context.setdefault("form", {"number": ""})
    demo_code = sent.code if sent is not None and demo_codes_visible(request.app.state.settings) else None
    template = page(
        request, "sending/senders.html", status_code=status_code, senders=sender_numbers.list_sender_numbers(db, actor, now=now),
        sent=sent, demo_code=demo_code, minutes=sender_numbers.CODE_TTL.seconds // 60, **context,
    )
    template.headers["Cache-Control"] = "no-store"
    return template


def _refused(request: Request[Any, Any, Any], db: Db, refused: GovsmsError, *, now: datetime, **context: Any) -> Template:
    # Nothing of a refused request stays (a subject or row made on the way) but a recorded refusal.
    return _page(request, db, now=now, **context, **refused_form(refused, db, shown=(422,)))


class SenderPages(PageController):
    """The account's mobile-number senders, for those who manage the account's settings."""

    guards = (users_only, requires(Permission.ACCOUNT_SETTINGS))

    @get("/settings/senders")
    def senders_page(self, request: Request[Any, Any, Any], db: Db, now: Now, done: FromQuery[str] = "") -> Template:
        return _page(request, db, notice=NOTICES.get(done), now=now)

    @post("/settings/senders")
    def senders_add(self, request: Request[Any, Any, Any], db: Db, data: Form, now: Now) -> Template:
        number = form_text(data, "number")
        try:
            sent = sender_numbers.request_code(db, request.scope["user"], number, now=now)
        except GovsmsError as refused:
            return _refused(request, db, refused, form={"number": number[:64]}, now=now)
        return _page(request, db, sent=sent, now=now)

    @post("/settings/senders/{sender_id:int}/resend")
    def senders_resend(self, request: Request[Any, Any, Any], db: Db, sender_id: Id, now: Now) -> Template:
        try:
            sent = sender_numbers.resend_code(db, request.scope["user"], sender_id, now=now)
        except GovsmsError as refused:
            return _refused(request, db, refused, now=now)
        return _page(request, db, sent=sent, now=now)

    @post("/settings/senders/{sender_id:int}/confirm")
    def senders_confirm(self, request: Request[Any, Any, Any], db: Db, sender_id: Id, data: Form, now: Now) -> Template | Redirect:
        try:
            result = sender_numbers.confirm_code(db, request.scope["user"], sender_id, form_text(data, "code"), now=now)
        except GovsmsError as refused:
            return _refused(request, db, refused, failed_id=sender_id, now=now)
        if result.outcome is Outcome.VERIFIED:
            return Redirect("/settings/senders?done=verified", status_code=303)
        # A wrong code is kept (counted and recorded): the page answers 422 without rolling back.
        message = _(OUTCOMES[result.outcome]) % {"left": result.attempts_left}
        return _page(request, db, status_code=422, errors={"code": message}, error=message, failed_id=sender_id, now=now)

    @post("/settings/senders/{sender_id:int}/remove")
    def senders_remove(self, request: Request[Any, Any, Any], db: Db, sender_id: Id, now: Now) -> Redirect:
        sender_numbers.remove_sender_number(db, request.scope["user"], sender_id, now=now)
        return Redirect("/settings/senders?done=removed", status_code=303)


ROUTES = [SenderPages]
