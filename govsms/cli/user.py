"""``govsms user``: users, their passwords and two-step login."""

from __future__ import annotations

import argparse

from govsms.auth import Role
from govsms.cli.command import (
    ROLE_NAMES, Commands, account_actor, add_command, add_group, now, parse_roles, read_password, session_factory,
)
from govsms.errors import GovsmsError
from govsms.settings import Settings


def cmd_create(args: argparse.Namespace, settings: Settings) -> int:
    from govsms.accounts.service import create_user, get_account_by_name
    from govsms.db import session_scope

    roles = parse_roles(args.role)
    password = read_password(f"Password for {args.email}: ")
    with session_scope(session_factory(settings)) as session:
        account = get_account_by_name(session, args.account)
        user = create_user(
            session,
            account_actor(account),
            email=args.email,
            password=password,
            roles=roles,
            display_name=args.name or "",
            language=args.language,
            now=now(),
        )
        print(f"Created user {user.email} in {account.name!r} with roles {user.roles}.")
    return 0


def cmd_set_password(args: argparse.Namespace, settings: Settings) -> int:
    from govsms.accounts.service import set_password_by_email
    from govsms.db import session_scope

    password = read_password(f"New password for {args.email}: ")
    with session_scope(session_factory(settings)) as session:
        set_password_by_email(session, email=args.email, password=password, now=now())
    print(f"Password set for {args.email}; the user's sessions were ended and any lockout lifted.")
    return 0


def cmd_require_totp(args: argparse.Namespace, settings: Settings) -> int:
    """Show or set the roles that must use two-step login (in every account)."""
    from govsms.accounts.totp import required_roles, set_required_roles
    from govsms.db import session_scope

    with session_scope(session_factory(settings)) as session:
        if args.none or args.roles:
            names = {name for value in args.roles or [] for name in value.split(",") if name}
            if unknown := names - {role.value for role in Role}:
                raise GovsmsError(f"Unknown role {sorted(unknown)[0]!r}; choose from {ROLE_NAMES}.")
            roles = {Role(name) for name in names}
            required = set_required_roles(session, None, roles, now=now())
            changed = True
        else:
            required, changed = required_roles(session), False
    listed = ", ".join(sorted(role.value for role in required))
    if required:
        print(f"Two-step login is required for: {listed}.")
        if changed:
            print("Users of these roles without it were logged out; after their password they must set it up.")
    else:
        print("Two-step login is required for no role (any user may still turn it on).")
    return 0


def cmd_reset_totp(args: argparse.Namespace, settings: Settings) -> int:
    from govsms.accounts.totp import reset_totp_by_email
    from govsms.db import session_scope

    with session_scope(session_factory(settings)) as session:
        reset_totp_by_email(session, email=args.email, now=now())
    print(f"Two-step login of {args.email} was reset and the user logged out; they set it up again at the next login if their role requires it.")
    return 0


def register(commands: Commands) -> None:
    user = add_group(commands, "user", "Users.")
    create = add_command(user, "create", cmd_create, "Create a user; the password is read from standard input.")
    create.add_argument("--account", required=True)
    create.add_argument("--email", required=True)
    create.add_argument("--role", action="append", required=True, help=f"One of {ROLE_NAMES}; repeat or comma-separate.")
    create.add_argument("--name")
    create.add_argument("--language", default="sv", choices=["sv", "en"])
    reset = add_command(user, "set-password", cmd_set_password, "Set a user's password (from standard input).")
    reset.add_argument("--email", required=True)
    require_totp = add_command(
        user, "require-totp", cmd_require_totp,
        "Show or set the roles that must use two-step login (TOTP) in every account.",
    )
    choice = require_totp.add_mutually_exclusive_group()
    choice.add_argument("--role", dest="roles", action="append", default=None, help=f"One of {ROLE_NAMES}; repeat or comma-separate.")
    choice.add_argument("--none", action="store_true", help="Require it for no role.")
    reset_totp = add_command(user, "reset-totp", cmd_reset_totp, "Turn a user's two-step login off (a lost phone) and log them out.")
    reset_totp.add_argument("--email", required=True)
