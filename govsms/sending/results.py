"""What the results of one submitted batch write, in one transaction: each accepted part (so
delivery reports find their message and a retry skips it), and each message's status: sent,
queued again with backoff, failed, or blocked. Only messages this worker still holds change."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, update
from sqlmodel import Session

from govsms.db import bulk_insert, one_of, rowcount, table_of
from govsms.textfield import CONTROL
from govsms.sending.claims import ClaimKeeper, Claimed, held_by
from govsms.sending.models import MessagePart, OutboundMessage
from govsms.sending.status import MessageStatus
from govsms.sending.transports.base import SubmitResult

MESSAGES = table_of(OutboundMessage)
PARTS = table_of(MessagePart)
MAX_ATTEMPTS = 12
PROVIDER_ID_MAX = 80


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(2 ** attempts, 600))


@dataclass
class SubmittedBatch:
    """A submitted batch whose results are not recorded yet: kept in memory, its claims kept
    alive by ``keeper``, until ``record_results`` commits."""

    claimed: list[Claimed]
    results: list[SubmitResult]
    blocked: set[int]
    submitted_at: datetime
    keeper: ClaimKeeper
    failures: int = 0
    """Recording tries that failed so far."""
    delay: float = 0.05
    """Seconds before the next try; doubles up to 2 s."""


@dataclass(frozen=True)
class Recorded:
    sent: int
    retry: int
    failed: int
    lapsed: int
    """Accepted messages that were no longer this worker's claim (another worker took them
    after the claim lapsed, or a report settled them first): their status was left alone."""


def record_results(session: Session, worker_id: str, batch: SubmittedBatch, *, with_parts: bool = True) -> Recorded:
    """Write the batch's results in the session's transaction; the same batch may be written
    again after a failed try (parts are inserted ignoring conflicts). ``with_parts=False``: the
    statuses only, when the parts cannot be written (a provider id the table refuses): those
    messages get no delivery report and end ``unknown``, but they are not sent again."""
    now = batch.submitted_at
    attempts = {item.id: item.attempts for item in batch.claimed}
    sent: list[int] = []
    parts: list[dict[str, Any]] = []
    retry: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    for result in batch.results:
        parts.extend(
            {"provider_id": provider_id, "message_id": result.message_id, "part": part, "status": MessageStatus.SENT}
            for part, provider_id in _accepted_parts(result)
        )
        if result.accepted:
            sent.append(result.message_id)
        elif result.transient and attempts[result.message_id] + 1 < MAX_ATTEMPTS:
            tries = attempts[result.message_id] + 1
            retry.append({"mid": result.message_id, "tries": tries, "due": now + backoff(tries)})
        else:
            failed.append({"mid": result.message_id, "reason": (result.error or "failed")[:40]})
    dialect = session.get_bind().dialect.name
    mine = held_by(worker_id)
    connection = session.connection()
    lapsed = 0
    if parts and with_parts:  # also the parts of messages that will be retried: the retry skips them
        bulk_insert(session, PARTS, parts, ignore_conflicts=True)
    if sent:
        lapsed = len(sent) - rowcount(connection.execute(
            update(MESSAGES).where(one_of(MESSAGES.c.id, sent, dialect), mine)
            .values(status=MessageStatus.SENT, submitted_at=now, claimed_by=None, claim_expires_at=None)
        ))
    if batch.blocked:
        connection.execute(
            update(MESSAGES).where(one_of(MESSAGES.c.id, list(batch.blocked), dialect), mine)
            .values(status=MessageStatus.BLOCKED, reason="blocked", cost_minor=0, done_at=now, claimed_by=None, claim_expires_at=None)
        )
    if retry:
        connection.execute(
            update(MESSAGES).where(MESSAGES.c.id == bindparam("mid"), mine)
            .values(status=MessageStatus.QUEUED, attempts=bindparam("tries"), due_at=bindparam("due"), claimed_by=None, claim_expires_at=None),
            retry,
        )
    if failed:
        connection.execute(
            update(MESSAGES).where(MESSAGES.c.id == bindparam("mid"), mine)
            .values(status=MessageStatus.FAILED, reason=bindparam("reason"), done_at=now, claimed_by=None, claim_expires_at=None),
            failed,
        )
    return Recorded(sent=len(sent), retry=len(retry), failed=len(failed), lapsed=lapsed)


def _accepted_parts(result: SubmitResult) -> list[tuple[int | None, str]]:
    """(part, provider id) of what the SMSC took in this attempt; part None: the whole message.
    An id the table cannot hold (longer than 80, control characters) is one no report can name."""
    return [(part, provider_id) for part, provider_id in _parts_of(result) if len(provider_id) <= PROVIDER_ID_MAX and not CONTROL.search(provider_id)]


def _parts_of(result: SubmitResult) -> list[tuple[int | None, str]]:
    if result.part_ids:
        return [(part, provider_id) for part, provider_id in enumerate(result.part_ids) if provider_id]
    if len(result.provider_ids) == 1:
        return [(None, result.provider_ids[0])]
    return list(enumerate(result.provider_ids))
