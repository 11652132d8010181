"""HTTP API of sending: POST /api/v1/messages, dispatches, messages, the blocklist; and the HTTP provider's delivery reports (POST /hooks/http/dlr)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import msgspec
from litestar import Request, delete, get, post
from litestar.concurrency import sync_to_thread
from litestar.enums import RequestEncodingType
from litestar.exceptions import ClientException, NotAuthorizedException
from litestar.openapi.spec import OpenAPIFormat, OpenAPIType, Schema
from litestar.params import Body, FromQuery, HeaderParameter, JSONBody
from msgspec import Struct

from govsms.auth import Permission
from govsms.errors import InvalidInput
from govsms.i18n import _
from govsms.sending import blocklist, history, hooks
from govsms.sending.combine import SendCombiner
from govsms.sending.dispatch import (
    MAX_RECIPIENTS,
    DispatchRequest,
    DispatchSummary,
    create_dispatch,
)
from govsms.sending.outbox import apply_delivery_reports
from govsms.sending.senders import MAX_TEXT_SENDER
from govsms.sending.status import DispatchState, dispatch_state
from govsms.sending.text import MAX_CHARACTERS
from govsms.web.api import ApiController, Timestamp, errors
from govsms.web.forms import Db, Now
from govsms.web.guards import requires
from govsms.web.params import MAX_ID, Id, IdFilter, IdValue, Page, PerPage
from govsms.web.transactions import in_transaction

TAGS = ("sending",)
IdempotencyKey = Annotated[str | None, HeaderParameter(name="Idempotency-Key", required=False)]

# The bodies of POST /api/v1/messages and POST /api/v1/blocklist are read field by field (every
# problem named at once, in the service's words), so the schema says what they hold.
MessageBody = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.JSON, title="MessageRequest", schema_extra={
    "required": ["from", "text"],
    "properties": {
        "from": Schema(description=f"The sender: a text of at most {MAX_TEXT_SENDER} characters (A-Z, a-z, 0-9 and spaces), a verified number "
                                   "or a virtual number of the account, or 72323 (replies land in the inbox).", any_of=[
            Schema(type=OpenAPIType.STRING, title="text", min_length=1, max_length=MAX_TEXT_SENDER),
            Schema(type=OpenAPIType.STRING, title="number", pattern=r"^\+?[0-9][0-9 -]*$"),
        ]),
        "to": Schema(type=OpenAPIType.ARRAY, items=Schema(type=OpenAPIType.STRING), max_items=MAX_RECIPIENTS,
                     description="Numbers in any format; those without a country code are read in the account's region."),
        "group_ids": Schema(type=OpenAPIType.ARRAY, items=Schema(type=OpenAPIType.INTEGER, minimum=1, maximum=MAX_ID),
                            description="Groups whose members get the SMS as well."),
        "text": Schema(type=OpenAPIType.STRING, min_length=1, max_length=MAX_CHARACTERS,
                       description=f"At most {MAX_CHARACTERS} characters (an emoji is one); a long text goes as several parts."),
        "send_at": Schema(one_of=[Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.DATE_TIME), Schema(type=OpenAPIType.NULL)],
                          description="When to send: ISO 8601 with a time zone; absent or null sends now. A time that has "
                                      "passed (by more than a minute) is refused (422, field send_at)."),
        "dry_run": Schema(type=OpenAPIType.BOOLEAN, default=False, description="true: the price and the checks only, nothing is sent."),
    },
    "any_of": [Schema(required=["to"]), Schema(required=["group_ids"])],
})]
BlockBody = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.JSON, title="BlockRequest", schema_extra={
    "required": ["number"], "properties": {"number": Schema(type=OpenAPIType.STRING)},
})]


@dataclass
class NumberBody:
    number: str


@dataclass
class MessageSearch:
    number: str
    dispatch_id: IdValue | None = None
    status: str | None = None
    reveal: bool = False
    page: IdValue = 1
    per_page: IdValue = 50


class Cost(Struct):
    amount: int
    currency: str
    unit: Literal["minor"]
    """The amount is in minor units (öre)."""


def _cost(amount: int, currency: str) -> Cost:
    return Cost(amount=amount, currency=currency, unit="minor")


class RefusedNumber(Struct):
    input: str
    reason: str


class SendResult(Struct):
    dispatch_id: int | None
    """None for a dry run."""
    accepted: int
    blocked: int
    invalid: list[RefusedNumber]
    parts: int
    encoding: str
    cost: Cost
    status: str
    send_at: Timestamp | None
    replies_possible: bool
    warnings: list[RefusedNumber] = msgspec.field(default_factory=list)
    """Numbers accepted that may not get the SMS (landline and mobile numbers look alike in their
    country, VoIP, personal numbers): sent and charged; ``reason`` says why they may not get it."""


STATUS_DESCRIPTION = (
    "Where the dispatch is, by its messages (since issue 15; before, only how it began): "
    "`scheduled` (every message not yet final waits for the send time), `queued` (they wait to be sent, none has gone), "
    "`sending` (some have gone, some still wait or are being submitted), `sent` (all handed to the provider, some "
    "delivery reports still to come), `done` (every message final: delivered, failed, expired, unknown, blocked or "
    "cancelled) or `cancelled` (cancelled before its send time). Poll until `done` or `cancelled`."
)


class Dispatch(Struct):
    id: int
    sender: str | None
    channel: str
    parts: int
    encoding: str
    accepted: int
    blocked: int
    invalid: int
    cost: Cost
    status: Annotated[DispatchState, msgspec.Meta(description=STATUS_DESCRIPTION)]
    """Where the dispatch is, by its messages (``STATUS_DESCRIPTION``)."""
    send_at: Timestamp
    created_at: Timestamp
    messages: dict[str, int]
    """How many messages have each status."""


class Cancelled(Struct):
    cancelled: int
    """How many messages were cancelled."""


class Message(Struct):
    id: int
    to: str | None
    """Masked (``+46 70 *** ** 67``) unless revealed; None when it cannot be read (``unreadable``)."""
    unreadable: bool
    sender: str = msgspec.field(name="from")
    country: str
    status: str
    reason: str | None
    parts: int
    cost: Cost
    submitted_at: Timestamp | None
    done_at: Timestamp | None


class MessagePage(Struct):
    items: list[Message]
    total: int
    page: int
    per_page: int


class BlockCounts(Struct):
    counts: dict[str, int]
    """Blocked numbers by how they were blocked: link, manual, api, stop."""


class BlockCheck(Struct):
    blocked: bool
    source: str | None
    since: Timestamp | None


class Blocked(Struct):
    blocked: bool


class Unblocked(Struct):
    removed: bool
    """False when the number was not blocked."""


def _number_in_url(request: Request[Any, Any, Any], message: str) -> None:
    """The old forms with ``?number=``: refused before anything is read (a number in a URL
    stays in proxy logs and browser histories)."""
    if "number" in request.query_params:
        raise ClientException(message, status_code=400)


def _number_of(body: NumberBody | MessageSearch, missing: str) -> str:
    if not body.number.strip():
        raise InvalidInput(missing, fields={"number": missing})
    return body.number


def _text_list(body: dict[str, Any], name: str, errors: dict[str, str]) -> list[str]:
    value = body.get(name, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(item, str | int) for item in value):
        errors[name] = _("Give a list of numbers as strings.")
        return []
    return [str(item) for item in value]


def _is_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_ID


def parse_message_request(body: dict[str, Any], idempotency_key: str | None) -> DispatchRequest:
    """Check the JSON body field by field; every problem is named at once."""
    errors: dict[str, str] = {}
    sender = body.get("from")
    if not isinstance(sender, str) or not sender.strip():
        errors["from"] = _("Give a sender: a text of at most 11 characters, a number, or 72323.")
        sender = ""
    text = body.get("text")
    if not isinstance(text, str):
        errors["text"] = _("Give the text of the SMS.")
        text = ""
    numbers = _text_list(body, "to", errors)
    group_ids = body.get("group_ids", [])
    if not isinstance(group_ids, list) or not all(_is_id(item) for item in group_ids):
        errors["group_ids"] = _("Give a list of group ids (whole numbers from 1 to %(max)d).") % {"max": MAX_ID}
        group_ids = []
    send_at = None
    if body.get("send_at") is not None:
        try:
            send_at = datetime.fromisoformat(str(body["send_at"]))
            if send_at.tzinfo is None:
                raise ValueError
            send_at = send_at.astimezone(UTC)  # year 1 or 9999 in a far time zone leaves the calendar
        except (ValueError, OverflowError):
            errors["send_at"] = _("Give the time in ISO 8601 with a time zone, e.g. 2026-12-01T09:00:00+01:00.")
    dry_run = body.get("dry_run", False)
    if not isinstance(dry_run, bool):
        errors["dry_run"] = _("Give true or false.")
    if not errors and not numbers and not group_ids:
        errors["to"] = _("Give at least one recipient in 'to' or 'group_ids'.")
    if errors:
        raise InvalidInput(_("The request is not valid; see the fields for what is wrong."), fields=errors)
    return DispatchRequest(
        sender=sender, text=text, numbers=numbers, group_ids=group_ids, send_at=send_at,
        dry_run=dry_run, idempotency_key=(idempotency_key or "").strip()[:100] or None, channel="api",
    )


def summary_json(summary: DispatchSummary) -> SendResult:
    return SendResult(
        dispatch_id=summary.dispatch_id,
        accepted=summary.accepted,
        blocked=summary.blocked,
        invalid=[RefusedNumber(input=item["input"], reason=item["reason"]) for item in summary.invalid],
        parts=summary.parts,
        encoding=summary.encoding,
        cost=_cost(summary.cost_minor, summary.currency),
        status=summary.status,
        send_at=summary.send_at.isoformat() if summary.send_at else None,
        replies_possible=summary.can_reply,
        warnings=[RefusedNumber(input=item["input"], reason=item["reason"]) for item in summary.warnings],
    )


def _create_dispatch(state: Any, actor: Any, dispatch_request: DispatchRequest, now: datetime) -> DispatchSummary:
    """``create_dispatch`` in a transaction of its own, begun and ended in this thread."""
    public_url = state.settings.public_url
    run = in_transaction(lambda db: create_dispatch(db, actor, dispatch_request, public_url=public_url, now=now))
    summary: DispatchSummary = run(db=state.session_factory())
    return summary


def dispatch_json(db: Db, dispatch: Any, sender: str | None = None) -> Dispatch:
    """``sender``: how it may be shown (a mobile number masked); default the stored one. Its status
    is where its messages are (``DispatchState``), not only how it began."""
    counts = history.status_counts(db, dispatch.id)
    return Dispatch(
        id=dispatch.id, sender=sender if sender is not None else dispatch.sender, channel=dispatch.channel, parts=dispatch.parts,
        encoding=dispatch.encoding, accepted=dispatch.accepted, blocked=dispatch.blocked, invalid=dispatch.invalid,
        cost=_cost(dispatch.cost_minor, dispatch.currency),
        status=dispatch_state(dispatch.status, counts), send_at=dispatch.send_at.isoformat(), created_at=dispatch.created_at.isoformat(),
        messages=counts,
    )


def messages_json(result: Any) -> MessagePage:
    return MessagePage(
        items=[
            Message(id=item.id, to=None if item.unreadable else item.recipient, unreadable=item.unreadable,
                    sender=item.sender, country=item.country, status=item.status,
                    reason=item.reason, parts=item.parts, cost=_cost(item.cost_minor, "SEK"),
                    submitted_at=item.submitted_at.isoformat() if item.submitted_at else None,
                    done_at=item.done_at.isoformat() if item.done_at else None)
            for item in result.items
        ],
        total=result.total, page=result.page, per_page=result.per_page,
    )


class SendApi(ApiController):
    guards = (requires(Permission.SEND),)
    tags = TAGS

    @post("/api/v1/messages", summary="Send an SMS to many recipients", responses=errors(400, 404, 409, 415, 422, 500))
    async def send_messages(self, request: Request[Any, Any, Any], data: MessageBody, now: Now, idempotency_key: IdempotencyKey = None) -> SendResult:
        """``{"from", "to": [...], "group_ids": [...], "text", "send_at"?, "dry_run"?}``. The cost is in
        minor units (öre). ``dry_run`` writes and sends nothing. The same ``Idempotency-Key`` returns
        the same dispatch."""
        dispatch_request = parse_message_request(data, idempotency_key)
        actor, state = request.scope["user"], request.app.state
        # A plain send of a few numbers waits here, on the loop, for the process's combined write;
        # anything else (and a send the combiner gives back) is written on a handler thread.
        combiner: SendCombiner | None = state.get("send_combiner")
        summary = await combiner.send_async(actor, dispatch_request, now=now) if combiner is not None else None
        if summary is None:
            summary = await sync_to_thread(_create_dispatch, state, actor, dispatch_request, now)
        return summary_json(summary)

    @post("/api/v1/dispatches/{dispatch_id:int}/cancel", summary="Cancel a scheduled dispatch", status_code=200, responses=errors(400, 404, 409, 422))
    def cancel_dispatch(self, request: Request[Any, Any, Any], db: Db, dispatch_id: Id, now: Now) -> Cancelled:
        return Cancelled(cancelled=history.cancel_dispatch(db, request.scope["user"], dispatch_id, now=now))


class HistoryApi(ApiController):
    guards = (requires(Permission.MESSAGES_READ),)
    tags = TAGS

    @get("/api/v1/dispatches/{dispatch_id:int}", summary="One dispatch with message counts by status", responses=errors(400, 404, 422))
    def get_dispatch(self, request: Request[Any, Any, Any], db: Db, dispatch_id: Id, now: Now) -> Dispatch:
        actor = request.scope["user"]
        dispatch = history.get_dispatch(db, actor, dispatch_id)
        return dispatch_json(db, dispatch, history.dispatch_senders(db, actor, [dispatch], now=now)[dispatch_id])

    @get("/api/v1/messages", summary="Messages with status, cost and parts", responses=errors(400, 404, 422))
    def list_messages(
        self, request: Request[Any, Any, Any], db: Db, now: Now, dispatch_id: IdFilter = None, status: FromQuery[str | None] = None,
        reveal: FromQuery[bool] = False, page: Page = 1, per_page: PerPage = 50,
    ) -> MessagePage:
        """Numbers are masked; ``reveal=true`` shows them in clear and is recorded in the access log.
        To find the messages to a number, ``POST /api/v1/messages/search``: a number in a URL stays in proxy logs."""
        _number_in_url(request, _(
            'Search messages by number with POST /api/v1/messages/search and the body {"number": "..."}: a number in the URL '
            "would stay in proxy logs and browser histories."
        ))
        result = history.list_messages(
            db, request.scope["user"], now=now, dispatch_id=dispatch_id, status=status, reveal=reveal, page=page, per_page=per_page
        )
        return messages_json(result)

    @post("/api/v1/messages/search", summary="Messages to a number", status_code=200, responses=errors(400, 404, 415, 422))
    def search_messages(self, request: Request[Any, Any, Any], db: Db, data: JSONBody[MessageSearch], now: Now) -> MessagePage:
        """``{"number", "dispatch_id"?, "status"?, "reveal"?, "page"?, "per_page"?}``: the messages to this
        number (any format), newest first, as ``GET /api/v1/messages`` pages them. The search is in the access log."""
        number = _number_of(data, _("Give the number to search for."))
        result = history.list_messages(
            db, request.scope["user"], now=now, dispatch_id=data.dispatch_id, status=data.status, number=number, reveal=data.reveal,
            page=data.page, per_page=data.per_page,
        )
        return messages_json(result)


class BlocklistApi(ApiController):
    guards = (requires(Permission.BLOCKLIST),)
    tags = TAGS

    @get("/api/v1/blocklist", summary="Count blocks by source", responses=errors(400))
    def blocklist_counts(self, request: Request[Any, Any, Any], db: Db) -> BlockCounts:
        """To check a number, ``POST /api/v1/blocklist/search``: a number in a URL stays in proxy logs."""
        _number_in_url(request, _(
            'Check a number with POST /api/v1/blocklist/search and the body {"number": "..."}: a number in the URL '
            "would stay in proxy logs and browser histories."
        ))
        return BlockCounts(counts=blocklist.counts_by_source(db, request.scope["user"]))

    @post("/api/v1/blocklist/search", summary="Check a number", status_code=200, responses=errors(400, 415, 422))
    def check_blocklist(self, request: Request[Any, Any, Any], db: Db, data: JSONBody[NumberBody], now: Now) -> BlockCheck:
        """``{"number"}`` (any format): whether the account blocked it, since when and how. Recorded in the access log."""
        status = blocklist.check_number(db, request.scope["user"], _number_of(data, _("Give the number to search for.")), now=now)
        return BlockCheck(blocked=status.blocked, source=status.source, since=status.since.isoformat() if status.since else None)

    @post("/api/v1/blocklist", summary="Block a number", responses=errors(400, 415, 422))
    def add_block(self, request: Request[Any, Any, Any], db: Db, data: BlockBody, now: Now) -> Blocked:
        number = data.get("number")
        if not isinstance(number, str):
            raise InvalidInput(_("Give the number to block."), fields={"number": _("Give the number to block.")})
        blocklist.block_number(db, request.scope["user"], number, source="api", now=now)
        return Blocked(blocked=True)

    @post("/api/v1/blocklist/unblock", summary="Unblock a number", status_code=200, responses=errors(400, 415, 422))
    def remove_block(self, request: Request[Any, Any, Any], db: Db, data: JSONBody[NumberBody], now: Now) -> Unblocked:
        """``{"number"}``: ``removed`` is false when the number was not blocked."""
        return Unblocked(removed=blocklist.unblock_number(db, request.scope["user"], _number_of(data, _("Give the number to unblock.")), now=now))

    @delete("/api/v1/blocklist", include_in_schema=False, status_code=200)
    def old_remove_block(self, request: Request[Any, Any, Any]) -> None:
        """The old ``DELETE /api/v1/blocklist?number=``: refused, nothing removed."""
        raise ClientException(_(
            'Unblock a number with POST /api/v1/blocklist/unblock and the body {"number": "..."}: a number in the URL '
            "would stay in proxy logs and browser histories."
        ), status_code=400)


class ReportsApplied(Struct):
    applied: int
    """How many reports were read: each is applied now, or once its message part is recorded."""


class DeliveryReportHook(ApiController):
    """The HTTP provider's delivery reports, with the provider's shared token (not an API key)."""

    tags = TAGS
    common_errors = (400, 422, 503)

    @post(
        "/hooks/http/dlr", summary="Delivery reports of the HTTP provider", status_code=200,
        responses=errors(401, described={401: "No valid token: send `Authorization: Bearer <GOVSMS_HTTP_TOKEN>`."}),
    )
    def http_delivery_report(self, request: Request[Any, Any, Any], data: JSONBody[dict[str, Any] | list[dict[str, Any]]]) -> ReportsApplied:
        """``{"id": "<provider id>", "status": "delivered|failed|expired"}`` (or a list of them),
        with ``Authorization: Bearer <GOVSMS_HTTP_TOKEN>``."""
        state = request.app.state
        if not hooks.token_accepted(state.settings, request.headers.get("authorization", "")):
            raise NotAuthorizedException("bad token")
        reports = hooks.read_reports(data)
        apply_delivery_reports(state.session_factory, reports, clock=state.clock)
        return ReportsApplied(applied=len(reports))


ROUTES = [SendApi, HistoryApi, BlocklistApi, DeliveryReportHook]
