"""The demo data of ``make run``: the account "Demo AB" with one user per role, and an operator."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, select

from govsms.auth import Actor, Role
from govsms.accounts.models import Account
from govsms.accounts.password import check_password_policy
from govsms.accounts.service import account_addresses, create_account, create_user
from govsms.dpa.registry import add_subprocessor
from govsms.dpa.service import save_details
from govsms.sending.pricing import seed_default_prices

DEMO_ACCOUNT = "Demo AB"
PROVIDER_ACCOUNT = "SMS-leverantören (provider)"


@dataclass(frozen=True)
class DemoLogin:
    account: str
    role: Role
    email: str
    password: str


def _system(account: Account) -> Actor:
    """The system acting in this (stored) account."""
    assert account.id is not None
    return Actor.system(account.id, account.name)


def demo_exists(session: Session) -> bool:
    return session.exec(select(Account.id).where(Account.name == DEMO_ACCOUNT)).first() is not None


def demo_password(email: str, account: Account) -> str:
    """A random password of 16 characters (96 bits) that the password policy accepts."""
    while True:
        password = secrets.token_urlsafe(12)
        if check_password_policy(password, email=email, account_name=account.name, others=account_addresses(account)) is None:
            return password


def seed_demo(session: Session, *, now: datetime) -> list[DemoLogin]:
    """Create the demo accounts and users; the passwords are random and returned once."""
    logins: list[DemoLogin] = []
    demo = create_account(
        session,
        name=DEMO_ACCOUNT,
        org_number="556677-8899",
        billing_address="Storgatan 1, 114 51 Stockholm",
        billing_email="faktura@demo-ab.example",
        now=now,
        actor=Actor.platform(),
    )
    provider = create_account(
        session, name=PROVIDER_ACCOUNT, org_number="559900-1129", billing_address="Serverhallsvägen 2, 753 20 Uppsala",
        admin_email="dataskydd@provider.example", is_provider=True, now=now, actor=Actor.platform(),
    )
    seed_default_prices(session, now=now)
    people = [
        (demo, Role.ADMIN, "admin@demo-ab.example", "Åsa Administratör"),
        (demo, Role.SENDER, "sender@demo-ab.example", "Sören Sändare"),
        (demo, Role.DPO, "dpo@demo-ab.example", "Dagny Dataskyddsombud"),
        (demo, Role.AUDITOR, "auditor@demo-ab.example", "Örjan Granskare"),
        (provider, Role.OPERATOR, "operator@provider.example", "Olle Operatör"),
    ]
    for account, role, email, name in people:
        password = demo_password(email, account)
        create_user(
            session,
            _system(account),
            email=email,
            password=password,
            roles={role},
            display_name=name,
            now=now,
        )
        logins.append(DemoLogin(account=account.name, role=role, email=email, password=password))
    # What the DPA needs: the operator's sub-processor registry and the customer's Annex I.
    add_subprocessor(
        session, _system(provider), name="Exempeloperatören AB", org_number="556000-0000",
        country="SE", city="Stockholm", purpose="Levererar sms till mobilnäten och tar emot svar (SMSC)", now=now,
        in_effect_now=True,  # the installation's first sub-processor: no agreement to give notice under yet
    )
    save_details(
        session, _system(demo),
        {"signatory_name": "Åsa Administratör", "signatory_title": "IT-chef", "contact_name": "Åsa Administratör",
         "contact_email": "admin@demo-ab.example", "dpo_name": "Dagny Dataskyddsombud", "dpo_email": "dpo@demo-ab.example"},
        now=now,
    )
    return logins
