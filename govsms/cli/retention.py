"""``govsms retention``: the storage times, the provider's maximums or an account's in force."""

from __future__ import annotations

import argparse

from govsms.cli.command import Commands, account_actor, add_command, add_group, session_factory
from govsms.settings import Settings

UNTIL_DELETED = "until deleted"


def _days(days: int | None) -> str:
    return UNTIL_DELETED if days is None else f"{days} days"


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(row[column]) for row in [header, *rows]) for column in range(len(header))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in [header, *rows])


def cmd_show(args: argparse.Namespace, settings: Settings) -> int:
    """Without ``--account``: each category's maximum (the provider's). With it: the maximum,
    the account's own choice and the time in force (the choice capped by the maximum)."""
    from govsms.accounts.service import get_account_by_name
    from govsms.db import session_scope
    from govsms.retention.service import storage_times, storage_times_for

    with session_scope(session_factory(settings)) as session:
        if args.account is None:
            maximums = storage_times(session)
            print(_table(
                ("category", "maximum", "set by"),
                [(time.category.key, _days(time.days), "operator" if time.changed else "default") for time in maximums],
            ))
            return 0
        account = get_account_by_name(session, args.account)
        times = storage_times_for(session, account_actor(account))
        print(f"Storage times of {account.name}")
        print(_table(
            ("category", "maximum", "chosen", "in force"),
            [
                (time.category.key, _days(time.maximum), "-" if time.chosen is None else f"{time.chosen} days", _days(time.in_force))
                for time in times
            ],
        ))
    return 0


def register(commands: Commands) -> None:
    retention = add_group(commands, "retention", "Storage times of personal data.")
    show = add_command(
        retention, "show", cmd_show,
        "Print each data category's storage time: the provider's maximum, or with --account the account's own choice and the time in force.",
    )
    show.add_argument("--account", metavar="NAME", help="The customer account whose storage times to show.")
