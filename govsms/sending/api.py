"""HTTP API of sending: POST /api/v1/messages, dispatches, messages, the blocklist."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from litestar import Request, delete, get, post
from litestar.concurrency import sync_to_thread
from litestar.exceptions import ClientException
from litestar.params import FromQuery, HeaderParameter, JSONBody

from govsms.auth import Permission
from govsms.errors import InvalidInput
from govsms.i18n import _
from govsms.sending import blocklist, history
from govsms.sending.combine import SendCombiner
from govsms.sending.dispatch import DispatchRequest, DispatchSummary, create_dispatch
from govsms.web.forms import Db
from govsms.web.guards import requires
from govsms.web.transactions import in_transaction
from govsms.web.params import MAX_ID, Id, IdFilter, IdValue, Page, PerPage

TAGS = ["sending"]
IdempotencyKey = Annotated[str | None, HeaderParameter(name="Idempotency-Key", required=False)]


def _now() -> datetime:
    return datetime.now(UTC)


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
    text = body.get("text")
    if not isinstance(text, str):
        errors["text"] = _("Give the text of the SMS.")
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
        sender=sender, text=text, numbers=numbers, group_ids=group_ids, send_at=send_at,  # type: ignore[arg-type]
        dry_run=dry_run, idempotency_key=(idempotency_key or "").strip()[:100] or None, channel="api",
    )


def summary_json(summary: DispatchSummary) -> dict[str, Any]:
    return {
        "dispatch_id": summary.dispatch_id,
        "accepted": summary.accepted,
        "blocked": summary.blocked,
        "invalid": summary.invalid,
        "parts": summary.parts,
        "encoding": summary.encoding,
        "cost": {"amount": summary.cost_minor, "currency": summary.currency, "unit": "minor"},
        "status": summary.status,
        "send_at": summary.send_at.isoformat() if summary.send_at else None,
        "replies_possible": summary.can_reply,
    }


@post("/api/v1/messages", guards=[requires(Permission.SEND)], tags=TAGS, summary="Send an SMS to many recipients")
async def send_messages(request: Request[Any, Any, Any], data: JSONBody[dict[str, Any]], idempotency_key: IdempotencyKey = None) -> dict[str, Any]:
    """``{"from", "to": [...], "group_ids": [...], "text", "send_at"?, "dry_run"?}``. The cost is in
    minor units (öre). ``dry_run`` writes and sends nothing. The same ``Idempotency-Key`` returns
    the same dispatch."""
    dispatch_request = parse_message_request(data, idempotency_key)
    actor, now, state = request.scope["user"], _now(), request.app.state
    # A plain send of a few numbers waits here, on the loop, for the process's combined write;
    # anything else (and a send the combiner gives back) is written on a handler thread.
    combiner: SendCombiner | None = state.get("send_combiner")
    summary = await combiner.send_async(actor, dispatch_request, now=now) if combiner is not None else None
    if summary is None:
        summary = await sync_to_thread(_create_dispatch, state, actor, dispatch_request, now)
    return summary_json(summary)


def _create_dispatch(state: Any, actor: Any, dispatch_request: DispatchRequest, now: datetime) -> DispatchSummary:
    """``create_dispatch`` in a transaction of its own, begun and ended in this thread."""
    public_url = state.settings.public_url
    run = in_transaction(lambda db: create_dispatch(db, actor, dispatch_request, public_url=public_url, now=now))
    return run(db=state.session_factory())  # type: ignore[no-any-return]


def dispatch_json(db: Db, dispatch: Any, sender: str | None = None) -> dict[str, Any]:
    """``sender``: how it may be shown (a mobile number masked); default the stored one."""
    return {
        "id": dispatch.id, "sender": sender if sender is not None else dispatch.sender, "channel": dispatch.channel, "parts": dispatch.parts,
        "encoding": dispatch.encoding, "accepted": dispatch.accepted, "blocked": dispatch.blocked, "invalid": dispatch.invalid,
        "cost": {"amount": dispatch.cost_minor, "currency": dispatch.currency, "unit": "minor"},
        "status": dispatch.status, "send_at": dispatch.send_at.isoformat(), "created_at": dispatch.created_at.isoformat(),
        "messages": history.status_counts(db, dispatch.id),
    }


@get("/api/v1/dispatches/{dispatch_id:int}", guards=[requires(Permission.MESSAGES_READ)], sync_to_thread=True, tags=TAGS, summary="One dispatch with message counts by status")
def get_dispatch(request: Request[Any, Any, Any], db: Db, dispatch_id: Id) -> dict[str, Any]:
    actor = request.scope["user"]
    dispatch = history.get_dispatch(db, actor, dispatch_id)
    return dispatch_json(db, dispatch, history.dispatch_senders(db, actor, [dispatch], now=_now())[dispatch.id])


@post("/api/v1/dispatches/{dispatch_id:int}/cancel", guards=[requires(Permission.SEND)], sync_to_thread=True, tags=TAGS, summary="Cancel a scheduled dispatch", status_code=200)
def cancel_dispatch(request: Request[Any, Any, Any], db: Db, dispatch_id: Id) -> dict[str, Any]:
    return {"cancelled": history.cancel_dispatch(db, request.scope["user"], dispatch_id, now=_now())}


@get("/api/v1/messages", guards=[requires(Permission.MESSAGES_READ)], sync_to_thread=True, tags=TAGS, summary="Messages with status, cost and parts")
def list_messages(
    request: Request[Any, Any, Any], db: Db, dispatch_id: IdFilter = None, status: FromQuery[str | None] = None,
    reveal: FromQuery[bool] = False, page: Page = 1, per_page: PerPage = 50,
) -> dict[str, Any]:
    """Numbers are masked; ``reveal=true`` shows them in clear and is recorded in the access log.
    To find the messages to a number, ``POST /api/v1/messages/search``: a number in a URL stays in proxy logs."""
    _number_in_url(request, _(
        'Search messages by number with POST /api/v1/messages/search and the body {"number": "..."}: a number in the URL '
        "would stay in proxy logs and browser histories."
    ))
    result = history.list_messages(
        db, request.scope["user"], now=_now(), dispatch_id=dispatch_id, status=status, reveal=reveal, page=page, per_page=per_page
    )
    return messages_json(result)


@post("/api/v1/messages/search", guards=[requires(Permission.MESSAGES_READ)], sync_to_thread=True, tags=TAGS, summary="Messages to a number", status_code=200)
def search_messages(request: Request[Any, Any, Any], db: Db, data: JSONBody[MessageSearch]) -> dict[str, Any]:
    """``{"number", "dispatch_id"?, "status"?, "reveal"?, "page"?, "per_page"?}``: the messages to this
    number (any format), newest first, as ``GET /api/v1/messages`` pages them. The search is in the access log."""
    number = _number_of(data, _("Give the number to search for."))
    result = history.list_messages(
        db, request.scope["user"], now=_now(), dispatch_id=data.dispatch_id, status=data.status, number=number, reveal=data.reveal,
        page=data.page, per_page=data.per_page,
    )
    return messages_json(result)


def messages_json(result: Any) -> dict[str, Any]:
    return {
        "items": [
            {"id": item.id, "to": None if item.unreadable else item.recipient, "unreadable": item.unreadable,
             "from": item.sender, "country": item.country, "status": item.status,
             "reason": item.reason, "parts": item.parts, "cost": {"amount": item.cost_minor, "currency": "SEK", "unit": "minor"},
             "submitted_at": item.submitted_at.isoformat() if item.submitted_at else None,
             "done_at": item.done_at.isoformat() if item.done_at else None}
            for item in result.items
        ],
        "total": result.total, "page": result.page, "per_page": result.per_page,
    }


@get("/api/v1/blocklist", guards=[requires(Permission.BLOCKLIST)], sync_to_thread=True, tags=TAGS, summary="Count blocks by source")
def blocklist_counts(request: Request[Any, Any, Any], db: Db) -> dict[str, Any]:
    """To check a number, ``POST /api/v1/blocklist/search``: a number in a URL stays in proxy logs."""
    _number_in_url(request, _(
        'Check a number with POST /api/v1/blocklist/search and the body {"number": "..."}: a number in the URL '
        "would stay in proxy logs and browser histories."
    ))
    return {"counts": blocklist.counts_by_source(db, request.scope["user"])}


@post("/api/v1/blocklist/search", guards=[requires(Permission.BLOCKLIST)], sync_to_thread=True, tags=TAGS, summary="Check a number", status_code=200)
def check_blocklist(request: Request[Any, Any, Any], db: Db, data: JSONBody[NumberBody]) -> dict[str, Any]:
    """``{"number"}`` (any format): whether the account blocked it, since when and how. Recorded in the access log."""
    status = blocklist.check_number(db, request.scope["user"], _number_of(data, _("Give the number to search for.")), now=_now())
    return {"blocked": status.blocked, "source": status.source, "since": status.since.isoformat() if status.since else None}


@post("/api/v1/blocklist", guards=[requires(Permission.BLOCKLIST)], sync_to_thread=True, tags=TAGS, summary="Block a number")
def add_block(request: Request[Any, Any, Any], db: Db, data: JSONBody[dict[str, Any]]) -> dict[str, Any]:
    number = data.get("number")
    if not isinstance(number, str):
        raise InvalidInput(_("Give the number to block."), fields={"number": _("Give the number to block.")})
    blocklist.block_number(db, request.scope["user"], number, source="api", now=_now())
    return {"blocked": True}


@post("/api/v1/blocklist/unblock", guards=[requires(Permission.BLOCKLIST)], sync_to_thread=True, tags=TAGS, summary="Unblock a number", status_code=200)
def remove_block(request: Request[Any, Any, Any], db: Db, data: JSONBody[NumberBody]) -> dict[str, Any]:
    """``{"number"}``: ``removed`` is false when the number was not blocked."""
    return {"removed": blocklist.unblock_number(db, request.scope["user"], _number_of(data, _("Give the number to unblock.")), now=_now())}


@delete("/api/v1/blocklist", guards=[requires(Permission.BLOCKLIST)], sync_to_thread=True, include_in_schema=False, status_code=200)
def old_remove_block(request: Request[Any, Any, Any]) -> None:
    """The old ``DELETE /api/v1/blocklist?number=``: refused, nothing removed."""
    raise ClientException(_(
        'Unblock a number with POST /api/v1/blocklist/unblock and the body {"number": "..."}: a number in the URL '
        "would stay in proxy logs and browser histories."
    ), status_code=400)


ROUTES = [
    send_messages, get_dispatch, cancel_dispatch, list_messages, search_messages, blocklist_counts, check_blocklist, add_block,
    remove_block, old_remove_block,
]
