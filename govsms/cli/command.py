"""What every ``govsms`` command shares: the handler type, the clock, the session factory, the
password prompt, roles from options and the account a command acts in.

The services are imported inside the handlers, not at the top: ``govsms --help`` and each
command then load only what they use (the whole application takes about a second to import)."""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, TypeAlias

from govsms.auth import Actor, Role
from govsms.clock import SYSTEM_CLOCK, Clock
from govsms.errors import GovsmsError
from govsms.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy.orm import sessionmaker
    from sqlmodel import Session

    from govsms.accounts.models import Account

Handler = Callable[[argparse.Namespace, Settings], int]
Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
"""The sub-commands of ``govsms`` or of one command group, where a group module adds its own."""

ROLE_NAMES = ", ".join(role.value for role in Role)


def add_command(parent: Commands, name: str, handler: Handler, help: str) -> argparse.ArgumentParser:
    """A sub-command whose help is also its description, run by ``handler``."""
    sub = parent.add_parser(name, help=help, description=help)
    sub.set_defaults(handler=handler)
    return sub


def add_group(commands: Commands, name: str, help: str, *, dest: str = "sub") -> Commands:
    """A command group (``govsms NAME COMMAND``) that needs one of its sub-commands."""
    return commands.add_parser(name, help=help).add_subparsers(dest=dest, required=True, metavar="COMMAND")


CLOCK: Clock = SYSTEM_CLOCK
"""The CLI's clock, for the services that read it themselves."""


def now() -> datetime:
    """The CLI's one read of the clock."""
    return CLOCK.now()


def session_factory(settings: Settings) -> sessionmaker[Session]:
    """Sessions on the installation's database, with its keys."""
    from govsms.db import make_engine, make_session_factory
    from govsms.keys.ring import load_key_ring
    from govsms.keys.store import make_vault

    return make_session_factory(make_engine(settings.resolved_database_url), vault=make_vault(settings, load_key_ring(settings)))


def read_password(prompt: str) -> str:
    """Asked twice on a terminal; otherwise the first line of standard input."""
    if sys.stdin.isatty():
        first = getpass.getpass(prompt)
        if getpass.getpass("Repeat: ") != first:
            raise GovsmsError("The two passwords differ; nothing was changed.")
        return first
    return sys.stdin.readline().rstrip("\r\n")


def parse_roles(values: list[str]) -> set[Role]:
    """The roles of repeated or comma-separated ``--role`` options; the first unknown name is refused."""
    for value in values:
        for name in value.split(","):
            if name and name not in {role.value for role in Role}:
                raise GovsmsError(f"Unknown role {name!r}; choose from {ROLE_NAMES}.")
    return {Role(name) for value in values for name in value.split(",") if name}


def account_actor(account: Account) -> Actor:
    """The system acting in ``account``, as the commands that work in one customer's account do."""
    assert account.id is not None, "an account read from the database has its id"
    return Actor.system(account.id, account.name)
