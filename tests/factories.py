"""Plain functions that make objects and flush (``make_user(session, account, **overrides)``)."""

from __future__ import annotations

import itertools
import secrets
from datetime import UTC, datetime

from sqlmodel import Session

from govsms.auth import Actor, Role
from govsms.accounts.apikey import create_api_key
from govsms.accounts.models import Account, ApiKey, User
from govsms.accounts.service import create_account, create_user
from tests import sensitive

_serial = itertools.count(1)


def now() -> datetime:
    return datetime.now(UTC)


def system(account: Account) -> Actor:
    return Actor.system(account.id, account.name)  # type: ignore[arg-type]


def make_account(session: Session, **overrides: object) -> Account:
    values: dict[str, object] = {"name": f"Kund {next(_serial)} AB", "org_number": "556000-0000", "now": now()}
    values.update(overrides)
    return create_account(session, actor=Actor.platform(), **values)  # type: ignore[arg-type]


def make_password() -> str:
    return sensitive.register("Lösen-" + secrets.token_urlsafe(12))


def make_user(
    session: Session, account: Account, *, roles: set[Role] | None = None, password: str | None = None, **overrides: object
) -> tuple[User, str]:
    """A user and its clear password (registered as sensitive)."""
    password = sensitive.register(password) if password else make_password()
    values: dict[str, object] = {
        "email": f"user{next(_serial)}@example.se",
        "display_name": "Åke Öberg",
        "password": password,
        "roles": roles or {Role.SENDER},
        "now": now(),
    }
    values.update(overrides)
    return create_user(session, system(account), **values), password  # type: ignore[arg-type]


def make_api_key(session: Session, account: Account, *, roles: set[Role] | None = None, name: str | None = None) -> tuple[ApiKey, str]:
    api_key, key = create_api_key(
        session, system(account), name=name or f"key {next(_serial)}", roles=roles or {Role.SENDER}, now=now()
    )
    return api_key, sensitive.register(key)
