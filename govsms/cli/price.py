"""``govsms price``: the price list (öre per SMS part, per destination country). A fresh
installation has none, so nothing can be sent until a price is set (``govsms price set SE 45``)."""

from __future__ import annotations

import argparse

from govsms.auth import Actor
from govsms.cli.command import Commands, add_command, add_group, now, session_factory
from govsms.settings import Settings


def cmd_set(args: argparse.Namespace, settings: Settings) -> int:
    from govsms.db import session_scope
    from govsms.sending.pricing import ore_to_minor, set_price

    minor = ore_to_minor(args.ore)  # checked before the database is opened
    with session_scope(session_factory(settings)) as session:
        price = set_price(session, Actor.platform(), country=args.country, per_part_minor=minor, now=now())
        print(f"{price.country}: {price.per_part_minor} öre per part ({_kronor(price.per_part_minor)} kr).")
    return 0


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    from govsms.db import session_scope
    from govsms.sending.pricing import price_table

    with session_scope(session_factory(settings)) as session:
        prices = sorted(price_table(session).values(), key=lambda price: price.country)
    if not prices:
        print("No prices: nothing can be sent. Set one with: govsms price set SE 45")
    for price in prices:
        print(f"{price.country}  {price.per_part_minor:>6} öre  {_kronor(price.per_part_minor):>9} kr  {price.currency}  {price.updated_at:%Y-%m-%d %H:%M}")
    return 0


def _kronor(minor: int) -> str:
    return f"{minor // 100},{minor % 100:02d}"


def register(commands: Commands) -> None:
    price = add_group(commands, "price", "The price list: öre per SMS part, per destination country.")
    set_ = add_command(price, "set", cmd_set, "Set the price of one SMS part to a country, in whole öre (govsms price set SE 45).")
    set_.add_argument("country", help="The country's two letters (ISO 3166), such as SE.")
    set_.add_argument("ore", metavar="ÖRE", help="Whole öre per part, such as 45 (0,45 kr).")
    add_command(price, "list", cmd_list, "List the prices.")
