"""Admin UI of sending: /send with a live counter, a preview of the SMS as a recipient gets it, and
a summary before confirming that can go back to the form with every field kept (the history,
/messages, is in history_ui), /blocklist, and the public opt-out page /u/{token}."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Annotated, Any

from litestar import Request, get, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, JSONBody
from litestar.response import Redirect, Template

from govsms.auth import Permission
from govsms.clock import zone
from govsms.contacts import groups
from govsms.contacts.filereader import read_contact_file
from govsms.contacts.limits import UploadLimits
from govsms.errors import GovsmsError, InvalidInput
from govsms.i18n import N_, _
from govsms.sending import blocklist, optout, pricing
from govsms.sending.dispatch import (
    OPTOUT_PLACEHOLDER,
    SEND_AT_GRACE,
    TOKEN_LENGTH,
    DispatchRequest,
    analyse_for_sending,
    create_dispatch,
    optout_link,
    split_numbers,
)
from govsms.sending.senders import SHARED_REPLY_NUMBER, resolve_sender
from govsms.sending.status import DispatchStatus
from govsms.web.controller import PageController
from govsms.web.context import separate_reader
from govsms.web.forms import Db, Now, Form, form_list, form_text, refused_form
from govsms.web.guards import json_only, optout_limit, requires, users_only
from govsms.web.params import IdFilter, form_ids
from govsms.web.render import NavItem, page

SAMPLE_TOKEN = "Ab3dE6gH9jK1"
"""The opt-out token of the previews: as long as a real one (``TOKEN_LENGTH``), so the preview is as
long as the SMS; each recipient gets a token of their own."""
assert len(SAMPLE_TOKEN) == TOKEN_LENGTH

NAV = [
    NavItem(N_("Send SMS"), "/send", Permission.SEND),
    NavItem(N_("Sent"), "/messages", Permission.MESSAGES_READ),
    NavItem(N_("Blocklist"), "/blocklist", Permission.BLOCKLIST),
]
Multipart = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.MULTI_PART)]


def _send_at(value: str, timezone: str | None, now: datetime) -> datetime | None:
    """The form's send time, typed in the account's time zone, in UTC. A time the autumn's clock
    change shows twice is the first of the two, unless that one has passed and the second has not."""
    if not value:
        return None
    try:
        typed = datetime.fromisoformat(value).replace(tzinfo=zone(timezone))
        first, second = typed.replace(fold=0).astimezone(UTC), typed.replace(fold=1).astimezone(UTC)
    except (ValueError, OverflowError):  # year 1 in Stockholm is before year 1 in UTC
        raise InvalidInput(_("The send time is not valid."), fields={"send_at": _("Choose a date and time.")}) from None
    return second if first < now - SEND_AT_GRACE <= second else first


def sample_link(public_url: str) -> str:
    """What ``_BLOCKSMSLINK_`` becomes in the previews (each recipient gets a link of their own)."""
    return optout_link(public_url, SAMPLE_TOKEN)


def preview_text(text: str, public_url: str) -> str:
    """The text as a recipient gets it, with a sample opt-out link."""
    return text.replace(OPTOUT_PLACEHOLDER, sample_link(public_url))


def _form_page(request: Request[Any, Any, Any], db: Db, *, status_code: int = 200, **context: Any) -> Template:
    actor = request.scope["user"]
    context.setdefault("form", {"sender": SHARED_REPLY_NUMBER, "group_ids": []})
    context.setdefault("errors", {})
    public_url = request.app.state.settings.public_url
    return page(
        request, "sending/send.html", status_code=status_code, groups=groups.list_groups(db, actor),
        virtual_numbers=pricing.account_virtual_numbers(db, actor), shared_reply=SHARED_REPLY_NUMBER, sample_link=sample_link(public_url),
        placeholder=OPTOUT_PLACEHOLDER, preview=preview_text(context["form"].get("text", ""), public_url), **context,
    )


def _form_of(data: dict[str, Any]) -> dict[str, Any]:
    """The send form as typed, to show again when it is refused."""
    return {
        "sender": form_text(data, "sender"), "to": form_text(data, "to"), "text": form_text(data, "text"),
        "send_at": form_text(data, "send_at"), "group_ids": form_list(data, "group_ids"),
        "idempotency_key": form_text(data, "idempotency_key") or secrets.token_urlsafe(16),
        "upload": form_text(data, "upload"),
    }


def _request_from(data: dict[str, Any], form: dict[str, Any], numbers_from_file: list[str], *, timezone: str | None, now: datetime) -> DispatchRequest:
    return DispatchRequest(
        sender=form["sender"], text=form["text"], numbers=[*split_numbers(form["to"]), *numbers_from_file],
        group_ids=form_ids(data, "group_ids"), send_at=_send_at(form["send_at"], timezone, now), idempotency_key=form["idempotency_key"],
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
    def send_page(self, request: Request[Any, Any, Any], db: Db, group: IdFilter = None) -> Template:
        """``?group=3``: the form with that group chosen ("send to this group" on a group's page);
        an id that is no group of the account chooses nothing."""
        form = {"sender": SHARED_REPLY_NUMBER, "group_ids": [str(group)] if group is not None else []}
        return _form_page(request, db, form=form)

    @post("/send/edit")
    def send_edit(self, request: Request[Any, Any, Any], db: Db, data: Form) -> Template:
        """"Change" on the summary: the form again with every field as it was (sender, numbers,
        groups, the chosen file, text, send time). A new send gets a new idempotency key."""
        actor = request.scope["user"]
        for group_id in form_ids(data, "group_ids"):  # another account's group is not found (404), as on sending
            groups.get_group(db, actor, group_id)
        form = _form_of(data)
        form["idempotency_key"] = ""
        return _form_page(request, db, form=form)

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
            dispatch_request = _request_from(data, form, numbers, timezone=request.scope["user"].timezone, now=now)
            dispatch_request.dry_run = True
            summary = create_dispatch(db, actor, dispatch_request, public_url=request.app.state.settings.public_url, now=now)
        except GovsmsError as refused:  # a dry run: nothing to roll back
            return _form_page(request, db, form=form, **refused_form(refused, shown=(422,)))
        return page(request, "sending/confirm.html", summary=summary, form=form, can_reply=summary.can_reply,
                    preview=preview_text(form["text"], request.app.state.settings.public_url), sample_link=sample_link(request.app.state.settings.public_url),
                    has_link=OPTOUT_PLACEHOLDER in form["text"], placeholder=OPTOUT_PLACEHOLDER)

    @post("/send/confirm")
    def send_confirm(self, request: Request[Any, Any, Any], db: Db, data: Form, now: Now) -> Template | Redirect:
        """Step 2: the same request for real; the idempotency key makes a double click harmless."""
        actor = request.scope["user"]
        form = _form_of(data)
        try:
            numbers, _upload = _file_numbers(request, db, data, now=now)
            dispatch_request = _request_from(data, form, numbers, timezone=request.scope["user"].timezone, now=now)
            summary = create_dispatch(db, actor, dispatch_request, public_url=request.app.state.settings.public_url, now=now)
        except GovsmsError as refused:  # "every number is blocked" keeps its access-log event
            return _form_page(request, db, form=form, **refused_form(refused, db, shown=(422,)))
        done = "scheduled" if summary.status == DispatchStatus.SCHEDULED else "sent"
        return Redirect(f"/messages/{summary.dispatch_id}?done={done}", status_code=303)


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


ROUTES = [SendPages, BlocklistPages, OptOutPages]
