"""Legal holds: the account's DPO stops the purge of the whole account, or of one number (by its
blind index under the account's index key: the caller computes it, the number is not stored),
with a reason and an end date. A hold is in force up to and including its end date."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlmodel import Session, col, select

from govsms.audit.actions import Action
from govsms.audit.record import record_event
from govsms.auth import Actor, Permission, require
from govsms.errors import InvalidInput
from govsms.i18n import _
from govsms.retention.models import LegalHold
from govsms.tenancy import owned_by

REASON_LENGTH = 200


@dataclass(frozen=True)
class HoldsInForce:
    """What the holds of one account cover on a day."""

    account: bool
    """A hold on the whole account: nothing of it is purged."""
    numbers: frozenset[bytes]
    """Blind indexes of the numbers on hold."""


def place_legal_hold(
    session: Session, actor: Actor, *, blind_index: bytes | None, reason: str, until: date, now: datetime,
) -> LegalHold:
    """The DPO places a hold on the actor's account (``blind_index`` None) or on one number; the
    reason is required (the audit event names neither it nor the number: counts only)."""
    require(actor, Permission.RETENTION)
    reason = reason.strip()
    fields: dict[str, str] = {}
    if not reason:
        fields["reason"] = _("Give the reason for the hold.")
    elif len(reason) > REASON_LENGTH:
        fields["reason"] = _("Shorten the reason to %(max)d characters.") % {"max": REASON_LENGTH}
    if until < now.date():
        fields["until"] = _("Give an end date from today on.")
    if fields:
        raise InvalidInput(next(iter(fields.values())), fields=fields)
    hold = LegalHold(
        account_id=actor.account_id, blind_index=blind_index, reason=reason, until=until, created_by=actor.label, created_at=now,
    )
    session.add(hold)
    session.flush()
    record_event(
        session, actor, Action.LEGAL_HOLD_ADDED, now=now, target=("legal_hold", hold.id),
        details={"on": "number" if blind_index is not None else "account", "until": until.isoformat()},
    )
    return hold


def holds_in_force(session: Session, account_id: int, *, today: date) -> HoldsInForce:
    """The account's holds that have not ended by ``today`` (for the purge; no actor)."""
    rows = session.exec(
        select(LegalHold.blind_index).where(owned_by(LegalHold, account_id), col(LegalHold.until) >= today)
    ).all()
    return HoldsInForce(
        account=any(index is None for index in rows), numbers=frozenset(index for index in rows if index is not None),
    )
