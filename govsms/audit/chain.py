"""Sealing and verifying the audit log.

Each event's content hash is SHA-256 of its canonical JSON; its chain hash is
SHA-256(previous chain hash || content hash). Hashing the content first lets an export show
another account's events as bare content hashes and still verify end to end. A checkpoint signs
(seq, head hash) with Ed25519 and is also appended to the witness file outside the database
(``govsms.audit.witness``). ``verify`` recomputes everything, checks the index of events by person,
each event's MAC, and the database against the witness, and names the first bad sequence number;
it never seals. An export verifies with no database at all, against a pinned public key or an
export saved earlier.

Chain formats: events written before issue 10 carry no MAC and their canonical document has no
``mac`` member (format 1); later events carry one (format 2). Both verify; once an event has a
MAC, every later event must have one.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import func, insert, select
from sqlalchemy.engine import Row
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from govsms.audit.models import AuditAnchor, AuditChain, AuditCheckpoint, AuditEvent, AuditEventSubject
from govsms.audit.record import EventRow, canonical_json, event_body, event_texts
from govsms.audit.witness import Witness, WitnessEntry, append_witness, replace_witness
from govsms.db import bulk_insert, session_scope, table_of
from govsms.tenancy import owned_by

log = logging.getLogger(__name__)

GENESIS = bytes(32)
CHUNK = 10_000
GAP_GRACE = timedelta(seconds=60)
"""A gap in sequence numbers (a rolled-back insert) is sealed over only once the event after it
is this old: a transaction still running then would commit an event inside the sealed range."""
EXPORT_FORMAT = "govsms-audit-export"

EXPORT_VERSIONS = (1, 2, 3, 4)
"""Version 2 adds witness lines and event MACs; version 3 counts its lines in the header and
gives each checkpoint its signing time; version 4 (written only for a pruned log) carries the
anchor the events chain from, and names its seq in the header. Versions 1 to 3 still verify."""

_EVENTS, _CHAIN = table_of(AuditEvent), table_of(AuditChain)
_CHECKPOINTS, _LINKS = table_of(AuditCheckpoint), table_of(AuditEventSubject)
_ANCHORS = table_of(AuditAnchor)

EVENT_COLUMNS = (
    _EVENTS.c.seq,
    _EVENTS.c.occurred_at,
    _EVENTS.c.account_id,
    _EVENTS.c.actor,
    _EVENTS.c.action,
    _EVENTS.c.target_type,
    _EVENTS.c.target_id,
    _EVENTS.c.request_id,
    _EVENTS.c.subject_ids,
    _EVENTS.c.details,
    _EVENTS.c.mac,
)


def event_document(row: EventRow) -> dict[str, object]:
    """The canonical form of an event: what its hash covers (format 1 has no ``mac``)."""
    document: dict[str, object] = {"seq": row.seq, **event_body(row)}
    if row.mac is not None:
        document["mac"] = row.mac.hex()
    return document


def content_hash(document: dict[str, object]) -> bytes:
    return hashlib.sha256(canonical_json(document).encode()).digest()


def chain_hash(previous: bytes, content: bytes) -> bytes:
    return hashlib.sha256(previous + content).digest()


def checkpoint_message(seq: int, head: bytes) -> bytes:
    return f"{EXPORT_FORMAT}|{seq}|{head.hex()}".encode()


def anchor_message(seq: int, head: bytes, signed_at: str) -> bytes:
    """What an anchor's signature covers: unlike a checkpoint's, it says "the log starts after
    ``seq``", so a copied checkpoint signature cannot serve as one."""
    return f"{EXPORT_FORMAT}|anchor|{seq}|{head.hex()}|{signed_at}".encode()


TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


@dataclass(frozen=True)
class Anchor:
    """Where a pruned log starts: events up to ``seq`` were deleted, and the chain of the rest
    starts from ``head_hash`` (the chain hash of event ``seq``, which a signed checkpoint stated
    when it was pruned). Signed with the audit key at ``signed_at`` (``anchor_message``)."""

    seq: int
    head_hash: bytes
    public_key: bytes
    signature: bytes
    signed_at: str

    def item(self) -> dict[str, object]:
        return {
            "type": "anchor", "seq": self.seq, "head_hash": self.head_hash.hex(), "public_key": self.public_key.hex(),
            "signature": self.signature.hex(), "signed_at": self.signed_at,
        }

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> Anchor:
        """Raises KeyError, TypeError or ValueError for anything but a well-formed anchor line."""
        seq, signed_at = item["seq"], item["signed_at"]
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1 or not isinstance(signed_at, str):
            raise ValueError("anchor")
        anchor = cls(seq=seq, head_hash=bytes.fromhex(item["head_hash"]), public_key=bytes.fromhex(item["public_key"]),
                     signature=bytes.fromhex(item["signature"]), signed_at=signed_at)
        if len(anchor.head_hash) != 32 or len(anchor.public_key) != 32 or len(anchor.signature) != 64:
            raise ValueError("length")
        return anchor

    def signed_by(self, trusted: bytes) -> bool:
        if self.public_key != trusted:
            return False
        try:
            Ed25519PublicKey.from_public_bytes(trusted).verify(self.signature, anchor_message(self.seq, self.head_hash, self.signed_at))
        except (InvalidSignature, ValueError):
            return False
        return True


def sign_anchor(signing_seed: bytes, seq: int, head_hash: bytes, *, now: datetime) -> Anchor:
    key = Ed25519PrivateKey.from_private_bytes(signing_seed)
    signed_at = now.astimezone(UTC).strftime(TIME_FORMAT)
    return Anchor(seq=seq, head_hash=head_hash, public_key=key.public_key().public_bytes_raw(),
                  signature=key.sign(anchor_message(seq, head_hash, signed_at)), signed_at=signed_at)


def current_anchor(session: Session) -> Anchor | None:
    """The newest anchor (the log starts after its seq); None when nothing was ever pruned."""
    row = session.execute(select(_ANCHORS).order_by(_ANCHORS.c.seq.desc()).limit(1)).first()
    if row is None:
        return None
    return Anchor(seq=row.seq, head_hash=row.head_hash, public_key=row.public_key, signature=row.signature,
                  signed_at=row.signed_at.astimezone(UTC).strftime(TIME_FORMAT))


def _events_after(session: Session, seq: int, limit: int) -> Sequence[Row[Any]]:
    """Rows of ``EVENT_COLUMNS``: each an ``EventRow``."""
    return session.execute(
        select(*EVENT_COLUMNS).where(_EVENTS.c.seq > seq).order_by(_EVENTS.c.seq).limit(limit)
    ).all()


_RAW_EVENTS = (
    "SELECT seq, occurred_at, account_id, actor, action, target_type, target_id, request_id, subject_ids, details, mac"
    " FROM audit_event WHERE seq > {p} ORDER BY seq LIMIT {p}"
)


def _raw_events_after(session: Session, seq: int, limit: int) -> Sequence[Row[Any]]:
    """``_events_after`` as the driver gives the rows, without SQLAlchemy's conversions (verify reads
    every event; ``_at_text`` writes the time as the event's body does)."""
    connection = session.connection()
    marker = "?" if connection.dialect.name == "sqlite" else "%s"
    return connection.exec_driver_sql(_RAW_EVENTS.format(p=marker), (seq, limit)).all()


def _at_text(value: str | datetime) -> str:
    """A stored event time (naive UTC: SQLite's text, PostgreSQL's timestamp) as ``event_body``
    writes it."""
    if isinstance(value, str):
        if len(value) == 26 and value[10] == " " and value[19] == ".":
            return f"{value[:10]}T{value[11:]}Z"
        value = datetime.fromisoformat(value)
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return f"{value.isoformat(timespec='microseconds')}Z"


def head(session: Session) -> tuple[int, bytes]:
    """The last sealed event's seq and chain hash; once everything sealed was pruned, the
    anchor's (the sealer goes on from there)."""
    row = session.execute(
        select(_CHAIN.c.seq, _CHAIN.c.chain_hash).order_by(_CHAIN.c.seq.desc()).limit(1)
    ).first()
    if row is None:
        row = session.execute(select(_ANCHORS.c.seq, _ANCHORS.c.head_hash.label("chain_hash")).order_by(_ANCHORS.c.seq.desc()).limit(1)).first()
    return (row.seq, row.chain_hash) if row else (0, GENESIS)


@dataclass
class SealResult:
    sealed: int
    head_seq: int
    checkpoint: WitnessEntry | None = None
    """The checkpoint signed by this run (None when nothing was sealed): for the witness."""
    earlier_checkpoints: int = 0
    """Checkpoints the database held before this run's: a missing witness is then not new."""


def seal_events(session: Session, signing_seed: bytes, *, now: datetime, limit: int | None = None) -> SealResult:
    """Chain every committed, unsealed event in sequence order and sign a checkpoint.

    Only the sealer calls this (the scheduler's job, ``govsms audit seal``): verifying never seals,
    so it never blesses an event changed before sealing; that one fails its MAC instead."""
    last_seq, last_hash = head(session)
    sealed = 0
    while limit is None or sealed < limit:
        rows = _events_after(session, last_seq, CHUNK if limit is None else min(CHUNK, limit - sealed))
        links = []
        for row in rows:
            if row.seq != last_seq + 1 and row.occurred_at > now - GAP_GRACE:
                break
            content = content_hash(event_document(row))
            last_hash = chain_hash(last_hash, content)
            last_seq = row.seq
            links.append({"seq": row.seq, "content_hash": content, "chain_hash": last_hash})
        if links:
            bulk_insert(session, _CHAIN, links)
            sealed += len(links)
        if len(links) < len(rows) or len(rows) < CHUNK:
            break
    if not sealed:
        return SealResult(sealed=0, head_seq=last_seq)
    earlier = session.execute(select(func.count()).select_from(_CHECKPOINTS)).scalar_one()
    key = Ed25519PrivateKey.from_private_bytes(signing_seed)
    checkpoint = WitnessEntry(
        seq=last_seq, head_hash=last_hash, public_key=key.public_key().public_bytes_raw(),
        signature=key.sign(checkpoint_message(last_seq, last_hash)), signed_at=now.strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    session.execute(
        insert(_CHECKPOINTS).values(
            seq=checkpoint.seq, head_hash=checkpoint.head_hash, signed_at=now,
            public_key=checkpoint.public_key, signature=checkpoint.signature,
        )
    )
    return SealResult(sealed=sealed, head_seq=last_seq, checkpoint=checkpoint, earlier_checkpoints=earlier)


@dataclass
class Verification:
    ok: bool = True
    events: int = 0
    """Sealed events checked against the chain."""
    checkpoints: int = 0
    unsealed: int = 0
    """Events not yet sealed: checked against their MACs and the index only, not yet signed."""
    witnessed: int | None = None
    """Entries of the witness compared; None when no witness was at hand."""
    head_seq: int = 0
    head_hash: bytes = GENESIS
    signed_seq: int = 0
    """The last sequence number a signed checkpoint covers: what this verification vouches for."""
    signed_at: str | None = None
    """When that checkpoint was signed (UTC), when known."""
    anchor_seq: int = 0
    """The log was pruned up to this seq: verified from the next one, chained from the anchor."""
    anchor_signed_at: str | None = None
    """When the anchor was signed (UTC), for a pruned log."""
    first_bad_seq: int | None = None
    problems: list[str] = field(default_factory=list)

    def fail(self, seq: int | None, problem: str) -> None:
        self.ok = False
        if seq is not None and (self.first_bad_seq is None or seq < self.first_bad_seq):
            self.first_bad_seq = seq
        if len(self.problems) < 20:
            self.problems.append(problem)


def _signed_by(public_key: bytes, trusted: bytes, seq: int, head_hash: bytes, signature: bytes) -> bool:
    if public_key != trusted:
        return False
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, checkpoint_message(seq, head_hash))
    except (InvalidSignature, ValueError):
        return False
    return True


def _check_checkpoint(
    result: Verification, public_key: bytes, trusted: bytes, seq: int, head_hash: bytes, signature: bytes, computed: dict[int, bytes],
    end: int,
) -> None:
    result.checkpoints += 1
    if public_key != trusted:
        result.fail(seq, f"checkpoint at seq {seq} is signed by an unknown key")
    elif not _signed_by(public_key, trusted, seq, head_hash, signature):
        result.fail(seq, f"checkpoint at seq {seq} has a bad signature")
    elif seq > end:
        result.fail(end + 1, f"the sealed log ends at seq {end} but a checkpoint signs it up to seq {seq}")
    elif computed.get(seq) != head_hash:
        result.fail(seq, f"checkpoint at seq {seq} does not match the chain: events up to {seq} were changed")


def _check_witness(
    result: Verification, witness: Witness, trusted: bytes, stored: dict[int, bytes], computed: dict[int, bytes], end: int,
    log_name: str, store_name: str, *, complete: bool = False, anchor_seq: int = 0,
) -> None:
    """Every checkpoint the witness kept must still be there, and the log must reach it; with
    ``complete`` (the database), every stored checkpoint must be in the witness too. A checkpoint
    of a pruned segment (before ``anchor_seq``) stays in the witness: only its signature is checked."""
    result.witnessed = 0
    for problem in witness.problems:
        result.fail(None, problem)
    if complete and stored:
        if witness.missing:
            result.fail(None, f"no witness file at {witness.path} but the database has {len(stored)} signed checkpoints (the witness was deleted; "
                        "compare with a copy: --witness COPY, or write it anew: govsms audit seal --rebuild-witness)")
        elif not witness.entries:
            result.fail(None, f"the witness {witness.path} is empty but the database has {len(stored)} signed checkpoints (the witness was emptied)")
        else:
            witnessed = {entry.seq: entry.head_hash for entry in witness.entries}
            lacking = [seq for seq in sorted(stored) if witnessed.get(seq) != stored[seq]]
            for seq in lacking[:5]:
                result.fail(None, f"checkpoint at seq {seq} is in the database but missing from the witness {witness.path} "
                            "(the witness was trimmed or replaced)")
            if len(lacking) > 5:
                result.fail(None, f"{len(lacking) - 5} more checkpoints are in the database but missing from the witness")
    for entry in witness.entries:
        result.witnessed += 1
        if not _signed_by(entry.public_key, trusted, entry.seq, entry.head_hash, entry.signature):
            result.fail(None, f"the witness's checkpoint at seq {entry.seq} is not signed by the trusted key "
                        "(the witness was changed, or is another installation's)")
        elif entry.seq < anchor_seq:
            continue  # pruned: the anchor, signed, says where the log starts now
        elif entry.seq > end:
            result.fail(end + 1, f"the {log_name} ends at seq {end} but the witness has a checkpoint at seq {entry.seq}")
        elif stored.get(entry.seq) != entry.head_hash:
            result.fail(entry.seq, f"checkpoint at seq {entry.seq} missing from the {store_name} (the witness has it)")
        elif computed.get(entry.seq) != entry.head_hash:
            result.fail(entry.seq, f"events up to seq {entry.seq} do not match the witness's checkpoint")


def _check_anchor(result: Verification, anchor: Anchor, trusted: bytes) -> None:
    """A pruned log is verified from its anchor on: the anchor must be signed by the trusted key
    (a database writer cannot move the start of the log)."""
    result.anchor_seq, result.anchor_signed_at = anchor.seq, anchor.signed_at
    if anchor.public_key != trusted:
        result.fail(anchor.seq + 1, f"the anchor at seq {anchor.seq} (where the pruned log starts) is signed by an unknown key")
    elif not anchor.signed_by(trusted):
        result.fail(anchor.seq + 1, f"the anchor at seq {anchor.seq} (where the pruned log starts) has a bad signature: forged or altered")


def verify_database(
    session: Session, trusted_public_key: bytes, *, mac_key: bytes | None = None, witness: Witness | None = None
) -> Verification:
    """Recompute every content and chain hash from the events, check every checkpoint against
    the trusted key, the index of events by person against the events, every event's MAC (when
    ``mac_key`` is given; sealed or not), and the database against the witness. Seals nothing."""
    result = Verification()
    chain_table, links_table = _CHAIN, _LINKS
    start = current_anchor(session)
    previous, last_seq = (start.head_hash, start.seq) if start else (GENESIS, 0)
    checkpoints = session.execute(select(_CHECKPOINTS).where(_CHECKPOINTS.c.seq >= last_seq).order_by(_CHECKPOINTS.c.seq)).all()
    wanted = {checkpoint.seq for checkpoint in checkpoints} | {entry.seq for entry in (witness.entries if witness else [])}
    at_checkpoints: dict[int, bytes] = {}
    if start is not None:
        _check_anchor(result, start, trusted_public_key)
        at_checkpoints[start.seq] = start.head_hash
    macs_begin: int | None = None
    sealed_head, sealed_hash = head(session)
    while True:
        events = _raw_events_after(session, last_seq, CHUNK)
        if not events:
            break
        upper = events[-1].seq
        stored = {
            row.seq: row
            for row in session.execute(select(chain_table).where(chain_table.c.seq > last_seq, chain_table.c.seq <= upper)).all()
        }
        people: dict[int, list[int]] = {}
        for seq, subject in session.execute(
            select(links_table.c.seq, links_table.c.subject_id).where(links_table.c.seq > last_seq, links_table.c.seq <= upper)
        ).all():
            people.setdefault(seq, []).append(subject)
        for row in events:
            link = stored.pop(row.seq, None)
            # What the MAC covers, and the document the chain hashes (which adds seq and the MAC).
            body, document, subjects = event_texts(row, _at_text(row.occurred_at))
            if sorted(people.pop(row.seq, [])) != sorted(subjects):
                result.fail(row.seq, f"the index of events by person does not match event {row.seq} (a link was added, removed or re-pointed)")
            if row.mac is None:
                if macs_begin is not None:
                    result.fail(row.seq, f"event {row.seq} has no MAC although the events since seq {macs_begin} have one (written or changed outside govsms)")
            else:
                macs_begin = macs_begin or row.seq
                if mac_key is not None and not hmac.compare_digest(row.mac, hmac.digest(mac_key, body.encode(), "sha256")):
                    result.fail(row.seq, f"event {row.seq} does not match its MAC: changed after it was written")
            last_seq = row.seq
            if row.seq > sealed_head:
                result.unsealed += 1  # checked above; the sealer chains it, verifying does not
                continue
            result.events += 1
            content = hashlib.sha256(document.encode()).digest()
            if link is None:
                result.fail(row.seq, f"event {row.seq} lies inside the sealed range but was never sealed")
            elif link.content_hash != content:
                result.fail(row.seq, f"event {row.seq} was changed after sealing")
            expected = chain_hash(previous, content)
            if link is not None and link.content_hash == content and link.chain_hash != expected:
                result.fail(row.seq, f"event {row.seq} does not follow the event before it (removed or reordered)")
            previous = expected
            if row.seq in wanted:
                at_checkpoints[row.seq] = previous
        for missing in sorted(stored):
            result.fail(missing, f"event {missing} was sealed but is missing")
        for orphan in sorted(people):
            result.fail(orphan, f"the index of events by person names event {orphan}, which does not exist")
    leftover = session.execute(select(chain_table.c.seq).where(chain_table.c.seq > last_seq).order_by(chain_table.c.seq).limit(1)).first()
    if leftover:
        result.fail(leftover.seq, f"event {leftover.seq} was sealed but is missing")
    orphan_link = session.execute(select(links_table.c.seq).where(links_table.c.seq > last_seq).order_by(links_table.c.seq).limit(1)).first()
    if orphan_link:
        result.fail(orphan_link.seq, f"the index of events by person names event {orphan_link.seq}, which does not exist")
    for checkpoint in checkpoints:
        _check_checkpoint(
            result, checkpoint.public_key, trusted_public_key, checkpoint.seq, checkpoint.head_hash, checkpoint.signature,
            at_checkpoints, sealed_head,
        )
    macs = _EVENTS.c.mac
    replays = session.execute(
        select(macs, func.min(_EVENTS.c.seq), func.max(_EVENTS.c.seq), func.count())
        .where(macs.is_not(None), _EVENTS.c.seq > (start.seq if start else 0)).group_by(macs).having(func.count() > 1).limit(20)
    ).all()
    for _mac, first, last, count in replays:
        result.fail(last, f"event {last} is a replay: it is event {first} again, MAC and all ({count} events carry that MAC)")
    signed_to = checkpoints[-1].seq if checkpoints else 0
    if checkpoints:
        result.signed_seq, result.signed_at = signed_to, checkpoints[-1].signed_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    if start is not None and start.seq > signed_to:  # pruned up to the newest checkpoint, whose row is gone: the anchor signs it
        signed_to = result.signed_seq = start.seq
        result.signed_at = start.signed_at
    if sealed_head > signed_to:
        result.fail(signed_to + 1, f"events up to seq {sealed_head} are sealed but no signed checkpoint covers those after seq {signed_to} "
                    "(checkpoints deleted?)")
    if witness is not None:
        stored_heads = {checkpoint.seq: checkpoint.head_hash for checkpoint in checkpoints}
        _check_witness(
            result, witness, trusted_public_key, stored_heads, at_checkpoints, sealed_head, "sealed log", "database", complete=True,
            anchor_seq=start.seq if start else 0,
        )
    result.head_seq, result.head_hash = sealed_head, sealed_hash
    return result


def export_lines(
    session: Session, *, account_id: int | None, public_key: bytes, now: datetime, witness: Witness | None = None,
    only: frozenset[int] | None = None,
) -> Iterator[str]:
    """JSON lines: a header, the witness's checkpoints (read before the database, so it never
    runs ahead of it), every sealed event (another account's only as its content hash), and the
    checkpoints. The header counts each kind of line. ``verify_export`` checks it with no database.
    ``only`` (with ``account_id``): the account's events a filter selected, by seq; its other
    events are exported as bare hashes too, so the export still verifies whole."""
    if only is not None and account_id is None:
        raise ValueError("a filtered export is one account's")
    sealed_head, _ = head(session)
    start = current_anchor(session)
    first = start.seq if start else 0
    chain_table, events_table, checkpoints = _CHAIN, _EVENTS, _CHECKPOINTS
    linked = select(func.count()).select_from(chain_table.join(events_table, events_table.c.seq == chain_table.c.seq))
    linked = linked.where(chain_table.c.seq > first, chain_table.c.seq <= sealed_head)
    if account_id is not None:
        linked = linked.where(owned_by(events_table, account_id))
    own = session.execute(linked).scalar_one()
    if only is not None:
        own = min(own, sum(1 for seq in only if first < seq <= sealed_head))  # the selected events in the sealed range
    sealed_rows = session.execute(
        select(func.count()).select_from(chain_table).where(chain_table.c.seq > first, chain_table.c.seq <= sealed_head)
    ).scalar_one()
    in_range = (checkpoints.c.seq >= first, checkpoints.c.seq <= sealed_head)
    signed = session.execute(select(func.count()).select_from(checkpoints).where(*in_range)).scalar_one()
    header: dict[str, object] = {
        "type": "header", "format": EXPORT_FORMAT, "version": 3, "account": account_id, "public_key": public_key.hex(),
        "exported_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"), "witness": len(witness.entries) if witness else None,
        "events": own, "sealed": sealed_rows - own, "checkpoints": signed,
    }
    if start is not None:
        header.update(version=4, anchor=start.seq)  # a log never pruned exports as before
    if only is not None:
        header["filtered"] = True  # the account's events the filter left out are bare hashes too
    yield canonical_json(header)
    for entry in witness.entries if witness else []:
        yield canonical_json(entry.item("witness"))
    if start is not None:
        yield canonical_json(start.item())
    last_seq = first
    while last_seq < sealed_head:
        events = {row.seq: row for row in _events_after(session, last_seq, CHUNK)}
        links = session.execute(
            select(chain_table).where(chain_table.c.seq > last_seq, chain_table.c.seq <= sealed_head).order_by(chain_table.c.seq).limit(CHUNK)
        ).all()
        if not links:
            break
        for link in links:
            row = events.get(link.seq)
            if row is not None and (account_id is None or row.account_id == account_id) and (only is None or link.seq in only):
                yield canonical_json({"type": "event", "event": event_document(row), "chain_hash": link.chain_hash.hex()})
            else:
                yield canonical_json(
                    {"type": "sealed", "seq": link.seq, "content_hash": link.content_hash.hex(), "chain_hash": link.chain_hash.hex()}
                )
            last_seq = link.seq
    for checkpoint in session.execute(select(checkpoints).where(*in_range).order_by(checkpoints.c.seq)).all():
        yield canonical_json(
            {"type": "checkpoint", "seq": checkpoint.seq, "head_hash": checkpoint.head_hash.hex(),
             "public_key": checkpoint.public_key.hex(), "signature": checkpoint.signature.hex(),
             "signed_at": checkpoint.signed_at.strftime("%Y-%m-%dT%H:%M:%SZ")}
        )


def _seq_of(item: dict[str, Any], kind: str) -> int:
    seq = item["event"]["seq"] if kind == "event" else item["seq"]
    if not isinstance(seq, int) or isinstance(seq, bool):
        raise TypeError("seq")
    return seq


def verify_export(
    lines: Iterable[str | bytes], trusted_public_key: bytes, *, witness: Witness | None = None,
    extends: tuple[int, bytes] | None = None,
) -> Verification:
    """Check an export offline against a pinned public key (never the one the file names):
    every link, every own event's content, every checkpoint, that the last event is signed, the
    witness lines it carries (and ``witness``, a copy kept apart), and, with ``extends`` (the head
    of an export saved earlier), that it holds the same events and chain up to that head."""
    result = Verification()
    previous, last_seq = GENESIS, 0
    at_seq: dict[int, bytes] = {}
    checkpoints: list[dict[str, Any]] = []  # parsed JSON: each member checked as it is used
    carried = Witness(path="the export")
    header = None
    start: Anchor | None = None
    counted = {"event": 0, "sealed": 0, "checkpoint": 0, "witness": 0}
    for number, line in enumerate(lines, start=1):
        try:
            item = json.loads(line)
            kind = item.get("type")
        except (ValueError, UnicodeDecodeError, AttributeError):
            result.fail(last_seq + 1, f"line {number} is not valid JSON")
            continue
        if kind in counted:
            counted[kind] += 1
        if kind == "header":
            if header is not None:
                result.fail(None, f"line {number} is a second header")
            header = item
        elif kind in ("event", "sealed"):
            try:
                seq = _seq_of(item, kind)
                content = content_hash(item["event"]) if kind == "event" else bytes.fromhex(item["content_hash"])
                claimed = bytes.fromhex(item["chain_hash"])
            except (KeyError, TypeError, ValueError):
                result.fail(last_seq + 1, f"line {number} is not a valid entry")
                continue
            result.events += 1
            if seq <= last_seq:
                result.fail(seq, f"event {seq} is out of order")
            previous = chain_hash(previous, content)
            if claimed != previous:
                result.fail(seq, f"event {seq} does not match the chain (changed, removed or reordered)")
                previous = claimed
            at_seq[seq] = previous
            last_seq = max(last_seq, seq)
        elif kind == "anchor":
            try:
                found = Anchor.from_item(item)
            except (KeyError, TypeError, ValueError):
                result.fail(None, f"line {number} is not a valid anchor")
                continue
            if start is not None or result.events:
                result.fail(found.seq + 1, f"line {number} is an anchor after {'another' if start else 'the events'}: it must come before them")
                continue
            start = found
            _check_anchor(result, start, trusted_public_key)
            previous, last_seq = start.head_hash, start.seq
            at_seq[start.seq] = start.head_hash
        elif kind == "checkpoint":
            checkpoints.append(item)
        elif kind == "witness":
            try:
                carried.entries.append(WitnessEntry.from_item(item))
            except (KeyError, TypeError, ValueError):
                carried.problems.append(f"line {number} is not a valid witness entry")
        else:
            result.fail(last_seq + 1, f"line {number} has an unknown type")
    if header is None or header.get("format") != EXPORT_FORMAT or header.get("version") not in EXPORT_VERSIONS:
        result.fail(None, "not a govsms audit export (no header)")
        return result
    if header.get("public_key") != trusted_public_key.hex():
        result.fail(None, "the export names another public key than the trusted one")
    if header.get("account") is None and counted["sealed"]:
        result.fail(None, f"a full export carries no sealed lines, this one has {counted['sealed']}: events were hidden as bare hashes")
    for name, kind in (("events", "event"), ("sealed", "sealed"), ("checkpoints", "checkpoint"), ("witness", "witness")):
        said = header.get(name)
        if said is None:
            if not isinstance(header.get("version"), int) or header["version"] < 3:
                continue  # older exports count less (version 2: the witness lines only)
            if name == "witness":
                said = 0  # exported with no witness at hand
        if said != counted[kind]:
            result.fail(None, f"the header counts {said} {kind} lines but the export has {counted[kind]} (lines were removed or added)")
    said_anchor = header.get("anchor") if header["version"] == 4 else None
    if said_anchor != (start.seq if start else None):
        result.fail(None, f"the header names the anchor {said_anchor} but the export has {start.seq if start else 'none'} (lines were removed or added)")
    stored: dict[int, bytes] = {}
    times: dict[int, str] = {entry.seq: entry.signed_at for entry in carried.entries}
    for item in checkpoints:
        try:
            seq, head_hash = item["seq"], bytes.fromhex(item["head_hash"])
            if not isinstance(seq, int) or isinstance(seq, bool):
                raise TypeError("seq")
            _check_checkpoint(
                result, bytes.fromhex(item["public_key"]), trusted_public_key, seq, head_hash,
                bytes.fromhex(item["signature"]), at_seq, last_seq,
            )
            stored[seq] = head_hash
            if isinstance(item.get("signed_at"), str):
                times[seq] = item["signed_at"]
        except (KeyError, TypeError, ValueError):
            result.fail(None, "a checkpoint is not valid")
    signed_to = max(stored, default=0)
    result.signed_seq, result.signed_at = signed_to, times.get(signed_to) or None
    if start is not None and start.seq > signed_to:  # pruned up to the newest checkpoint: the anchor signs it
        signed_to = result.signed_seq = start.seq
        result.signed_at = start.signed_at
    if not stored and start is None:
        result.fail(None, "nothing signed to verify: the export has no signed checkpoint")
    elif last_seq > signed_to:
        result.fail(signed_to + 1, f"events after seq {signed_to} are covered by no signed checkpoint (the export was cut or changed)")
    for kept in (carried, witness):
        if kept is not None and (kept.entries or kept.problems):
            _check_witness(result, kept, trusted_public_key, stored, at_seq, last_seq, "export", "export", anchor_seq=start.seq if start else 0)
    if extends is not None:
        earlier_seq, earlier_hash = extends
        if last_seq < earlier_seq:
            result.fail(last_seq + 1, f"the export ends at seq {last_seq}, before the earlier export's head at seq {earlier_seq}")
        elif start is not None and earlier_seq < start.seq:
            result.fail(None, f"the log was pruned up to seq {start.seq}, past the earlier export's head at seq {earlier_seq}: "
                        "this export cannot show it extends that one (verify it with --public-key)")
        elif earlier_seq and at_seq.get(earlier_seq) != earlier_hash:
            result.fail(earlier_seq, f"the events up to seq {earlier_seq} differ from the earlier export's")
    result.head_seq, result.head_hash = last_seq, at_seq.get(last_seq, GENESIS)
    return result


class NoTrustedKey(ValueError):
    """An export checked with neither a pinned public key nor an earlier export."""


def header_public_key(lines: Iterable[str | bytes]) -> bytes | None:
    """The public key an export names (trusted only for an export saved earlier)."""
    for line in lines:
        try:
            item = json.loads(line)
            if isinstance(item, dict) and item.get("type") == "header":
                return bytes.fromhex(item["public_key"])
        except (ValueError, UnicodeDecodeError, KeyError, TypeError):
            continue
    return None


def check_export(
    lines: list[str] | list[bytes], *, public_key: bytes | None = None, since: list[str] | list[bytes] | None = None,
    witness: Witness | None = None,
) -> Verification:
    """``govsms audit verify --file``: against the published key, or against an export saved
    earlier (``since``): that one's checkpoints must verify under its own key, and this one must
    be signed by the same key and extend it. A key found only in the file proves nothing."""
    if since is None:
        if public_key is None:
            raise NoTrustedKey("give the published public key, or an export saved earlier")
        return verify_export(lines, public_key, witness=witness)
    key = public_key or header_public_key(since)
    if key is None:
        result = Verification()
        result.fail(None, "the earlier export has no header")
        return result
    earlier = verify_export(since, key)
    if not earlier.ok:
        result = Verification()
        for problem in earlier.problems:
            result.fail(None, f"the earlier export does not verify: {problem}")
        return result
    return verify_export(lines, key, witness=witness, extends=(earlier.head_seq, earlier.head_hash))


def try_seal(session: Session, signing_seed: bytes, *, now: datetime) -> SealResult | None:
    """Seal inside a savepoint; if a worker sealed the same events at the same moment, its
    chain stands and this attempt is simply dropped."""
    from sqlalchemy.exc import IntegrityError

    try:
        with session.begin_nested():
            return seal_events(session, signing_seed, now=now)
    except IntegrityError:
        return None


def seal_and_witness(
    session_factory: sessionmaker[Session], signing_seed: bytes, witness_path: Path, *, now: datetime
) -> SealResult | None:
    """The sealer: seal in a transaction of its own, and once that is committed append the new
    checkpoint to the witness (so the witness never holds one the database did not keep)."""
    with session_scope(session_factory) as session:
        result = try_seal(session, signing_seed, now=now)
    witness_checkpoint(witness_path, result)
    return result


def witness_checkpoint(witness_path: Path, result: SealResult | None) -> bool:
    """Append a committed checkpoint to the witness. The witness is created only with the first
    checkpoint of the database: when it is missing while the database already had checkpoints
    (deleted, or never written), the sealer does not start a new one quietly (that would hide
    the loss); it logs an error and seals into the database only, until an operator runs
    ``govsms audit seal --rebuild-witness``. False when the checkpoint was not witnessed."""
    if result is None or result.checkpoint is None:
        return True
    if result.earlier_checkpoints and not witness_path.exists():
        log.error(
            "audit witness %s is missing although the database has %d earlier signed checkpoints: not recreated; "
            "checkpoint at seq %d kept in the database only. Restore the witness from its copy, or write it anew with "
            "govsms audit seal --rebuild-witness.", witness_path, result.earlier_checkpoints, result.checkpoint.seq,
        )
        return False
    append_witness(witness_path, [result.checkpoint])
    return True


class WitnessNotRebuilt(ValueError):
    """``--rebuild-witness`` refused: the log does not verify, or the old witness has more."""


def rebuild_witness(session: Session, signing_seed: bytes, witness_path: Path, old: Witness | None) -> int:
    """Write the witness anew from the database's checkpoints (``govsms audit seal
    --rebuild-witness``): only when the log verifies as it is, and the old witness, if any, holds
    no checkpoint the database lacks (rebuilding must never erase the evidence of a cut).
    Returns how many checkpoints it holds now; the caller records the audit event."""
    from govsms.audit.record import mac_key

    key = Ed25519PrivateKey.from_private_bytes(signing_seed)
    trusted = key.public_key().public_bytes_raw()
    result = verify_database(session, trusted, mac_key=mac_key(signing_seed), witness=old)
    lacking = ("in the database but missing from the witness", "is empty but the database has")
    problems = [problem for problem in result.problems if not any(text in problem for text in lacking)]
    if problems or (not result.ok and len(result.problems) >= 20):
        raise WitnessNotRebuilt("the log does not verify, so its checkpoints are not written to a new witness: " + "; ".join(problems[:5]))
    rows = session.execute(select(_CHECKPOINTS).order_by(_CHECKPOINTS.c.seq)).all()
    entries = {
        row.seq: WitnessEntry(seq=row.seq, head_hash=row.head_hash, public_key=row.public_key, signature=row.signature,
                              signed_at=row.signed_at.strftime("%Y-%m-%dT%H:%M:%SZ"))
        for row in rows
    }
    start = current_anchor(session)
    for entry in old.entries if old is not None and start is not None else []:
        # The checkpoints of pruned segments live on in the witness only: they are kept.
        if start is not None and entry.seq < start.seq and _signed_by(entry.public_key, trusted, entry.seq, entry.head_hash, entry.signature):
            entries.setdefault(entry.seq, entry)
    replace_witness(witness_path, [entries[seq] for seq in sorted(entries)])
    return len(entries)
