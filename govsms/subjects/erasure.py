"""Erasure of one person's data (GDPR Art. 17): a preview of what goes and what stays (and why),
then the erasure itself: every registered holding's ``erase`` in batches, one transaction per
batch with the erasure's counts updated in the same transaction (an interrupted erasure resumes
where it stopped, like a key rotation), then the person's data key is shredded, the access log
records it and is sealed, and a signed receipt is built (``govsms.subjects.receipt``).

A legal hold on the number, or on the whole account, refuses the erasure with its reason and end
date (audited SUBJECT_ERASURE_REFUSED)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session, col

from govsms.accounts.models import Account
from govsms.audit.actions import Action
from govsms.audit.chain import seal_and_witness
from govsms.audit.models import AuditCheckpoint, AuditEvent, AuditEventSubject
from govsms.audit.record import canonical_json, record_event
from govsms.auth import Actor, Permission, require
from govsms.db import session_scope, table_of
from govsms.errors import Conflict, NotFound
from govsms.i18n import N_, _
from govsms.keys.crypto import Subject
from govsms.keys.ring import KeyRing
from govsms.keys.store import vault_of
from govsms.paging import Page, clamp_page
from govsms.personal_data import Holding, Person
from govsms.retention.categories import BY_KEY
from govsms.retention.models import LegalHold
from govsms.subjects.erasure_models import DONE, RUNNING, SubjectErasure
from govsms.subjects.models import SubjectRequest
from govsms.subjects.person import person_for
from govsms.subjects.receipt import Checkpoint, Line, build_receipt, public_key_of, receipt_file, sign_receipt
from govsms.subjects.requests import find_request, link_erasure, link_subject, request_for
from govsms.tenancy import get_scoped, owned_by, scoped

BATCH = 1000
"""Rows of one holding per transaction."""

ACCESS_LOG_KEPT = N_(
    "The access log keeps its events: they hold no number, name or text, only the person's pseudonymous id, "
    "whose key the erasure destroys; they show who accessed the data and that it was erased."
)
STATISTICS_KEPT = N_("Statistics are counts per day; they name no one, so nothing of the person is in them.")
NOT_SAID = N_("Kept by the erasure.")
MISSING = N_("No such erasure.")


@dataclass(frozen=True)
class HoldingPlan:
    """What the erasure does with one holding's rows about the person."""

    table: str
    category: str
    label: str
    """The category, translated."""
    rows: int | None
    """Rows about the person now (None: the holding cannot count them; its parent's erase takes them)."""
    reason: str = ""
    """Kept only: why (translated)."""
    description: str = ""
    """What personal data the table holds (translated)."""


@dataclass(frozen=True)
class HoldInForce:
    on: str
    """``number`` or ``account``."""
    reason: str
    until: date


@dataclass(frozen=True)
class ErasurePreview:
    person: Person
    unblock: bool
    erased: list[HoldingPlan]
    kept: list[HoldingPlan]
    holds: list[HoldInForce]
    accesses: int
    """Access-log events that name the person (kept)."""
    notes: list[str] = field(default_factory=list)
    """The access log and the statistics, translated."""
    request: SubjectRequest | None = None

    @property
    def refused(self) -> bool:
        return bool(self.holds)


@dataclass(frozen=True)
class ErasureDone:
    erasure: SubjectErasure
    request: SubjectRequest
    counts: dict[str, int]
    receipt: dict[str, Any]
    signature: bytes

    @property
    def file(self) -> bytes:
        return receipt_file(self.receipt, self.signature)


def runs(holding: Holding, unblock: bool) -> bool:
    """Whether the erasure runs the holding's ``erase`` (with ``erase_on``, only when chosen)."""
    return holding.erase is not None and (not holding.erase_on or (holding.erase_on == "unblock" and unblock))


def keeps_rows(holding: Holding) -> bool:
    """An ``erase`` that always runs but keeps the rows, erasing some of their values (the request
    register loses the DPO's notes): ``kept`` says what stays and why (preview and receipt)."""
    return holding.erase is not None and not holding.erase_on and bool(holding.kept)


def erase_order(holdings: Sequence[Holding]) -> list[Holding]:
    """Rows linked through a parent (``via``: a contact's memberships) before the parents, so that
    each holding's own erase counts its own rows (a parent's erase may take its children along)."""
    return sorted(holdings, key=lambda holding: 0 if holding.via else 1)


def _label(category: str) -> str:
    return _(BY_KEY[category].label) if category in BY_KEY else category


def holds_on(session: Session, account_id: int, person: Person, *, today: date) -> list[HoldInForce]:
    """The legal holds in force that cover the person: on their number, or on the whole account."""
    rows = session.execute(
        select(LegalHold).where(
            owned_by(LegalHold, account_id),
            col(LegalHold.until) >= today,
            (col(LegalHold.blind_index) == person.blind_index) | col(LegalHold.blind_index).is_(None),
        ).order_by(col(LegalHold.until).desc(), col(LegalHold.id))
    ).scalars().all()
    return [HoldInForce(on="account" if row.blind_index is None else "number", reason=row.reason, until=row.until) for row in rows]


def _accesses(session: Session, account_id: int, subject_id: int | None) -> int:
    if subject_id is None:
        return 0
    events, links = table_of(AuditEvent), table_of(AuditEventSubject)
    return int(session.execute(
        select(func.count()).select_from(events).where(
            owned_by(events, account_id), events.c.seq.in_(select(links.c.seq).where(links.c.subject_id == subject_id)),
        )
    ).scalar_one())


def plan(session: Session, holdings: Sequence[Holding], person: Person, *, unblock: bool) -> tuple[list[HoldingPlan], list[HoldingPlan]]:
    """What goes and what stays: per holding with rows about the person (as its ``find`` counts)."""
    erased: list[HoldingPlan] = []
    kept: list[HoldingPlan] = []
    for holding in holdings:
        found = holding.find(session, person) if holding.find is not None else None
        rows = found.count if found is not None else (None if holding.find is None else 0)
        if runs(holding, unblock):
            if rows:
                erased.append(HoldingPlan(holding.table, holding.category, _label(holding.category), rows, description=_(holding.description)))
        if rows and (not runs(holding, unblock) or keeps_rows(holding)):
            reason = _(holding.kept) if holding.kept else _(NOT_SAID)
            kept.append(HoldingPlan(holding.table, holding.category, _label(holding.category), rows, reason, _(holding.description)))
    return erased, kept


def preview_erasure(
    session: Session, actor: Actor, holdings: Sequence[Holding], raw_number: str, *, request_id: int | None = None,
    unblock: bool = False, now: datetime,
) -> ErasurePreview:
    """What an erasure of the person of ``raw_number`` would erase and keep, and the legal holds
    that refuse it. Recorded as SUBJECT_ERASURE_PREVIEWED (counts only)."""
    require(actor, Permission.SUBJECTS)
    person = person_for(session, actor, raw_number, now=now)
    request = request_for(session, actor, request_id, "erasure", now=now) if request_id is not None else None
    erased, kept = plan(session, holdings, person, unblock=unblock)
    holds = holds_on(session, actor.account_id, person, today=now.date())
    accesses = _accesses(session, actor.account_id, person.subject_id)
    record_event(
        session, actor, Action.SUBJECT_ERASURE_PREVIEWED, now=now, subjects=[person.subject_id] if person.subject_id else [],
        target=("subject_request", request.reference) if request is not None else None,
        details={"erase": sum(p.rows or 0 for p in erased), "keep": sum(p.rows or 0 for p in kept), "holds": len(holds), "unblock": unblock},
    )
    return ErasurePreview(
        person=person, unblock=unblock, erased=erased, kept=kept, holds=holds, accesses=accesses,
        notes=[_(ACCESS_LOG_KEPT), _(STATISTICS_KEPT)], request=request,
    )


def refusal_message(holds: list[HoldInForce], running: SubjectErasure | None = None) -> str:
    hold = holds[0]
    values = {"until": hold.until.isoformat(), "reason": hold.reason}
    if running is None:
        return _(
            "A legal hold until %(until)s keeps this person's data (reason: %(reason)s). Nothing was erased: "
            "the erasure can be done once the hold has ended."
        ) % values
    rows = sum(_counts(running).values())
    return _(
        "A legal hold until %(until)s keeps this person's data (reason: %(reason)s). An erasure of this person "
        "started on %(started)s was stopped part way: %(rows)d rows were erased before the hold; the rest, and the "
        "person's key, are kept. The erasure continues once the hold has ended (start it again, or run "
        "`govsms dsr resume`)."
    ) % {**values, "started": running.started_at.strftime("%Y-%m-%d %H:%M UTC"), "rows": rows}


# -- the erasure -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sealer:
    """What the erasure seals the access log with and signs the receipt with."""

    keys: KeyRing
    witness_path: Path


def _counts(erasure: SubjectErasure) -> dict[str, int]:
    counts: dict[str, int] = json.loads(erasure.counts)
    return counts


def erase_subject(
    factory: sessionmaker[Session], actor: Actor, holdings: Sequence[Holding], raw_number: str, *, sealer: Sealer,
    request_id: int | None = None, unblock: bool = False, now: datetime, batch: int = BATCH,
) -> ErasureDone:
    """Erase the person of ``raw_number`` from the actor's account, each step in a transaction of
    its own (the caller holds none open). Conflict (recorded as SUBJECT_ERASURE_REFUSED) while a
    legal hold covers the person, checked first. An erasure of the same person already under way
    (interrupted, or running in another process) is finished and is the one returned: the check
    for it and the new erasure's row are one transaction, serialised per person (PostgreSQL: an
    advisory lock on the account and blind index; SQLite: the write lock), so two erasures of one
    person at once give one erasure and one receipt."""
    require(actor, Permission.SUBJECTS)
    refused: str | None = None
    new_id: int | None = None
    with session_scope(factory) as session:
        person = person_for(session, actor, raw_number, now=now)
        _lock_person(session, actor.account_id, person.blind_index)
        running = _running_of(session, actor.account_id, person.blind_index)
        holds = holds_on(session, actor.account_id, person, today=now.date())
        subjects = [person.subject_id] if person.subject_id is not None else []
        if holds:
            target = None
            if request_id is not None:
                request = request_for(session, actor, request_id, "erasure", now=now)
                target = ("subject_request", request.reference)
            record_event(session, actor, Action.SUBJECT_ERASURE_REFUSED, now=now, subjects=subjects, target=target,
                         details={"holds": len(holds), "on": holds[0].on, "running": len(running)})
            refused = refusal_message(holds, _part_way(session, running))
        elif not running:
            request = request_for(session, actor, request_id, "erasure", now=now)
            link_subject(session, actor, request, person.subject_id, now=now, blind_index=person.blind_index)
            erasure = SubjectErasure(
                account_id=actor.account_id, request_id=request.id, subject_id=person.subject_id, blind_index=person.blind_index,
                unblock=unblock, status=RUNNING, counts="{}", actor=actor.label, started_at=now,
            )
            session.add(erasure)
            session.flush()
            record_event(session, actor, Action.SUBJECT_ERASURE_STARTED, now=now, subjects=subjects,
                         target=("subject_request", request.reference), details={"erasure": erasure.id, "unblock": unblock})
            new_id = erasure.id
    if refused is not None:
        raise Conflict(refused, recorded=True)
    if running:
        done = [finish_erasure(factory, actor, holdings, erasure_id, sealer=sealer, now=now, batch=batch) for erasure_id in running]
        if unblock and not done[-1].erasure.unblock:
            # The one under way keeps the block; this one was asked to lift it too.
            return erase_subject(factory, actor, holdings, raw_number, sealer=sealer, request_id=request_id, unblock=unblock, now=now, batch=batch)
        return done[-1]
    assert new_id is not None
    return finish_erasure(factory, actor, holdings, new_id, sealer=sealer, now=now, batch=batch, person=person)


def _lock_person(session: Session, account_id: int, blind_index: bytes) -> None:
    """Serialise the erasures of one person until the transaction ends (SQLite's write lock does
    so already)."""
    if session.get_bind().dialect.name == "postgresql":
        digest = hashlib.sha256(b"subject_erasure|" + str(account_id).encode() + b"|" + blind_index).digest()
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": int.from_bytes(digest[:8], "big", signed=True)})


def _part_way(session: Session, erasure_ids: list[int]) -> SubjectErasure | None:
    """The (first) erasure under way among these, for a refusal to say how far it got."""
    return session.get(SubjectErasure, erasure_ids[0]) if erasure_ids else None


def _running_of(session: Session, account_id: int, blind_index: bytes) -> list[int]:
    return [int(erasure_id) for erasure_id in session.execute(
        select(col(SubjectErasure.id)).where(
            owned_by(SubjectErasure, account_id), col(SubjectErasure.status) == RUNNING, col(SubjectErasure.blind_index) == blind_index,
        ).order_by(col(SubjectErasure.id))
    ).scalars()]


def _person_of(session: Session, erasure: SubjectErasure) -> Person:
    """The erased person as the erasure row names them (no number: erasing needs none)."""
    subject: Subject | None = None
    if erasure.subject_id is not None:
        subject = vault_of(session).subjects_by_id(session, erasure.account_id, [erasure.subject_id]).get(erasure.subject_id)
        if subject is None:
            # The key is gone already (shredded before the row was marked done): the rows linked
            # to it hold nothing readable; erase still finds them by id.
            subject = Subject(id=erasure.subject_id, account_id=erasure.account_id, key=bytes(32))
    return Person(account_id=erasure.account_id, blind_index=erasure.blind_index, subject=subject)


def finish_erasure(
    factory: sessionmaker[Session], actor: Actor, holdings: Sequence[Holding], erasure_id: int, *, sealer: Sealer, now: datetime,
    batch: int = BATCH, person: Person | None = None,
) -> ErasureDone:
    """Run (or resume) erasure ``erasure_id`` of the actor's account to its end: each holding's
    batches, then one last transaction (the key shredded, every holding swept once more, the
    event), the log sealed, the receipt signed. A legal hold placed on the person since the
    erasure started stops it where it is: Conflict (recorded as SUBJECT_ERASURE_REFUSED)."""
    refused: str | None = None
    with session_scope(factory) as session:
        erasure = get_scoped(session, SubjectErasure, erasure_id, actor, missing=_(MISSING))
        if person is None:
            person = _person_of(session, erasure)
        unblock, status = erasure.unblock, erasure.status
        if status != DONE:
            holds = holds_on(session, erasure.account_id, person, today=now.date())
            if holds:
                record_event(
                    session, actor, Action.SUBJECT_ERASURE_REFUSED, now=now,
                    subjects=[erasure.subject_id] if erasure.subject_id is not None else [],
                    target=_target(session, erasure), details={"holds": len(holds), "on": holds[0].on, "erasure": erasure_id},
                )
                refused = refusal_message(holds, erasure)
    if refused is not None:
        raise Conflict(refused, recorded=True)
    if status != DONE:
        for holding in erase_order(holdings):
            if not runs(holding, unblock):
                continue
            assert holding.erase is not None
            while True:
                with session_scope(factory) as session:
                    gone = holding.erase(session, person, limit=batch, now=now)
                    if gone:
                        row = session.get_one(SubjectErasure, erasure_id, with_for_update=True, populate_existing=True)
                        counts = _counts(row)
                        counts[holding.table] = counts.get(holding.table, 0) + gone
                        row.counts = canonical_json(counts)
                        session.add(row)
                if gone < batch:
                    break
        _complete(factory, actor, holdings, erasure_id, person, now=now, batch=batch)
    return _receipt(factory, actor, holdings, erasure_id, sealer=sealer, now=now)


def _target(session: Session, erasure: SubjectErasure) -> tuple[str, str] | None:
    request = session.get(SubjectRequest, erasure.request_id) if erasure.request_id is not None else None
    return ("subject_request", request.reference) if request is not None else None


def _complete(
    factory: sessionmaker[Session], actor: Actor, holdings: Sequence[Holding], erasure_id: int, person: Person, *, now: datetime,
    batch: int = BATCH,
) -> None:
    """The last step, one transaction: the key shredded, then every holding's erase once more (a
    final sweep: what was written about the person while the batches ran, a message sent to them,
    goes too, and is counted), the event, the row done, the request linked.

    On SQLite writes are serialised, so nothing commits between the shred and the sweep. On
    PostgreSQL with the keys in the main database, a send reads an existing subject's key row
    ``FOR SHARE`` (``Vault.subjects``): the shred's DELETE waits for such a send to commit, and
    the sweep, a later statement, sees its rows."""
    with session_scope(factory) as session:
        erasure = session.get_one(SubjectErasure, erasure_id, with_for_update=True, populate_existing=True)
        if erasure.status == DONE:
            return
        if person.subject_id is not None:
            vault_of(session).shred(session, erasure.account_id, [person.subject_id], now=now)
        counts = _counts(erasure)
        for holding in erase_order(holdings):
            if not runs(holding, erasure.unblock):
                continue
            assert holding.erase is not None
            while True:
                gone = holding.erase(session, person, limit=batch, now=now)
                if gone:
                    counts[holding.table] = counts.get(holding.table, 0) + gone
                if gone < batch:
                    break
        erasure.counts = canonical_json(counts)
        request = find_request(session, actor, erasure.request_id) if erasure.request_id is not None else None
        record_event(
            session, actor, Action.SUBJECT_ERASED, now=now, subjects=[person.subject_id] if person.subject_id is not None else [],
            target=("subject_request", request.reference) if request is not None else None,
            details={"erasure": erasure_id, **{table: rows for table, rows in sorted(counts.items())}},
        )
        erasure.status = DONE
        erasure.finished_at = now
        session.add(erasure)
        session.flush()
        if request is not None:
            link_erasure(session, actor, request, erasure_id, now=now)


def _erased_event(session: Session, erasure: SubjectErasure) -> int:
    events = table_of(AuditEvent)
    seq = session.execute(
        select(events.c.seq).where(
            owned_by(events, erasure.account_id), events.c.action == Action.SUBJECT_ERASED.value,
            events.c.details.like(f'%"erasure":{erasure.id},%') | events.c.details.like(f'%"erasure":{erasure.id}}}'),
        ).order_by(events.c.seq.desc()).limit(1)
    ).scalar_one_or_none()
    if seq is None:  # pragma: no cover - written in the same transaction as the row's status
        raise NotFound(_(MISSING))
    return int(seq)


def _checkpoint_covering(session: Session, seq: int) -> Checkpoint | None:
    checkpoint = session.execute(
        select(AuditCheckpoint).where(col(AuditCheckpoint.seq) >= seq).order_by(col(AuditCheckpoint.seq)).limit(1)
    ).scalars().first()
    if checkpoint is None:
        return None
    return Checkpoint(seq=checkpoint.seq, head_hash=checkpoint.head_hash, signature=checkpoint.signature,
                      signed_at=checkpoint.signed_at.strftime("%Y-%m-%dT%H:%M:%SZ"), public_key=checkpoint.public_key)


def kept_lines(session: Session, holdings: Sequence[Holding], erasure: SubjectErasure) -> list[Line]:
    """What the erasure kept about the person, counted now (the blocklist entry unless unblocked,
    by its blind index), and the access log's events that name them; the statistics name no one."""
    # The key is shredded: a stand-in names the subject by id, for the holdings that keep rows
    # linked to it (the request register); nothing is decrypted with it.
    subject = Subject(id=erasure.subject_id, account_id=erasure.account_id, key=bytes(32)) if erasure.subject_id is not None else None
    person = Person(account_id=erasure.account_id, blind_index=erasure.blind_index, subject=subject)
    lines = []
    for holding in holdings:
        if (runs(holding, erasure.unblock) and not keeps_rows(holding)) or holding.find is None or holding.table == SubjectErasure.__tablename__:
            continue
        found = holding.find(session, person)
        if found is not None and found.count:
            lines.append(Line(category=holding.category, table=holding.table, rows=found.count, reason=holding.kept or NOT_SAID))
    lines.append(Line(category="access_log", table="audit_event", rows=_accesses(session, erasure.account_id, erasure.subject_id),
                      reason=ACCESS_LOG_KEPT))
    lines.append(Line(category="statistics", table="statistics_day", rows=0, reason=STATISTICS_KEPT))
    return lines


def _receipt(factory: sessionmaker[Session], actor: Actor, holdings: Sequence[Holding], erasure_id: int, *, sealer: Sealer, now: datetime) -> ErasureDone:
    """The erasure's signed receipt: built once the log is sealed over its event (a receipt built
    before the sealer reached it is built again, with the checkpoint, when one covers it)."""
    with session_scope(factory) as session:
        erasure = get_scoped(session, SubjectErasure, erasure_id, actor, missing=_(MISSING))
        if erasure.receipt is not None and erasure.signature is not None:
            receipt = json.loads(erasure.receipt)
            if receipt.get("checkpoint") is not None:
                return _done(session, actor, erasure, receipt)
        seq = _erased_event(session, erasure)
        covered = _checkpoint_covering(session, seq)
    if covered is None:
        seal_and_witness(factory, sealer.keys.audit_signing_seed, sealer.witness_path, now=now)
    with session_scope(factory) as session:
        erasure = session.get_one(SubjectErasure, erasure_id, with_for_update=True, populate_existing=True)
        request = session.get_one(SubjectRequest, erasure.request_id) if erasure.request_id is not None else None
        account = session.get_one(Account, erasure.account_id)
        counts = _counts(erasure)
        erased = [
            Line(category=holding.category, table=holding.table, rows=counts[holding.table])
            for holding in holdings if counts.get(holding.table)
        ]
        kept = kept_lines(session, holdings, erasure)
        assert erasure.finished_at is not None and erasure.id is not None and account.id is not None
        receipt = build_receipt(
            reference=request.reference if request is not None else "", erasure_id=erasure.id, account=(account.id, account.name),
            blind_index=erasure.blind_index, actor=erasure.actor, started_at=erasure.started_at, finished_at=erasure.finished_at,
            unblock=erasure.unblock, erased=erased, kept=kept, audit_seq=seq, checkpoint=_checkpoint_covering(session, seq),
            public_key=public_key_of(sealer.keys.audit_signing_seed),
        )
        erasure.receipt = canonical_json(receipt)
        erasure.signature = sign_receipt(receipt, sealer.keys.audit_signing_seed)
        session.add(erasure)
        session.flush()
        return _done(session, actor, erasure, receipt)


def _done(session: Session, actor: Actor, erasure: SubjectErasure, receipt: dict[str, Any]) -> ErasureDone:
    request = session.get_one(SubjectRequest, erasure.request_id) if erasure.request_id is not None else None
    assert request is not None and erasure.signature is not None
    return ErasureDone(erasure=erasure, request=request, counts=_counts(erasure), receipt=receipt, signature=erasure.signature)


def running_erasures(session: Session, account_id: int | None = None) -> list[tuple[int, int]]:
    """(account id, erasure id) of every erasure not finished, oldest first."""
    query = select(col(SubjectErasure.account_id), col(SubjectErasure.id)).where(col(SubjectErasure.status) == RUNNING)
    if account_id is not None:
        query = query.where(owned_by(SubjectErasure, account_id))
    return [(int(a), int(e)) for a, e in session.execute(query.order_by(col(SubjectErasure.id))).all()]


def resume_erasures(
    factory: sessionmaker[Session], holdings: Sequence[Holding], *, sealer: Sealer, now: datetime, batch: int = BATCH,
    held: list[tuple[int, str]] | None = None,
) -> list[ErasureDone]:
    """Finish every interrupted erasure (``govsms dsr resume``), as the system of its account. One
    that a legal hold covers now is not continued: (erasure id, the refusal) goes to ``held``."""
    with session_scope(factory) as session:
        running = running_erasures(session)
        names = {account.id: account.name for account in session.execute(select(Account).where(col(Account.id).in_({a for a, _e in running}))).scalars()}
    done = []
    for account_id, erasure_id in running:
        actor = Actor.system(account_id, names.get(account_id, ""))
        try:
            done.append(finish_erasure(factory, actor, holdings, erasure_id, sealer=sealer, now=now, batch=batch))
        except Conflict as refused:
            if held is not None:
                held.append((erasure_id, refused.message))
    return done


# -- reading -----------------------------------------------------------------------------------------


def get_erasure(session: Session, actor: Actor, erasure_id: int) -> SubjectErasure:
    """One erasure of the actor's account (NotFound for another account's)."""
    require(actor, Permission.SUBJECTS)
    return get_scoped(session, SubjectErasure, erasure_id, actor, missing=_(MISSING))


@dataclass(frozen=True)
class ErasureView:
    erasure: SubjectErasure
    reference: str
    counts: dict[str, int]
    categories: dict[str, str]
    """Table -> its category, translated (for the tables counted)."""


def erasure_view(session: Session, actor: Actor, erasure_id: int, holdings: Sequence[Holding]) -> ErasureView:
    """One erasure of the actor's account as its done page shows it."""
    erasure = get_erasure(session, actor, erasure_id)
    request = session.get(SubjectRequest, erasure.request_id) if erasure.request_id is not None else None
    categories = {holding.table: _label(holding.category) for holding in holdings}
    return ErasureView(erasure=erasure, reference=request.reference if request is not None else "", counts=_counts(erasure), categories=categories)


def receipt_of(
    factory: sessionmaker[Session], actor: Actor, holdings: Sequence[Holding], erasure_id: int, *, sealer: Sealer, now: datetime,
) -> ErasureDone:
    """The done erasure's receipt for download (built again with its checkpoint when the log was
    not sealed over it when it finished); recorded as SUBJECT_RECEIPT_DOWNLOADED. NotFound for
    another account's erasure, Conflict for one still running."""
    with session_scope(factory) as session:
        erasure = get_erasure(session, actor, erasure_id)
        if erasure.status != DONE:
            raise Conflict(_("The erasure has not finished yet: run `govsms dsr resume`, or start it again."))
    done = _receipt(factory, actor, holdings, erasure_id, sealer=sealer, now=now)
    with session_scope(factory) as session:
        target = ("subject_request", done.request.reference)
        record_event(session, actor, Action.SUBJECT_RECEIPT_DOWNLOADED, now=now, target=target, details={"erasure": erasure_id})
    return done


def list_erasures(session: Session, actor: Actor, *, page: int = 1, per_page: int = 50) -> Page[SubjectErasure]:
    """The account's erasures, newest first (counts, times; no number)."""
    require(actor, Permission.SUBJECTS)
    page, per_page = clamp_page(page, per_page)
    query = scoped(SubjectErasure, actor)
    total = session.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    rows = session.exec(query.order_by(col(SubjectErasure.id).desc()).offset((page - 1) * per_page).limit(per_page)).all()
    return Page(items=list(rows), total=total, page=page, per_page=per_page)
