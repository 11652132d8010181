"""Crypto-shredding that every process honours: ``Vault.shred`` deletes the keys and writes the
shred log in one key-store transaction; another vault (another process) that had a key cached
stops using it; SQLite never gives a shredded id to another person; destroying unused keys logs
them too; the worker sends nothing to a person shredded after it prepared the batch. Data-layer
tests on both backends; a real two-process test on PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import Connection
from sqlmodel import Session

from govsms.auth import Actor
from govsms.accounts.service import create_account
from govsms.db import make_engine, make_session_factory, session_scope
from govsms.keys.ring import KeyRing
from govsms.keys.store import KEY_GRACE, SubjectKey, SubjectShred, Vault, destroy_unused_subject_keys
from govsms.migrate import upgrade
from govsms.registry import subject_references
from govsms.sending.dispatch import DispatchRequest, create_dispatch
from govsms.sending.models import OutboundMessage
from govsms.sending.outbox import Outbox
from govsms.sending.pricing import seed_default_prices
from govsms.sending.transports.base import Submission, SubmitResult
from govsms.sending.transports.loopback import LoopbackTransport
from tests.conftest import POSTGRES_URL, TEST_MASTER_KEYS, TEST_SECRET_KEY, TEST_SIGNING_KEY, create_postgres_database, drop_postgres_database, not_applicable
from tests.factories import make_account, now

ROOT = Path(__file__).resolve().parent.parent


def shred_log(session: Session) -> list[tuple[int, int]]:
    return [(row.account_id, row.subject_id) for row in session.execute(select(SubjectShred).order_by(SubjectShred.seq)).scalars()]  # type: ignore[arg-type]


def test_shred_deletes_the_keys_and_logs_them(session: Session, vault: Vault) -> None:
    account, other = make_account(session), make_account(session)
    subjects = vault.subjects(session, account.id, ["+46701000001", "+46701000002"], now=now())
    theirs = vault.subject(session, other.id, "+46701000003", now=now())
    one, two = subjects["+46701000001"], subjects["+46701000002"]
    # Another account's id is neither deleted nor logged.
    assert vault.shred(session, account.id, [one.id, theirs.id], now=now()) == 1
    assert session.get(SubjectKey, one.id) is None and session.get(SubjectKey, theirs.id) is not None
    assert shred_log(session) == [(account.id, one.id)]
    assert vault.subjects_by_id(session, account.id, [one.id, two.id]).keys() == {two.id}
    assert vault.subjects_by_id(session, other.id, [theirs.id]).keys() == {theirs.id}


def test_another_vault_forgets_a_key_shredded_elsewhere(session: Session, keys: KeyRing) -> None:
    """Two vaults on one database (two processes): B has the key cached, A shreds it; B's next
    ``subjects_by_id`` returns no key (without the shred log it would, from its cache)."""
    a, b = Vault(keys), Vault(keys)
    account = make_account(session)
    subjects = a.subjects(session, account.id, ["+46702000001", "+46702000002"], now=now())
    gone, kept = subjects["+46702000001"], subjects["+46702000002"]
    assert b.subjects_by_id(session, account.id, [gone.id, kept.id]).keys() == {gone.id, kept.id}
    assert b.cache.get((account.id, gone.id)) == gone.key  # cached in B
    a.shred(session, account.id, [gone.id], now=now())
    assert b.cache.get((account.id, gone.id)) == gone.key  # A cannot reach B's memory...
    found = b.subjects_by_id(session, account.id, [gone.id, kept.id])
    assert found.keys() == {kept.id} and found[kept.id].key == kept.key  # ...B reads the log
    assert b.cache.get((account.id, gone.id)) is None
    assert b.shredded(session, [(account.id, gone.id), (account.id, kept.id), (account.id + 1, gone.id)]) == {(account.id, gone.id)}


def test_a_vault_that_starts_after_a_shred_is_not_confused(session: Session, keys: KeyRing, vault: Vault) -> None:
    account = make_account(session)
    subject = vault.subject(session, account.id, "+46703000001", now=now())
    vault.shred(session, account.id, [subject.id], now=now())
    late = Vault(keys)
    assert late.subjects_by_id(session, account.id, [subject.id]) == {}
    assert late.shreds_seen is not None and late.shreds_seen >= 1


def test_sqlite_never_gives_a_shredded_id_to_another_person(session: Session, vault: Vault) -> None:
    account = make_account(session)
    highest = vault.subject(session, account.id, "+46704000001", now=now())
    vault.shred(session, account.id, [highest.id], now=now())
    assert session.get(SubjectKey, highest.id) is None
    one = vault.subject(session, account.id, "+46704000002", now=now())
    many = vault.subjects(session, account.id, [f"+4670400{n:04d}" for n in range(3, 300)], now=now())
    assert one.id > highest.id and min(subject.id for subject in many.values()) > highest.id
    assert len({subject.id for subject in many.values()} | {one.id}) == 298


def test_destroying_unused_keys_logs_them(session: Session, vault: Vault, keys: KeyRing) -> None:
    account = make_account(session)
    unused = vault.subject(session, account.id, "+46705000001", now=now())
    other = Vault(keys)
    assert other.subjects_by_id(session, account.id, [unused.id])
    later = now() + KEY_GRACE + timedelta(minutes=1)
    assert destroy_unused_subject_keys(session, subject_references(), now=later, limit=1000) >= 1
    assert (account.id, unused.id) in shred_log(session)
    assert other.subjects_by_id(session, account.id, [unused.id]) == {}
    again = vault.subject(session, account.id, "+46705000002", now=now())
    assert again.id > unused.id


def test_a_separate_key_store_keeps_the_shred_log(connection: Connection, keys: KeyRing, tmp_path: Path) -> None:
    """With GOVSMS_KEYSTORE_URL the log is in the key store's database, next to the keys."""
    url = f"sqlite:///{tmp_path / 'keys.db'}"
    upgrade(url)
    store_engine = make_engine(url)
    try:
        store = make_session_factory(store_engine)
        a, b = Vault(keys, keystore=store), Vault(keys, keystore=store)
        session = make_session_factory(connection, vault=a)()
        account = make_account(session)
        subject = a.subject(session, account.id, "+46706000001", now=now())
        assert b.subjects_by_id(session, account.id, [subject.id])
        assert a.shred(session, account.id, [subject.id], now=now()) == 1
        assert shred_log(session) == []  # nothing in the main database
        with store() as keystore:
            assert shred_log(keystore) == [(account.id, subject.id)]
        assert b.subjects_by_id(session, account.id, [subject.id]) == {}
        assert a.subject(session, account.id, "+46706000002", now=now()).id > subject.id
        session.close()
    finally:
        store_engine.dispose()


class ShredOnSubmit(LoopbackTransport):
    """What the SMSC was handed; ``before_submit`` runs as the worker calls ``submit``."""

    def __init__(self) -> None:
        super().__init__(report_delay=0)
        self.numbers: list[str] = []

    def submit(self, batch: list[Submission]) -> list[SubmitResult]:
        self.numbers.extend(item.recipient for item in batch)
        return super().submit(batch)


def test_the_worker_drops_a_message_shredded_after_it_was_prepared(own_database_url: str, tmp_path: Path) -> None:
    """The key goes between ``_prepare`` and the submit (another process erased the person): the
    last look at the shred log keeps the message from the SMSC; it ends blocked, the others go."""
    from govsms.keys.ring import load_key_ring
    from tests.conftest import make_settings

    engine = make_engine(own_database_url)
    try:
        keys = load_key_ring(make_settings(tmp_path))
        factory = make_session_factory(engine, vault=Vault(keys))
        with session_scope(factory) as session:
            seed_default_prices(session, now=now())
            account = create_account(session, name="Kommunen", now=now(), actor=Actor.platform())
            create_dispatch(session, Actor.system(account.id, account.name),  # type: ignore[arg-type]
                            DispatchRequest(sender="Kommunen", text="Hej", numbers=["+46707000001", "+46707000002"]),
                            public_url="http://x", now=now())
            messages = {row.subject_id: row.id for row in session.execute(select(OutboundMessage)).scalars()}
        account_id = account.id
        gone_subject = min(messages)
        transport = ShredOnSubmit()
        outbox = Outbox(factory, transport, public_url="http://x")
        prepare = outbox._prepare

        def prepare_then_shred(claimed, now_):  # type: ignore[no-untyped-def]
            prepared = prepare(claimed, now_)
            with session_scope(make_session_factory(engine, vault=Vault(keys))) as other:  # another process
                other.info["vault"].shred(other, account_id, [gone_subject], now=now())
            return prepared

        outbox._prepare = prepare_then_shred  # type: ignore[method-assign]
        assert outbox.run_once() == 2
        assert len(transport.numbers) == 1
        with session_scope(factory) as session:
            status = dict(session.execute(select(OutboundMessage.id, OutboundMessage.status)).tuples().all())  # type: ignore[arg-type]
        assert status[messages[gone_subject]] == "blocked"
        assert status[messages[max(messages)]] != "blocked"
    finally:
        engine.dispose()


@pytest.mark.skipif(not POSTGRES_URL, reason="PostgreSQL variant: set GOVSMS_TEST_POSTGRES_URL to run it")
def test_two_processes_on_postgresql(tmp_path: Path) -> None:
    """Worker B (a process of its own) has the person's key cached and a prepared message to
    them; process A erases the key and commits; B's next try finds no key, decrypts nothing,
    submits nothing, and raises nothing."""
    from govsms.keys.ring import load_key_ring
    from tests.conftest import make_settings

    url = create_postgres_database()
    try:
        upgrade(url)
        engine = make_engine(url)
        keys = load_key_ring(make_settings(tmp_path))
        factory = make_session_factory(engine, vault=Vault(keys))
        with session_scope(factory) as session:
            seed_default_prices(session, now=now())
            account = create_account(session, name="Kommunen", now=now(), actor=Actor.platform())
            create_dispatch(session, Actor.system(account.id, account.name),  # type: ignore[arg-type]
                            DispatchRequest(sender="Kommunen", text="Hej", numbers=["+46708000001"]),
                            public_url="http://x", now=now())
            subject_id = session.execute(select(OutboundMessage.subject_id)).scalar_one()
        account_id = account.id
        environment = {
            **os.environ, "GOVSMS_MASTER_KEYS": TEST_MASTER_KEYS, "GOVSMS_SECRET_KEY": TEST_SECRET_KEY,
            "GOVSMS_AUDIT_SIGNING_KEY": TEST_SIGNING_KEY, "GOVSMS_DATA_DIR": str(tmp_path), "PYTHONPATH": str(ROOT),
        }
        worker = subprocess.Popen(
            [sys.executable, "-m", "tests.shred_worker", url], cwd=ROOT, env=environment,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        try:
            assert worker.stdout is not None and worker.stdin is not None
            ready = worker.stdout.readline()
            assert ready.split() == ["ready", "1", "True"], (ready, worker.stderr.read() if worker.stderr else "")
            with session_scope(factory) as session:  # process A: the erasure commits
                assert session.info["vault"].shred(session, account_id, [subject_id], now=now()) == 1
            worker.stdin.write("go\n")
            worker.stdin.flush()
            out, err = worker.communicate(timeout=60)
        finally:
            if worker.poll() is None:
                worker.kill()
        assert worker.returncode == 0, err
        assert json.loads(out.strip().splitlines()[-1]) == {
            "cached_before": True,  # B still held the key in memory when A committed
            "last_check_submits": 0, "last_check_blocked": True,
            "key_found": False, "decrypted": None,
            "prepared": 0, "prepare_blocked": True, "unsendable": 0,
        }
        with engine.connect() as raw:
            assert raw.execute(text("SELECT count(*) FROM subject_key WHERE id = :id"), {"id": subject_id}).scalar_one() == 0
        engine.dispose()
    finally:
        drop_postgres_database(url)


def test_a_key_read_just_before_its_shred_is_not_cached_again(session: Session, keys: KeyRing) -> None:
    """One process, two threads: one read the row just before the shred committed and puts the key
    in the cache after another thread caught up with the shred log. The key stays out."""
    vault = Vault(keys)
    account = make_account(session)
    subject = vault.subject(session, account.id, "+46709000001", now=now())
    vault.cache.forget([(account.id, subject.id)])
    Vault(keys).shred(session, account.id, [subject.id], now=now())
    assert vault.subjects_by_id(session, account.id, [subject.id]) == {}  # caught up
    vault.cache.put((account.id, subject.id), subject.key)  # the late thread
    vault.cache.put_many([((account.id, subject.id), subject.key)])
    assert vault.cache.get((account.id, subject.id)) is None


@pytest.mark.parametrize("count", [1, 150])
def test_a_send_holds_the_existing_keys_it_read_until_it_commits(own_database_url: str, keys: KeyRing, count: int) -> None:
    """PostgreSQL, keys in the main database: ``Vault.subjects`` reads existing keys FOR SHARE
    (the one-SMS path and the chunked one), so a shred (DELETE) waits for the send to commit;
    ``find_subjects`` and ``subjects_by_id`` lock nothing."""
    if not own_database_url.startswith("postgresql"):
        not_applicable("SQLite serialises writes: a shred cannot run while a send's transaction is open")
    engine = make_engine(own_database_url)
    vault = Vault(keys)
    factory = make_session_factory(engine, vault=vault)
    numbers = [f"+4670{index:07d}" for index in range(count)]
    try:
        with session_scope(factory) as session:
            account = make_account(session)
            assert account.id is not None
            account_id = account.id
            created = vault.subjects(session, account_id, numbers, now=now())
        subject_ids = sorted(subject.id for subject in created.values())

        def shred_waits() -> bool:
            with engine.connect() as other:
                other.execute(text("SET lock_timeout = '300ms'"))
                try:
                    other.execute(text("DELETE FROM subject_key WHERE id = :s"), {"s": subject_ids[0]})
                except Exception as error:  # noqa: BLE001 - a lock timeout is the answer
                    assert "lock timeout" in str(error)
                    return True
                finally:
                    other.rollback()
                return False

        with session_scope(factory) as session:
            assert sorted(subject.id for subject in vault.subjects(session, account_id, numbers, now=now()).values()) == subject_ids
            assert shred_waits()
        with session_scope(factory) as session:
            vault.find_subjects(session, account_id, numbers, now=now())
            vault.subjects_by_id(session, account_id, subject_ids)
            assert not shred_waits()
    finally:
        engine.dispose()
