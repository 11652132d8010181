"""One day of the statistics in detail, while its messages are kept: each SMS of the account's day
(time, masked number, sender, parts, cost, status) through the message history, found by number
(its blind index), and the texts shown in clear only on request, recorded in the access log."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlmodel import Session, col

from govsms.audit.actions import Action
from govsms.audit.record import record_event
from govsms.auth import Actor, Permission, require
from govsms.paging import Page
from govsms.sending import history
from govsms.sending.history import MessageView
from govsms.sending.models import OutboundMessage
from govsms.sending.statistics import day_range
from govsms.tenancy import owned_by


@dataclass(frozen=True)
class DayMessage:
    message: MessageView
    """Its number masked, as the message history shows it."""
    at: datetime
    """When it was handed to the provider, or, before that, when it was ordered."""
    dispatch_id: int
    text: str | None = None
    """The text, only when shown on request."""


def day_messages(
    session: Session, actor: Actor, day: date, *, now: datetime, number: str | None = None, texts: bool = False, page: int = 1,
    per_page: int = 50,
) -> Page[DayMessage]:
    """The SMS of the account's ``day``, newest first (those to ``number`` only, when given);
    with ``texts`` their texts in clear, recorded in the access log naming each recipient."""
    require(actor, Permission.MESSAGES_READ)
    listed = history.list_messages(session, actor, now=now, created_between=day_range(day, actor.timezone), number=number or None, page=page, per_page=per_page)
    ids = [item.id for item in listed.items]
    stored: dict[int, tuple[int, int, datetime]] = {}
    if ids:
        for message_id, dispatch_id, subject_id, created_at in session.execute(
            select(col(OutboundMessage.id), col(OutboundMessage.dispatch_id), col(OutboundMessage.subject_id), col(OutboundMessage.created_at))
            .where(owned_by(OutboundMessage, actor), col(OutboundMessage.id).in_(ids))
        ).all():
            stored[message_id] = (dispatch_id, subject_id, created_at)
    opened = history.open_texts(session, actor, {dispatch_id for dispatch_id, _subject, _at in stored.values()}, now=now) if texts and stored else {}
    if opened:
        record_event(
            session, actor, Action.MESSAGE_TEXT_SHOWN, now=now, subjects=sorted({subject for _dispatch, subject, _at in stored.values()}),
            details={"shown": len(stored), "dispatches": len(opened), **({"by_number": True} if number else {})},
        )
    items = [
        DayMessage(message=item, at=item.submitted_at or stored[item.id][2], dispatch_id=stored[item.id][0],
                   text=opened.get(stored[item.id][0]) if texts else None)
        for item in listed.items
    ]
    return Page(items=items, total=listed.total, page=listed.page, per_page=listed.per_page)
