"""The outbox worker: claims due messages in batches (PostgreSQL: FOR UPDATE SKIP LOCKED, so any
number of workers on any number of machines share the work), checks the blocklist again,
renders each text, submits, records statuses and delivery reports, and gives up on reports
that never come (``unknown``).

No SMS is sent twice because the database was busy: a batch's results are kept in memory and
their recording retried (its claims kept alive meanwhile) before anything new is claimed, and a
failure before the submit sends nothing. Only a dead process lets its claims expire; then the
one batch it had in flight may be sent again."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session, col

from govsms.accounts.models import Account
from govsms.clock import SYSTEM_CLOCK, Clock
from govsms.keys.crypto import DecryptionError, unseal_field
from govsms.db import one_of, session_scope, table_of
from govsms.keys.store import DATA_PURPOSE, vault_of
from govsms.sending.blocklist import blocked_subjects
from govsms.sending.claims import CLAIM_TTL, ClaimKeeper, Claimed, claim, is_transient, release_claims
from govsms.sending.dispatch import render_text
from govsms.audit.actions import Action
from govsms.audit.record import record_event
from govsms.sending.models import DISPATCH_TEXT, MESSAGE_RECIPIENT, Dispatch, MessagePart, SenderNumber, VirtualNumber
from govsms.sending.status import MessageStatus
from govsms.sending.reply_routes import DEFAULT_WINDOW, is_reply_number, provider_indexes, write_reply_routes
from govsms.sending.reports import apply_delivery_reports, mark_unknown
from govsms.sending.results import SubmittedBatch, record_results
from govsms.sending.senders import REPLY_NUMBERS, open_senders
from govsms.sending.text import encode_parts
from govsms.sending.transports.base import DeliveryReport, Submission, SubmitResult, Transport, TransportDown
from govsms.sending.wire import SenderKind
from govsms.audit.unreadable import ALTERED, UnreadableRow, record_unreadable

__all__ = ["FINAL", "Claimed", "Outbox", "apply_delivery_reports", "claim"]

log = logging.getLogger(__name__)

PARTS = table_of(MessagePart)
_DISPATCHES = table_of(Dispatch)
_SENDER_NUMBERS = table_of(SenderNumber)
_VIRTUAL_NUMBERS = table_of(VirtualNumber)
PENDING_RETRY_SECONDS = 5.0
FINAL = (MessageStatus.DELIVERED, MessageStatus.FAILED, MessageStatus.EXPIRED, MessageStatus.UNKNOWN, MessageStatus.BLOCKED, MessageStatus.CANCELLED)
RECORD_RETRY_SECONDS = 10.0
"""How long one ``run_once`` retries a failed recording before it returns (the next one goes on)."""
STOP_RECORD_SECONDS = 20.0
"""How long a stopping worker still tries to record its last batch (``Worker.stop`` waits 30 s)."""
PREPARE_RETRY = timedelta(seconds=5)
"""A batch given back unsent (the database failed before the submit) is due again this much later."""
UNKNOWN_SWEEP_SECONDS = 60.0
MAX_WAITING_REPORTS = 200_000
UNREADABLE_SENDER = ""
STOP_CONFIRMATION_CHANNEL = "stop"
"""``Dispatch.channel`` of the SMS confirming a STOP: it goes to the number just blocked."""
"""In the senders cache: the dispatch's sealed sender does not open though its key is there."""


class Outbox:
    """One worker: ``run_once`` handles one batch; ``run`` loops until stopped."""

    def __init__(
        self, session_factory: sessionmaker[Session], transport: Transport, *, public_url: str,
        batch_size: int = 500, rate_per_second: float | None = None, worker_id: str | None = None,
        claim_ttl: timedelta = CLAIM_TTL, unknown_after: timedelta = timedelta(hours=72), clock: Clock = SYSTEM_CLOCK,
        reply_window: timedelta = DEFAULT_WINDOW,
    ) -> None:
        self.reply_window = reply_window
        """How long a reply to an SMS sent from a shared number finds its account (``reply_route``)."""
        self.claim_ttl = claim_ttl
        self.clock = clock
        """The time claims, submissions, reports and the ``unknown`` rule are read against."""
        self.unknown_after = unknown_after
        self.session_factory = session_factory
        self.transport = transport
        self.public_url = public_url
        self.batch_size = batch_size
        self.rate_per_second = rate_per_second
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{id(self) % 10_000}"
        self._texts: dict[int, str | None] = {}  # None: the dispatch's text cannot be read
        self._senders: dict[int, str | None] = {}
        """Dispatch id -> its mobile-number sender opened (without '+'); None: erased;
        ``UNREADABLE_SENDER``: it does not open (altered)."""
        self._refused: set[int] = set()
        """Dispatches whose sender this worker found no longer allowed (recorded once)."""
        self._pending_checked = 0.0
        self._unknown_checked = 0.0
        self._unrecorded: SubmittedBatch | None = None
        self._routes: dict[int, tuple[bytes, str, int, int]] = {}
        """Message id -> its reply route (provider's index of the recipient, shared number, account,
        message), for the batch in flight whose sender is a shared reply number."""
        self._stop_confirmations: set[int] = set()
        """Dispatches that confirm a STOP (channel ``stop``): sent though the number is blocked."""
        self._reports: list[DeliveryReport] = []
        self._stop = threading.Event()

    # -- one batch -------------------------------------------------------------------------------

    def run_once(self, now: datetime | None = None) -> int:
        """Record what an earlier batch left unrecorded, then claim, submit and record one batch.
        Returns how many messages were claimed (0 also while an earlier batch waits to be recorded)."""
        if self._unrecorded is not None and not self._record_until(time.monotonic() + RECORD_RETRY_SECONDS):
            return 0
        now = now or self.clock.now()
        with session_scope(self.session_factory) as session:
            claimed = claim(session, self.worker_id, now=now, limit=self.batch_size, ttl=self.claim_ttl)
        if claimed:
            keeper = ClaimKeeper(self.session_factory, self.worker_id, [item.id for item in claimed], self.claim_ttl, self.clock).start()
            try:
                submissions, blocked, unsendable = self._prepare(claimed, now)
                submissions = self._still_held(keeper, submissions)
                submissions = self._not_shredded(claimed, submissions, blocked)
            except BaseException:
                keeper.stop()
                self._give_back(claimed)
                raise
            try:
                results = [*(self.transport.submit(submissions) if submissions else []), *unsendable]
            except TransportDown:
                log.warning("transport down: %d messages wait", len(submissions), extra={"event": "outbox.transport_down"})
                results = [SubmitResult(message_id=item.message_id, accepted=False, error="down", transient=True) for item in submissions]
                results.extend(unsendable)
            except BaseException:
                keeper.stop()  # what the SMSC took is not known: the claims expire and the batch goes again
                raise
            self._unrecorded = SubmittedBatch(claimed, results, blocked, self.clock.now(), keeper)
            self._record_until(time.monotonic() + RECORD_RETRY_SECONDS)
        self.apply_reports()
        return len(claimed)

    def _still_held(self, keeper: ClaimKeeper, submissions: list[Submission]) -> list[Submission]:
        """Submit only messages whose claim is certainly ours: when preparing took long enough
        for the claims to near their expiry, they are extended first (raises if that fails)."""
        if keeper.live_until - time.monotonic() > self.claim_ttl.total_seconds() / 2:
            return submissions
        held = keeper.extend()
        return [item for item in submissions if item.message_id in held]

    def _not_shredded(self, claimed: list[Claimed], submissions: list[Submission], blocked: set[int]) -> list[Submission]:
        """The last look before the SMSC: a message whose recipient's key was shredded since the
        batch was prepared (erased by another process) is not sent; it ends like the erased ones."""
        if not submissions:
            return submissions
        recipient = {item.id: (item.account_id, item.subject_id) for item in claimed}
        with session_scope(self.session_factory) as session:
            gone = vault_of(session).shredded(session, [recipient[item.message_id] for item in submissions])
        if not gone:
            return submissions
        blocked.update(item.message_id for item in submissions if recipient[item.message_id] in gone)
        return [item for item in submissions if recipient[item.message_id] not in gone]

    def _give_back(self, claimed: list[Claimed]) -> None:
        """Nothing of the batch was submitted: release its claims (due again shortly), or, if the
        database refuses that too, leave them to expire. Either way nothing was sent."""
        try:
            with session_scope(self.session_factory) as session:
                release_claims(session, self.worker_id, [item.id for item in claimed], due=self.clock.now() + PREPARE_RETRY)
        except Exception as error:  # noqa: BLE001  (the claims expire instead)
            log.warning("could not release %d claims (%s): they expire", len(claimed), type(error).__name__, extra={"event": "outbox.release_failed"})

    def _prepare(self, claimed: list[Claimed], now: datetime) -> tuple[list[Submission], set[int], list[SubmitResult]]:
        """The batch ready for the transport; the messages blocked since they were queued; and
        those that cannot go (their mobile-number sender was erased, or their recipient cannot be
        read): failed without a submit."""
        submissions: list[Submission] = []
        blocked_messages: set[int] = set()
        unsendable: list[SubmitResult] = []
        with session_scope(self.session_factory) as session:
            vault = vault_of(session)
            sent_before = self._parts_sent_before(session, [item.id for item in claimed if item.attempts > 0])
            by_account: dict[int, list[Claimed]] = {}
            for item in claimed:
                by_account.setdefault(item.account_id, []).append(item)
            self._load_texts(session, claimed, now)
            not_allowed = self._senders_not_allowed(session, claimed, now)
            # A suspended account sends nothing more (the operator's console): its queued and
            # scheduled messages fail without a submit. One query per batch.
            suspended = set(session.execute(
                select(col(Account.id)).where(col(Account.id).in_(sorted(by_account)), col(Account.is_active).is_(False))
            ).scalars())
            for account_id, items in by_account.items():
                if account_id in suspended:
                    unsendable.extend(
                        SubmitResult(message_id=item.id, accepted=False, error="account_suspended", transient=False) for item in items
                    )
                    continue
                unreadable: list[UnreadableRow] = []
                blocked = blocked_subjects(session, account_id, [item.subject_id for item in items])
                subjects = vault.subjects_by_id(session, account_id, [item.subject_id for item in items])
                for item in items:
                    subject = subjects.get(item.subject_id)
                    if (item.subject_id in blocked and item.dispatch_id not in self._stop_confirmations) or subject is None:
                        blocked_messages.add(item.id)  # blocked now, or erased since it was queued
                        continue
                    sender = item.sender if item.sender is not None else self._senders.get(item.dispatch_id)
                    if sender is None:
                        unsendable.append(SubmitResult(message_id=item.id, accepted=False, error="sender_erased", transient=False))
                        continue
                    if sender == UNREADABLE_SENDER:  # altered, not erased: recorded when it was opened
                        unsendable.append(SubmitResult(message_id=item.id, accepted=False, error="unreadable", transient=False))
                        continue
                    if item.dispatch_id in not_allowed:
                        unsendable.append(SubmitResult(message_id=item.id, accepted=False, error="sender_not_allowed", transient=False))
                        continue
                    number = subject.unseal_or_none(MESSAGE_RECIPIENT, item.recipient_ct)
                    if number is None:  # altered, or moved in from another row: this one fails, the batch goes
                        unreadable.append(UnreadableRow("outbound_message", item.id, item.subject_id, ALTERED))
                        unsendable.append(SubmitResult(message_id=item.id, accepted=False, error="unreadable", transient=False))
                        continue
                    dispatch_text = self._texts[item.dispatch_id]
                    if dispatch_text is None:  # the dispatch's text was altered: its messages fail, others go
                        unsendable.append(SubmitResult(message_id=item.id, accepted=False, error="unreadable", transient=False))
                        continue
                    text = render_text(dispatch_text, self.public_url, item.optout_token)
                    data_coding, parts = encode_parts(text, item.id & 0xFF)
                    submissions.append(
                        Submission(
                            message_id=item.id, sender=sender, sender_kind=SenderKind(item.sender_kind),
                            recipient=number, parts=parts, data_coding=data_coding,
                            skip_parts=frozenset(sent_before.get(item.id, ())),
                        )
                    )
                record_unreadable(session, None, unreadable, now=now, account_id=account_id)
            self._routes = self._reply_routes(session, submissions, {item.id: item.account_id for item in claimed}, now)
        return submissions, blocked_messages, unsendable

    @staticmethod
    def _reply_routes(
        session: Session, submissions: list[Submission], accounts: dict[int, int], now: datetime,
    ) -> dict[int, tuple[bytes, str, int, int]]:
        """The reply route of each submission sent from a shared reply number, written with the
        batch's results once the SMSC accepted it (the number is in clear only here)."""
        replyable = [item for item in submissions if is_reply_number(item.sender)]
        if not replyable:
            return {}
        indexes = provider_indexes(session, [item.recipient for item in replyable], now=now)
        return {
            item.message_id: (indexes[item.recipient], item.sender.lstrip("+"), accounts[item.message_id], item.message_id)
            for item in replyable
        }

    def _senders_not_allowed(self, session: Session, claimed: list[Claimed], now: datetime) -> set[int]:
        """The batch's dispatches whose number sender is not allowed now: a virtual number must be
        assigned to the dispatch's account, a mobile number must still be a verified sender of it
        (found by its blind index). One query per table for the whole batch; text senders and the
        shared reply numbers pass. Each newly refused dispatch is one event."""
        senders: dict[int, tuple[int, str]] = {}  # dispatch -> (account, +E.164)
        for item in claimed:
            if item.sender_kind != SenderKind.NUMBER.value or item.dispatch_id in senders:
                continue
            number = item.sender if item.sender is not None else self._senders.get(item.dispatch_id)
            if not number or number.lstrip("+") in REPLY_NUMBERS.values():
                continue
            senders[item.dispatch_id] = (item.account_id, "+" + number.lstrip("+"))
        if not senders:
            return set()
        dialect = session.get_bind().dialect.name
        numbers = sorted({number for _account, number in senders.values()})
        owners = dict(session.execute(
            select(col(VirtualNumber.number), col(VirtualNumber.account_id)).where(one_of(_VIRTUAL_NUMBERS.c.number, numbers, dialect))
        ).tuples().all())
        mobile: dict[int, set[str]] = {}
        for account_id, number in senders.values():
            if number not in owners:
                mobile.setdefault(account_id, set()).add(number)
        vault = vault_of(session)
        indexes = {account_id: vault.blind_indexes(session, account_id, sorted(wanted), now=now) for account_id, wanted in mobile.items()}
        verified: set[tuple[int, bytes]] = set()
        every_index = sorted({index for by_number in indexes.values() for index in by_number.values()})
        if every_index:
            table = _SENDER_NUMBERS
            verified = {(account_id, bytes(index)) for account_id, index in session.execute(
                select(table.c.account_id, table.c.blind_index)
                .where(one_of(table.c.blind_index, every_index, dialect), table.c.verified_at.is_not(None))
            )}
        refused = {
            dispatch_id for dispatch_id, (account_id, number) in senders.items()
            if (owners[number] != account_id if number in owners else (account_id, bytes(indexes[account_id][number])) not in verified)
        }
        for dispatch_id in sorted(refused - self._refused):
            record_event(session, None, Action.DISPATCH_CANCELLED, now=now, account_id=senders[dispatch_id][0],
                         target=("dispatch", dispatch_id), details={"reason": "sender_not_allowed"})
            log.warning("dispatch %d: its sender is no longer allowed; its messages fail", dispatch_id,
                        extra={"event": "outbox.sender_not_allowed", "account_id": senders[dispatch_id][0]})
        self._refused |= refused
        return refused

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

    def _load_texts(self, session: Session, claimed: list[Claimed], now: datetime) -> None:
        """The texts (and sealed mobile-number senders) of the batch's dispatches, in one query
        for those not seen yet (a stream of one-recipient dispatches has a new text in nearly
        every message); the senders' keys in one key-store query per account."""
        wanted = {item.dispatch_id: item.account_id for item in claimed if item.dispatch_id not in self._texts}
        if not wanted:
            return
        if len(self._texts) + len(wanted) > 5000:
            self._texts.clear()
            self._senders.clear()
            self._stop_confirmations.clear()
            wanted = {item.dispatch_id: item.account_id for item in claimed}  # the batch's cached ones went too
        vault = vault_of(session)
        dialect = session.get_bind().dialect.name
        table = _DISPATCHES
        sealed: dict[int, list[tuple[int, int | None, bytes | None]]] = {}
        for dispatch_id, account_id, text_ct, sender_subject_id, sender_ct, channel in session.execute(
            select(table.c.id, table.c.account_id, table.c.text_ct, table.c.sender_subject_id, table.c.sender_ct, table.c.channel)
            .where(one_of(table.c.id, list(wanted), dialect))
        ):
            if channel == STOP_CONFIRMATION_CHANNEL:
                self._stop_confirmations.add(dispatch_id)
            key = vault.account_key(session, account_id, DATA_PURPOSE, now=now)
            try:
                self._texts[dispatch_id] = unseal_field(key, DISPATCH_TEXT, account_id, dispatch_id, text_ct).decode()
            except (DecryptionError, UnicodeDecodeError):
                self._texts[dispatch_id] = None
                record_unreadable(session, None, [UnreadableRow("dispatch", dispatch_id, None, ALTERED)], now=now, account_id=account_id)
            if sender_ct is not None:
                sealed.setdefault(account_id, []).append((dispatch_id, sender_subject_id, sender_ct))
        for account_id, rows in sealed.items():
            unreadable: list[UnreadableRow] = []
            opened = open_senders(session, account_id, rows, unreadable)
            self._senders.update((dispatch_id, opened[dispatch_id].lstrip("+") if dispatch_id in opened else None) for dispatch_id, _, _ in rows)
            self._senders.update((row.row_id, UNREADABLE_SENDER) for row in unreadable if isinstance(row.row_id, int))  # dispatch ids
            record_unreadable(session, None, unreadable, now=now, account_id=account_id)

    def _record_until(self, deadline: float) -> bool:
        """Record the in-flight batch's results, retrying transient database errors with backoff
        until ``deadline`` (monotonic); the batch's claims stay alive meanwhile. True once recorded.

        Any other error records the statuses without the parts (no report will find those
        messages, so they end ``unknown``, but nothing is sent again); only if that fails too are
        the results dropped (their claims expire, the batch goes again) and the error raised."""
        flight = self._unrecorded
        assert flight is not None
        while True:
            try:
                self._record(flight)
            except Exception as error:
                if not is_transient(error):
                    try:
                        self._record(flight, with_parts=False)
                        log.error("the parts of %d submitted messages could not be recorded (%s): statuses only",
                                  len(flight.claimed), type(error).__name__, extra={"event": "outbox.parts_lost"})
                    except Exception:
                        log.error("results of %d submitted messages could not be recorded: they will be sent again", len(flight.claimed),
                                  extra={"event": "outbox.record_lost"})
                        raise error from None
                    finally:
                        flight.keeper.stop()
                        self._unrecorded = None
                    return True
                flight.failures += 1
                log.warning("recording %d results failed (%s, try %d): retrying", len(flight.results), type(error).__name__, flight.failures,
                            extra={"event": "outbox.record_retry"})
                if time.monotonic() + flight.delay > deadline:
                    return False
                self._pause(flight.delay)
                flight.delay = min(flight.delay * 2, 2.0)
                continue
            flight.keeper.stop()
            self._unrecorded = None
            if flight.failures:
                log.info("results of %d messages recorded after %d failed tries", len(flight.claimed), flight.failures, extra={"event": "outbox.recorded_late"})
            return True

    def _pause(self, seconds: float) -> None:
        if self._stop.is_set():
            time.sleep(seconds)  # a stopping worker still records its last batch
        else:
            self._stop.wait(seconds)

    def _record(self, flight: SubmittedBatch, *, with_parts: bool = True) -> None:
        routes = [self._routes[result.message_id] for result in flight.results if result.accepted and result.message_id in self._routes]
        with session_scope(self.session_factory) as session:
            counts = record_results(session, self.worker_id, flight, with_parts=with_parts)
            if with_parts:
                write_reply_routes(session, routes, sent_at=flight.submitted_at, window=self.reply_window)
        if not with_parts and routes:
            # The last resort: the statuses are committed; the reply routes only best-effort after
            # them, so a route that cannot be written never has the batch sent again.
            try:
                with session_scope(self.session_factory) as session:
                    write_reply_routes(session, routes, sent_at=flight.submitted_at, window=self.reply_window)
            except Exception as error:  # noqa: BLE001  (replies to these messages go to the operator's queue)
                log.error("the reply routes of %d sent messages could not be recorded (%s)", len(routes), type(error).__name__,
                          extra={"event": "outbox.routes_lost"})
        if counts.lapsed:
            log.warning("%d sent messages were no longer this worker's claims when recorded (taken by another worker, or already settled)",
                        counts.lapsed, extra={"event": "outbox.claim_lapsed"})
        if counts.retry or counts.failed:
            log.info("outbox batch: %d sent, %d retry, %d failed, %d blocked", counts.sent, counts.retry, counts.failed, len(flight.blocked))

    # -- delivery reports ------------------------------------------------------------------------

    def apply_reports(self) -> int:
        """Apply the transport's new reports (and any kept from a failed try); returns how many
        were applied. A busy database keeps them for the next call: a report taken from the
        transport is not lost to it."""
        self._reports.extend(self.transport.reports())
        if len(self._reports) > MAX_WAITING_REPORTS:
            log.error("%d delivery reports dropped: the database has refused them too long", len(self._reports) - MAX_WAITING_REPORTS,
                      extra={"event": "outbox.reports_dropped"})
            del self._reports[:-MAX_WAITING_REPORTS]
        # With none, still now and then: reports that came before their part was recorded wait.
        if not self._reports and time.monotonic() - self._pending_checked <= PENDING_RETRY_SECONDS:
            return 0
        reports, self._reports = self._reports, []
        try:
            apply_delivery_reports(self.session_factory, reports, clock=self.clock)
        except Exception as error:
            if not is_transient(error):
                raise
            self._reports = reports + self._reports
            log.warning("%d delivery reports wait: %s", len(reports), type(error).__name__, extra={"event": "outbox.reports_wait"})
            return 0
        self._pending_checked = time.monotonic()
        return len(reports)

    def reports_stored(self) -> None:
        """Reports were stored in ``pending_report`` (by the transport's upstream, from another
        thread): apply them at the next turn rather than after ``PENDING_RETRY_SECONDS``."""
        self._pending_checked = 0.0

    def mark_unknown(self, now: datetime | None = None) -> int:
        """Messages 'sent' longer than ``unknown_after`` with no report become ``unknown``."""
        count = mark_unknown(self.session_factory, now=now or self.clock.now(), after=self.unknown_after)
        if count:
            log.info("%d messages had no delivery report in %s: unknown", count, self.unknown_after, extra={"event": "outbox.unknown"})
        return count

    # -- the loop --------------------------------------------------------------------------------

    def run(self, stop: threading.Event, *, idle_sleep: float = 0.5) -> None:
        log.info("outbox worker %s started (%s)", self.worker_id, self.transport.name)
        self._stop = stop
        while not stop.is_set():
            started = time.monotonic()
            try:
                handled = self.run_once()
            except Exception:  # a bad batch must not stop the worker; nothing unrecorded is lost
                log.exception("outbox batch failed")
                handled = 0
                stop.wait(2)
            self._periodic(started)
            if self.rate_per_second and handled:
                spare = handled / self.rate_per_second - (time.monotonic() - started)
                if spare > 0:
                    stop.wait(spare)
            elif not handled:
                stop.wait(idle_sleep)
        if self._unrecorded is not None and not self._record_until(time.monotonic() + STOP_RECORD_SECONDS):
            log.error("stopped with %d submitted messages unrecorded: their claims expire and they are sent again",
                      len(self._unrecorded.claimed), extra={"event": "outbox.record_lost"})
        try:
            self.apply_reports()
        except Exception:
            log.exception("delivery reports at stop failed")
        log.info("outbox worker %s stopped", self.worker_id)

    def _periodic(self, now: float) -> None:
        if now - self._unknown_checked < UNKNOWN_SWEEP_SECONDS:
            return
        self._unknown_checked = now
        try:
            self.mark_unknown()
        except Exception:  # tried again at the next sweep
            log.exception("marking unknown messages failed")
