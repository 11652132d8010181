"""The price list: minor units (öre) per SMS part, per destination country; no fixed fees."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any, cast

from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from govsms.auth import Actor, Permission, require
from govsms.accounts.models import Account
from govsms.db import add_unless_taken, table_of
from govsms.errors import Conflict, InvalidInput
from govsms.i18n import _
from govsms.sending.models import Price, VirtualNumber
from govsms.tenancy import owned_by

# A start for a fresh installation (öre per part, SEK); the operator edits it at /operator/prices.
DEFAULT_PRICES = {"SE": 45, "NO": 55, "DK": 55, "FI": 60, "DE": 75, "GB": 70, "US": 60}


def price_table(session: Session) -> dict[str, Any]:
    """Country -> its price row (``country``, ``per_part_minor``, ``currency``, ``updated_at``):
    read on every dispatch, so as plain rows rather than ORM objects."""
    return {row.country: row for row in session.execute(sa_select(table_of(Price)))}


PRICES_FRESH_SECONDS = 2.0
_recent: dict[str, tuple[float, dict[str, Any]]] = {}


def recent_prices(session: Session) -> dict[str, Any]:
    """The price list as read at most ``PRICES_FRESH_SECONDS`` ago by this process (for combined
    API sends, which would otherwise read it for every batch): a price the operator changes
    applies to dispatches accepted from at most that long after."""
    database = session.get_bind().engine.url.render_as_string(hide_password=True)
    seen = _recent.get(database)
    if seen is not None and time.monotonic() - seen[0] < PRICES_FRESH_SECONDS:
        return seen[1]
    prices = price_table(session)
    _recent[database] = (time.monotonic(), prices)
    return prices


def set_price(session: Session, actor: Actor, *, country: str, per_part_minor: int, now: datetime, currency: str = "SEK") -> Price:
    require(actor, Permission.PLATFORM)
    country = country.strip().upper()
    if len(country) != 2 or not country.isalpha():
        raise InvalidInput(_("Give the country as a two-letter code, such as SE."), fields={"country": _("Two letters, such as SE.")})
    if per_part_minor < 0 or per_part_minor > 100_000:
        raise InvalidInput(_("The price is out of range."), fields={"price": _("Give the price in öre per part, 0 to 100000.")})
    price = session.get(Price, country) or Price(country=country, per_part_minor=0, updated_at=now)
    price.per_part_minor = per_part_minor
    price.currency = currency
    price.updated_at = now
    session.add(price)
    session.flush()
    _recent.clear()
    return price


def seed_default_prices(session: Session, *, now: datetime) -> None:
    existing = price_table(session)
    for country, minor in DEFAULT_PRICES.items():
        if country not in existing:
            session.add(Price(country=country, per_part_minor=minor, updated_at=now))
    session.flush()


def assign_virtual_number(session: Session, actor: Actor, *, account_id: int, number: str, now: datetime) -> VirtualNumber:
    """Give an account a number of its own to send from and receive on (operator only)."""
    from govsms.phone import parse_number

    require(actor, Permission.PLATFORM)
    parsed = parse_number(number)
    e164 = parsed.e164
    if e164 is None:
        raise InvalidInput(_("The number is not valid."), fields={"number": parsed.reason or ""})
    if session.get(Account, account_id) is None:
        raise InvalidInput(_("Choose an account."), fields={"account_id": _("Choose an account.")})
    existing = session.get(VirtualNumber, e164)
    if existing is not None:
        raise Conflict(_("The number is assigned already."), fields={"number": _("Remove it from its account first.")})
    # Conflict-free: an assignment racing this one is refused here, never by the database (whose
    # log would quote the number).
    virtual = cast(VirtualNumber | None, add_unless_taken(session, VirtualNumber(number=e164, account_id=account_id, created_at=now)))
    if virtual is None:
        raise Conflict(_("The number is assigned already."), fields={"number": _("Remove it from its account first.")})
    return virtual


def remove_virtual_number(session: Session, actor: Actor, number: str) -> None:
    from govsms.phone import parse_number

    require(actor, Permission.PLATFORM)
    parsed = parse_number(number)  # what is not a number is not assigned (and may hold a NUL PostgreSQL refuses)
    virtual = session.get(VirtualNumber, parsed.e164) if parsed.ok else None
    if virtual is not None:
        session.delete(virtual)
        session.flush()


def list_virtual_numbers(session: Session, actor: Actor) -> list[tuple[VirtualNumber, str]]:
    require(actor, Permission.PLATFORM)
    rows = session.exec(select(VirtualNumber, Account.name).join(Account, col(Account.id) == col(VirtualNumber.account_id)).order_by(VirtualNumber.number))
    return list(rows)


def assignable_accounts(session: Session, actor: Actor) -> list[Account]:
    """The customer accounts a virtual number can be assigned to, by name (the operator's form)."""
    require(actor, Permission.PLATFORM)
    return list(session.exec(select(Account).where(col(Account.is_provider).is_(False)).order_by(col(Account.name))).all())


def account_virtual_numbers(session: Session, actor: Actor) -> list[str]:
    """The virtual numbers assigned to the actor's account: senders a reply can reach (the send form)."""
    return list(session.exec(select(col(VirtualNumber.number)).where(owned_by(VirtualNumber, actor))).all())
