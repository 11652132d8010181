"""Plain functions that make objects and flush (``make_user(session, account, **overrides)``), and
read back what the access log recorded (``audit_events``)."""

from __future__ import annotations

import itertools
import secrets
from datetime import UTC, datetime

from sqlalchemy import select
from sqlmodel import Session

from govsms.accounts.apikey import create_api_key
from govsms.accounts.models import Account, ApiKey, User
from govsms.accounts.service import create_account, create_user
from govsms.audit.models import AuditEvent, AuditEventSubject
from govsms.auth import Actor, Role
from govsms.contacts.service import ContactView, create_contact
from govsms.sending.dispatch import DispatchRequest, DispatchSummary, create_dispatch
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
    """A strong password that no account name or address can be part of: its random characters come
    in groups of three (the policy refuses own words of four or more characters)."""
    token = secrets.token_urlsafe(12).replace("-", "x")
    return sensitive.register("Lösen-" + "-".join(token[i : i + 3] for i in range(0, len(token), 3)))


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


def make_contact(session: Session, account: Account, **overrides: object) -> ContactView:
    """A contact of ``account``, added by the account itself (a number and a name unless given)."""
    values: dict[str, object] = {"number": f"+4670{next(_serial):07d}", "name": "Åsa Öberg", "now": now()}
    values.update(overrides)
    return create_contact(session, system(account), **values)  # type: ignore[arg-type]


def make_dispatch(session: Session, actor: Actor, *, public_url: str = "https://sms.example.se", **overrides: object) -> DispatchSummary:
    """A dispatch sent by ``actor``; ``overrides`` are fields of the request (``numbers``, ``text``...)."""
    values: dict[str, object] = {"sender": "Kommunen", "text": "Hej! Skolan stänger 12.00 idag.", "numbers": ["0701234567"]}
    values.update(overrides)
    return create_dispatch(session, actor, DispatchRequest(**values), public_url=public_url, now=now())  # type: ignore[arg-type]


def audit_events(session: Session, action: str, account_id: int | None = None) -> list[AuditEvent]:
    """The access log's events of ``action`` (of one account, if given), oldest first, read afresh."""
    query = select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)
    if account_id is not None:
        query = query.where(AuditEvent.account_id == account_id)
    return list(session.execute(query.execution_options(populate_existing=True)).scalars().all())


def linked_subjects(session: Session, event: AuditEvent) -> set[int]:
    """The people (subject ids) an event is linked to, for a data subject's access report."""
    return set(session.execute(select(AuditEventSubject.subject_id).where(AuditEventSubject.seq == event.seq)).scalars().all())
