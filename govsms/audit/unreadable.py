"""Rows whose encrypted values cannot be read: a value altered in the database, a value moved in
from another row, or a person's key destroyed while their rows stayed (a restored backup, an
erasure cut short). The page shows that row as "cannot be read" and the rest as usual; each such
row is an error event in the access log naming the table and row, never any content."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from govsms.auth import Actor
from govsms.audit.actions import Action
from govsms.audit.record import record_event
from govsms.i18n import N_

CANNOT_BE_READ = N_("cannot be read")
"""What a page, an export or the API's message says in place of an unreadable value."""
NO_KEY = "no_key"
ALTERED = "does_not_decrypt"
MAX_EVENTS = 100
"""Events per call, one per row; past this, one more event counts the rest (an export of a
whole account after a lost key stays one export, not a hundred thousand inserts)."""

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class UnreadableRow:
    table: str
    row_id: int | str
    """The row's id; a row named by a token (an import upload) gives the token."""
    subject_id: int | None
    reason: str
    """``no_key`` (the person's key is gone) or ``does_not_decrypt``."""


def record_unreadable(
    session: Session, actor: Actor | None, rows: Sequence[UnreadableRow], *, now: datetime, account_id: int | None = None
) -> None:
    """One ``data.unreadable`` event per row (up to ``MAX_EVENTS``) and a warning in the log.
    ``actor`` None: the worker (``account_id`` says whose rows)."""
    account = account_id if account_id is not None else actor.account_id if actor else None
    for row in rows[:MAX_EVENTS]:
        record_event(
            session, actor, Action.DATA_UNREADABLE, now=now, account_id=account, target=(row.table, row.row_id),
            subjects=[row.subject_id] if row.subject_id is not None else (), details={"table": row.table, "reason": row.reason},
        )
        log.warning(
            "a stored value cannot be read: %s %s (%s)", row.table, row.row_id, row.reason,
            extra={"event": "data.unreadable", "account_id": account},
        )
    if len(rows) > MAX_EVENTS:
        rest = rows[MAX_EVENTS:]
        record_event(
            session, actor, Action.DATA_UNREADABLE, now=now, account_id=account, target=(rest[0].table, rest[0].row_id),
            details={"table": rest[0].table, "more_rows": len(rest)},
        )
        log.warning(
            "%d more stored values cannot be read in %s", len(rest), rest[0].table,
            extra={"event": "data.unreadable", "account_id": account},
        )
