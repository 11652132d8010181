"""Sent history in the admin UI: /messages (the dispatches, filtered by state and date, and the
search by number across them), /messages/{id} (a dispatch: its text, its state, its messages, the
numbers in clear and one recipient's text with their opt-out link on request) and cancelling a
scheduled dispatch after a confirmation step.

A number is only ever sent in a form (POST), never in an address: browser histories and proxy
logs would keep it."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from urllib.parse import urlencode

from litestar import Request, get, post
from litestar.exceptions import ClientException
from litestar.params import FromQuery
from litestar.response import Redirect, Template

from govsms.auth import Permission
from govsms.clock import localtime
from govsms.errors import InvalidInput
from govsms.i18n import N_, _
from govsms.sending import history
from govsms.sending.dispatch import OPTOUT_PLACEHOLDER
from govsms.sending.history import ShownMessage
from govsms.sending.models import Dispatch
from govsms.sending.statistics import day_range
from govsms.sending.status import DispatchStatus
from govsms.web.controller import PageController
from govsms.web.forms import Db, Form, Now, form_text
from govsms.web.guards import requires, users_only
from govsms.web.params import Id, PageNumber, form_id
from govsms.web.render import page

MAX_DAY_LENGTH = 10
"""``YYYY-MM-DD``: what a date field sends."""


def _day(value: str, field: str, errors: dict[str, str]) -> date | None:
    """A day typed in a filter (``YYYY-MM-DD``); empty: no bound. A day that is not one is
    added to ``errors`` under ``field``."""
    value = value.strip()
    if not value:
        return None
    try:
        if len(value) > MAX_DAY_LENGTH:
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        errors[field] = _("Give a date as YYYY-MM-DD.")
        return None


def _between(start: date | None, end: date | None, timezone: str | None, errors: dict[str, str]) -> tuple[datetime | None, datetime | None]:
    """The instants the account's days ``start`` (from its beginning) to ``end`` (to its end) span."""
    if start is not None and end is not None and start > end:
        errors["to_day"] = _("The last day comes before the first.")
    try:
        return (day_range(start, timezone)[0] if start else None, day_range(end, timezone)[1] if end else None)
    except (OverflowError, ValueError):  # the first day of year 1, or the last of year 9999, has no edge in UTC
        errors["from_day" if start else "to_day"] = _("Give a date as YYYY-MM-DD.")
        return None, None


def _can_cancel(dispatch: Dispatch, now: datetime) -> bool:
    return dispatch.status == DispatchStatus.SCHEDULED and dispatch.send_at > now


def _dispatch_page(
    request: Request[Any, Any, Any], db: Db, dispatch_id: int, *, reveal: bool, status: str, number: str, page_number: int,
    notice: str | None = None, posted: str = "", now: datetime, shown: ShownMessage | None = None,
) -> Template:
    """``posted``: the address the filter came from by POST (search or reveal); its pages are
    posted there again, so no link holds the number. ``shown``: one message in clear."""
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
    counts = history.status_counts_of(db, [dispatch_id])
    text = history.dispatch_texts(db, actor, [dispatch_id], now=now).get(dispatch_id, "")  # recorded, the refused filter's page too
    return page(
        request, "sending/dispatch.html", status_code=422 if errors else 200, state_label=history.state_label, dispatch=dispatch, sender=senders[dispatch_id],
        counts=counts.get(dispatch_id, {}), state=history.dispatch_states(db, [dispatch], counts)[dispatch_id], messages=messages, posted=posted,
        text=text, received=history.as_received(text, request.app.state.settings.public_url, None), has_link=OPTOUT_PLACEHOLDER in text,
        reveal=reveal, status=status, number=number, statuses=history.STATUSES, errors=errors, notice=notice, shown=shown,
        can_cancel=_can_cancel(dispatch, now) and actor.can(Permission.SEND),
    )


class MessagePages(PageController):
    """What was sent: the dispatches and their messages."""

    guards = (users_only, requires(Permission.MESSAGES_READ))

    @get("/messages")
    def dispatches_page(
        self, request: Request[Any, Any, Any], db: Db, now: Now, page_number: PageNumber = 1, status: FromQuery[str] = "",
        from_day: FromQuery[str] = "", to_day: FromQuery[str] = "",
    ) -> Template:
        """The dispatches, newest first, filtered by state and by the days they were made (GET:
        nothing personal is in the filter)."""
        if "number" in request.query_params:  # a number in an address: refused before anything is read
            raise ClientException(_("Search by number with the form on this page (POST), never in the address."), status_code=400)
        actor = request.scope["user"]
        errors: dict[str, str] = {}
        if status and status not in history.STATES:
            errors["status"] = _("Choose a status from the list.")
        created_between = _between(_day(from_day, "from_day", errors), _day(to_day, "to_day", errors), actor.timezone, errors)
        filters = {"status": status, "from_day": from_day, "to_day": to_day}
        if errors:
            return page(request, "sending/dispatches.html", state_label=history.state_label, status_code=422, dispatches=None, errors=errors, filters=filters,
                        states=history.STATES, query="")
        dispatches = history.list_dispatches(db, actor, page=page_number, state=status or None, created_between=created_between)
        ids = [dispatch.id for dispatch in dispatches.items if dispatch.id is not None]
        texts = history.dispatch_texts(db, actor, ids, now=now)  # one event for the page, naming recipients
        counts = history.status_counts_of(db, ids)
        public_url = request.app.state.settings.public_url
        return page(
            request, "sending/dispatches.html", state_label=history.state_label, dispatches=dispatches, counts=counts,
            states=history.STATES, dispatch_states=history.dispatch_states(db, dispatches.items, counts),
            senders=history.dispatch_senders(db, actor, dispatches.items, now=now),
            texts={dispatch_id: history.as_received(text, public_url, None) for dispatch_id, text in texts.items()},
            errors=errors, filters=filters, query=urlencode({name: value for name, value in filters.items() if value}),
        )

    @post("/messages/search")
    def messages_search(self, request: Request[Any, Any, Any], db: Db, data: Form, now: Now) -> Template:
        """The messages to one number in all the account's dispatches (found by its blind index;
        the number comes in the form, so no URL holds it; recorded naming the person)."""
        actor = request.scope["user"]
        number = form_text(data, "number").strip()
        errors: dict[str, str] = {}
        found = None
        if not number:
            errors["number"] = _("Give the number to search for.")
        else:
            try:
                found = history.list_messages(db, actor, now=now, number=number, page=form_id(data, "page") or 1)
            except InvalidInput as refused:
                errors = refused.fields or {"number": refused.message}
        return page(
            request, "sending/dispatches.html", state_label=history.state_label, status_code=422 if errors else 200, dispatches=None,
            found=found, number=number, errors=errors, filters={}, states=history.STATES, query="",
        )

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
        if done == "scheduled":  # when it goes, in the account's time (the send page's notice)
            actor = request.scope["user"]
            send_at = history.get_dispatch(db, actor, dispatch_id).send_at
            notices["scheduled"] = _("The SMS is scheduled: it goes %(time)s.") % {"time": localtime(send_at, "%Y-%m-%d %H:%M", actor.timezone)}
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

    @post("/messages/{dispatch_id:int}/messages/{outbound_id:int}")
    def message_show(self, request: Request[Any, Any, Any], db: Db, dispatch_id: Id, outbound_id: Id, data: Form, now: Now) -> Template:
        """One recipient's SMS as they got it, their opt-out link included: recorded in the access log."""
        shown = history.show_message(db, request.scope["user"], dispatch_id, outbound_id, public_url=request.app.state.settings.public_url, now=now)
        return _dispatch_page(
            request, db, dispatch_id, reveal=False, status=form_text(data, "status"), number="", page_number=form_id(data, "page") or 1,
            now=now, shown=shown,
        )


def _cancel_page(request: Request[Any, Any, Any], db: Db, dispatch_id: int, now: datetime) -> Template | Redirect:
    actor = request.scope["user"]
    dispatch = history.get_dispatch(db, actor, dispatch_id)
    if not _can_cancel(dispatch, now):  # gone already, or cancelled: the dispatch page says where it is
        return Redirect(f"/messages/{dispatch_id}", status_code=303)
    return page(request, "sending/cancel.html", dispatch=dispatch, sender=history.dispatch_senders(db, actor, [dispatch], now=now)[dispatch_id])


class DispatchCancelPages(PageController):
    """Cancelling a scheduled dispatch (the sender's permission), after a confirmation step that
    needs no JavaScript: the button leads to a page that asks; only its form cancels."""

    guards = (users_only, requires(Permission.SEND))

    @get("/messages/{dispatch_id:int}/cancel")
    def dispatch_cancel_confirm(self, request: Request[Any, Any, Any], db: Db, dispatch_id: Id, now: Now) -> Template | Redirect:
        return _cancel_page(request, db, dispatch_id, now)

    @post("/messages/{dispatch_id:int}/cancel")
    def dispatch_cancel(self, request: Request[Any, Any, Any], db: Db, dispatch_id: Id, data: Form, now: Now) -> Template | Redirect:
        """Cancels with ``confirm=yes`` (the confirmation page's button); without it, asks first."""
        if form_text(data, "confirm") != "yes":
            return _cancel_page(request, db, dispatch_id, now)
        history.cancel_dispatch(db, request.scope["user"], dispatch_id, now=now)
        return Redirect(f"/messages/{dispatch_id}?done=cancelled", status_code=303)


ROUTES = [MessagePages, DispatchCancelPages]
