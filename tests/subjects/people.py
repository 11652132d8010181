"""The person of issue 13's tests, for the search, erasure and receipt tests: a contact in two
groups who got 3 SMS and is blocked, in a new account, with a DPO to act for it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import Connection
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from govsms.accounts.models import Account
from govsms.auth import Actor, Role
from govsms.contacts.groups import add_members, create_group
from govsms.db import make_session_factory
from govsms.keys.ring import KeyRing
from govsms.keys.store import Vault
from govsms.sending import blocklist
from govsms.sending.pricing import seed_default_prices
from govsms.subjects.erasure import Sealer
from tests.factories import make_account, make_contact, make_dispatch, make_user, now, system

TYPED = "070-123 45 67"
E164 = "+46701234567"
OTHER = "+46709876543"
TEXTS = ("Första: skolan stänger 12.00", "Andra: simhallen är stängd", "Tredje: välkommen på möte")


@dataclass
class Held:
    account: Account
    dpo: Actor
    contact_id: int
    subject_id: int


def dpo_of(session: Session, account: Account) -> Actor:
    user, _password = make_user(session, account, roles={Role.DPO})
    return Actor(kind="user", id=user.id, account_id=account.id, account_name=account.name, roles=frozenset({Role.DPO}))  # type: ignore[arg-type]


def hold_person(session: Session, *, blocked: bool = True) -> Held:
    seed_default_prices(session, now=now())
    account = make_account(session)
    actor = system(account)
    contact = make_contact(session, account, number=TYPED, name="Åsa Öberg", note="Förälder")
    for name in ("Styrelsen", "Föräldrar 3B"):
        group = create_group(session, actor, name=name, now=now())
        add_members(session, actor, group.id, [contact.id], now=now())
    for text, numbers in zip(TEXTS, ([E164], [E164, OTHER], [E164]), strict=True):
        make_dispatch(session, actor, text=text, numbers=numbers)
    if blocked:
        blocklist.block_number(session, actor, E164, source="manual", now=now())
    session.flush()
    assert contact.subject_id is not None
    return Held(account=account, dpo=dpo_of(session, account), contact_id=contact.id, subject_id=contact.subject_id)


def factory_on(connection: Connection, vault: Vault) -> sessionmaker[Session]:
    """Sessions of their own on the test's connection (each commit a savepoint), as the erasure
    opens them for its transactions."""
    return make_session_factory(connection, vault=vault)


def sealer_for(keys: KeyRing, tmp_path: Path) -> Sealer:
    return Sealer(keys=keys, witness_path=tmp_path / "witness.jsonl")
