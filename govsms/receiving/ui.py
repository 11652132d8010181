"""The inbox pages: /inbox (conversations, unread first), /inbox/{conversation} (the person's SMS,
each with the SMS it answers; the number shown in clear on request; mark as read; reply), the
search by number (POST), and in demo mode a button that simulates an inbound SMS."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from litestar import Request, get, post
from litestar.exceptions import ClientException, NotFoundException
from litestar.params import FromQuery
from litestar.response import Redirect, Template

from govsms.auth import Permission
from govsms.errors import GovsmsError
from govsms.i18n import N_, _
from govsms.receiving import inbox
from govsms.receiving.service import simulate_inbound
from govsms.sending.senders import SHARED_REPLY_NUMBER
from govsms.settings import Settings
from govsms.web.controller import PageController
from govsms.web.forms import Db, Form, Now, form_text, refused_form
from govsms.web.guards import requires, users_only
from govsms.web.params import Id, PageNumber, form_id
from govsms.web.render import NavItem, page

NAV = [NavItem(N_("Inbox"), "/inbox", Permission.INBOX, count="inbox")]
"""The item shows the account's unread SMS: ``app.state.nav_counts["inbox"]`` (``inbox.unread_count``)."""

NOTICES = {
    "read": N_("Marked as read."),
    "replied": N_("The reply is on its way. It is listed under Sent like any SMS."),
    "simulated": N_("A simulated SMS was received: it is in your inbox."),
    "simulated_elsewhere": N_("A simulated SMS was received, but it was routed elsewhere: to another account or to the operator's "
                              "queue. Reply to an SMS your account sent from 72323 within the reply window, or use your keyword "
                              "or virtual number."),
}


def demo_mode(settings: Settings) -> bool:
    """The loopback transport outside production: the inbox offers to simulate an inbound SMS
    (nothing reaches or comes from a phone)."""
    return settings.transport == "loopback" and not settings.is_production


def _no_number_in_the_address(request: Request[Any, Any, Any]) -> None:
    if "number" in request.query_params:  # refused before anything is read
        raise ClientException(_(
            "A search by number is sent with the search form (POST), never in the address, where browser histories and "
            "proxy logs would keep it. Use the search form on the inbox page."
        ), status_code=400)


def _inbox_page(request: Request[Any, Any, Any], db: Db, *, now: datetime, page_number: int = 1, status_code: int = 200, **context: Any) -> Template:
    context.setdefault("errors", {})
    context.setdefault("form", {})
    conversations = inbox.list_conversations(db, request.scope["user"], now=now, page=page_number)
    template = page(
        request, "receiving/inbox.html", status_code=status_code, conversations=conversations,
        demo=demo_mode(request.app.state.settings), shared_reply=SHARED_REPLY_NUMBER, **context,
    )
    template.headers["Cache-Control"] = "no-store"
    return template


def _conversation_page(
    request: Request[Any, Any, Any], db: Db, conversation_id: int, *, now: datetime, in_clear: bool = False, page_number: int = 1,
    status_code: int = 200, **context: Any,
) -> Template:
    context.setdefault("errors", {})
    context.setdefault("form", {})
    actor = request.scope["user"]
    conversation = inbox.get_conversation(db, actor, conversation_id, now=now, in_clear=in_clear, page=page_number)
    template = page(
        request, "receiving/inbox_conversation.html", status_code=status_code, conversation=conversation,
        can_send=actor.can(Permission.SEND), can_read_sent=actor.can(Permission.MESSAGES_READ), **context,
    )
    template.headers["Cache-Control"] = "no-store"
    return template


class InboxPages(PageController):
    """The account's received SMS, for its senders."""

    guards = (users_only, requires(Permission.INBOX))

    @get("/inbox")
    def inbox_page(self, request: Request[Any, Any, Any], db: Db, now: Now, page_number: PageNumber = 1, done: FromQuery[str] = "") -> Template:
        _no_number_in_the_address(request)
        return _inbox_page(request, db, now=now, page_number=page_number, notice=NOTICES.get(done))

    @post("/inbox/search")
    def inbox_search(self, request: Request[Any, Any, Any], db: Db, data: Form, now: Now) -> Template | Redirect:
        """A search by number: the number comes in the form, so no URL holds it."""
        number = form_text(data, "number").strip()
        try:
            found = inbox.find_conversation(db, request.scope["user"], number, now=now)
        except GovsmsError as refused:
            reasons = refused_form(refused, db)
            return _inbox_page(request, db, now=now, form={"number": number}, errors={"number": reasons["error"], **reasons["errors"]},
                               status_code=reasons["status_code"], error=reasons["error"])
        if found is None:
            return _inbox_page(request, db, now=now, form={"number": number}, notice=N_("No SMS from this number in your inbox."))
        return Redirect(f"/inbox/{found}", status_code=303)

    @post("/inbox/simulate")
    def inbox_simulate(self, request: Request[Any, Any, Any], db: Db, data: Form, now: Now) -> Template | Redirect:
        """Demo mode only: an SMS "received" from a phone, through the loopback transport's inbound
        path (stored and routed in a transaction of its own, as the transport's would be)."""
        if not demo_mode(request.app.state.settings):
            raise NotFoundException(_("Simulated SMS exist in demo mode only."))
        form = {name: form_text(data, name).strip() for name in ("from", "to", "text")}
        errors = {
            name: message for name, message in (
                ("from", _("Type the number the SMS comes from.") if not form["from"] else None),
                ("text", _("Type the text of the SMS.") if not form["text"] else None),
            ) if message
        }
        if errors:
            return _inbox_page(request, db, now=now, form=form, errors=errors, error=_("Nothing was received."), status_code=422)
        routed = simulate_inbound(request.app.state.session_factory, to=form["to"] or SHARED_REPLY_NUMBER, from_=form["from"], text=form["text"], now=now)
        here = routed.account_id == request.scope["user"].account_id
        return Redirect(f"/inbox?done={'simulated' if here else 'simulated_elsewhere'}", status_code=303)

    @get("/inbox/{conversation_id:int}")
    def conversation_page(
        self, request: Request[Any, Any, Any], db: Db, conversation_id: Id, now: Now, page_number: PageNumber = 1, done: FromQuery[str] = "",
    ) -> Template:
        return _conversation_page(request, db, conversation_id, now=now, page_number=page_number, notice=NOTICES.get(done))

    @post("/inbox/{conversation_id:int}/reveal")
    def conversation_reveal(self, request: Request[Any, Any, Any], db: Db, conversation_id: Id, data: Form, now: Now) -> Template:
        """The number in clear: an explicit action, recorded in the access log."""
        return _conversation_page(request, db, conversation_id, now=now, in_clear=True, page_number=form_id(data, "page") or 1)

    @post("/inbox/{conversation_id:int}/read")
    def conversation_read(self, request: Request[Any, Any, Any], db: Db, conversation_id: Id, data: Form, now: Now) -> Redirect:
        """The whole conversation, or only the SMS of the form's ``message_id``."""
        inbox.mark_read(db, request.scope["user"], conversation_id, inbound_id=form_id(data, "message_id"), now=now)
        return Redirect(f"/inbox/{conversation_id}?done=read", status_code=303)

    @post("/inbox/{conversation_id:int}/reply")
    def conversation_reply(self, request: Request[Any, Any, Any], db: Db, conversation_id: Id, data: Form, now: Now) -> Template | Redirect:
        """One SMS to the person, from the number their latest SMS arrived on."""
        text = form_text(data, "text")
        try:
            inbox.reply(
                db, request.scope["user"], text, conversation_id=conversation_id, public_url=request.app.state.settings.public_url,
                now=now, channel="inbox",
            )
        except GovsmsError as refused:
            return _conversation_page(request, db, conversation_id, now=now, form={"text": text}, **refused_form(refused, db))
        return Redirect(f"/inbox/{conversation_id}?done=replied", status_code=303)


ROUTES = [InboxPages]
