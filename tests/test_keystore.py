"""Per-subject keys, blind indexes, encryption round trips and key rotation (both backends)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from govsms.contacts.models import CONTACT_NAME, CONTACT_NOTE
from govsms.keys.crypto import DecryptionError, blind_index, seal, unseal
from govsms.db import make_session_factory
from govsms.errors import ConfigurationError
from govsms.keys.ring import KeyRing
from govsms.keys.store import SubjectKey, Vault, keys_by_master_key, rewrap_step
from tests.factories import make_account, now

NUMBERS = [f"+4670{n:07d}" for n in range(2500)]


def count_subjects(session: Session) -> int:
    return session.execute(select(func.count()).select_from(SubjectKey)).scalar_one()


@given(st.binary(max_size=2000), st.binary(max_size=64))
def test_seal_round_trip(plaintext: bytes, context: bytes) -> None:
    key = secrets.token_bytes(32)
    blob = seal(key, plaintext, context)
    assert unseal(key, blob, context) == plaintext
    assert blob[0] == 1 and len(blob) == 1 + 12 + len(plaintext) + 16


def test_context_binds_value_to_its_place() -> None:
    key = secrets.token_bytes(32)
    blob = seal(key, "Åsa".encode(), b"contact.name|1|7")
    with pytest.raises(DecryptionError):
        unseal(key, blob, b"contact.name|1|8")
    with pytest.raises(DecryptionError):
        unseal(key, blob[:-1] + bytes([blob[-1] ^ 1]), b"contact.name|1|7")


def test_subjects_are_created_once_in_batches(session: Session, vault: Vault) -> None:
    account = make_account(session)
    before = count_subjects(session)
    first = vault.subjects(session, account.id, NUMBERS, now=now())
    assert len(first) == len(NUMBERS) and count_subjects(session) == before + len(NUMBERS)
    again = vault.subjects(session, account.id, NUMBERS[:10] + ["+46709999999"], now=now())
    assert again[NUMBERS[3]].id == first[NUMBERS[3]].id and again[NUMBERS[3]].key == first[NUMBERS[3]].key
    assert count_subjects(session) == before + len(NUMBERS) + 1
    found = vault.find_subjects(session, account.id, [NUMBERS[5], "+46700000000x"], now=now())
    assert list(found) == [NUMBERS[5]]


def test_subject_created_meanwhile_keeps_its_first_key(session: Session, vault: Vault) -> None:
    """Another writer created a number between our lookup and our insert: its key wins, the rest
    are created, and the ids are the table's."""
    account = make_account(session)
    first = vault.subject(session, account.id, NUMBERS[0], now=now())
    indexes = vault.blind_indexes(session, account.id, NUMBERS[:3], now=now())
    before = count_subjects(session)
    created = vault._create_subjects(session, account.id, [indexes[number] for number in NUMBERS[:3]], now())
    assert count_subjects(session) == before + 2
    assert created[indexes[NUMBERS[0]]].id == first.id and created[indexes[NUMBERS[0]]].key == first.key
    again = vault.subjects(session, account.id, NUMBERS[:3], now=now())
    assert {again[number].id for number in NUMBERS[:3]} == {subject.id for subject in created.values()}
    assert all(again[number].key == created[indexes[number]].key for number in NUMBERS[:3])


def test_blind_index_is_per_account(session: Session, vault: Vault) -> None:
    first, second = make_account(session), make_account(session)
    a = vault.blind_indexes(session, first.id, ["+46701234567"], now=now())["+46701234567"]
    b = vault.blind_indexes(session, second.id, ["+46701234567"], now=now())["+46701234567"]
    assert a != b and len(a) == 16 and b"46701234567" not in a


def test_subject_values_decrypt_only_for_their_subject(session: Session, vault: Vault) -> None:
    account = make_account(session)
    subjects = vault.subjects(session, account.id, ["+46701111111", "+46702222222"], now=now())
    one, two = subjects["+46701111111"], subjects["+46702222222"]
    blob = one.seal(CONTACT_NAME, "Åsa Öberg")
    assert one.unseal(CONTACT_NAME, blob) == "Åsa Öberg"
    with pytest.raises(DecryptionError):
        two.unseal(CONTACT_NAME, blob)
    with pytest.raises(DecryptionError):
        one.unseal(CONTACT_NOTE, blob)
    with pytest.raises(DecryptionError):
        one.unseal(CONTACT_NAME, blob, owner_id=two.id)


def test_shredded_subject_is_gone(session: Session, vault: Vault) -> None:
    account = make_account(session)
    subject = vault.subject(session, account.id, "+46703333333", now=now())
    assert vault.shred(session, account.id, [subject.id], now=now()) == 1
    assert vault.subjects_by_id(session, account.id, [subject.id]) == {}
    assert vault.find_subjects(session, account.id, ["+46703333333"], now=now()) == {}


def test_subjects_by_id_keeps_to_the_account(session: Session, vault: Vault) -> None:
    mine, theirs = make_account(session), make_account(session)
    their_subject = vault.subject(session, theirs.id, "+46704444444", now=now())
    assert vault.subjects_by_id(session, mine.id, [their_subject.id]) == {}


def _with_new_active_key(keys: KeyRing) -> KeyRing:
    new = secrets.token_bytes(32)
    return replace(keys, master_keys={"t2": new, **keys.master_keys}, active_id="t2")


def test_rotation_rewraps_and_old_key_can_go(session: Session, keys: KeyRing, vault: Vault) -> None:
    account = make_account(session)
    created = vault.subjects(session, account.id, NUMBERS[:2100], now=now())
    blob = created[NUMBERS[7]].seal(CONTACT_NAME, "Örjan")
    rotated = _with_new_active_key(keys)
    steps = 0
    while rewrap_step(session, rotated, limit=1000):
        steps += 1
    assert steps >= 3
    counts = keys_by_master_key(session)
    assert set(counts) == {"t2"}
    without_old = replace(rotated, master_keys={"t2": rotated.master_keys["t2"]})
    fresh = Vault(without_old)
    again = fresh.subjects_by_id(session, account.id, [created[NUMBERS[7]].id])
    assert again[created[NUMBERS[7]].id].unseal(CONTACT_NAME, blob) == "Örjan"
    assert fresh.find_subjects(session, account.id, [NUMBERS[7]], now=now())  # index key re-wrapped too


def test_missing_master_key_is_explained(session: Session, keys: KeyRing, vault: Vault) -> None:
    account = make_account(session)
    subject = vault.subject(session, account.id, "+46705555555", now=now())
    other = KeyRing(master_keys={"zz": secrets.token_bytes(32)}, active_id="zz", secret_key="x", audit_signing_seed=bytes(32))
    with pytest.raises(ConfigurationError, match="still wraps data keys"):
        Vault(other).subjects_by_id(session, account.id, [subject.id])


def test_separate_key_store(session: Session, keys: KeyRing, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from govsms.db import make_engine
    from govsms.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'keys.db'}"
    upgrade(url)
    store_engine = make_engine(url)
    vault = Vault(keys, keystore=make_session_factory(store_engine))
    account = make_account(session)
    before = count_subjects(session)
    subject = vault.subject(session, account.id, "+46706666666", now=now())
    assert count_subjects(session) == before  # nothing in the main database
    with make_session_factory(store_engine)() as store:
        assert store.get(SubjectKey, subject.id) is not None
    assert blind_index(vault.account_key(session, account.id, "index", now=now()), "+46706666666")
    store_engine.dispose()


@contextmanager
def _account_made_before_its_keys(backend: str, keys: KeyRing, tmp_path: Path) -> Iterator[tuple[Engine, Vault, Any, int]]:
    """A fresh database of ``backend`` with one account whose keys are not made yet (as if it
    was made before keys were made with accounts): its engine, a vault, a session factory on it
    and the account's id."""
    from govsms.db import make_engine, session_scope
    from govsms.keys.store import AccountKey
    from govsms.migrate import upgrade
    from tests.conftest import drop_postgres_database, fresh_database_url

    url = fresh_database_url(backend, tmp_path)
    upgrade(url)
    engine = make_engine(url)
    try:
        vault = Vault(keys)
        factory = make_session_factory(engine, vault=vault)
        with session_scope(factory) as session:
            account = make_account(session)
            session.execute(AccountKey.__table__.delete())
        assert account.id is not None
        yield engine, vault, factory, account.id
    finally:
        engine.dispose()
        if backend == "postgresql":
            drop_postgres_database(url)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_keys_made_in_a_transaction_that_rolls_back_are_not_used_later(backend: str, keys: KeyRing, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """An account from before keys were made with it gets them in its first request; if that
    request rolls back, the process must not go on with the key it made (blind indexes and texts
    would be sealed under a key nobody stored), and a subject id SQLite hands out again must not
    find the rolled-back subject's key."""
    from govsms.db import session_scope
    from govsms.keys.store import DATA_PURPOSE, INDEX_PURPOSE

    with _account_made_before_its_keys(backend, keys, tmp_path) as (engine, vault, factory, account_id):
        with pytest.raises(RuntimeError):
            with session_scope(factory) as session:
                vault.account_key(session, account_id, INDEX_PURPOSE, now=now())
                vault.subjects(session, account_id, ["+46701234567"], now=now())
                raise RuntimeError("the request is refused after the keys were made")
        with session_scope(factory) as session:
            index_key = vault.account_key(session, account_id, INDEX_PURPOSE, now=now())
            subject = vault.subject(session, account_id, "+46709876543", now=now())
        with session_scope(make_session_factory(engine, vault=Vault(keys))) as session:  # another process
            other = session.info["vault"]
            assert other.account_key(session, account_id, INDEX_PURPOSE, now=now()) == index_key
            assert other.subjects_by_id(session, account_id, [subject.id])[subject.id].key == subject.key
            assert other.account_key(session, account_id, DATA_PURPOSE, now=now()) == vault.account_key(session, account_id, DATA_PURPOSE, now=now())


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_keys_of_an_open_transaction_serve_only_that_session_until_it_commits(backend: str, keys: KeyRing, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Another request of the same process must not take a key from the cache while the
    transaction that made it is open: if that transaction rolled back, what the other request
    sealed under the key would never decrypt again (a savepoint released is no commit either)."""
    from govsms.db import READ_FIRST_OPTION, session_scope
    from govsms.keys.store import DATA_PURPOSE

    with _account_made_before_its_keys(backend, keys, tmp_path) as (_engine, vault, factory, account_id):
        with session_scope(factory) as making:
            with making.begin_nested():
                data_key = vault.account_key(making, account_id, DATA_PURPOSE, now=now())
                subject = vault.subject(making, account_id, "+46701234567", now=now())
            assert vault.account_key(making, account_id, DATA_PURPOSE, now=now()) == data_key  # the session keeps using its own
            assert vault.subjects_by_id(making, account_id, [subject.id])[subject.id].key == subject.key
            with session_scope(factory) as other:  # another request meanwhile (reading, as a GET does)
                other.connection(execution_options={READ_FIRST_OPTION: True})
                assert vault.subjects_by_id(other, account_id, [subject.id]) == {}
            if backend == "sqlite":  # PostgreSQL commits a new account key in a transaction of its own
                assert vault.cache.get(("account", account_id, DATA_PURPOSE)) is None
        with session_scope(factory) as other:  # committed: now everyone's
            assert vault.subjects_by_id(other, account_id, [subject.id])[subject.id].key == subject.key
            assert vault.account_key(other, account_id, DATA_PURPOSE, now=now()) == data_key
        assert vault.cache.get(("account", account_id, DATA_PURPOSE)) == data_key
