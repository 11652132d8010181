"""The outbox worker: claims due messages in batches (PostgreSQL: FOR UPDATE SKIP LOCKED, so any
number of workers on any number of machines share the work), checks the blocklist again,
renders each text, submits, records statuses and delivery reports. A claim that a dead worker
held expires and the message is taken again: nothing is lost; at most the batch that was in
flight at the crash is sent twice."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, UTC

from sqlalchemy import and_, bindparam, delete, or_, select, update
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from govsms.crypto import unseal, value_context
from govsms.db import bulk_insert, one_of, session_scope
from govsms.keystore import vault_of
from govsms.sending.blocklist import blocked_subjects
from govsms.sending.dispatch import DATA_PURPOSE, render_text
from govsms.sending.models import Dispatch, MessagePart, OutboundMessage, PendingReport
from govsms.sending.text import encode_parts
from govsms.sending.transports.base import DeliveryReport, ReportStatus, SenderKind, Submission, SubmitResult, Transport, TransportDown

log = logging.getLogger(__name__)

MESSAGES = OutboundMessage.__table__
PARTS = MessagePart.__table__
PENDING = PendingReport.__table__
PENDING_REPORT_DAYS = 3
PENDING_RETRY_SECONDS = 5.0
CLAIM_TTL = timedelta(seconds=120)
MAX_ATTEMPTS = 12
FINAL = ("delivered", "failed", "expired", "blocked", "cancelled")


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(2 ** attempts, 600))


@dataclass
class Claimed:
    id: int
    dispatch_id: int
    account_id: int
    subject_id: int
    recipient_ct: bytes
    sender: str
    sender_kind: str
    optout_token: str | None
    attempts: int


def claim(session: Session, worker_id: str, *, now: datetime, limit: int, ttl: timedelta = CLAIM_TTL) -> list[Claimed]:
    """Take up to ``limit`` due messages (or ones whose claim expired) for this worker."""
    due = or_(
        and_(MESSAGES.c.status.in_(("queued", "scheduled")), MESSAGES.c.due_at <= now),
        and_(MESSAGES.c.status == "sending", MESSAGES.c.claim_expires_at < now),
    )
    candidates = select(MESSAGES.c.id).where(due).order_by(MESSAGES.c.due_at, MESSAGES.c.id).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True)
    ids = session.execute(candidates).scalars().all()
    if not ids:
        return []
    dialect = session.get_bind().dialect.name
    rows = session.execute(
        update(MESSAGES)
        .where(one_of(MESSAGES.c.id, list(ids), dialect))
        .values(status="sending", claimed_by=worker_id, claim_expires_at=now + ttl)
        .returning(
            MESSAGES.c.id, MESSAGES.c.dispatch_id, MESSAGES.c.account_id, MESSAGES.c.subject_id, MESSAGES.c.recipient_ct,
            MESSAGES.c.sender, MESSAGES.c.sender_kind, MESSAGES.c.optout_token, MESSAGES.c.attempts,
        )
    ).all()
    return sorted((Claimed(*row) for row in rows), key=lambda item: item.id)


class Outbox:
    """One worker: ``run_once`` handles one batch; ``run`` loops until stopped."""

    def __init__(
        self, session_factory: sessionmaker[Session], transport: Transport, *, public_url: str,
        batch_size: int = 500, rate_per_second: float | None = None, worker_id: str | None = None,
        claim_ttl: timedelta = CLAIM_TTL,
    ) -> None:
        self.claim_ttl = claim_ttl
        self.session_factory = session_factory
        self.transport = transport
        self.public_url = public_url
        self.batch_size = batch_size
        self.rate_per_second = rate_per_second
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{id(self) % 10_000}"
        self._texts: dict[int, str] = {}
        self._pending_checked = 0.0

    # -- one batch -------------------------------------------------------------------------------

    def run_once(self, now: datetime | None = None) -> int:
        now = now or datetime.now(UTC)
        with session_scope(self.session_factory) as session:
            claimed = claim(session, self.worker_id, now=now, limit=self.batch_size, ttl=self.claim_ttl)
        if claimed:
            submissions, blocked = self._prepare(claimed, now)
            try:
                results = self.transport.submit(submissions) if submissions else []
            except TransportDown:
                log.warning("transport down: %d messages wait", len(submissions), extra={"event": "outbox.transport_down"})
                results = [SubmitResult(message_id=item.message_id, accepted=False, error="down", transient=True) for item in submissions]
            self._record(claimed, results, blocked, datetime.now(UTC))
        self.apply_reports()
        return len(claimed)

    def _prepare(self, claimed: list[Claimed], now: datetime) -> tuple[list[Submission], set[int]]:
        submissions: list[Submission] = []
        blocked_messages: set[int] = set()
        with session_scope(self.session_factory) as session:
            vault = vault_of(session)
            sent_before = self._parts_sent_before(session, [item.id for item in claimed if item.attempts > 0])
            by_account: dict[int, list[Claimed]] = {}
            for item in claimed:
                by_account.setdefault(item.account_id, []).append(item)
            for account_id, items in by_account.items():
                blocked = blocked_subjects(session, account_id, [item.subject_id for item in items])
                subjects = vault.subjects_by_id(session, account_id, [item.subject_id for item in items])
                for item in items:
                    subject = subjects.get(item.subject_id)
                    if item.subject_id in blocked or subject is None:
                        blocked_messages.add(item.id)  # blocked now, or erased since it was queued
                        continue
                    number = subject.decrypt("outbound_message", "recipient", item.recipient_ct)
                    text = render_text(self._text(session, item.dispatch_id, account_id, now), self.public_url, item.optout_token)
                    data_coding, parts = encode_parts(text, item.id & 0xFF)
                    submissions.append(
                        Submission(
                            message_id=item.id, sender=item.sender, sender_kind=SenderKind(item.sender_kind),
                            recipient=number, parts=parts, data_coding=data_coding,
                            skip_parts=frozenset(sent_before.get(item.id, ())),
                        )
                    )
        return submissions, blocked_messages

    @staticmethod
    def _parts_sent_before(session: Session, message_ids: list[int]) -> dict[int, set[int]]:
        """Parts of retried messages that an earlier attempt got accepted: not sent again."""
        found: dict[int, set[int]] = {}
        if message_ids:
            dialect = session.get_bind().dialect.name
            rows = session.execute(
                select(PARTS.c.message_id, PARTS.c.part).where(one_of(PARTS.c.message_id, message_ids, dialect), PARTS.c.part.is_not(None))
            )
            for message_id, part in rows:
                found.setdefault(message_id, set()).add(part)
        return found

    def _text(self, session: Session, dispatch_id: int, account_id: int, now: datetime) -> str:
        if dispatch_id not in self._texts:
            if len(self._texts) > 1000:
                self._texts.clear()
            dispatch = session.get(Dispatch, dispatch_id)
            key = vault_of(session).account_key(session, account_id, DATA_PURPOSE, now=now)
            self._texts[dispatch_id] = unseal(key, dispatch.text_ct, value_context("dispatch", "text", account_id, dispatch_id)).decode()  # type: ignore[union-attr]
        return self._texts[dispatch_id]

    def _record(self, claimed: list[Claimed], results: list[SubmitResult], blocked: set[int], now: datetime) -> None:
        attempts = {item.id: item.attempts for item in claimed}
        sent, parts, retry, failed = [], [], [], []
        for result in results:
            parts.extend(
                {"provider_id": provider_id, "message_id": result.message_id, "part": part, "status": "sent"}
                for part, provider_id in _accepted_parts(result)
            )
            if result.accepted:
                sent.append(result.message_id)
            elif result.transient and attempts[result.message_id] + 1 < MAX_ATTEMPTS:
                tries = attempts[result.message_id] + 1
                retry.append({"mid": result.message_id, "tries": tries, "due": now + backoff(tries)})
            else:
                failed.append({"mid": result.message_id, "reason": (result.error or "failed")[:40]})
        with session_scope(self.session_factory) as session:
            dialect = session.get_bind().dialect.name
            mine = and_(MESSAGES.c.claimed_by == self.worker_id, MESSAGES.c.status == "sending")
            connection = session.connection()
            if parts:  # also the parts of messages that will be retried: the retry skips them
                bulk_insert(session, PARTS, parts, ignore_conflicts=True)
            if sent:
                connection.execute(
                    update(MESSAGES).where(one_of(MESSAGES.c.id, sent, dialect), mine)
                    .values(status="sent", submitted_at=now, claimed_by=None, claim_expires_at=None)
                )
            if blocked:
                connection.execute(
                    update(MESSAGES).where(one_of(MESSAGES.c.id, list(blocked), dialect), mine)
                    .values(status="blocked", reason="blocked", cost_minor=0, done_at=now, claimed_by=None, claim_expires_at=None)
                )
            if retry:
                connection.execute(
                    update(MESSAGES).where(MESSAGES.c.id == bindparam("mid"), mine)
                    .values(status="queued", attempts=bindparam("tries"), due_at=bindparam("due"), claimed_by=None, claim_expires_at=None),
                    retry,
                )
            if failed:
                connection.execute(
                    update(MESSAGES).where(MESSAGES.c.id == bindparam("mid"), mine)
                    .values(status="failed", reason=bindparam("reason"), done_at=now, claimed_by=None, claim_expires_at=None),
                    failed,
                )
        if retry or failed:
            log.info("outbox batch: %d sent, %d retry, %d failed, %d blocked", len(sent), len(retry), len(failed), len(blocked))

    # -- delivery reports ------------------------------------------------------------------------

    def apply_reports(self) -> int:
        reports = self.transport.reports()
        # With none, still now and then: reports that came before their part was recorded wait.
        if reports or time.monotonic() - self._pending_checked > PENDING_RETRY_SECONDS:
            self._pending_checked = time.monotonic()
            apply_delivery_reports(self.session_factory, reports)
        return len(reports)

    # -- the loop --------------------------------------------------------------------------------

    def run(self, stop: threading.Event, *, idle_sleep: float = 0.5) -> None:
        log.info("outbox worker %s started (%s)", self.worker_id, self.transport.name)
        while not stop.is_set():
            started = time.monotonic()
            try:
                handled = self.run_once()
            except Exception:  # a bad batch must not stop the worker; its claims expire and retry
                log.exception("outbox batch failed")
                handled = 0
                stop.wait(2)
            if self.rate_per_second and handled:
                spare = handled / self.rate_per_second - (time.monotonic() - started)
                if spare > 0:
                    stop.wait(spare)
            elif not handled:
                stop.wait(idle_sleep)
        self.apply_reports()
        log.info("outbox worker %s stopped", self.worker_id)


def _accepted_parts(result: SubmitResult) -> list[tuple[int | None, str]]:
    """(part, provider id) of what the SMSC took in this attempt; part None: the whole message."""
    if result.part_ids:
        return [(part, provider_id) for part, provider_id in enumerate(result.part_ids) if provider_id]
    if len(result.provider_ids) == 1:
        return [(None, result.provider_ids[0])]
    return list(enumerate(result.provider_ids))


REPORT_STATUS = {ReportStatus.DELIVERED: "delivered", ReportStatus.FAILED: "failed", ReportStatus.EXPIRED: "expired"}


def apply_delivery_reports(session_factory: sessionmaker[Session], reports: list[DeliveryReport]) -> None:
    """A message is delivered when all its parts are; failed or expired when any part is.

    A report whose part is not recorded yet waits in ``pending_report`` and is applied by a later
    call (the worker calls with no reports now and then), so no report is lost to a race; one
    that finds no part within ``PENDING_REPORT_DAYS`` is dropped."""
    now = datetime.now(UTC)
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
        for final in ("failed", "expired", "delivered"):
            ids = [
                mid for mid, seen in states.items()
                if (final in seen if final != "delivered" else seen == {"delivered"} and mid in complete)
            ]
            if ids:
                connection.execute(
                    update(MESSAGES).where(one_of(MESSAGES.c.id, ids, dialect), MESSAGES.c.status.in_(("sent", "sending")))
                    .values(status=final, done_at=now)
                )
                for mid in ids:
                    states.pop(mid)
