"""What the receiving domain holds about one person, for a data-subject request
(``govsms.subjects``) and the retention purge: the SMS they sent to the account (found by the
index on ``inbound_message.subject_id``) and the reply route to their number (the provider's
blind index of it, within the account). Each function follows ``govsms.personal_data``'s
``Find``, ``Export``, ``Erase`` or ``Purge``; the caller audits."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlmodel import Session, col

from govsms.audit.unreadable import CANNOT_BE_READ
from govsms.clock import SYSTEM_CLOCK
from govsms.db import rowcount
from govsms.i18n import _
from govsms.keys.store import SubjectKey, vault_of
from govsms.personal_data import Found, Person
from govsms.receiving.models import INBOUND_NUMBER, INBOUND_TEXT, InboundMessage
from govsms.sending.models import ReplyRoute
from govsms.sending.reply_routes import provider_indexes
from govsms.tenancy import owned_by


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _received_from(person: Person) -> list[Any]:
    return [owned_by(InboundMessage, person.account_id), col(InboundMessage.subject_id) == person.subject_id]


# -- inbound_message -----------------------------------------------------------------------------


def find_received(session: Session, person: Person) -> Found | None:
    """The SMS the person sent to the account: how many, first and last, how many were STOP."""
    if person.subject_id is None:
        return None
    count, first, last, stops = session.execute(
        select(func.count(), func.min(InboundMessage.received_at), func.max(InboundMessage.received_at),
               func.count().filter(col(InboundMessage.stop).is_(True)))
        .where(*_received_from(person))
    ).one()
    if not count:
        return None
    lines = [_("STOP replies: %(count)d") % {"count": stops}] if stops else []
    return Found(table="inbound_message", count=int(count), first_at=first, last_at=last, lines=tuple(lines))


def export_received(session: Session, person: Person) -> list[dict[str, object]]:
    """Each SMS the person sent: number and text opened with their key, the number it was sent
    to, how it was routed, the SMS it answered, and times."""
    if person.subject_id is None:
        return []
    rows = session.execute(
        select(InboundMessage).where(*_received_from(person)).order_by(col(InboundMessage.received_at), col(InboundMessage.id))
    ).scalars().all()
    records: list[dict[str, object]] = []
    for row in rows:
        subject = person.subject
        number = subject.unseal_or_none(INBOUND_NUMBER, row.number_ct) if subject is not None else None
        text = subject.unseal_or_none(INBOUND_TEXT, row.text_ct) if subject is not None else None
        records.append({
            "id": row.id, "number": number, "text": text if text is not None else _(CANNOT_BE_READ), "to": row.destination,
            "keyword": row.keyword, "routed_by": row.routed_by, "reply_to_message_id": row.reply_to_message_id, "stop": row.stop,
            "parts": row.parts, "received_at": _iso(row.received_at), "read_at": _iso(row.read_at),
        })
    return records


def erase_received(session: Session, person: Person, *, limit: int, now: datetime) -> int:
    """Delete up to ``limit`` of the SMS the person sent to the account."""
    if person.subject_id is None:
        return 0
    ids = list(session.execute(select(col(InboundMessage.id)).where(*_received_from(person)).limit(limit)).scalars())
    if not ids:
        return 0
    return rowcount(session.execute(delete(InboundMessage).where(*_received_from(person), col(InboundMessage.id).in_(ids))))


def purge_received(
    session: Session, *, account_id: int, before: datetime, held: frozenset[bytes], limit: int, dry_run: bool = False,
) -> int:
    """The retention purge of received SMS (category ``inbound_messages``): up to ``limit`` of the
    account's SMS received before ``before``, none from a number on legal hold; the oldest first."""
    condition: list[Any] = [owned_by(InboundMessage, account_id), col(InboundMessage.received_at) < before]
    if held:
        query = select(col(SubjectKey.id)).where(owned_by(SubjectKey, account_id), col(SubjectKey.blind_index).in_(held))
        with vault_of(session).key_store(session) as store:
            subjects = [int(found) for found in store.execute(query).scalars()]
        if subjects:
            condition.append(col(InboundMessage.subject_id).not_in(subjects))
    if dry_run:
        return int(session.execute(select(func.count()).select_from(InboundMessage).where(*condition)).scalar() or 0)
    ids = list(session.execute(
        select(col(InboundMessage.id)).where(*condition).order_by(col(InboundMessage.received_at)).limit(limit)
    ).scalars())
    if not ids:
        return 0
    return rowcount(session.execute(delete(InboundMessage).where(owned_by(InboundMessage, account_id), col(InboundMessage.id).in_(ids))))


# -- reply_route -----------------------------------------------------------------------------------


def _route_of(session: Session, person: Person) -> list[Any] | None:
    if not person.e164:
        return None  # a resumed erasure knows no number: the route expires with its window
    index = provider_indexes(session, [person.e164], now=SYSTEM_CLOCK.now())[person.e164]
    return [col(ReplyRoute.number_index) == index, col(ReplyRoute.account_id) == person.account_id]


def find_route(session: Session, person: Person) -> Found | None:
    """Whether a reply from the person's number would reach this account now."""
    condition = _route_of(session, person)
    if condition is None:
        return None
    rows = session.execute(select(ReplyRoute).where(*condition)).scalars().all()
    if not rows:
        return None
    lines = tuple(_("Replies to %(number)s until %(date)s") % {"number": row.shared_number, "date": row.expires_at.date().isoformat()} for row in rows)
    return Found(table="reply_route", count=len(rows), first_at=min(row.sent_at for row in rows), last_at=max(row.sent_at for row in rows),
                 lines=lines)


def export_route(session: Session, person: Person) -> list[dict[str, object]]:
    condition = _route_of(session, person)
    if condition is None:
        return []
    return [
        {"shared_number": row.shared_number, "message_id": row.message_id, "sent_at": _iso(row.sent_at), "expires_at": _iso(row.expires_at)}
        for row in session.execute(select(ReplyRoute).where(*condition)).scalars()
    ]


def erase_route(session: Session, person: Person, *, limit: int, now: datetime) -> int:
    """Delete the account's reply routes to the person's number (their replies then reach the
    operator's queue, not the account)."""
    condition = _route_of(session, person)
    if condition is None:
        return 0
    return rowcount(session.execute(delete(ReplyRoute).where(*condition)))
