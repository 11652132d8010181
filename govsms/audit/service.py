"""Reading the audit log (auditors), verifying it and exporting it, scoped to the account."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, or_, select
from sqlalchemy.orm import sessionmaker
from sqlalchemy.sql import ColumnElement
from sqlmodel import Session

from govsms.auth import Actor, Permission, require
from govsms.audit.actions import Action
from govsms.audit.describe import actor_text, sentence
from govsms.audit.chain import Verification, export_lines, head, rebuild_witness, verify_database
from govsms.audit.models import AuditEvent, AuditEventSubject
from govsms.audit.record import mac_key, record_event
from govsms.audit.witness import Witness, read_witness
from govsms.db import session_scope, table_of
from govsms.errors import InvalidInput
from govsms.i18n import _
from govsms.keys.ring import KeyRing
from govsms.keys.store import vault_of
from govsms.paging import Page, clamp_page
from govsms.phone import DEFAULT_REGION, parse_number
from govsms.tenancy import scoped
from govsms.textfield import refuse_control


@dataclass(frozen=True)
class AuditFilter:
    since: datetime | None = None
    until: datetime | None = None
    actor: str | None = None
    action: str | None = None
    number: str | None = None
    reference: str | None = None
    """A data-subject request's reference (``DSR-2026-0001``): the events of that request."""


SUBJECT_REQUEST = "subject_request"
"""The target type of every event of a data-subject request (its search, export, erasure and
register events); the target id is the request's reference."""
REFERENCE = re.compile(r"DSR-[0-9]{4}-[0-9]{4,8}")
"""``DSR-<year>-<sequence in the account and year>``, as the request register numbers them."""


def parse_reference(value: str) -> str:
    """A request reference as typed (spaces around it and lower case forgiven), or InvalidInput
    saying what one looks like."""
    cleaned = value.strip().upper()
    if len(cleaned) > 20 or not REFERENCE.fullmatch(cleaned):
        message = _("Write the request reference as the register shows it, e.g. DSR-2026-0001.")
        raise InvalidInput(_("That is not a request reference."), fields={"reference": message})
    return cleaned


@dataclass(frozen=True)
class EventView:
    seq: int
    occurred_at: datetime
    actor: str
    actor_name: str
    action: str
    target_type: str | None
    target_id: str | None
    people: int
    details: dict[str, object]
    request_id: str
    sealed: bool
    description: str = ""
    """The event as a sentence in the reader's language (``audit.describe``), names resolved now."""


def public_key(keys: KeyRing) -> bytes:
    return Ed25519PrivateKey.from_private_bytes(keys.audit_signing_seed).public_key().public_bytes_raw()


def public_key_text(key: bytes) -> str:
    """The whole public key (32 bytes) in hex, in groups of eight for reading aloud and comparing.
    ``govsms audit verify --public-key`` takes it as shown (spaces and all)."""
    text = key.hex()
    return " ".join(text[i : i + 8] for i in range(0, len(text), 8))


def parse_public_key(text: str) -> bytes:
    """A public key as shown (hex, spaces or colons allowed); ValueError unless it is 32 bytes."""
    cleaned = "".join(text.split()).replace(":", "")
    key = bytes.fromhex(cleaned)
    if len(key) != 32:
        raise ValueError("an Ed25519 public key is 32 bytes (64 hex digits)")
    return key


StaffNames = Callable[[Session, int], Mapping[str, str]]
"""How an account knows its actors (``user:12`` -> a name, ``api_key:3`` -> its name): the
accounts domain's ``staff_names``, handed down by the app (the access log imports no domain
above it: accounts writes to it)."""


def _no_names(_session: Session, _account_id: int) -> Mapping[str, str]:
    return {}


RequestSubject = Callable[[Session, int, str], int | None]
"""Which data subject a request (account id, reference) is about, if it is linked to one: the
subjects domain's ``request_subject``, handed down by the app like ``staff_names``."""


def _no_request_subject(_session: Session, _account_id: int, _reference: str) -> int | None:
    return None


def _filtered(
    session: Session, actor: Actor, query: AuditFilter, *, now: datetime, request_subject: RequestSubject, searched: dict[str, object],
) -> Any:
    """The account's events that ``query`` selects (a statement, not run). A search by number is
    itself an event naming the person it found (``searched``: what else that event says)."""
    events = table_of(AuditEvent)
    statement = scoped(events, actor)
    if query.since:
        statement = statement.where(events.c.occurred_at >= query.since)
    if query.until:
        statement = statement.where(events.c.occurred_at < query.until)
    if query.actor:
        statement = statement.where(events.c.actor == refuse_control(query.actor, "actor"))
    if query.action:
        if query.action not in {action.value for action in Action}:
            raise InvalidInput(_("Unknown action."), fields={"action": _("Choose an action from the list.")})
        statement = statement.where(events.c.action == query.action)
    if query.reference:
        # Found by the target every event of the request carries: no key needed, so the events
        # stay findable after the person's key is destroyed by an erasure. And every event linked
        # to the request's person (searches and previews made without the request, senders'
        # reads): the link names the subject by id, which stays after the key is gone.
        reference = parse_reference(query.reference)
        of_request: ColumnElement[bool] = (events.c.target_type == SUBJECT_REQUEST) & (events.c.target_id == reference)
        subject_id = request_subject(session, actor.account_id, reference)
        if subject_id is not None:
            links = table_of(AuditEventSubject)
            of_request = or_(of_request, events.c.seq.in_(select(links.c.seq).where(links.c.subject_id == subject_id)))
        statement = statement.where(of_request)
    if query.number:
        parsed = parse_number(query.number, actor.region or DEFAULT_REGION)
        if parsed.e164 is None:  # not ``parsed.ok`` (the same test), so the number below is known to be there
            raise InvalidInput(parsed.reason or "", fields={"number": parsed.reason or ""})
        # The log holds no numbers: the number leads to its subject through the blind index.
        found = vault_of(session).find_subjects(session, actor.account_id, [parsed.e164], now=now)
        subject_id = found[parsed.e164].id if parsed.e164 in found else -1
        links = table_of(AuditEventSubject)
        statement = statement.where(events.c.seq.in_(select(links.c.seq).where(links.c.subject_id == subject_id)))
        # The search names the person it found (and is itself among the events shown).
        record_event(
            session, actor, Action.AUDIT_VIEWED, now=now, subjects=[subject_id] if subject_id != -1 else [],
            details={"by_number": True, "found": subject_id != -1, **searched},
        )
    return statement


def _views(session: Session, actor: Actor, rows: Iterable[Any], staff_names: StaffNames) -> list[EventView]:
    sealed_to, _hash = head(session)
    names = staff_names(session, actor.account_id)
    return [
        EventView(
            seq=row.seq,
            occurred_at=row.occurred_at,
            actor=row.actor,
            actor_name=actor_text(row.actor, names),
            action=row.action,
            target_type=row.target_type,
            target_id=row.target_id,
            people=len(json.loads(row.subject_ids)),
            details=json.loads(row.details),
            request_id=row.request_id,
            sealed=row.seq <= sealed_to,
            description=sentence(row.action, row.target_type, row.target_id, json.loads(row.details), names),
        )
        for row in rows
    ]


def list_events(
    session: Session, actor: Actor, query: AuditFilter, *, now: datetime, page: int = 1, per_page: int = 50,
    staff_names: StaffNames = _no_names, request_subject: RequestSubject = _no_request_subject,
) -> Page[EventView]:
    require(actor, Permission.AUDIT_READ)
    page, per_page = clamp_page(page, per_page)
    events = table_of(AuditEvent)
    statement = _filtered(session, actor, query, now=now, request_subject=request_subject, searched={})
    total = session.execute(select(func.count()).select_from(statement.subquery())).scalar_one()
    rows = session.execute(statement.order_by(events.c.seq.desc()).offset((page - 1) * per_page).limit(per_page)).all()
    items = _views(session, actor, rows, staff_names)
    if not query.number:
        # Reading the log (staff names, who looked at what) is itself logged: counts only.
        record_event(session, actor, Action.AUDIT_VIEWED, now=now, details={"shown": len(items), "total": total, "page": page})
    return Page(items=items, total=total, page=page, per_page=per_page)


MAX_EXPORT_ROWS = 100_000
"""The most events one filtered export (CSV) holds; a larger selection is refused with a reason."""


def export_events(
    session: Session, actor: Actor, query: AuditFilter, *, now: datetime,
    staff_names: StaffNames = _no_names, request_subject: RequestSubject = _no_request_subject,
) -> list[EventView]:
    """Every event the filter selects, oldest first (the CSV export); the export is an event
    (``audit.exported``, format and count: the filter's values stay out, a number never goes in)."""
    require(actor, Permission.AUDIT_READ)
    events = table_of(AuditEvent)
    statement = _filtered(session, actor, query, now=now, request_subject=request_subject, searched={"export": "csv"})
    rows = session.execute(statement.order_by(events.c.seq).limit(MAX_EXPORT_ROWS + 1)).all()
    if len(rows) > MAX_EXPORT_ROWS:
        message = _("More than %(max)d events match: choose a shorter period.") % {"max": MAX_EXPORT_ROWS}
        raise InvalidInput(message, fields={"since": message})
    items = _views(session, actor, rows, staff_names)
    record_event(session, actor, Action.AUDIT_EXPORTED, now=now, details={"format": "csv", "events": len(items), "filtered": query != AuditFilter()})
    return items


def verify_now(session: Session, actor: Actor, keys: KeyRing, *, now: datetime, witness_path: Path | None = None) -> Verification:
    """Recompute the whole chain as it is, against the witness when it is at hand; seals nothing
    (events waiting for the sealer are counted, and checked against their MACs). The check
    itself is logged."""
    require(actor, Permission.AUDIT_READ)
    result = verify_database(session, public_key(keys), mac_key=mac_key(keys.audit_signing_seed), witness=read_witness(witness_path))
    record_event(
        session, actor, Action.AUDIT_VERIFIED, now=now,
        details={"ok": result.ok, "events": result.events, "unsealed": result.unsealed, "first_bad_seq": result.first_bad_seq},
    )
    return result


def export_for(
    session: Session, actor: Actor, keys: KeyRing, *, now: datetime, witness: Witness | None = None, reader: Session | None = None,
    query: AuditFilter | None = None, request_subject: RequestSubject = _no_request_subject,
) -> Iterator[str]:
    """The account's export: its sealed events in full, everyone else's as bare hashes, and the
    witness. ``reader`` (a session begun after the witness was read) reads the log, so the
    witness never runs ahead of the export; the export event is written in ``session``.
    ``query``: only the events the filter selects in full, the account's others as hashes too
    (the export still verifies whole)."""
    require(actor, Permission.AUDIT_READ)
    only = None
    if query is not None and query != AuditFilter():
        statement = _filtered(session, actor, query, now=now, request_subject=request_subject, searched={"export": "jsonl"})
        seqs = session.execute(select(statement.subquery().c.seq).limit(MAX_EXPORT_ROWS + 1)).scalars().all()
        if len(seqs) > MAX_EXPORT_ROWS:
            message = _("More than %(max)d events match: choose a shorter period.") % {"max": MAX_EXPORT_ROWS}
            raise InvalidInput(message, fields={"since": message})
        only = frozenset(seqs)
    record_event(session, actor, Action.AUDIT_EXPORTED, now=now, details={"filtered": True} if only is not None else None)
    return export_lines(reader or session, account_id=actor.account_id, public_key=public_key(keys), now=now, witness=witness, only=only)


EXPORT_LINE_KINDS = {'"type":"event"}': "events", '"type":"sealed"}': "hashes", '"type":"checkpoint"}': "checkpoints", '"type":"witness"}': "witness"}
"""How an export line of each kind the export event counts ends (its canonical JSON)."""


def write_export(
    factory: sessionmaker[Session], keys: KeyRing, output: Path | TextIO, *, now: datetime, witness_path: Path | None,
    account: tuple[int, str] | None = None,
) -> int:
    """``govsms audit export``: the sealed log with its checkpoints and the witness (read before
    the log, so it never runs ahead of it), written to ``output`` (a file, created once the
    account is known, or an open stream); with ``account`` (id, name) only that account's events in
    full, the others as hashes. The export is then itself an audit event (counts of each kind of
    line), in a transaction of its own. Seals nothing. Returns how many lines were written."""
    witness = read_witness(witness_path)
    counts = dict.fromkeys(EXPORT_LINE_KINDS.values(), 0)
    lines = 0
    with session_scope(factory) as session:
        account_id = account[0] if account else None
        with open(output, "w", encoding="utf-8") if isinstance(output, Path) else nullcontext(output) as out:
            for line in export_lines(session, account_id=account_id, public_key=public_key(keys), now=now, witness=witness):
                out.write(line + "\n")
                lines += 1
                kind = next((name for suffix, name in EXPORT_LINE_KINDS.items() if line.endswith(suffix)), None)
                if kind:
                    counts[kind] += 1
    with session_scope(factory) as session:
        actor = Actor.system(account[0], account[1]) if account else None
        record_event(session, actor, Action.AUDIT_EXPORTED, now=now, account_id=account_id, details={"cli": True, **counts})
    return lines


def write_witness_anew(session: Session, keys: KeyRing, witness_path: Path, *, now: datetime) -> int:
    """``govsms audit seal --rebuild-witness``: the witness written anew from the database's
    checkpoints (refused with ``WitnessNotRebuilt`` as ``chain.rebuild_witness`` says), and an
    audit event saying so: how many checkpoints it holds, how many the old one had, and whether
    it was missing. Returns how many checkpoints it holds."""
    old = read_witness(witness_path)
    count = rebuild_witness(session, keys.audit_signing_seed, witness_path, old)
    record_event(session, None, Action.AUDIT_WITNESS_REBUILT, now=now, details={
        "cli": True, "checkpoints": count, "had": len(old.entries) if old else 0, "was_missing": old is None,
    })
    return count
