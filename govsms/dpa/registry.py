"""The sub-processor registry (Annex IV): the operator adds, changes and removes entries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypedDict, cast

from babel import Locale
from sqlmodel import Session, col, select

from govsms.auth import Actor, Permission, require
from govsms.audit.actions import Action
from govsms.audit.record import record_event
from govsms.dpa.models import SubProcessor
from govsms.errors import InvalidInput, NotFound
from govsms.i18n import _
from govsms.textfield import single_line

# The EU member states and the other EEA countries (Iceland, Liechtenstein, Norway): transfers
# to anywhere else need Chapter V safeguards, and the DPA says so.
EEA = frozenset(
    "AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE IS LI NO".split()
)


NOTICE_DAYS = 30
"""Advance notice of a new sub-processor (DPA clause 6.2): it takes effect this many days after
it is added, so customers can object first."""


def country_name(code: str, language: str) -> str:
    return cast(str, Locale.parse(language).territories.get(code.upper(), code.upper()))


def active_subprocessors(session: Session) -> list[SubProcessor]:
    return list(
        session.exec(select(SubProcessor).where(col(SubProcessor.removed_at).is_(None)).order_by(col(SubProcessor.name), col(SubProcessor.id)))
    )


class _Entry(TypedDict):
    """A sub-processor's fields as the operator gives them (checked)."""

    name: str
    org_number: str
    country: str
    city: str
    purpose: str
    safeguard: str


def _checked(name: str, org_number: str, country: str, city: str, purpose: str, safeguard: str) -> _Entry:
    values: _Entry = {
        "name": single_line(name, "name"), "org_number": single_line(org_number, "org_number"),
        "country": single_line(country, "country").upper(), "city": single_line(city, "city"),
        "purpose": single_line(purpose, "purpose"), "safeguard": single_line(safeguard, "safeguard"),
    }
    errors: dict[str, str] = {}
    if not values["name"] or len(values["name"]) > 200:
        errors["name"] = _("Give the company's name (at most 200 characters).")
    if len(values["org_number"]) > 40:
        errors["org_number"] = _("At most 40 characters.")
    if len(values["country"]) != 2 or values["country"] not in Locale.parse("en").territories:
        errors["country"] = _("Give the country as a two-letter code, such as SE.")
    if len(values["city"]) > 100:
        errors["city"] = _("At most 100 characters.")
    if not values["purpose"] or len(values["purpose"]) > 500:
        errors["purpose"] = _("Say what the sub-processor does with the data (at most 500 characters).")
    if "country" not in errors and values["country"] not in EEA and not values["safeguard"]:
        errors["safeguard"] = _("Outside the EU/EEA a transfer needs a safeguard: name it, such as the Commission's standard contractual clauses.")
    if len(values["safeguard"]) > 300:
        errors["safeguard"] = _("At most 300 characters.")
    if errors:
        raise InvalidInput(_("The sub-processor was not saved."), fields=errors)
    return values


def add_subprocessor(
    session: Session, actor: Actor, *, name: str, org_number: str, country: str, city: str, purpose: str, now: datetime,
    safeguard: str = "", in_effect_now: bool = False,
) -> SubProcessor:
    """A new entry, in effect ``NOTICE_DAYS`` after ``now``; ``in_effect_now``: at once (an
    installation's first entries, before any customer has an agreement: the demo)."""
    require(actor, Permission.PLATFORM)
    entry = SubProcessor(
        **_checked(name, org_number, country, city, purpose, safeguard), added_at=now,
        effective_at=now if in_effect_now else now + timedelta(days=NOTICE_DAYS),
    )
    session.add(entry)
    session.flush()
    record_event(
        session, actor, Action.SUBPROCESSOR_ADDED, now=now, target=("subprocessor", entry.id),
        details={"effective": entry.effective_at.date().isoformat()},
    )
    return entry


def pending_subprocessors(session: Session, *, now: datetime) -> list[SubProcessor]:
    """Sub-processors added but not in effect yet (within their notice), soonest first."""
    return list(session.exec(
        select(SubProcessor)
        .where(col(SubProcessor.removed_at).is_(None), col(SubProcessor.effective_at) > now)
        .order_by(col(SubProcessor.effective_at), col(SubProcessor.id))
    ))



def change_subprocessor(
    session: Session, actor: Actor, subprocessor_id: int, *, name: str, org_number: str, country: str, city: str, purpose: str,
    now: datetime, safeguard: str = "",
) -> ChangedSubProcessor:
    """Correct an entry. Another company (name or organisation number) or another country is a
    new sub-processor in all but the row: it takes effect only after the notice again (clause
    6.2), from ``now``; ``renewed_notice`` tells the caller to tell the customers' admins."""
    require(actor, Permission.PLATFORM)
    entry = session.get(SubProcessor, subprocessor_id)
    if entry is None or entry.removed_at is not None:
        raise NotFound(_("No such sub-processor."))
    values = _checked(name, org_number, country, city, purpose, safeguard)
    renewed = (values["name"], values["org_number"], values["country"]) != (entry.name, entry.org_number, entry.country)
    for field, value in values.items():
        setattr(entry, field, value)
    details: dict[str, object] | None = None
    if renewed:
        entry.effective_at = now + timedelta(days=NOTICE_DAYS)
        details = {"effective": entry.effective_at.date().isoformat()}
    session.add(entry)
    session.flush()
    record_event(session, actor, Action.SUBPROCESSOR_CHANGED, now=now, target=("subprocessor", entry.id), details=details)
    return ChangedSubProcessor(entry, renewed_notice=renewed)


@dataclass(frozen=True)
class ChangedSubProcessor:
    entry: SubProcessor
    renewed_notice: bool


def remove_subprocessor(session: Session, actor: Actor, subprocessor_id: int, *, now: datetime) -> None:
    require(actor, Permission.PLATFORM)
    entry = session.get(SubProcessor, subprocessor_id)
    if entry is None or entry.removed_at is not None:
        raise NotFound(_("No such sub-processor."))
    entry.removed_at = now
    session.add(entry)
    session.flush()
    record_event(session, actor, Action.SUBPROCESSOR_REMOVED, now=now, target=("subprocessor", entry.id))
