"""``govsms retention``: the storage times, the provider's maximums or an account's in force."""

from __future__ import annotations

import argparse

from govsms.cli.command import Commands, account_actor, add_command, add_group, now, session_factory
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


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    """Purge every account's personal data whose storage time is up (what legal holds cover
    stays), prune the access log and destroy subject keys that protect nothing; per table what
    went (or, with --dry-run, would go) and what a hold keeps."""
    from govsms.keys.ring import load_key_ring
    from govsms.lifecycle import run_retention

    run = run_retention(session_factory(settings), load_key_ring(settings).audit_signing_seed, now=now(), dry_run=args.dry_run)
    rows: list[tuple[str, ...]] = [
        (table.category, table.table, str(table.deleted), str(table.held), f"{table.seconds:.1f}")
        for table in run.purge.tables
    ]
    if run.access_log is not None:
        rows.append(("access_log", "audit_event", str(run.access_log.events), "0", f"{run.access_log.seconds:.1f}"))
    rows.append(("statistics", "statistics_day", str(run.statistics_rows), "0", ""))
    print(_table(("category", "table", "would go" if args.dry_run else "deleted", "held", "seconds"), rows))
    if run.access_log_refused:
        print("The access log was not pruned: its oldest segments do not verify (govsms audit verify).")
    if args.dry_run:
        print("Nothing deleted (--dry-run).")
    else:
        print(f"Subject keys destroyed: {run.keys_destroyed}")
    return 0


def cmd_hold_add(args: argparse.Namespace, settings: Settings) -> int:
    """Place a legal hold, as the account's DPO asked in writing: on one number (--number) or on
    the whole account; until --until (inclusive), with --reason."""
    from datetime import date

    from govsms.accounts.service import get_account_by_name
    from govsms.auth import Actor, Role
    from govsms.db import session_scope
    from govsms.errors import GovsmsError
    from govsms.keys.store import vault_of
    from govsms.phone import normalise
    from govsms.retention.holds import place_legal_hold

    try:
        until = date.fromisoformat(args.until)
    except ValueError:
        raise GovsmsError(f"--until {args.until!r} is no date (YYYY-MM-DD).") from None
    moment = now()
    with session_scope(session_factory(settings)) as session:
        account = get_account_by_name(session, args.account)
        assert account.id is not None, "an account read from the database has its id"
        dpo = Actor(kind="system", id=None, account_id=account.id, account_name=account.name, roles=frozenset({Role.DPO}))
        index = None
        if args.number is not None:
            e164 = normalise(args.number)
            index = vault_of(session).blind_indexes(session, account.id, [e164], now=moment)[e164]
        hold = place_legal_hold(session, dpo, blind_index=index, reason=args.reason, until=until, now=moment)
        print(f"Legal hold {hold.id} on {'one number' if index is not None else 'the whole account'} of {account.name} until {until.isoformat()}.")
    return 0


def register(commands: Commands) -> None:
    retention = add_group(commands, "retention", "Storage times of personal data.")
    show = add_command(
        retention, "show", cmd_show,
        "Print each data category's storage time: the provider's maximum, or with --account the account's own choice and the time in force.",
    )
    show.add_argument("--account", metavar="NAME", help="The customer account whose storage times to show.")
    run = add_command(
        retention, "run", cmd_run,
        "Purge personal data whose storage time is up (legal holds respected), prune the access log, destroy unused subject keys.",
    )
    run.add_argument("--dry-run", action="store_true", help="Count what would go; delete nothing.")
    hold = add_group(retention, "hold", "Legal holds: stop the purge of an account or of one number.", dest="hold")
    add = add_command(hold, "add", cmd_hold_add, "Place a legal hold on an account, or on one number with --number.")
    add.add_argument("--account", metavar="NAME", required=True, help="The customer account.")
    add.add_argument("--number", metavar="NUMBER", help="Hold only this number's data (default: the whole account).")
    add.add_argument("--reason", required=True, help="Why (required; not written to the access log).")
    add.add_argument("--until", metavar="YYYY-MM-DD", required=True, help="The last day of the hold.")
