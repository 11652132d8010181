"""Writing audit events, in the same transaction as the action or view they describe."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from operator import itemgetter
from types import SimpleNamespace
from typing import Protocol, TypedDict, cast

from sqlalchemy import insert
from sqlmodel import Session

from govsms.auth import Actor
from govsms.audit.actions import Action
from govsms.audit.models import AuditEvent, AuditEventSubject
from govsms.db import SMALL_BATCH, copy_rows, table_of
from govsms.log import request_id

_EVENTS, _LINKS = table_of(AuditEvent), table_of(AuditEventSubject)
INSERT_EVENT = insert(_EVENTS).returning(_EVENTS.c.seq)
"""Built once (every request that shows or changes personal data writes an event)."""
INSERT_EVENTS = insert(_EVENTS).returning(_EVENTS.c.seq, sort_by_parameter_order=True)
_EVENT_COLUMNS = ("occurred_at", "account_id", "actor", "action", "target_type", "target_id", "request_id", "subject_ids", "details", "mac")
_EVENT_VALUES = itemgetter(*_EVENT_COLUMNS)
"""An event's values in ``_EVENT_COLUMNS`` order, as a tuple (for COPY)."""
INSERT_EVENT_WITH_SUBJECTS = (
    f"WITH event AS (INSERT INTO audit_event ({', '.join(_EVENT_COLUMNS)}) "
    f"VALUES ({', '.join(f'%({name})s' for name in _EVENT_COLUMNS)}) RETURNING seq) "
    "INSERT INTO audit_event_subject (seq, subject_id) SELECT event.seq, subject FROM event, unnest(%(subjects)s::bigint[]) AS subject "
    "RETURNING seq"
)
_SAFE_TEXT = re.compile(r"^[\w.:/,+-]{0,64}$")
_DIGIT_RUN = re.compile(r"\d{7,}")
_DOCUMENT_HASH = re.compile(r"^sha256:[0-9a-f]{64}$")


def _check_details(details: dict[str, object]) -> None:
    """Details are ids, counts and codes. A value that could be personal data is a bug here."""
    for name, value in details.items():
        if value is None or isinstance(value, bool | int):
            continue
        if isinstance(value, str) and _SAFE_TEXT.match(value) and not _DIGIT_RUN.search(value):
            continue
        if name == "document" and isinstance(value, str) and _DOCUMENT_HASH.match(value):
            continue  # a document's SHA-256 (a DPA's PDF): hex, so digit runs are chance
        raise ValueError(f"audit detail {name!r} must be an id, a count or a short code")


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
"""One encoder for every canonical document (``json.dumps`` with options builds a new one per call)."""


def canonical_json(value: object) -> str:
    return _CANONICAL.encode(value)


class EventFields(Protocol):
    """What an event says, as any reader has it: an ``AuditEvent``, a database row (attribute
    access, as the driver gives it: no conversion per row) or the values ``_event_row`` builds.
    Read-only, so each of them fits."""

    @property
    def occurred_at(self) -> datetime: ...
    @property
    def account_id(self) -> int | None: ...
    @property
    def actor(self) -> str: ...
    @property
    def action(self) -> str: ...
    @property
    def target_type(self) -> str | None: ...
    @property
    def target_id(self) -> str | None: ...
    @property
    def request_id(self) -> str | None: ...
    @property
    def subject_ids(self) -> str: ...
    @property
    def details(self) -> str: ...


class EventRow(EventFields, Protocol):
    """An event as stored: with its sequence number and its MAC (None in chain format 1)."""

    @property
    def seq(self) -> int | None: ...
    @property
    def mac(self) -> bytes | None: ...


class EventValues(TypedDict):
    """The columns of a new event (all but ``seq``), as ``_event_row`` builds them."""

    occurred_at: datetime
    account_id: int | None
    actor: str
    action: str
    target_type: str | None
    target_id: str | None
    request_id: str | None
    subject_ids: str
    details: str
    mac: bytes | None


def event_body(row: EventFields) -> dict[str, object]:
    """What an event says, without its sequence number (unknown until it is inserted)."""
    return {
        "at": row.occurred_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "account": row.account_id,
        "actor": row.actor,
        "action": row.action,
        "target": [row.target_type, row.target_id],
        "request": row.request_id,
        "subjects": json.loads(row.subject_ids),
        "details": json.loads(row.details),
    }


@lru_cache(maxsize=4)
def mac_key(signing_seed: bytes) -> bytes:
    """The key of event MACs: derived from the audit signing key, so a database writer without
    the key file (or GOVSMS_AUDIT_SIGNING_KEY) cannot make one."""
    return hmac.new(signing_seed, b"govsms audit event mac v1", hashlib.sha256).digest()


def event_mac(key: bytes, row: EventFields) -> bytes:
    return body_mac(key, event_body(row))


def event_texts(row: EventRow, at: str | None = None) -> tuple[str, str, list[int]]:
    """An event's MAC text and its document's text (the canonical JSON of ``event_body`` and of
    ``chain.event_document``), and its subjects: each value encoded once and the two objects put
    together in sorted key order, byte for byte what ``canonical_json`` gives, at about half the
    cost (``audit verify`` does this for every event). ``at``: the time as the body writes it, when
    the caller has it (read raw from the database)."""
    encode = _CANONICAL.encode
    subjects = json.loads(row.subject_ids)
    head = (
        f'{{"account":{encode(row.account_id)},"action":{encode(row.action)},"actor":{encode(row.actor)},'
        f'"at":"{at or row.occurred_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")}","details":{encode(json.loads(row.details))}'
    )
    request, rest = encode(row.request_id), f'"subjects":{encode(subjects)},"target":{encode([row.target_type, row.target_id])}}}'
    body = f'{head},"request":{request},{rest}'
    mac = f',"mac":"{row.mac.hex()}"' if row.mac is not None else ""
    return body, f'{head}{mac},"request":{request},"seq":{row.seq},{rest}', subjects


def body_mac(key: bytes, body: dict[str, object]) -> bytes:
    return hmac.digest(key, canonical_json(body).encode(), "sha256")  # one-shot: the same MAC, faster


def _mac_key_of(session: Session) -> bytes | None:
    vault = session.info.get("vault")
    return mac_key(vault.keys.audit_signing_seed) if vault is not None else None


@dataclass(frozen=True)
class EventSpec:
    """One event for ``record_events`` (the arguments of ``record_event``, and the request that
    caused it, for events written in another thread than the request's)."""

    actor: Actor | None
    action: Action
    now: datetime
    account_id: int | None = None
    target: tuple[str, object] | None = None
    subjects: Iterable[int] = ()
    details: dict[str, object] | None = None
    request_id: str | None = None


def _event_row(session: Session, spec: EventSpec) -> tuple[EventValues, list[int]]:
    """The row of an event, with its MAC, and its subject ids."""
    details = spec.details or {}
    _check_details(details)
    subject_ids = sorted({int(subject) for subject in spec.subjects})
    actor, target = spec.actor, spec.target
    row: EventValues = {
        "occurred_at": spec.now,
        "account_id": spec.account_id if spec.account_id is not None else (actor.account_id if actor else None),
        "actor": actor.label if actor else "system",
        "action": spec.action.value,
        "target_type": target[0] if target else None,
        "target_id": str(target[1]) if target else None,
        "request_id": spec.request_id,
        "subject_ids": canonical_json(subject_ids),
        "details": canonical_json(details),
        "mac": None,
    }
    key = _mac_key_of(session)
    if key is not None:
        mac = event_mac(key, SimpleNamespace(**row))
        # Two events alike in every part (same request, same moment) would carry the same MAC,
        # which verify reports as a replay: the second is written a microsecond later.
        written: set[bytes] = session.info.setdefault("audit_macs", set())
        while mac in written:
            row["occurred_at"] += timedelta(microseconds=1)
            mac = event_mac(key, SimpleNamespace(**row))
        written.add(mac)
        row["mac"] = mac
    return row, subject_ids


def record_event(
    session: Session,
    actor: Actor | None,
    action: Action,
    *,
    now: datetime,
    account_id: int | None = None,
    target: tuple[str, object] | None = None,
    subjects: Iterable[int] = (),
    details: dict[str, object] | None = None,
) -> int:
    """Insert one event (and its subject links); returns its sequence number."""
    row, subject_ids = _event_row(session, EventSpec(actor, action, now, account_id, target, subjects, details, request_id.get()))
    connection = session.connection()
    if subject_ids and len(subject_ids) < SMALL_BATCH and connection.dialect.name == "postgresql":
        # The event and its subject links in one statement (most events name one person or a few).
        row["occurred_at"] = row["occurred_at"].astimezone(UTC).replace(tzinfo=None)
        inserted = connection.exec_driver_sql(INSERT_EVENT_WITH_SUBJECTS, {**row, "subjects": subject_ids})
        return cast(int, inserted.scalar())  # the event's seq, once per subject: the first row's
    seq: int = session.execute(INSERT_EVENT, row).scalar_one()
    if subject_ids:
        copy_rows(session, _LINKS, ["seq", "subject_id"], ((seq, subject) for subject in subject_ids))
    return seq


def record_events(session: Session, specs: list[EventSpec], *, seqs: list[int] | None = None) -> list[int]:
    """Insert many events in one statement, and all their subject links in one more; returns
    their sequence numbers in the order given. ``seqs``: numbers the caller took for them from the
    table's sequence (then the events go in with one COPY)."""
    if not specs:
        return []
    built = [_event_row(session, spec) for spec in specs]
    if seqs is None:
        seqs = [seq for (seq,) in session.execute(INSERT_EVENTS, [row for row, _subjects in built])]
    else:
        copy_rows(session, _EVENTS, ["seq", *_EVENT_COLUMNS], ((seq, *_EVENT_VALUES(row)) for seq, (row, _subjects) in zip(seqs, built, strict=True)))
    links = [(seq, subject) for seq, (_row, subject_ids) in zip(seqs, built, strict=True) for subject in subject_ids]
    if links:
        copy_rows(session, _LINKS, ["seq", "subject_id"], links)
    return seqs
