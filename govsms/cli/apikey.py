"""``govsms apikey``: API keys."""

from __future__ import annotations

import argparse
import sys

from govsms.cli.command import ROLE_NAMES, Commands, account_actor, add_command, add_group, now, parse_roles, session_factory
from govsms.settings import Settings


def cmd_create(args: argparse.Namespace, settings: Settings) -> int:
    from govsms.accounts.apikey import create_api_key
    from govsms.accounts.service import get_account_by_name
    from govsms.db import session_scope

    roles = parse_roles(args.role or ["sender"])
    with session_scope(session_factory(settings)) as session:
        account = get_account_by_name(session, args.account)
        _, key = create_api_key(session, account_actor(account), name=args.name, roles=roles, now=now())
    print(key)
    print(f"(API key {args.name!r} for {args.account!r}; shown only now.)", file=sys.stderr)
    return 0


def register(commands: Commands) -> None:
    apikey = add_group(commands, "apikey", "API keys.")
    create = add_command(apikey, "create", cmd_create, "Create an API key and print it once.")
    create.add_argument("--account", required=True)
    create.add_argument("--name", required=True)
    create.add_argument("--role", action="append", default=None, help=f"Default sender; one of {ROLE_NAMES}.")
