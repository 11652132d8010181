"""HTTP API of the inbox: ``GET /api/v1/inbound?after=<cursor>&limit=`` (polling with a stable
cursor), ``GET /api/v1/inbound/{inbound_id}``, ``POST /api/v1/inbound/{inbound_id}/reply``. Keys
with the inbox (sender keys) read numbers and texts in clear; every read that returns an SMS is
recorded in the access log naming its person."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import msgspec
from litestar import Request, get, post
from litestar.params import JSONBody, KwargDefinition, QueryParameter
from msgspec import Struct

from govsms.auth import Permission
from govsms.receiving import inbox
from govsms.receiving.inbox import InboundView
from govsms.sending.api import IdempotencyKey, SendResult, summary_json
from govsms.sending.text import MAX_CHARACTERS
from govsms.web.api import ApiController, Timestamp, errors
from govsms.web.forms import Db, Now
from govsms.web.guards import requires
from govsms.web.params import MAX_ID, Id

Cursor = Annotated[int, QueryParameter(ge=0, le=MAX_ID, description=(
    "Give the `cursor` of the previous page to get what was received after it; 0 (the default) starts from the oldest SMS kept."
))]
Limit = Annotated[int, QueryParameter(ge=1, le=inbox.POLL_MAX, description=f"SMS per page, 1 to {inbox.POLL_MAX}.")]


class AnsweredSms(Struct):
    """The account's own SMS a reply answers."""

    message_id: int
    dispatch_id: int
    text: str
    """The dispatch's text, as the account wrote it."""
    sent_at: Timestamp
    sender: str | None = msgspec.field(name="from")
    """The number it was sent from (72323, 1963, 4560991000 or a virtual number)."""


class Inbound(Struct):
    id: int
    conversation_id: int
    """The same for every SMS of one person in the account (the inbox page's conversation)."""
    sender: str | None = msgspec.field(name="from")
    """The sender's number in E.164 (or the sender name the network gave); null when it cannot be read."""
    to: str
    """Our number it arrived on: 72323, 1963, 4560991000 or a virtual number of the account."""
    text: str | None
    """The text (a routing keyword stripped); null when it cannot be read."""
    unreadable: bool
    keyword: str | None
    """The keyword that routed it to the account, if one did."""
    routed_by: str
    """``reply`` (an answer to an SMS of the account), ``keyword`` or ``virtual``."""
    stop: bool
    """A STOP word: the number is now on the account's blocklist."""
    parts: int
    received_at: Timestamp
    read: bool
    """Marked as read in the inbox."""
    reply_to: AnsweredSms | None
    """The account's SMS this answers, when it is a reply."""


class InboundPage(Struct):
    items: list[Inbound]
    """Oldest first."""
    cursor: int
    """Give as ``after`` for the next page; the same value when nothing new came."""
    more: bool
    """More SMS wait after this page: ask again at once."""


@dataclass
class ReplyBody:
    text: Annotated[str, KwargDefinition(
        min_length=1, max_length=MAX_CHARACTERS, description=f"The reply: at most {MAX_CHARACTERS} characters; a long text goes as several parts.",
    )]


def inbound_json(view: InboundView) -> Inbound:
    original = view.original
    return Inbound(
        id=view.id, conversation_id=view.conversation_id, sender=None if view.unreadable else view.number, to=view.destination,
        text=None if view.unreadable else view.text, unreadable=view.unreadable, keyword=view.keyword, routed_by=view.routed_by,
        stop=view.stop, parts=view.parts, received_at=view.received_at.isoformat(), read=view.read_at is not None,
        reply_to=AnsweredSms(
            message_id=original.message_id, dispatch_id=original.dispatch_id, text=original.text, sent_at=original.sent_at.isoformat(),
            sender=original.sender,
        ) if original is not None else None,
    )


class InboundApi(ApiController):
    guards = (requires(Permission.INBOX),)
    tags = ("receiving",)

    @get("/api/v1/inbound", summary="Received SMS after a cursor (polling)", responses=errors(400, 422))
    def inbound_list(self, request: Request[Any, Any, Any], db: Db, now: Now, after: Cursor = 0, limit: Limit = inbox.POLL_DEFAULT) -> InboundPage:
        """Oldest first. Poll with the ``cursor`` of the last page as ``after``: the cursor is an
        id, so a page asked for again gives the same SMS, and none is skipped. A page that holds
        SMS is recorded in the access log (numbers and texts are in clear)."""
        batch = inbox.poll_inbound(db, request.scope["user"], after=after, limit=limit, now=now)
        return InboundPage(items=[inbound_json(view) for view in batch.items], cursor=batch.cursor, more=batch.more)

    @get("/api/v1/inbound/{inbound_id:int}", summary="One received SMS", responses=errors(400, 404, 422))
    def inbound_show(self, request: Request[Any, Any, Any], db: Db, now: Now, inbound_id: Id) -> Inbound:
        """Recorded in the access log."""
        return inbound_json(inbox.get_inbound(db, request.scope["user"], inbound_id, now=now))

    @post(
        "/api/v1/inbound/{inbound_id:int}/reply", summary="Reply to a received SMS (sender keys)", status_code=201,
        responses=errors(400, 404, 409, 415, 422),
    )
    def inbound_reply(
        self, request: Request[Any, Any, Any], db: Db, data: JSONBody[ReplyBody], now: Now, inbound_id: Id, idempotency_key: IdempotencyKey = None,
    ) -> SendResult:
        """One SMS to its number, from the number it arrived on (72323 switched by the
        recipient's country, or the virtual number), priced and checked against the blocklist
        like any dispatch: a number that answered STOP is refused (422). The answer is the
        dispatch's, as ``POST /api/v1/messages`` gives it. The same ``Idempotency-Key`` (a retry)
        returns the same dispatch, sent and billed once; with another text, 409."""
        summary = inbox.reply(
            db, request.scope["user"], data.text, inbound_id=inbound_id, public_url=request.app.state.settings.public_url, now=now,
            channel="api", idempotency_key=(idempotency_key or "").strip() or None,
        )
        return summary_json(summary)


ROUTES = [InboundApi]
