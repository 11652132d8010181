"""Pruning the access log: its oldest sealed segments go, and a signed anchor says where the rest starts.

A segment is the run of events a signed checkpoint closes. ``prune_access_log`` deletes whole
segments whose every event is older than ``before`` (never an unsealed event, never past the
newest checkpoint): the events, their chain rows, their links in the index of events by person,
and the checkpoints before the new start (earlier anchors stay: the history of prunes). First it checks the segments it is about to delete
against their signed checkpoint (a log that does not verify is not pruned: that would destroy the
evidence), then it signs and commits the anchor (seq, chain hash) of the last pruned event, and
only then deletes, oldest first, in short transactions of at most ``BATCH_ROWS`` rows. ``verify``
starts from the anchor and ignores whatever still lies before it, so a run stopped half way
leaves a log that verifies, and the next run finishes the deleting. The checkpoints of pruned
segments stay in the witness file. The run is itself an audit event (counts and the anchor).

One prune at a time: a run holds the lease of job ``audit.prune`` in ``job_run`` (``govsms.jobs``,
one row whose compare-and-set works alike on SQLite and PostgreSQL) from its plan to its last
delete, renewing it at each chunk checked and each batch deleted. A second run (``govsms audit
prune`` by hand while the nightly purge prunes) waits up to ``wait_seconds`` for it and then
reports ``busy`` ("another prune is running"), never a log that does not verify: without the
lease it would check chain rows the first is deleting. A run killed outright holds the lease until
its heartbeat is older than ``govsms.jobs.LEASE``.

The retention category ``access_log`` (``govsms.retention.categories``) gives ``before``; the
purge job calls this with its session factory.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Table, delete, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from govsms.audit.actions import Action
from govsms.audit.chain import (
    CHUNK, GENESIS, Anchor, _raw_events_after, _at_text, _signed_by, chain_hash, current_anchor, sign_anchor,
)
from govsms.audit.models import AuditAnchor, AuditChain, AuditCheckpoint, AuditEvent, AuditEventSubject
from govsms.audit.record import event_texts, mac_key, record_event
from govsms.db import rowcount, session_scope, table_of
from govsms.errors import GovsmsError
from govsms.jobs import DONE, FAILED, Beat, LeaseLost, claim, finish, heartbeat, holder_name

BATCH_ROWS = 5_000
"""Rows deleted per transaction (one table at a time): each transaction stays short."""

_EVENTS, _CHAIN, _LINKS = table_of(AuditEvent), table_of(AuditChain), table_of(AuditEventSubject)
_CHECKPOINTS, _ANCHORS = table_of(AuditCheckpoint), table_of(AuditAnchor)

PRUNE_JOB, PRUNE_PERIOD = "audit.prune", "latest"
"""The lease of the access log's prune: one ``job_run`` row, taken again by each run."""
WAIT_SECONDS = 10.0
"""How long a prune waits for another one before it reports ``busy``."""
_POLL_SECONDS = 0.2


def _no_beat() -> None:
    pass


class PruneRefused(GovsmsError):
    """The segments to prune do not verify against their signed checkpoint: nothing deleted."""

    status_code = 409
    code = "audit_prune_refused"


@dataclass
class PruneReport:
    """What a prune run deleted (or, with ``dry_run``, would delete)."""

    before: datetime
    dry_run: bool
    anchor_seq: int | None = None
    """The log starts after this seq now (None: nothing old enough lies in a whole signed segment)."""
    previous_anchor_seq: int = 0
    events: int = 0
    links: int = 0
    chain_rows: int = 0
    checkpoints: int = 0
    batches: int = 0
    """Transactions that deleted rows."""
    seconds: float = 0.0
    finished_earlier_run: bool = False
    """Nothing new to prune, but an earlier run had stopped before deleting everything up to its
    anchor: this run deleted the rest (``anchor_seq`` is that anchor)."""
    busy: bool = False
    """Another prune was running (and still was after the wait): this run did nothing."""


def _plan(session: Session, before: datetime) -> tuple[Anchor | None, Anchor | None, int]:
    """The current anchor, the checkpoint the log will start after (as an unsigned anchor), and
    the seq of the first event not older than ``before`` (0: none)."""
    previous = current_anchor(session)
    start = previous.seq if previous else 0
    young = session.execute(select(func.min(_EVENTS.c.seq)).where(_EVENTS.c.seq > start, _EVENTS.c.occurred_at >= before)).scalar()
    target = select(_CHECKPOINTS).where(_CHECKPOINTS.c.seq > start)
    if young is not None:
        target = target.where(_CHECKPOINTS.c.seq < young)
    row = session.execute(target.order_by(_CHECKPOINTS.c.seq.desc(), _CHECKPOINTS.c.id.desc()).limit(1)).first()
    if row is None:
        return previous, None, young or 0
    checkpoint = Anchor(seq=row.seq, head_hash=row.head_hash, public_key=row.public_key, signature=row.signature, signed_at="")
    return previous, checkpoint, young or 0


def _count(session: Session, table: Table, upto: int, start: int = 0) -> int:
    counted: int = session.execute(select(func.count()).select_from(table).where(table.c.seq > start, table.c.seq <= upto)).scalar_one()
    return counted


def _check_segments(
    factory: sessionmaker[Session], signing_seed: bytes, previous: Anchor | None, checkpoint: Anchor, beat: Beat = _no_beat,
) -> None:
    """Recompute the chain of the events to prune, from the current start to the checkpoint, and
    check each event's MAC: raises ``PruneRefused`` unless they are what the checkpoint signed."""
    trusted = Ed25519PrivateKey.from_private_bytes(signing_seed).public_key().public_bytes_raw()
    if not _signed_by(checkpoint.public_key, trusted, checkpoint.seq, checkpoint.head_hash, checkpoint.signature):
        raise PruneRefused(f"The checkpoint at seq {checkpoint.seq} is not signed by the audit key: nothing pruned. Run govsms audit verify.")
    key = mac_key(signing_seed)
    previous_hash, last_seq = (previous.head_hash, previous.seq) if previous else (GENESIS, 0)
    while last_seq < checkpoint.seq:
        beat()
        with session_scope(factory) as session:  # one short read per chunk
            events = [row for row in _raw_events_after(session, last_seq, CHUNK) if row.seq <= checkpoint.seq]
            if not events:
                break
            links = {
                row.seq: row for row in session.execute(
                    select(_CHAIN).where(_CHAIN.c.seq > last_seq, _CHAIN.c.seq <= events[-1].seq)
                ).all()
            }
        for row in events:
            body, document, _subjects = event_texts(row, _at_text(row.occurred_at))
            if row.mac is not None and not hmac.compare_digest(row.mac, hmac.digest(key, body.encode(), "sha256")):
                raise PruneRefused(f"Event {row.seq} does not match its MAC: the log does not verify, nothing pruned. Run govsms audit verify.")
            previous_hash = chain_hash(previous_hash, hashlib.sha256(document.encode()).digest())
            link = links.get(row.seq)
            if link is None or link.chain_hash != previous_hash:
                raise PruneRefused(f"Event {row.seq} does not match the chain: the log does not verify, nothing pruned. Run govsms audit verify.")
            last_seq = row.seq
        if len(events) < CHUNK:
            break
    if previous_hash != checkpoint.head_hash:
        raise PruneRefused(
            f"The events up to seq {checkpoint.seq} do not match its signed checkpoint: the log does not verify, nothing pruned. "
            "Run govsms audit verify."
        )


def _left_before(factory: sessionmaker[Session], seq: int) -> bool:
    """Whether rows an earlier run meant to delete are still there (it stopped half way)."""
    with session_scope(factory) as session:
        return any(
            session.execute(select(table.c.seq).where(table.c.seq < seq if table is _CHECKPOINTS else table.c.seq <= seq).limit(1)).first()
            for table in (_LINKS, _CHAIN, _EVENTS, _CHECKPOINTS)
        )


def _delete_upto(
    factory: sessionmaker[Session], table: Table, upto: int, batch_rows: int, *, below: bool = False, beat: Beat = _no_beat,
) -> tuple[int, int]:
    """Delete the rows of ``table`` with seq up to ``upto`` (below it with ``below``), oldest
    first, at most about ``batch_rows`` per transaction. Returns (rows, transactions)."""
    bound = table.c.seq < upto if below else table.c.seq <= upto
    deleted = batches = 0
    while True:
        beat()
        with session_scope(factory) as session:
            edge = session.execute(select(table.c.seq).where(bound).order_by(table.c.seq).offset(batch_rows - 1).limit(1)).scalar()
            limit = bound if edge is None else table.c.seq <= edge
            count = rowcount(session.execute(delete(table).where(limit)))
        if count:
            deleted, batches = deleted + count, batches + 1
        if edge is None:
            return deleted, batches


def prune_access_log(
    factory: sessionmaker[Session], signing_seed: bytes, *, before: datetime, now: datetime, dry_run: bool = False,
    batch_rows: int = BATCH_ROWS, cli: bool = False, wait_seconds: float = WAIT_SECONDS,
) -> PruneReport:
    """Delete the access log's whole sealed segments older than ``before`` (see the module's
    docstring), sign the anchor the rest starts from, and record an audit event. ``dry_run``:
    count only (no lease). Raises ``PruneRefused`` when the segments do not verify (nothing
    deleted); reports ``busy`` when another prune held the lease throughout ``wait_seconds``."""
    started = time.monotonic()
    if dry_run:
        return _prune(factory, signing_seed, before=before, now=now, dry_run=True, batch_rows=batch_rows, cli=cli, started=started)
    holder = f"{holder_name()}:{secrets.token_hex(3)}"  # unique: two prunes of one process are two holders

    def moment() -> datetime:  # the caller's now, advancing as the run goes on
        return now + timedelta(seconds=time.monotonic() - started)

    while True:
        with session_scope(factory) as session:
            run_id = claim(session, PRUNE_JOB, PRUNE_PERIOD, now=moment(), holder=holder, again=True)
        if run_id is not None:
            break
        if time.monotonic() - started >= wait_seconds:
            return PruneReport(before=before, dry_run=False, busy=True, seconds=time.monotonic() - started)
        time.sleep(_POLL_SECONDS)
    held = run_id

    def beat() -> None:
        with session_scope(factory) as session:
            if not heartbeat(session, held, holder=holder, now=moment()):
                raise LeaseLost("audit.prune: the lease was taken over")

    try:
        report = _prune(factory, signing_seed, before=before, now=now, dry_run=False, batch_rows=batch_rows, cli=cli, started=started, beat=beat)
    except BaseException as error:  # a run stopped (even by ^C) gives the lease back at once
        with session_scope(factory) as session:
            finish(session, held, status=FAILED, report={"error": type(error).__name__}, now=moment(), holder=holder)
        raise
    with session_scope(factory) as session:
        finish(session, held, status=DONE, now=moment(), holder=holder, report={
            "anchor_seq": report.anchor_seq, "events": report.events, "links": report.links, "checkpoints": report.checkpoints,
            "batches": report.batches,
        })
    return report


def _prune(
    factory: sessionmaker[Session], signing_seed: bytes, *, before: datetime, now: datetime, dry_run: bool, batch_rows: int, cli: bool,
    started: float, beat: Beat = _no_beat,
) -> PruneReport:
    """Plan, check, anchor and delete (the caller holds the lease, renewed by ``beat``)."""
    report = PruneReport(before=before, dry_run=dry_run)
    with session_scope(factory) as session:
        previous, checkpoint, _young = _plan(session, before)
        report.previous_anchor_seq = previous.seq if previous else 0
        if checkpoint is not None:
            report.anchor_seq = checkpoint.seq
            start = report.previous_anchor_seq
            report.events = _count(session, _EVENTS, checkpoint.seq, start)
            report.chain_rows = _count(session, _CHAIN, checkpoint.seq, start)
            report.links = _count(session, _LINKS, checkpoint.seq, start)
            report.checkpoints = session.execute(
                select(func.count()).select_from(_CHECKPOINTS).where(_CHECKPOINTS.c.seq < checkpoint.seq)
            ).scalar_one()
    if dry_run:
        report.seconds = time.monotonic() - started
        return report
    if checkpoint is not None:
        _check_segments(factory, signing_seed, previous, checkpoint, beat)
        anchor = sign_anchor(signing_seed, checkpoint.seq, checkpoint.head_hash, now=now)
        try:
            with session_scope(factory) as session:
                session.execute(insert(_ANCHORS).values(
                    seq=anchor.seq, head_hash=anchor.head_hash, signed_at=now, public_key=anchor.public_key, signature=anchor.signature,
                ))
        except IntegrityError:
            pass  # another run anchored the log here at the same moment: it stands, and the deleting below is the same
        upto = anchor.seq
    elif previous is not None and _left_before(factory, previous.seq):
        upto = report.anchor_seq = previous.seq  # an earlier run stopped half way: finish its deleting
        report.finished_earlier_run = True
    else:
        report.seconds = time.monotonic() - started
        return report
    # From here on verify starts after the anchor; the rows before it go oldest first, table by table.
    report.events = report.links = report.chain_rows = report.checkpoints = 0
    for table, name in ((_LINKS, "links"), (_CHAIN, "chain_rows"), (_EVENTS, "events")):
        count, batches = _delete_upto(factory, table, upto, batch_rows, beat=beat)
        setattr(report, name, count)
        report.batches += batches
    report.checkpoints, batches = _delete_upto(factory, _CHECKPOINTS, upto, batch_rows, below=True, beat=beat)
    report.batches += batches
    report.seconds = time.monotonic() - started
    with session_scope(factory) as session:
        record_event(session, None, Action.AUDIT_PRUNED, now=now, details={
            "anchor_seq": upto, "previous_anchor_seq": report.previous_anchor_seq, "events": report.events, "links": report.links,
            "checkpoints": report.checkpoints, "batches": report.batches, "finished_earlier_run": report.finished_earlier_run, "cli": cli,
        })
    return report
