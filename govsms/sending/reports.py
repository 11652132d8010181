"""Delivery reports and what stands in for one that never comes: reports set each part's status
and, once every part is settled, the message's; a message left 'sent' with no report for
``message_unknown_hours`` becomes ``unknown`` (the SMSC never told, or its report was lost)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from govsms.clock import SYSTEM_CLOCK, Clock
from govsms.db import bulk_insert, one_of, session_scope, table_of
from govsms.sending.models import MessagePart, OutboundMessage, PendingReport
from govsms.sending.status import MessageStatus
from govsms.sending.transports.base import DeliveryReport, ReportStatus

MESSAGES = table_of(OutboundMessage)
PARTS = table_of(MessagePart)
PENDING = table_of(PendingReport)
PENDING_REPORT_DAYS = 3
UNKNOWN_CHUNK = 5000
SETTLED_BY_REPORT = (MessageStatus.SENT, MessageStatus.SENDING, MessageStatus.UNKNOWN)
"""A report that comes after the message was given up as ``unknown`` still tells the truth."""


REPORT_STATUS = {
    ReportStatus.DELIVERED: MessageStatus.DELIVERED, ReportStatus.FAILED: MessageStatus.FAILED, ReportStatus.EXPIRED: MessageStatus.EXPIRED,
}


def apply_delivery_reports(session_factory: sessionmaker[Session], reports: list[DeliveryReport], *, clock: Clock = SYSTEM_CLOCK) -> None:
    """A message is delivered when all its parts are; failed or expired when any part is.

    A report whose part is not recorded yet waits in ``pending_report`` and is applied by a later
    call (the worker calls with no reports now and then), so no report is lost to a race; one
    that finds no part within ``PENDING_REPORT_DAYS`` is dropped. A report for a message already
    ``unknown`` still settles it."""
    now = clock.now()
    with session_scope(session_factory) as session:
        dialect = session.get_bind().dialect.name
        connection = session.connection()
        by_status: dict[str, list[str]] = {}
        for report in reports:
            by_status.setdefault(REPORT_STATUS[report.status], []).append(report.provider_id)
        waiting = connection.execute(
            select(PENDING.c.provider_id, PENDING.c.status).join(PARTS, PARTS.c.provider_id == PENDING.c.provider_id)
        ).all()
        for provider_id, status in waiting:  # their parts are recorded now
            by_status.setdefault(status, []).append(provider_id)
        if waiting:
            connection.execute(delete(PENDING).where(one_of(PENDING.c.provider_id, [row[0] for row in waiting], dialect)))
        connection.execute(delete(PENDING).where(PENDING.c.received_at < now - timedelta(days=PENDING_REPORT_DAYS)))
        touched: set[int] = set()
        matched: set[str] = set()
        for status, provider_ids in by_status.items():
            connection.execute(update(PARTS).where(one_of(PARTS.c.provider_id, provider_ids, dialect)).values(status=status))
            for provider_id, message_id in connection.execute(
                select(PARTS.c.provider_id, PARTS.c.message_id).where(one_of(PARTS.c.provider_id, provider_ids, dialect))
            ):
                matched.add(provider_id)
                touched.add(message_id)
        early = {
            report.provider_id: {"provider_id": report.provider_id, "status": REPORT_STATUS[report.status], "received_at": now}
            for report in reports if report.provider_id not in matched
        }
        if early:
            bulk_insert(session, PENDING, list(early.values()), ignore_conflicts=True)
        if not touched:
            return
        states: dict[int, set[str]] = {}
        complete: set[int] = set()  # every part of the message has been accepted
        counted: dict[int, int] = {}
        rows = connection.execute(
            select(PARTS.c.message_id, PARTS.c.status, PARTS.c.part, MESSAGES.c.parts)
            .join(MESSAGES, MESSAGES.c.id == PARTS.c.message_id)
            .where(one_of(PARTS.c.message_id, list(touched), dialect))
        )
        for message_id, status, part, expected in rows:
            states.setdefault(message_id, set()).add(status)
            counted[message_id] = counted.get(message_id, 0) + 1
            if part is None or counted[message_id] >= expected:  # an id for the whole message, or all parts
                complete.add(message_id)
        for final in (MessageStatus.FAILED, MessageStatus.EXPIRED, MessageStatus.DELIVERED):
            ids = [
                mid for mid, seen in states.items()
                if (final in seen if final != MessageStatus.DELIVERED else seen == {MessageStatus.DELIVERED} and mid in complete)
            ]
            if ids:
                connection.execute(
                    update(MESSAGES).where(one_of(MESSAGES.c.id, ids, dialect), MESSAGES.c.status.in_(SETTLED_BY_REPORT))
                    .values(status=final, done_at=now)
                )
                for mid in ids:
                    states.pop(mid)


def mark_unknown(session_factory: sessionmaker[Session], *, now: datetime, after: timedelta, chunk: int = UNKNOWN_CHUNK) -> int:
    """Messages 'sent' with no report for ``after`` become ``unknown`` (final), ``chunk`` at a
    time, one short transaction each. Returns how many.

    ``due_at <= submitted_at`` always, so the ``(status, due_at)`` index narrows the scan to
    the old 'sent' rows; ``submitted_at`` decides. Several workers may run it at once."""
    cutoff = now - after
    total = 0
    while True:
        with session_scope(session_factory) as session:
            dialect = session.get_bind().dialect.name
            stale = (
                select(MESSAGES.c.id)
                .where(
                    MESSAGES.c.status == MessageStatus.SENT, MESSAGES.c.due_at < cutoff,
                    or_(MESSAGES.c.submitted_at < cutoff, MESSAGES.c.submitted_at.is_(None)),
                )
                .limit(chunk)
            )
            if dialect == "postgresql":
                stale = stale.with_for_update(skip_locked=True)  # rows a report is settling right now wait for the next run
            ids = list(session.execute(stale).scalars().all())
            if ids:
                session.execute(
                    update(MESSAGES).where(one_of(MESSAGES.c.id, ids, dialect), MESSAGES.c.status == MessageStatus.SENT)
                    .values(status=MessageStatus.UNKNOWN, done_at=now)
                )
        total += len(ids)
        if len(ids) < chunk:
            return total
