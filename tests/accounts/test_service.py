"""Accounts, users, passwords, lockout and API keys at the service level (both backends)."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from argon2 import Type, profiles
from sqlmodel import Session, select

from govsms.accounts import apikey, login, password, service
from govsms.accounts.models import LoginSession, User
from govsms.auth import Permission, Role
from govsms.dpa.annexes import measures
from govsms.errors import Conflict, Forbidden, InvalidInput, LoginRefused, NotFound
from govsms.keys.ring import KeyRing
from govsms.settings import Settings
from tests.factories import make_account, make_api_key, make_user, now, system

POLICY = login.LoginPolicy(max_failures=5, lockout=timedelta(minutes=15), session_lifetime=timedelta(hours=1))


def test_account_keeps_billing_details_and_optional_emails(session: Session) -> None:
    account = make_account(session, name="Kommunen  Ö", billing_email="Faktura@Kommun.se")
    assert account.name == "Kommunen Ö"
    assert account.billing_email == "faktura@kommun.se"
    assert account.admin_email is None and account.ops_email is None
    with pytest.raises(Conflict):
        make_account(session, name="kommunen ö")
    with pytest.raises(InvalidInput) as refused:
        make_account(session, admin_email="not-an-address")
    assert "admin_email" in refused.value.fields


def test_password_is_hashed_with_argon2id(session: Session) -> None:
    user, password = make_user(session, make_account(session))
    assert user.password_hash.startswith("$argon2id$")
    assert password not in user.password_hash


def test_production_hashes_with_the_argon2id_parameters_the_readme_and_annex_iii_state(
    production_hashing: None, settings: Settings, keys: KeyRing
) -> None:
    """The tests hash at the least cost (tests/conftest.py); production as documented."""
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    stated = re.search(r"hashed with argon2id \((\d+) MiB of memory, (\d+) passes, (\d+) lanes", readme)
    assert stated, "the README no longer states the argon2id parameters"
    memory_mib, passes, lanes = (int(figure) for figure in stated.groups())
    parameters = password.HASH_PARAMETERS
    assert (parameters.type, parameters.memory_cost, parameters.time_cost, parameters.parallelism) == (Type.ID, memory_mib * 1024, passes, lanes)
    assert parameters == profiles.RFC_9106_LOW_MEMORY
    (access,) = [measure for measure in measures(settings, keys) if measure["key"] == "access_control"]
    assert access["password_hash"] == "argon2id"
    hashed = password.hash_password("Blåbär-Kanot-Fyrtorn-9")
    assert hashed.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert password.verify_password(hashed, "Blåbär-Kanot-Fyrtorn-9") and not password.needs_rehash(hashed)


def test_user_roles_are_checked_against_the_account_kind(session: Session) -> None:
    customer = make_account(session)
    with pytest.raises(InvalidInput):
        make_user(session, customer, roles={Role.OPERATOR})
    provider = make_account(session, is_provider=True)
    with pytest.raises(InvalidInput):
        make_user(session, provider, roles={Role.ADMIN})
    user, _ = make_user(session, customer, roles={Role.SENDER, Role.DPO})
    assert set(user.roles.split(",")) == {"sender", "dpo"}


def test_weak_password_and_duplicate_email_are_refused(session: Session) -> None:
    account = make_account(session)
    with pytest.raises(InvalidInput) as weak:
        make_user(session, account, password="kort")
    assert "password" in weak.value.fields
    make_user(session, account, email="samma@example.se")
    with pytest.raises(Conflict):
        make_user(session, account, email="SAMMA@example.se")


def test_authenticate_and_lockout(session: Session) -> None:
    user, password = make_user(session, make_account(session))
    moment = now()
    assert login.authenticate(session, email=user.email.upper(), password=password, policy=POLICY, now=moment).id == user.id
    for _attempt in range(4):
        with pytest.raises(LoginRefused, match="Wrong"):
            login.authenticate(session, email=user.email, password="fel-lösenord-123", policy=POLICY, now=moment)
    with pytest.raises(LoginRefused, match="locked for 15 more minutes"):
        login.authenticate(session, email=user.email, password="fel-lösenord-123", policy=POLICY, now=moment)
    with pytest.raises(LoginRefused, match="locked"):
        login.authenticate(session, email=user.email, password=password, policy=POLICY, now=moment + timedelta(minutes=5))
    later = moment + timedelta(minutes=16)
    assert login.authenticate(session, email=user.email, password=password, policy=POLICY, now=later).id == user.id


def test_unknown_email_and_disabled_user_are_refused(session: Session) -> None:
    account = make_account(session)
    admin, _ = make_user(session, account, roles={Role.ADMIN})
    user, password = make_user(session, account)
    with pytest.raises(LoginRefused, match="Wrong"):
        login.authenticate(session, email="nobody@example.se", password=password, policy=POLICY, now=now())
    actor = login.actor_for_user(admin, account)
    service.set_user_active(session, actor, user.id, active=False, now=now())  # type: ignore[arg-type]
    with pytest.raises(LoginRefused, match="disabled"):
        login.authenticate(session, email=user.email, password=password, policy=POLICY, now=now())


def test_login_session_slides_and_expires(session: Session) -> None:
    account = make_account(session)
    user, _ = make_user(session, account)
    start = now()
    token = login.start_login_session(session, user, policy=POLICY, now=start)
    stored = session.exec(select(LoginSession)).all()
    assert token not in {row.token_hash for row in stored}
    assert login.resolve_login_session(session, token, policy=POLICY, now=start + timedelta(minutes=50)) is not None
    # Used at 50 minutes, so it lives until 1 h 50 min.
    assert login.resolve_login_session(session, token, policy=POLICY, now=start + timedelta(minutes=100)) is not None
    assert login.resolve_login_session(session, token, policy=POLICY, now=start + timedelta(minutes=170)) is None
    assert login.purge_expired_sessions(session, now=start + timedelta(minutes=170)) == 1
    assert login.resolve_login_session(session, "forged", policy=POLICY, now=start) is None


def test_change_password_ends_other_sessions(session: Session) -> None:
    account = make_account(session)
    user, password = make_user(session, account)
    actor = login.actor_for_user(user, account)
    here = login.start_login_session(session, user, policy=POLICY, now=now())
    elsewhere = login.start_login_session(session, user, policy=POLICY, now=now())
    with pytest.raises(InvalidInput) as wrong:
        login.change_password(session, actor, current="inte-det", new="ett-nytt-långt-lösen", keep_token=here, now=now())
    assert "current" in wrong.value.fields
    login.change_password(session, actor, current=password, new="ett-nytt-långt-lösen", keep_token=here, now=now())
    assert login.resolve_login_session(session, here, policy=POLICY, now=now()) is not None
    assert login.resolve_login_session(session, elsewhere, policy=POLICY, now=now()) is None
    assert login.authenticate(session, email=user.email, password="ett-nytt-långt-lösen", policy=POLICY, now=now())


def test_users_are_scoped_to_the_acting_account(session: Session) -> None:
    account_a, account_b = make_account(session), make_account(session)
    admin_a, _ = make_user(session, account_a, roles={Role.ADMIN})
    user_b, _ = make_user(session, account_b)
    actor_a = login.actor_for_user(admin_a, account_a)
    assert [u.id for u in service.list_users(session, actor_a, now=now()).items] == [admin_a.id]
    with pytest.raises(NotFound):
        service.get_user(session, actor_a, user_b.id)  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        service.set_user_active(session, actor_a, user_b.id, active=False, now=now())  # type: ignore[arg-type]


def test_sender_cannot_manage_users(session: Session) -> None:
    account = make_account(session)
    sender, _ = make_user(session, account, roles={Role.SENDER})
    with pytest.raises(Forbidden):
        service.list_users(session, login.actor_for_user(sender, account), now=now())


def test_account_keeps_an_active_admin(session: Session) -> None:
    account = make_account(session)
    admin, _ = make_user(session, account, roles={Role.ADMIN})
    other, _ = make_user(session, account, roles={Role.ADMIN})
    actor = login.actor_for_user(admin, account)
    with pytest.raises(Conflict):
        service.set_user_active(session, actor, admin.id, active=False, now=now())  # type: ignore[arg-type]
    service.set_user_active(session, actor, other.id, active=False, now=now())  # type: ignore[arg-type]
    with pytest.raises(Conflict, match="at least one active administrator"):
        service.update_user_roles(session, actor, admin.id, {Role.SENDER}, now=now())  # type: ignore[arg-type]


def test_users_page_through_long_lists(session: Session) -> None:
    account = make_account(session)
    admin, _ = make_user(session, account, roles={Role.ADMIN})
    for _ in range(4):
        make_user(session, account)
    actor = login.actor_for_user(admin, account)
    first = service.list_users(session, actor, page=1, per_page=2, now=now())
    last = service.list_users(session, actor, page=3, per_page=2, now=now())
    assert (first.total, first.pages, len(first.items), len(last.items)) == (5, 3, 2, 1)
    assert first.has_next and not last.has_next


def test_api_key_shown_once_stored_hashed_and_revocable(session: Session) -> None:
    account = make_account(session)
    stored, key = make_api_key(session, account, roles={Role.SENDER})
    assert key.startswith("gsk_") and key not in stored.key_hash and stored.prefix == key[:12]
    actor = apikey.resolve_api_key(session, key, now=now())
    assert actor is not None and actor.account_id == account.id and actor.can(Permission.SEND)
    assert stored.last_used_at is not None
    apikey.revoke_api_key(session, system(account), stored.id, now=now())  # type: ignore[arg-type]
    assert apikey.resolve_api_key(session, key, now=now()) is None
    assert apikey.resolve_api_key(session, key[:-1] + "x", now=now()) is None


def test_api_keys_are_scoped_to_the_acting_account(session: Session) -> None:
    account_a, account_b = make_account(session), make_account(session)
    key_b, _ = make_api_key(session, account_b)
    with pytest.raises(NotFound):
        apikey.revoke_api_key(session, system(account_a), key_b.id, now=now())  # type: ignore[arg-type]
    assert apikey.list_api_keys(session, system(account_a)) == []


def test_user_rows_hold_no_clear_password(session: Session) -> None:
    account = make_account(session)
    user, password = make_user(session, account)
    row = session.exec(select(User).where(User.id == user.id)).one()
    assert password not in repr(row.model_dump())


# -- look-alike staff addresses (second round, finding 5) ------------------------------------------

INVISIBLE = [
    "anna\u200b@kommun.se", "an\u200dna@kommun.se", "anna@kom\u00admun.se", "anna@kommun.se\u2060", "\ufeffanna@kommun.se", "an\u00a0na@kommun.se",
    "anna@kommun\u3000.se",
]
MIXED = ["\u0430nna@kommun.se", "anna@k\u043emmun.se", "ann\u03b1@kommun.se", "anna@kommun.\u0455e"]


@pytest.mark.parametrize("address", INVISIBLE)
def test_addresses_with_invisible_characters_are_refused(session: Session, address: str) -> None:
    account = make_account(session)
    with pytest.raises(InvalidInput) as refused:
        make_user(session, account, email=address)
    assert "invisible" in refused.value.fields["email"]
    assert session.exec(select(User).where(User.account_id == account.id)).first() is None


@pytest.mark.parametrize("address", MIXED)
def test_addresses_mixing_scripts_are_refused_with_a_reason(session: Session, address: str) -> None:
    account = make_account(session)
    with pytest.raises(InvalidInput) as refused:
        make_user(session, account, email=address)
    assert "alphabet" in refused.value.fields["email"]
    with pytest.raises(InvalidInput) as refused_too:
        make_account(session, admin_email=address)
    assert "alphabet" in refused_too.value.fields["admin_email"]


def test_addresses_are_nfkc_normalised_and_case_folded_before_uniqueness(session: Session) -> None:
    account = make_account(session)
    first, password = make_user(session, account, email="Strasse@Kommun.se")
    assert first.email == "strasse@kommun.se"
    for twin in ("STRAßE@kommun.se", "ｓｔｒａｓｓｅ@ｋｏｍｍｕｎ.ｓｅ", "strasse@KOMMUN.SE"):
        with pytest.raises(Conflict):
            make_user(session, account, email=twin)
    composed, _ = make_user(session, account, email="A\u030asa@kommun.se")  # å written as a + ring
    assert composed.email == "\u00e5sa@kommun.se"
    with pytest.raises(Conflict):
        make_user(session, account, email="\u00c5SA@kommun.se")
    # Scripts of their own, unmixed, are fine.
    greek, _ = make_user(session, account, email="\u03b1\u03bd\u03bd\u03b1@kommun.se")
    assert greek.email == "\u03b1\u03bd\u03bd\u03b1@kommun.se"
    # Logging in finds the user by any of these spellings.
    assert login.authenticate(session, email="STRAßE@kommun.se", password=password, policy=POLICY, now=now()).id == first.id



def test_only_the_provider_creates_accounts(session: Session) -> None:
    """Creating an account needs the operator's permission: a customer's administrator is refused,
    an operator and the system acting for the provider (the CLI) may."""
    from govsms.auth import Actor

    customer = make_account(session)
    admin, _ = make_user(session, customer, roles={Role.ADMIN})
    with pytest.raises(Forbidden):
        service.create_account(session, name="Smyg AB", now=now(), actor=login.actor_for_user(admin, customer))
    assert not session.exec(select(service.Account).where(service.Account.name == "Smyg AB")).first()
    provider = make_account(session, is_provider=True)
    operator, _ = make_user(session, provider, roles={Role.OPERATOR})
    created = service.create_account(session, name="Ny kund AB", now=now(), actor=login.actor_for_user(operator, provider))
    assert created.id is not None
    assert service.create_account(session, name="Från CLI AB", now=now(), actor=Actor.platform()).id is not None


def test_only_the_provider_lists_every_account(session: Session) -> None:
    """The list of every account (``govsms account list``) is the operator's: a customer's
    administrator is refused; the provider's operator and the CLI get every account by name."""
    from govsms.auth import Actor

    customer = make_account(session)
    admin, _ = make_user(session, customer, roles={Role.ADMIN})
    with pytest.raises(Forbidden):
        service.list_accounts(session, login.actor_for_user(admin, customer))
    provider = make_account(session, is_provider=True)
    operator, _ = make_user(session, provider, roles={Role.OPERATOR})
    names = [account.name for account in service.list_accounts(session, login.actor_for_user(operator, provider))]
    assert names == sorted(names) and {customer.name, provider.name} <= set(names)
    assert [account.id for account in service.list_accounts(session, Actor.platform())] == [
        account.id for account in service.list_accounts(session, login.actor_for_user(operator, provider))
    ]
