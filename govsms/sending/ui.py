"""Admin UI of sending: /send with a live counter and a summary before confirming, /messages,
/blocklist, and the public opt-out page /u/{token}."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Annotated, Any

from litestar import Request, get, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.exceptions import ClientException
from litestar.params import Body, FromPath, FromQuery, JSONBody
from litestar.response import Redirect, Template

from govsms.auth import Permission
from govsms.clock import zone
from govsms.contacts import groups
from govsms.contacts.filereader import read_contact_file
from govsms.contacts.limits import UploadLimits
from govsms.errors import GovsmsError, InvalidInput
from govsms.i18n import N_, _
from govsms.sending import blocklist, history, optout, pricing
from govsms.sending.dispatch import TOKEN_LENGTH, DispatchRequest, analyse_for_sending, create_dispatch, optout_link, split_numbers
from govsms.sending.status import DispatchStatus
from govsms.sending.senders import SHARED_REPLY_NUMBER, resolve_sender
from govsms.web.controller import PageController
from govsms.web.context import separate_reader
from govsms.web.forms import Db, Now, Form, form_list, form_text, refused_form
from govsms.web.guards import json_only, optout_limit, requires, users_only
from govsms.web.params import Id, PageNumber, form_id, form_ids
from govsms.web.render import NavItem, page

NAV = [
    NavItem(N_("Send SMS"), "/send", Permission.SEND),
    NavItem(N_("Sent"), "/messages", Permission.MESSAGES_READ),
    NavItem(N_("Blocklist"), "/blocklist", Permission.BLOCKLIST),
]
Multipart = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.MULTI_PART)]


def _send_at(value: str, timezone: str | None) -> datetime | None:
    """The form's send time, typed in the account's time zone, in UTC."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value).replace(tzinfo=zone(timezone)).astimezone(UTC)
    except (ValueError, OverflowError):  # year 1 in Stockholm is before year 1 in UTC
        raise InvalidInput(_("The send time is not valid."), fields={"send_at": _("Choose a date and time.")}) from None


def _form_page(request: Request[Any, Any, Any], db: Db, *, status_code: int = 200, **context: Any) -> Template:
    actor = request.scope["user"]
    context.setdefault("form", {"sender": SHARED_REPLY_NUMBER})
    context.setdefault("errors", {})
    sample_link = optout_link(request.app.state.settings.public_url, "x" * TOKEN_LENGTH)  # what _BLOCKSMSLINK_ becomes
    return page(
        request, "sending/send.html", status_code=status_code, groups=groups.list_groups(db, actor),
        virtual_numbers=pricing.account_virtual_numbers(db, actor), shared_reply=SHARED_REPLY_NUMBER, sample_link=sample_link, **context,
    )


def _form_of(data: dict[str, Any]) -> dict[str, Any]:
    """The send form as typed, to show again when it is refused."""
    return {
        "sender": form_text(data, "sender"), "to": form_text(data, "to"), "text": form_text(data, "text"),
        "send_at": form_text(data, "send_at"), "group_ids": form_list(data, "group_ids"),
        "idempotency_key": form_text(data, "idempotency_key") or secrets.token_urlsafe(16),
        "upload": form_text(data, "upload"),
    }


def _request_from(data: dict[str, Any], form: dict[str, Any], numbers_from_file: list[str], *, timezone: str | None) -> DispatchRequest:
    return DispatchRequest(
        sender=form["sender"], text=form["text"], numbers=[*split_numbers(form["to"]), *numbers_from_file],
        group_ids=form_ids(data, "group_ids"), send_at=_send_at(form["send_at"], timezone), idempotency_key=form["idempotency_key"],
    )


def _file_numbers(request: Request[Any, Any, Any], db: Db, data: dict[str, Any], *, now: datetime) -> tuple[list[str], str]:
    """Numbers of an uploaded file (kept encrypted between summary and confirmation)."""
    from govsms.contacts import importing

    actor = request.scope["user"]
    upload = data.get("file")
    token = form_text(data, "upload")
    limits = UploadLimits.from_settings(request.app.state.settings)
    if isinstance(upload, UploadFile) and upload.filename:
        content = upload.file.read()
        parsed = read_contact_file(upload.filename, content, limits)
        token = importing.store_upload(db, actor, upload.filename, content, now=now)
        return [row.number for row in parsed.rows], token
    if token:
        with separate_reader(request.app.state) as reader:  # the parse must not hold SQLite's write turn
            filename, content = importing.load_upload(reader or db, actor, token, now=now, writer=db)
        return [row.number for row in read_contact_file(filename, content, limits).rows], token
    return [], ""


class SendPages(PageController):
    """Sending: the form, its live counter, the summary, the confirmation; cancelling a scheduled dispatch."""

    guards = (users_only, requires(Permission.SEND))

    @get("/send")
    def send_page(self, request: Request[Any, Any, Any], db: Db) -> Template:
        return _form_page(request, db)

    @post("/send/analyse", guards=[json_only])
    def send_analyse(self, request: Request[Any, Any, Any], db: Db, data: JSONBody[dict[str, Any]], now: Now) -> dict[str, Any]:
        """The live counter: characters, parts and encoding of the text as recipients will get it."""
        text, sender = str(data.get("text", "")), str(data.get("sender", ""))
        body: dict[str, Any] = {}
        try:
            analysis = analyse_for_sending(text, request.app.state.settings.public_url)
            body.update(characters=analysis.characters, parts=analysis.parts, encoding=analysis.encoding,
                        remaining=analysis.remaining, non_gsm="".join(analysis.non_gsm))
        except InvalidInput as refused:
            body["error"] = refused.fields.get("text", refused.message)
        try:
            # The format only: whether a mobile number is verified is told by sending (which refuses
            # an unverified one with a reason), not by this counter, which records no event.
            choice = resolve_sender(db, request.scope["user"], sender, now=now, check_verified=False) if sender.strip() else None
            body["can_reply"] = choice.can_reply if choice else None
            if choice is not None and choice.kind == "number":
                body["sender_note"] = _("A mobile number can be the sender only once an administrator has verified it for your account "
                                        "(Settings, Senders: /settings/senders).")
        except InvalidInput as refused:
            body["sender_error"] = refused.fields.get("from", refused.message)
        return body

    @post("/send")
    def send_preview(self, request: Request[Any, Any, Any], db: Db, data: Multipart, now: Now) -> Template:
        """Step 1: the summary (a dry run: recipients, blocked, invalid, parts, cost); nothing is sent."""
        actor = request.scope["user"]
        form = _form_of(data)
        try:
            numbers, form["upload"] = _file_numbers(request, db, data, now=now)
            dispatch_request = _request_from(data, form, numbers, timezone=request.scope["user"].timezone)
            dispatch_request.dry_run = True
            summary = create_dispatch(db, actor, dispatch_request, public_url=request.app.state.settings.public_url, now=now)
        except GovsmsError as refused:  # a dry run: nothing to roll back
            return _form_page(request, db, form=form, **refused_form(refused, shown=(422,)))
        return page(request, "sending/confirm.html", summary=summary, form=form, can_reply=summary.can_reply)

    @post("/send/confirm")
    def send_confirm(self, request: Request[Any, Any, Any], db: Db, data: Form, now: Now) -> Template | Redirect:
        """Step 2: the same request for real; the idempotency key makes a double click harmless."""
        actor = request.scope["user"]
        form = _form_of(data)
        try:
            numbers, _upload = _file_numbers(request, db, data, now=now)
            dispatch_request = _request_from(data, form, numbers, timezone=request.scope["user"].timezone)
            summary = create_dispatch(db, actor, dispatch_request, public_url=request.app.state.settings.public_url, now=now)
        except GovsmsError as refused:  # "every number is blocked" keeps its access-log event
            return _form_page(request, db, form=form, **refused_form(refused, db, shown=(422,)))
        return Redirect(f"/messages/{summary.dispatch_id}?done=sent", status_code=303)

    @post("/messages/{dispatch_id:int}/cancel")
    def dispatch_cancel(self, request: Request[Any, Any, Any], db: Db, dispatch_id: Id, now: Now) -> Redirect:
        history.cancel_dispatch(db, request.scope["user"], dispatch_id, now=now)
        return Redirect(f"/messages/{dispatch_id}?done=cancelled", status_code=303)


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


# -- blocklist -----------------------------------------------------------------------------------


def _blocklist_page(request: Request[Any, Any, Any], db: Db, *, status_code: int = 200, **context: Any) -> Template:
    context.setdefault("errors", {})
    actor = request.scope["user"]
    return page(
        request, "sending/blocklist.html", status_code=status_code, counts=blocklist.counts_by_source(db, actor),
        cleanup=blocklist.last_clean_up(db, actor), **context,
    )


class BlocklistPages(PageController):
    """The account's blocklist: check, block, unblock a number."""

    guards = (users_only, requires(Permission.BLOCKLIST))

    @get("/blocklist")
    def blocklist_page(self, request: Request[Any, Any, Any], db: Db) -> Template:
        return _blocklist_page(request, db)

    @post("/blocklist")
    def blocklist_action(self, request: Request[Any, Any, Any], db: Db, data: Form, now: Now) -> Template:
        actor = request.scope["user"]
        number, action = form_text(data, "number"), form_text(data, "action")
        try:
            if action == "block":
                blocklist.block_number(db, actor, number, source="manual", now=now)
                notice = N_("The number is blocked. Nothing more is sent to it from this account.")
            elif action == "unblock":
                notice = N_("The number is no longer blocked.") if blocklist.unblock_number(db, actor, number, now=now) else N_("The number was not blocked.")
            else:
                status = blocklist.check_number(db, actor, number, now=now)
                return _blocklist_page(request, db, checked=status, number=number)
        except InvalidInput as refused:
            return _blocklist_page(request, db, status_code=422, errors=refused.fields, number=number)
        return _blocklist_page(request, db, notice=notice)


# -- the public opt-out page ---------------------------------------------------------------------


def _expired_link(request: Request[Any, Any, Any]) -> Template:
    return page(request, "sending/optout.html", status_code=410, expired=True, account="", token="", done=False)


class OptOutPages(PageController):
    """The public opt-out page a recipient's link opens: no login, a limit per address."""

    guards = (optout_limit,)

    @get("/u/{token:str}")
    def optout_page(self, request: Request[Any, Any, Any], db: Db, token: FromPath[str], now: Now) -> Template:
        """Shows what the button does; a GET alone never blocks (link scanners open links)."""
        try:
            account = optout.optout_account_name(db, token, now=now)
        except optout.LinkExpired:
            return _expired_link(request)
        return page(request, "sending/optout.html", account=account, token=token, done=False)

    @post("/u/{token:str}")
    def optout_confirm(self, request: Request[Any, Any, Any], db: Db, token: FromPath[str], now: Now) -> Template:
        try:
            account = optout.opt_out(db, token, now=now)
        except optout.LinkExpired:
            return _expired_link(request)
        return page(request, "sending/optout.html", account=account, token=token, done=True)


ROUTES = [SendPages, MessagePages, BlocklistPages, OptOutPages]
