"""``govsms account``: customer accounts."""

from __future__ import annotations

import argparse

from govsms.auth import Actor
from govsms.cli.command import Commands, add_command, add_group, now, session_factory
from govsms.settings import Settings


def cmd_create(args: argparse.Namespace, settings: Settings) -> int:
    from govsms.accounts.service import create_account
    from govsms.db import session_scope

    with session_scope(session_factory(settings)) as session:
        account = create_account(
            session,
            name=args.name,
            org_number=args.org_number,
            billing_address=args.billing_address,
            billing_email=args.billing_email,
            admin_email=args.admin_email,
            ops_email=args.ops_email,
            is_provider=args.provider,
            now=now(),
            actor=Actor.platform(),
        )
        print(f"Created account {account.name!r} (id {account.id}).")
    return 0


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    from govsms.accounts.service import list_accounts
    from govsms.db import session_scope

    with session_scope(session_factory(settings)) as session:
        for account in list_accounts(session, Actor.platform()):
            kind = "provider" if account.is_provider else "customer"
            print(f"{account.id:>5}  {kind:<8}  {account.org_number:<14} {account.name}")
    return 0


def register(commands: Commands) -> None:
    account = add_group(commands, "account", "Customer accounts.")
    create = add_command(account, "create", cmd_create, "Create a customer account (billing details only).")
    create.add_argument("name")
    create.add_argument("--org-number", default="")
    create.add_argument("--billing-address", default="")
    create.add_argument("--billing-email")
    create.add_argument("--admin-email")
    create.add_argument("--ops-email")
    create.add_argument("--provider", action="store_true", help="The provider's own account (operators).")
    add_command(account, "list", cmd_list, "List accounts.")
