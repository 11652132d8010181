"""The price list: minor units (öre) per SMS part, per destination country; no fixed fees."""

from __future__ import annotations

import re
import time
from datetime import datetime
from typing import Any, cast

import phonenumbers
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from govsms.auth import Actor, Permission, require
from govsms.accounts.models import Account
from govsms.db import add_unless_taken, table_of
from govsms.errors import Conflict, InvalidInput
from govsms.i18n import N_, _
from govsms.sending.models import Price, VirtualNumber
from govsms.tenancy import owned_by

MAX_PRICE_MINOR = 100_000
"""1 000 kr per part: above it, a typing error."""
NOT_A_COUNTRY = N_("%(code)s is not a country code. Give the country's two letters (ISO 3166), such as SE, NO or DK.")
COUNTRY_SHAPE = N_("Give the country as its two letters (ISO 3166), such as SE.")
KRONOR_SHAPE = N_("Write the price in kronor with a decimal comma and at most two decimals, such as 0,45 (45 öre).")
ORE_SHAPE = N_("Give the price in whole öre per part, such as 45 (0,45 kr).")
PRICE_RANGE = N_("The price is out of range: 0 to 1 000 kr (100 000 öre) per part.")
_KRONOR = re.compile(r"([0-9]{1,7})(?:[,.]([0-9]{1,2}))?", re.ASCII)
_ORE = re.compile(r"[0-9]{1,9}", re.ASCII)


def sms_countries() -> set[str]:
    """ISO codes of the countries a price can be set for: those phonenumbers knows (a number to
    one of them is given that country by ``country_of``)."""
    return {region for region in phonenumbers.SUPPORTED_REGIONS if len(region) == 2 and region.isalpha()}


def checked_country(typed: str) -> str:
    """``se`` -> ``SE``; InvalidInput naming ``country`` with the reason for anything that is not
    the code of a country in phonenumbers' list (``XX``, ``Sverige``, ``S``)."""
    code = typed.strip().upper()
    if not (len(code) == 2 and code.isascii() and code.isalpha()):
        raise InvalidInput(_("The price was not saved."), fields={"country": _(COUNTRY_SHAPE)})
    if code not in sms_countries():
        raise InvalidInput(_("The price was not saved."), fields={"country": _(NOT_A_COUNTRY) % {"code": code}})
    return code


def kronor_to_minor(typed: str) -> int:
    """A price typed in kronor, with a decimal comma (``0,45``; a point is read too) -> öre
    (45); InvalidInput naming ``price`` otherwise: no float is involved, so ``1e400``, ``nan`` and
    ``0,455`` are refused rather than rounded."""
    match = _KRONOR.fullmatch(typed.strip().removesuffix("kr").strip())
    if match is None:
        raise InvalidInput(_("The price was not saved."), fields={"price": _(KRONOR_SHAPE)})
    minor = int(match.group(1)) * 100 + int((match.group(2) or "0").ljust(2, "0"))
    if minor > MAX_PRICE_MINOR:
        raise InvalidInput(_("The price was not saved."), fields={"price": _(PRICE_RANGE)})
    return minor


def ore_to_minor(typed: str) -> int:
    """A price typed in whole öre (the CLI's ``45``) -> 45; InvalidInput naming ``price`` otherwise."""
    if _ORE.fullmatch(typed.strip()) is None:
        raise InvalidInput(_("The price was not saved."), fields={"price": _(ORE_SHAPE)})
    minor = int(typed.strip())
    if minor > MAX_PRICE_MINOR:
        raise InvalidInput(_("The price was not saved."), fields={"price": _(PRICE_RANGE)})
    return minor


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
    country = checked_country(country)
    if per_part_minor < 0 or per_part_minor > MAX_PRICE_MINOR:
        raise InvalidInput(_("The price was not saved."), fields={"price": _(PRICE_RANGE)})
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
