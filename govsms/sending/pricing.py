"""The price list: minor units (öre) per SMS part, per destination country; no fixed fees."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, select

from govsms.accounts.actor import Actor
from govsms.accounts.roles import Permission
from govsms.accounts.service import require
from govsms.errors import InvalidInput
from govsms.i18n import _
from govsms.sending.models import Price

# A start for a fresh installation (öre per part, SEK); the operator edits it at /operator/prices.
DEFAULT_PRICES = {"SE": 45, "NO": 55, "DK": 55, "FI": 60, "DE": 75, "GB": 70, "US": 60}


def price_table(session: Session) -> dict[str, Price]:
    return {price.country: price for price in session.exec(select(Price))}


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
    return price


def seed_default_prices(session: Session, *, now: datetime) -> None:
    existing = price_table(session)
    for country, minor in DEFAULT_PRICES.items():
        if country not in existing:
            session.add(Price(country=country, per_part_minor=minor, updated_at=now))
    session.flush()
