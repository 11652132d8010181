"""What the retention domain holds about one person, for a data-subject request
(``govsms.subjects``): legal holds on their number. Each function follows
``govsms.personal_data``'s ``Find``, ``Export`` or ``Erase``; the caller audits.

A hold in force keeps the person's data: the erasure asks ``active_holds`` first and refuses with
the holds' reasons; the erasure itself deletes only holds that have ended."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, or_, select
from sqlmodel import Session, col

from govsms.db import rowcount
from govsms.i18n import _
from govsms.personal_data import Found, Person
from govsms.retention.models import LegalHold
from govsms.tenancy import owned_by


def _holds(session: Session, person: Person) -> list[LegalHold]:
    return list(session.execute(
        select(LegalHold).where(owned_by(LegalHold, person.account_id), col(LegalHold.blind_index) == person.blind_index)
        .order_by(col(LegalHold.until).desc(), col(LegalHold.id))
    ).scalars())


def active_holds(session: Session, account_id: int, blind_index: bytes, *, now: datetime) -> list[LegalHold]:
    """The account's holds in force on ``now``'s day that keep this number's data: the holds on
    the number and those on the whole account (they keep everything); soonest end last."""
    return list(session.execute(
        select(LegalHold).where(
            owned_by(LegalHold, account_id), col(LegalHold.until) >= now.date(),
            or_(col(LegalHold.blind_index) == blind_index, col(LegalHold.blind_index).is_(None)),
        ).order_by(col(LegalHold.until).desc(), col(LegalHold.id))
    ).scalars())


def find_holds(session: Session, person: Person) -> Found | None:
    """Holds on the person's number, in force or ended: their end dates and reasons."""
    holds = _holds(session, person)
    if not holds:
        return None
    return Found(
        table="legal_hold", count=len(holds),
        first_at=min(hold.created_at for hold in holds), last_at=max(hold.created_at for hold in holds),
        lines=tuple(_("Legal hold until %(until)s: %(reason)s") % {"until": hold.until.isoformat(), "reason": hold.reason} for hold in holds),
    )


def export_holds(session: Session, person: Person) -> list[dict[str, object]]:
    return [
        {"reason": hold.reason, "until": hold.until.isoformat(), "placed_at": hold.created_at.isoformat()}
        for hold in _holds(session, person)
    ]


def erase_holds(session: Session, person: Person, *, limit: int, now: datetime) -> int:
    """Delete the person's holds that have ended (one in force refuses the whole erasure before
    this runs, and is never deleted here)."""
    return rowcount(session.execute(
        delete(LegalHold).where(
            owned_by(LegalHold, person.account_id), col(LegalHold.blind_index) == person.blind_index, col(LegalHold.until) < now.date(),
        )
    ))
