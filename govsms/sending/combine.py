"""Many small API sends, one transaction: the sends that arrive while a transaction is being
written are written together in the next one ("group commit").

Most API clients send one SMS per request (codes, reminders, alerts). Written one by one, each
costs about nine round trips to the database (begin, prices, blocklist, dispatch, its text,
subject, message, audit event, commit), and under load the round trips, not the work, are what
the machine spends its time on. Here a request does its checks in its own thread (text, sender,
numbers: nothing that needs the database), hands the send to the process's combiner, and waits;
the combiner's thread writes every waiting send with set-based statements (one INSERT each for
the dispatches, their messages and their audit events) and commits once. Each request is answered
after that commit, so a 201 still means written, and an error means nothing was (or, if the
database stopped answering while committing, that the outcome is unknown).

Only the plain case comes here: numbers typed in the request, a text sender or the shared reply
number, no Idempotency-Key, no dry run, every number valid, priced and not blocked. Anything
else, and a send whose batch failed for a reason other than a busy database, is written by
``create_dispatch`` in the request's own transaction, which gives the full answer (the reasons,
the blocked count, the recorded refusal) exactly as before.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from govsms.auth import Actor, Permission, require
from govsms.audit.actions import Action
from govsms.audit.record import EventSpec, record_events
from govsms.keys.crypto import seal_field
from govsms.db import SMALL_BATCH, DatabaseBusy, copy_rows, is_busy, pipelined, table_of
from govsms.errors import GovsmsError, OutcomeUnknown
from govsms.i18n import _
from govsms.keys.store import DATA_PURPOSE, vault_of
from govsms.log import request_id
from govsms.phone import parse_recipients
from govsms.sending.blocklist import blocked_numbers
from govsms.sending.dispatch import (
    MESSAGE_COLUMNS,
    OPTOUT_PLACEHOLDER,
    TOKEN_ATTEMPTS,
    DispatchRequest,
    DispatchSummary,
    analyse_for_sending,
    check_send_at,
    country_of,
    optout_tokens,
)
from govsms.sending.models import DISPATCH_TEXT, MESSAGE_RECIPIENT, Dispatch, OutboundMessage
from govsms.sending.status import DispatchStatus
from govsms.sending.pricing import recent_prices
from govsms.sending.senders import REPLY_NUMBERS, SHARED_REPLY_NUMBER, SenderChoice, resolve_sender
from govsms.sending.text import TextAnalysis

log = logging.getLogger(__name__)

MAX_NUMBERS = 10
"""A request with more recipients than this is a dispatch of its own (``create_dispatch``)."""
MAX_BATCH = 200
"""Sends written in one transaction at most."""
_DISPATCHES = table_of(Dispatch)
_MESSAGES = table_of(OutboundMessage)
DISPATCH_COLUMNS = [
    "id", "account_id", "created_by", "channel", "sender", "text_ct", "encoding", "parts", "accepted", "cost_minor", "status", "send_at",
    "created_at",
]
BATCH_MESSAGE_COLUMNS = [*MESSAGE_COLUMNS, "dispatch_id", "account_id", "parts", "status", "due_at", "created_at"]


class _Fallback:
    """The answer "write this one in the request's own transaction"."""


FALLBACK = _Fallback()


@dataclass
class PendingSend:
    actor: Actor
    request: DispatchRequest
    analysis: TextAnalysis
    sender: SenderChoice
    recipients: dict[str, str]
    """E.164 -> destination country, in the order given, each number once."""
    now: datetime
    request_id: str | None
    done: threading.Event = field(default_factory=threading.Event)
    answer: DispatchSummary | _Fallback | None = None
    failure: str | None = None
    """``busy`` (nothing was written) or ``unknown`` (the commit lost the database)."""
    waiter: tuple[asyncio.AbstractEventLoop, asyncio.Future[None]] | None = None
    """An asynchronous handler's loop and future, resolved with ``done``."""
    warnings: list[dict[str, str]] = field(default_factory=list)
    """Numbers that may not get the SMS (``DispatchSummary.warnings``)."""

    def finish(self) -> None:
        self.done.set()
        if self.waiter is not None:
            loop, future = self.waiter
            try:
                loop.call_soon_threadsafe(_resolve, future)
            except RuntimeError:  # the loop is closed: nobody waits for this answer any more
                pass

    def outcome(self) -> DispatchSummary | None:
        """The answer, in the request's own context (its language): raised if the batch failed."""
        if self.failure == "busy":
            raise DatabaseBusy("the combined sends' transaction was refused as busy")
        if self.failure == "unknown":
            raise OutcomeUnknown(_(
                "The database stopped answering while this was being saved, so it may or may not have been saved. "
                "Look before you try again."
            ))
        answer = self.answer
        return None if isinstance(answer, _Fallback) else answer


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def prepare(actor: Actor, request: DispatchRequest, *, public_url: str, now: datetime) -> PendingSend | None:
    """The send, checked without the database, if it is one for the combiner; else None."""
    if (
        request.channel != "api" or request.dry_run or request.idempotency_key or request.group_ids
        or not 1 <= len(request.numbers) <= MAX_NUMBERS or actor.region is None
    ):
        return None
    value = request.sender.strip()
    if value.replace(" ", "").replace("-", "").lstrip("+").isdigit() and value not in (SHARED_REPLY_NUMBER, *REPLY_NUMBERS.values()):
        return None  # a number as sender: virtual or verified mobile numbers are looked up
    try:
        require(actor, Permission.SEND)
        analysis = analyse_for_sending(request.text, public_url)
        sender = resolve_sender(None, actor, value, now=now, region=actor.region)  # not a number: no database
    except GovsmsError:
        return None
    if sender.kind not in ("text", "reply"):
        return None
    if check_send_at(request.send_at, now) is not None:  # the full path tells why
        return None
    recipients: dict[str, str] = {}
    warnings: dict[str, dict[str, str]] = {}
    for item, parsed in zip(request.numbers, parse_recipients(list(request.numbers), actor.region), strict=True):
        e164 = parsed.e164
        if e164 is None:  # the full path tells why
            return None
        if parsed.warning and e164 not in warnings:
            warnings[e164] = {"input": item, "reason": parsed.warning}
        country = country_of(e164)
        if country is None:
            return None
        recipients.setdefault(e164, country)
    return PendingSend(actor, request, analysis, sender, recipients, now, request_id.get(), warnings=list(warnings.values()))


class SendCombiner:
    """The process's writer of combined sends: one thread, a queue of waiting sends."""

    def __init__(self, session_factory: sessionmaker[Session], *, public_url: str, max_batch: int = MAX_BATCH) -> None:
        self.session_factory, self.public_url, self.max_batch = session_factory, public_url, max_batch
        self._waiting: deque[PendingSend] = deque()
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self.batches = 0
        self.sends = 0

    def start(self) -> None:
        with self._wake:
            if self._thread is None:
                self._stopping = False
                self._thread = threading.Thread(target=self._run, name="send-combiner", daemon=True)
                self._thread.start()

    def stop(self) -> None:
        with self._wake:
            self._stopping = True
            self._wake.notify_all()
            thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=30)
        if self.sends:
            log.info("combined sends: %d in %d transactions", self.sends, self.batches)

    def send(self, actor: Actor, request: DispatchRequest, *, now: datetime) -> DispatchSummary | None:
        """Write this send with the others waiting and answer once committed; None: not one for
        the combiner (or its batch failed for another reason than a busy database), so the
        caller writes it with ``create_dispatch``."""
        pending = prepare(actor, request, public_url=self.public_url, now=now)
        if pending is None or not self._enqueue(pending):
            return None
        pending.done.wait()
        return pending.outcome()

    async def send_async(self, actor: Actor, request: DispatchRequest, *, now: datetime) -> DispatchSummary | None:
        """``send`` for an asynchronous handler: the request waits on its loop, not on a thread."""
        pending = prepare(actor, request, public_url=self.public_url, now=now)
        if pending is None:
            return None
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        pending.waiter = (loop, future)
        if not self._enqueue(pending):
            return None
        await asyncio.shield(future)  # a client that goes away does not unhook the send: it is written or not, whole
        return pending.outcome()

    def _enqueue(self, pending: PendingSend) -> bool:
        with self._wake:
            if self._thread is None or self._stopping:
                return False
            self._waiting.append(pending)
            self._wake.notify()
        return True

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._waiting and not self._stopping:
                    self._wake.wait()
                if not self._waiting and self._stopping:
                    return
                batch = [self._waiting.popleft() for _ in range(min(self.max_batch, len(self._waiting)))]
            try:
                self.write(batch)
            except BaseException as error:  # every waiting request gets an answer, whatever happened
                log.error("combined sends failed: %s", type(error).__name__)
                for pending in batch:
                    if not pending.done.is_set():
                        if pending.answer is None and pending.failure is None:
                            pending.answer = FALLBACK  # nothing of it was committed
                        pending.finish()

    def write(self, batch: list[PendingSend]) -> None:
        """Write the batch in one transaction and answer each of its sends."""
        session = self.session_factory()
        committing = False
        try:
            written = _write(session, batch, self.public_url)
            committing = True
            session.commit()
        except BaseException as error:
            try:
                session.rollback()
            except Exception:  # noqa: BLE001 - a lost connection: closing the session is what is left
                log.warning("rolling back combined sends failed", exc_info=True)
            if committing and isinstance(error, DBAPIError) and not isinstance(error, IntegrityError):
                failure: str | None = "unknown"
            elif is_busy(error):
                failure = "busy"
            else:
                failure = None
                log.warning("combined sends failed (%s); each is written on its own", type(error).__name__, exc_info=True)
            for pending in batch:
                pending.failure = failure
                if failure is None:
                    pending.answer = FALLBACK
                pending.finish()
            if not isinstance(error, Exception):
                raise
            return
        finally:
            session.close()
        self.batches += 1
        self.sends += len(written)
        for pending in batch:
            if pending.answer is None:
                pending.answer = FALLBACK
            pending.finish()


def _write(session: Session, batch: list[PendingSend], public_url: str) -> list[PendingSend]:
    """The set-based writes of a batch (the caller commits); returns the sends written. A send
    that is not plain after all (a number blocked or without a price) gets FALLBACK."""
    vault = vault_of(session)
    prices = recent_prices(session)
    by_account: dict[int, list[PendingSend]] = {}
    for pending in batch:
        if all(country in prices for country in pending.recipients.values()):
            by_account.setdefault(pending.actor.account_id, []).append(pending)
        else:
            pending.answer = FALLBACK
    indexes: dict[int, dict[str, bytes]] = {}
    for account_id, sends in list(by_account.items()):
        numbers = {number for pending in sends for number in pending.recipients}
        indexes[account_id] = vault.blind_indexes(session, account_id, numbers, now=sends[0].now)
        blocked = blocked_numbers(session, account_id, numbers, now=sends[0].now, indexes=indexes[account_id])
        if blocked:
            for pending in sends:
                if blocked.intersection(pending.recipients):
                    pending.answer = FALLBACK
            by_account[account_id] = [pending for pending in sends if pending.answer is None]
    written = [pending for sends in by_account.values() for pending in sends]
    if not written:
        return []
    costs = {
        id(pending): {country: prices[country].per_part_minor * pending.analysis.parts for country in set(pending.recipients.values())}
        for pending in written
    }
    dispatch_ids, event_seqs = _new_ids(session, len(written))
    rows = []
    for pending, dispatch_id in zip(written, dispatch_ids, strict=True):
        send_at = pending.request.send_at or pending.now
        account_id = pending.actor.account_id
        text_ct = seal_field(
            vault.account_key(session, account_id, DATA_PURPOSE, now=pending.now), DISPATCH_TEXT, account_id, dispatch_id,
            pending.request.text,
        )
        rows.append((
            dispatch_id, account_id, pending.actor.label, pending.request.channel, pending.sender.stored, text_ct,
            pending.analysis.encoding, pending.analysis.parts, len(pending.recipients),
            sum(costs[id(pending)][country] for country in pending.recipients.values()),
            DispatchStatus.SCHEDULED if send_at > pending.now else DispatchStatus.QUEUED, send_at, pending.now,
        ))
    subjects: dict[int, dict[str, Any]] = {}
    for account_id, sends in by_account.items():
        if sends:
            in_order = list(dict.fromkeys(number for pending in sends for number in pending.recipients))
            subjects[account_id] = vault.subjects(
                session, account_id, in_order, now=sends[0].now, indexes={number: indexes[account_id][number] for number in in_order}
            )
    # Nothing below needs an answer from the database: on PostgreSQL the dispatches, their
    # messages, the events and their links go in one round trip when each is a short INSERT.
    tokens_needed = any(OPTOUT_PLACEHOLDER in pending.request.text for pending in written)
    count = sum(len(pending.recipients) for pending in written)
    with pipelined(session, when=not tokens_needed and count < SMALL_BATCH and len(written) < SMALL_BATCH):
        _write_rows(session, written, rows, subjects, costs, event_seqs, tokens_needed, count)
    for pending, row in zip(written, rows, strict=True):
        by_country: dict[str, int] = {}
        for country in pending.recipients.values():
            by_country[country] = by_country.get(country, 0) + 1
        pending.answer = DispatchSummary(
            dispatch_id=row[0], accepted=len(pending.recipients), blocked=0, invalid=[], parts=pending.analysis.parts,
            encoding=pending.analysis.encoding, characters=pending.analysis.characters, cost_minor=row[9], currency="SEK",
            can_reply=pending.sender.can_reply, status=row[10], send_at=row[11], by_country=by_country,
            warnings=pending.warnings,
        )
    return written


def _write_rows(
    session: Session, written: list[PendingSend], rows: list[tuple[Any, ...]], subjects: dict[int, dict[str, Any]],
    costs: dict[int, dict[str, int]], event_seqs: list[int], tokens_needed: bool, count: int,
) -> None:
    """The dispatches, their messages, the events and their links (ids and subjects known)."""
    copy_rows(session, _DISPATCHES, DISPATCH_COLUMNS, rows, constants={"blocked": 0, "invalid": 0, "currency": "SEK"})

    def message_rows(tokens: Iterator[str | None]) -> Iterator[tuple[Any, ...]]:
        for pending, row in zip(written, rows, strict=True):
            account_subjects = subjects[pending.actor.account_id]
            for number, country in pending.recipients.items():
                subject = account_subjects[number]
                sender_value, sender_kind = pending.sender.for_recipient(number)
                token = next(tokens) if OPTOUT_PLACEHOLDER in pending.request.text else None
                yield (
                    subject.id, subject.seal(MESSAGE_RECIPIENT, number), sender_value, sender_kind.value, country,
                    costs[id(pending)][country], token, row[0], row[1], row[7], row[10], row[11], pending.now,
                )

    if not tokens_needed:
        copy_rows(session, _MESSAGES, BATCH_MESSAGE_COLUMNS, message_rows(itertools.repeat(None)), constants={"attempts": 0})
    else:
        for attempt in range(TOKEN_ATTEMPTS):
            try:
                with session.begin_nested():
                    copy_rows(session, _MESSAGES, BATCH_MESSAGE_COLUMNS, message_rows(iter(optout_tokens(count))), constants={"attempts": 0})
                break
            except IntegrityError:
                # Two 72-bit opt-out tokens met (next to impossible, but cheap to handle): new tokens.
                if attempt == TOKEN_ATTEMPTS - 1:
                    raise
    record_events(session, [
        EventSpec(
            actor=pending.actor, action=Action.DISPATCH_CREATED, now=pending.now, target=("dispatch", row[0]),
            subjects=[subjects[pending.actor.account_id][number].id for number in pending.recipients],
            details={"accepted": len(pending.recipients), "blocked": 0, "invalid": 0, "parts": pending.analysis.parts},
            request_id=pending.request_id,
        )
        for pending, row in zip(written, rows, strict=True)
    ], seqs=event_seqs)


def _new_ids(session: Session, count: int) -> tuple[list[int], list[int]]:
    """Ids for ``count`` new dispatches and sequence numbers for as many audit events, taken
    before the rows are written, so each row goes in whole with one COPY (the text is sealed
    under its dispatch's id). PostgreSQL: both from their sequences in one round trip. SQLite:
    this transaction holds the write lock (BEGIN IMMEDIATE), so the next ones after the highest
    are ours; audit sequence numbers also stay above any ever used (AUTOINCREMENT's record)."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        dispatch_ids, event_seqs = connection.exec_driver_sql(NEW_IDS_POSTGRES, {"count": count}).one()
        return list(dispatch_ids), list(event_seqs)
    highest_dispatch = connection.execute(select(func.coalesce(func.max(_DISPATCHES.c.id), 0))).scalar_one()
    highest_event = connection.execute(text(
        "SELECT max(coalesce((SELECT max(seq) FROM audit_event), 0), coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'audit_event'), 0))"
    )).scalar_one()
    return list(range(highest_dispatch + 1, highest_dispatch + 1 + count)), list(range(highest_event + 1, highest_event + 1 + count))


NEW_IDS_POSTGRES = (
    "SELECT (SELECT array_agg(nextval(pg_get_serial_sequence('dispatch', 'id'))) FROM generate_series(1, %(count)s)),"
    " (SELECT array_agg(nextval(pg_get_serial_sequence('audit_event', 'seq'))) FROM generate_series(1, %(count)s))"
)
