"""A worker's claims on outbound messages: taking due ones, keeping them alive while their batch
is in flight (until its results are recorded), and giving back what was never submitted."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, ProgrammingError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import sessionmaker
from sqlalchemy.sql import ColumnElement
from sqlmodel import Session

from govsms.clock import SYSTEM_CLOCK, Clock
from govsms.db import DatabaseBusy, one_of, rowcount, session_scope, table_of
from govsms.sending.models import OutboundMessage
from govsms.sending.status import MessageStatus

log = logging.getLogger(__name__)

MESSAGES = table_of(OutboundMessage)
CLAIM_TTL = timedelta(seconds=120)


@dataclass
class Claimed:
    id: int
    dispatch_id: int
    account_id: int
    subject_id: int
    recipient_ct: bytes
    sender: str | None
    """None: the dispatch's sealed mobile-number sender."""
    sender_kind: str
    optout_token: str | None
    attempts: int


def claim(session: Session, worker_id: str, *, now: datetime, limit: int, ttl: timedelta = CLAIM_TTL) -> list[Claimed]:
    """Take up to ``limit`` due messages (or ones whose claim expired) for this worker."""
    due = or_(
        and_(MESSAGES.c.status.in_((MessageStatus.QUEUED, MessageStatus.SCHEDULED)), MESSAGES.c.due_at <= now),
        and_(MESSAGES.c.status == MessageStatus.SENDING, MESSAGES.c.claim_expires_at < now),
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
        .values(status=MessageStatus.SENDING, claimed_by=worker_id, claim_expires_at=now + ttl)
        .returning(
            MESSAGES.c.id, MESSAGES.c.dispatch_id, MESSAGES.c.account_id, MESSAGES.c.subject_id, MESSAGES.c.recipient_ct,
            MESSAGES.c.sender, MESSAGES.c.sender_kind, MESSAGES.c.optout_token, MESSAGES.c.attempts,
        )
    ).all()
    return sorted((Claimed(*row) for row in rows), key=lambda item: item.id)


def held_by(worker_id: str) -> ColumnElement[bool]:
    """This worker's live or lapsed claim that no other worker has taken since."""
    return and_(MESSAGES.c.claimed_by == worker_id, MESSAGES.c.status == MessageStatus.SENDING)


def extend_claims(session: Session, worker_id: str, ids: list[int], *, now: datetime, ttl: timedelta) -> set[int]:
    """Push the expiry of this worker's claims on ``ids`` to ``now + ttl``; returns the ids it
    still holds (a lapsed claim another worker took is gone)."""
    dialect = session.get_bind().dialect.name
    rows = session.execute(
        update(MESSAGES).where(one_of(MESSAGES.c.id, ids, dialect), held_by(worker_id))
        .values(claim_expires_at=now + ttl).returning(MESSAGES.c.id)
    )
    return set(rows.scalars().all())


def release_claims(session: Session, worker_id: str, ids: list[int], *, due: datetime) -> int:
    """Give back claims on messages that were never submitted: due again at ``due``."""
    dialect = session.get_bind().dialect.name
    result = session.execute(
        update(MESSAGES).where(one_of(MESSAGES.c.id, ids, dialect), held_by(worker_id))
        .values(status=MessageStatus.QUEUED, due_at=due, claimed_by=None, claim_expires_at=None)
    )
    return rowcount(result)


def is_transient(error: BaseException) -> bool:
    """A database error that trying again can cure: SQLite's "database is locked", PostgreSQL's
    lock or statement timeout, a deadlock or serialization failure, a dropped connection, a pool
    that had no connection to give. Constraint, syntax and data errors are not."""
    if isinstance(error, (IntegrityError, ProgrammingError, DataError)):
        return False
    if isinstance(error, (DatabaseBusy, DBAPIError, PoolTimeout, sqlite3.OperationalError)):
        return True
    try:  # the raw driver's error, from the bulk paths below Core (db.copy_rows)
        import psycopg
    except ImportError:  # pragma: no cover
        return False
    return isinstance(error, (psycopg.OperationalError, psycopg.InterfaceError))


class ClaimKeeper:
    """Keeps this worker's claims on one batch alive (``claim_expires_at`` pushed forward every
    third of the TTL, from a thread) from the claim until its results are recorded, so a slow
    submit or a database that refuses the recording for a while never lets another worker take
    and send the batch again. Only a dead process stops extending: then the claims expire."""

    def __init__(self, session_factory: sessionmaker[Session], worker_id: str, ids: list[int], ttl: timedelta, clock: Clock = SYSTEM_CLOCK) -> None:
        self.clock = clock
        self.session_factory = session_factory
        self.worker_id = worker_id
        self.ids = ids
        self.ttl = ttl
        self.live_until = time.monotonic() + ttl.total_seconds()
        """When the claims lapse (monotonic), as far as this worker knows."""
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> ClaimKeeper:
        self._thread = threading.Thread(target=self._run, name="claim-keeper", daemon=True)
        self._thread.start()
        return self

    def extend(self) -> set[int]:
        """Extend now; returns the ids still held. Raises what the database raises."""
        started = time.monotonic()
        with session_scope(self.session_factory) as session:
            held = extend_claims(session, self.worker_id, self.ids, now=self.clock.now(), ttl=self.ttl)
        self.live_until = started + self.ttl.total_seconds()
        return held

    def stop(self) -> None:
        # Not joined: an extension waiting for the database lock ends on its own, and one that
        # runs after the recording matches no row (the messages are no longer 'sending').
        self._done.set()

    def _run(self) -> None:
        while not self._done.wait(self.ttl.total_seconds() / 3):
            try:
                self.extend()
            except Exception as error:  # noqa: BLE001  (tried again a third of the TTL later)
                log.warning("could not extend %d claims: %s", len(self.ids), type(error).__name__, extra={"event": "outbox.claim_extend_failed"})
