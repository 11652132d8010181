"""Sealing and verifying the audit log.

Each event's content hash is SHA-256 of its canonical JSON; its chain hash is
SHA-256(previous chain hash || content hash). Hashing the content first lets an export show
another account's events as bare content hashes and still verify end to end. A checkpoint signs
(seq, head hash) with Ed25519. ``verify`` recomputes everything and names the first bad
sequence number; an export verifies with no database at all.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import func, insert, select
from sqlmodel import Session

from govsms.audit.models import AuditChain, AuditCheckpoint, AuditEvent, AuditEventSubject
from govsms.audit.record import canonical_json
from govsms.db import bulk_insert

GENESIS = bytes(32)
CHUNK = 10_000
GAP_GRACE = timedelta(seconds=60)
"""A gap in sequence numbers (a rolled-back insert) is sealed over only once the event after it
is this old: a transaction still running then would commit an event inside the sealed range."""
EXPORT_FORMAT = "govsms-audit-export"

EVENT_COLUMNS = (
    AuditEvent.__table__.c.seq,
    AuditEvent.__table__.c.occurred_at,
    AuditEvent.__table__.c.account_id,
    AuditEvent.__table__.c.actor,
    AuditEvent.__table__.c.action,
    AuditEvent.__table__.c.target_type,
    AuditEvent.__table__.c.target_id,
    AuditEvent.__table__.c.request_id,
    AuditEvent.__table__.c.subject_ids,
    AuditEvent.__table__.c.details,
)


def event_document(row: object) -> dict[str, object]:
    """The canonical form of an event: what its hash covers."""
    return {
        "seq": row.seq,  # type: ignore[attr-defined]
        "at": row.occurred_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),  # type: ignore[attr-defined]
        "account": row.account_id,  # type: ignore[attr-defined]
        "actor": row.actor,  # type: ignore[attr-defined]
        "action": row.action,  # type: ignore[attr-defined]
        "target": [row.target_type, row.target_id],  # type: ignore[attr-defined]
        "request": row.request_id,  # type: ignore[attr-defined]
        "subjects": json.loads(row.subject_ids),  # type: ignore[attr-defined]
        "details": json.loads(row.details),  # type: ignore[attr-defined]
    }


def content_hash(document: dict[str, object]) -> bytes:
    return hashlib.sha256(canonical_json(document).encode()).digest()


def chain_hash(previous: bytes, content: bytes) -> bytes:
    return hashlib.sha256(previous + content).digest()


def checkpoint_message(seq: int, head: bytes) -> bytes:
    return f"{EXPORT_FORMAT}|{seq}|{head.hex()}".encode()


def _events_after(session: Session, seq: int, limit: int) -> list:  # type: ignore[type-arg]
    return session.execute(
        select(*EVENT_COLUMNS).where(AuditEvent.__table__.c.seq > seq).order_by(AuditEvent.__table__.c.seq).limit(limit)
    ).all()


def head(session: Session) -> tuple[int, bytes]:
    row = session.execute(
        select(AuditChain.__table__.c.seq, AuditChain.__table__.c.chain_hash).order_by(AuditChain.__table__.c.seq.desc()).limit(1)
    ).first()
    return (row.seq, row.chain_hash) if row else (0, GENESIS)


@dataclass
class SealResult:
    sealed: int
    head_seq: int


def seal_events(session: Session, signing_seed: bytes, *, now: datetime, limit: int | None = None) -> SealResult:
    """Chain every committed, unsealed event in sequence order and sign a checkpoint."""
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
            bulk_insert(session, AuditChain.__table__, links)
            sealed += len(links)
        if len(links) < len(rows) or len(rows) < CHUNK:
            break
    if sealed:
        key = Ed25519PrivateKey.from_private_bytes(signing_seed)
        session.execute(
            insert(AuditCheckpoint.__table__).values(
                seq=last_seq,
                head_hash=last_hash,
                signed_at=now,
                public_key=key.public_key().public_bytes_raw(),
                signature=key.sign(checkpoint_message(last_seq, last_hash)),
            )
        )
    return SealResult(sealed=sealed, head_seq=last_seq)


@dataclass
class Verification:
    ok: bool = True
    events: int = 0
    checkpoints: int = 0
    first_bad_seq: int | None = None
    problems: list[str] = field(default_factory=list)

    def fail(self, seq: int | None, problem: str) -> None:
        self.ok = False
        if seq is not None and (self.first_bad_seq is None or seq < self.first_bad_seq):
            self.first_bad_seq = seq
        if len(self.problems) < 20:
            self.problems.append(problem)


def _check_checkpoint(result: Verification, public_key: bytes, trusted: bytes | None, seq: int, head_hash: bytes, signature: bytes, computed: dict[int, bytes]) -> None:
    result.checkpoints += 1
    if trusted is not None and public_key != trusted:
        result.fail(seq, f"checkpoint at {seq} is signed by an unknown key")
        return
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, checkpoint_message(seq, head_hash))
    except InvalidSignature:
        result.fail(seq, f"checkpoint at {seq} has a bad signature")
        return
    if computed.get(seq) != head_hash:
        result.fail(seq, f"checkpoint at {seq} does not match the chain: events up to {seq} were changed")


def verify_database(session: Session, trusted_public_key: bytes | None) -> Verification:
    """Recompute every content and chain hash from the events and check every checkpoint."""
    result = Verification()
    chain_table = AuditChain.__table__
    checkpoints = session.execute(select(AuditCheckpoint.__table__).order_by(AuditCheckpoint.__table__.c.seq)).all()
    wanted = {checkpoint.seq for checkpoint in checkpoints}
    at_checkpoints: dict[int, bytes] = {}
    previous = GENESIS
    last_seq = 0
    subject_links = 0
    sealed_head, _ = head(session)
    while True:
        events = _events_after(session, last_seq, CHUNK)
        if not events:
            break
        upper = events[-1].seq
        stored = {
            row.seq: row
            for row in session.execute(
                select(chain_table).where(chain_table.c.seq > last_seq, chain_table.c.seq <= upper)
            ).all()
        }
        for row in events:
            link = stored.pop(row.seq, None)
            if row.seq > sealed_head:
                last_seq = row.seq
                continue  # not sealed yet: the next sealing run chains it
            result.events += 1
            document = event_document(row)
            subject_links += len(document["subjects"])  # type: ignore[arg-type]
            content = content_hash(document)
            if link is None:
                result.fail(row.seq, f"event {row.seq} lies inside the sealed range but was never sealed")
            elif link.content_hash != content:
                result.fail(row.seq, f"event {row.seq} was changed after sealing")
            elif link.chain_hash != chain_hash(previous, content):
                result.fail(row.seq, f"event {row.seq} does not follow the event before it (removed or reordered)")
            previous = chain_hash(previous, content)
            if row.seq in wanted:
                at_checkpoints[row.seq] = previous
            last_seq = row.seq
        for missing in sorted(stored):
            result.fail(missing, f"event {missing} was sealed but is missing")
    leftover = session.execute(select(chain_table.c.seq).where(chain_table.c.seq > last_seq).order_by(chain_table.c.seq).limit(1)).first()
    if leftover:
        result.fail(leftover.seq, f"event {leftover.seq} was sealed but is missing")
    for checkpoint in checkpoints:
        _check_checkpoint(
            result, checkpoint.public_key, trusted_public_key, checkpoint.seq, checkpoint.head_hash, checkpoint.signature, at_checkpoints
        )
    stored_links = session.execute(select(func.count()).select_from(AuditEventSubject.__table__)).scalar_one()
    unsealed_links = session.execute(
        select(func.count()).select_from(AuditEventSubject.__table__).where(AuditEventSubject.__table__.c.seq > sealed_head)
    ).scalar_one()
    if stored_links - unsealed_links != subject_links:
        result.fail(None, "the index of events by person does not match the events (rows added or removed)")
    return result


def export_lines(session: Session, *, account_id: int | None, public_key: bytes, now: datetime) -> Iterator[str]:
    """JSON lines: a header, every sealed event (another account's only as its content hash),
    and the checkpoints. ``verify_export`` checks it with no database."""
    yield canonical_json(
        {"type": "header", "format": EXPORT_FORMAT, "version": 1, "account": account_id, "public_key": public_key.hex(),
         "exported_at": now.strftime("%Y-%m-%dT%H:%M:%SZ")}
    )
    sealed_head, _ = head(session)
    last_seq = 0
    chain_table = AuditChain.__table__
    while last_seq < sealed_head:
        events = {row.seq: row for row in _events_after(session, last_seq, CHUNK)}
        links = session.execute(
            select(chain_table).where(chain_table.c.seq > last_seq).order_by(chain_table.c.seq).limit(CHUNK)
        ).all()
        if not links:
            break
        for link in links:
            row = events.get(link.seq)
            if row is not None and (account_id is None or row.account_id == account_id):
                yield canonical_json({"type": "event", "event": event_document(row), "chain_hash": link.chain_hash.hex()})
            else:
                yield canonical_json(
                    {"type": "sealed", "seq": link.seq, "content_hash": link.content_hash.hex(), "chain_hash": link.chain_hash.hex()}
                )
            last_seq = link.seq
    for checkpoint in session.execute(select(AuditCheckpoint.__table__).order_by(AuditCheckpoint.__table__.c.seq)).all():
        yield canonical_json(
            {"type": "checkpoint", "seq": checkpoint.seq, "head_hash": checkpoint.head_hash.hex(),
             "public_key": checkpoint.public_key.hex(), "signature": checkpoint.signature.hex()}
        )


def verify_export(lines: Iterable[str | bytes], trusted_public_key: bytes | None = None) -> Verification:
    """Check an export offline: every link, every own event's content, every checkpoint."""
    result = Verification()
    previous, last_seq = GENESIS, 0
    at_seq: dict[int, bytes] = {}
    checkpoints = []
    header = None
    for number, line in enumerate(lines, start=1):
        try:
            item = json.loads(line)
        except (ValueError, UnicodeDecodeError):
            result.fail(last_seq + 1, f"line {number} is not valid JSON")
            continue
        kind = item.get("type")
        if kind == "header":
            header = item
        elif kind in ("event", "sealed"):
            try:
                seq = item["event"]["seq"] if kind == "event" else item["seq"]
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
            last_seq = seq
        elif kind == "checkpoint":
            checkpoints.append(item)
        else:
            result.fail(last_seq + 1, f"line {number} has an unknown type")
    if header is None or header.get("format") != EXPORT_FORMAT:
        result.fail(None, "not a govsms audit export (no header)")
        return result
    trusted = trusted_public_key or bytes.fromhex(header["public_key"])
    for item in checkpoints:
        try:
            _check_checkpoint(
                result, bytes.fromhex(item["public_key"]), trusted, item["seq"], bytes.fromhex(item["head_hash"]),
                bytes.fromhex(item["signature"]), at_seq,
            )
        except (KeyError, TypeError, ValueError):
            result.fail(item.get("seq"), "a checkpoint is not valid")
    if not checkpoints and result.events:
        result.fail(None, "the export has no signed checkpoint")
    return result


def try_seal(session: Session, signing_seed: bytes, *, now: datetime) -> SealResult | None:
    """Seal inside a savepoint; if a worker sealed the same events at the same moment, its
    chain stands and this attempt is simply dropped."""
    from sqlalchemy.exc import IntegrityError

    try:
        with session.begin_nested():
            return seal_events(session, signing_seed, now=now)
    except IntegrityError:
        return None
