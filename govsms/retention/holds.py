"""Legal holds: the account's DPO stops the purge of the whole account, or of one number (by its
blind index under the account's index key: the caller computes it, the number is not stored),
with a reason and an end date. A hold is in force up to and including its end date."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlmodel import Session, col, select

from govsms.audit.actions import Action
from govsms.audit.record import record_event
from govsms.auth import Actor, Permission, require
from govsms.errors import InvalidInput, NotFound
from govsms.i18n import _
from govsms.retention.models import LegalHold
from govsms.keys.store import vault_of
from govsms.phone import normalise
from govsms.tenancy import get_scoped, owned_by, scoped

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


def place_hold(
    session: Session, actor: Actor, *, number: str | None, reason: str, until: date, now: datetime,
) -> LegalHold:
    """``place_legal_hold`` for a number as typed (``None`` or blank: the whole account): the
    number is normalised and only its blind index is kept; a refused number is a 422 on ``number``."""
    require(actor, Permission.RETENTION)
    index: bytes | None = None
    if number is not None and number.strip():
        e164 = normalise(number)
        index = vault_of(session).blind_indexes(session, actor.account_id, [e164], now=now)[e164]
    return place_legal_hold(session, actor, blind_index=index, reason=reason, until=until, now=now)


def legal_holds(session: Session, actor: Actor, *, today: date) -> list[LegalHold]:
    """The DPO's view of the account's holds in force (ended ones are in the access log), soonest end first."""
    require(actor, Permission.RETENTION)
    return list(session.exec(
        scoped(LegalHold, actor).where(col(LegalHold.until) >= today).order_by(col(LegalHold.until), col(LegalHold.id))
    ).all())


def legal_hold(session: Session, actor: Actor, hold_id: int, *, today: date) -> LegalHold:
    """One hold in force of the actor's account; ``NotFound`` for an ended one or another account's."""
    require(actor, Permission.RETENTION)
    hold = get_scoped(session, LegalHold, hold_id, actor, missing=_("No such legal hold."))
    if hold.until < today:
        raise NotFound(_("No such legal hold."))
    return hold


def end_legal_hold(session: Session, actor: Actor, hold_id: int, *, now: datetime) -> None:
    """The DPO ends a hold early: it ends yesterday, so the next purge takes what it kept (the row
    stays for the record; the audit event names the hold, not its number or reason)."""
    hold = legal_hold(session, actor, hold_id, today=now.date())
    hold.until = now.date() - timedelta(days=1)
    session.add(hold)
    session.flush()
    record_event(
        session, actor, Action.LEGAL_HOLD_ENDED, now=now, target=("legal_hold", hold.id),
        details={"on": "number" if hold.blind_index is not None else "account"},
    )
