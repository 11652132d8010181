"""Writing audit events, in the same transaction as the action or view they describe."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import insert
from sqlmodel import Session

from govsms.accounts.actor import Actor
from govsms.audit.actions import Action
from govsms.audit.models import AuditEvent, AuditEventSubject
from govsms.db import SMALL_BATCH, copy_rows
from govsms.log import request_id

INSERT_EVENT = insert(AuditEvent.__table__).returning(AuditEvent.__table__.c.seq)
"""Built once (every request that shows or changes personal data writes an event)."""
_EVENT_COLUMNS = ("occurred_at", "account_id", "actor", "action", "target_type", "target_id", "request_id", "subject_ids", "details")
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


def canonical_json(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


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
    details = details or {}
    _check_details(details)
    subject_ids = sorted({int(subject) for subject in subjects})
    row = dict(
            occurred_at=now,
            account_id=account_id if account_id is not None else (actor.account_id if actor else None),
            actor=actor.label if actor else "system",
            action=action.value,
            target_type=target[0] if target else None,
            target_id=str(target[1]) if target else None,
            request_id=request_id.get(),
            subject_ids=canonical_json(subject_ids),
            details=canonical_json(details),
    )
    connection = session.connection()
    if subject_ids and len(subject_ids) < SMALL_BATCH and connection.dialect.name == "postgresql":
        # The event and its subject links in one statement (most events name one person or a few).
        row["occurred_at"] = now.astimezone(UTC).replace(tzinfo=None)
        return connection.exec_driver_sql(INSERT_EVENT_WITH_SUBJECTS, {**row, "subjects": subject_ids}).first()[0]  # type: ignore[index]
    seq = session.execute(INSERT_EVENT, row).scalar_one()
    if subject_ids:
        copy_rows(session, AuditEventSubject.__table__, ["seq", "subject_id"], ((seq, subject) for subject in subject_ids))
    return seq
