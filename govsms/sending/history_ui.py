"""Sent history in the admin UI: /messages (the dispatches), /messages/{id} (a dispatch, its
messages, the search and the numbers in clear on request) and cancelling a scheduled dispatch."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from litestar import Request, get, post
from litestar.exceptions import ClientException
from litestar.params import FromQuery
from litestar.response import Redirect, Template

from govsms.auth import Permission
from govsms.errors import InvalidInput
from govsms.i18n import N_, _
from govsms.sending import history
from govsms.sending.status import DispatchStatus
from govsms.web.controller import PageController
from govsms.web.forms import Db, Form, Now, form_text
from govsms.web.guards import requires, users_only
from govsms.web.params import Id, PageNumber, form_id
from govsms.web.render import page


# -- history -------------------------------------------------------------------------------------


def _dispatch_page(
    request: Request[Any, Any, Any], db: Db, dispatch_id: int, *, reveal: bool, status: str, number: str, page_number: int,
    notice: str | None = None, posted: str = "", now: datetime,
) -> Template:
    """``posted``: the address the filter came from by POST (search or reveal); its pages are
    posted there again, so no link holds the number."""
    actor = request.scope["user"]
    dispatch = history.get_dispatch(db, actor, dispatch_id)
    errors: dict[str, str] = {}
    messages = None
    try:
        messages = history.list_messages(db, actor, now=now, dispatch_id=dispatch_id, status=status or None,
                                         number=number or None, reveal=reveal, page=page_number)
    except InvalidInput as refused:
        errors = refused.fields
    senders = history.dispatch_senders(db, actor, [dispatch], now=now, reveal=reveal)
    return page(
        request, "sending/dispatch.html", status_code=422 if errors else 200, dispatch=dispatch, sender=senders[dispatch_id],
        counts=history.status_counts(db, dispatch_id), messages=messages, posted=posted,
        reveal=reveal, status=status, number=number, statuses=history.STATUSES, errors=errors, notice=notice,
        can_cancel=dispatch.status == DispatchStatus.SCHEDULED and dispatch.send_at > now,
    )


class MessagePages(PageController):
    """What was sent: the dispatches and their messages."""

    guards = (users_only, requires(Permission.MESSAGES_READ))

    @get("/messages")
    def dispatches_page(self, request: Request[Any, Any, Any], db: Db, now: Now, page_number: PageNumber = 1) -> Template:
        actor = request.scope["user"]
        dispatches = history.list_dispatches(db, actor, page=page_number)
        counts = history.status_counts_of(db, [dispatch.id for dispatch in dispatches.items if dispatch.id is not None])
        senders = history.dispatch_senders(db, actor, dispatches.items, now=now)
        return page(request, "sending/dispatches.html", dispatches=dispatches, counts=counts, senders=senders)

    @get("/messages/{dispatch_id:int}")
    def dispatch_page(
        self, request: Request[Any, Any, Any], db: Db, dispatch_id: Id, now: Now, page_number: PageNumber = 1,
        status: FromQuery[str] = "", done: FromQuery[str] = "",
    ) -> Template:
        if "number" in request.query_params:  # the old filter: refused before anything is read
            raise ClientException(_(
                "A search by number is sent with the form on the dispatch page (POST), never in the address, where browser "
                "histories and proxy logs would keep it. Use the form there."
            ), status_code=400)
        notices = {"sent": N_("The SMS is on its way."), "cancelled": N_("The dispatch was cancelled.")}
        return _dispatch_page(request, db, dispatch_id, reveal=False, status=status, number="", page_number=page_number, notice=notices.get(done), now=now)

    @post("/messages/{dispatch_id:int}/search")
    def dispatch_search(self, request: Request[Any, Any, Any], db: Db, dispatch_id: Id, data: Form, now: Now) -> Template:
        """The messages filter (status, number): the number comes in the form, so no URL holds it."""
        return _dispatch_page(
            request, db, dispatch_id, reveal=False, status=form_text(data, "status"), number=form_text(data, "number").strip(),
            page_number=form_id(data, "page") or 1, posted=f"/messages/{dispatch_id}/search", now=now,
        )

    @post("/messages/{dispatch_id:int}/reveal")
    def dispatch_reveal(self, request: Request[Any, Any, Any], db: Db, dispatch_id: Id, data: Form, now: Now) -> Template:
        """Numbers in clear: an explicit action, and recorded in the access log."""
        return _dispatch_page(
            request, db, dispatch_id, reveal=True, status=form_text(data, "status"), number=form_text(data, "number").strip(),
            page_number=form_id(data, "page") or 1, posted=f"/messages/{dispatch_id}/reveal", now=now,
        )


class DispatchCancelPages(PageController):
    """Cancelling a scheduled dispatch (its own permission: the sender's)."""

    guards = (users_only, requires(Permission.SEND))

    @post("/messages/{dispatch_id:int}/cancel")
    def dispatch_cancel(self, request: Request[Any, Any, Any], db: Db, dispatch_id: Id, now: Now) -> Redirect:
        history.cancel_dispatch(db, request.scope["user"], dispatch_id, now=now)
        return Redirect(f"/messages/{dispatch_id}?done=cancelled", status_code=303)


ROUTES = [MessagePages, DispatchCancelPages]
