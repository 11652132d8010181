"""A database that refuses the worker for a while never makes it send an SMS twice: the results
of a submit are kept and their recording retried while the claims stay alive, a failure before
the submit sends nothing, delivery reports wait for the database. On SQLite and PostgreSQL,
with committed data (the worker's own engines, as in production)."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from govsms.auth import Actor
from govsms.accounts.service import create_account
from govsms.db import DatabaseBusy, make_engine, make_session_factory, session_scope
from govsms.keys.ring import load_key_ring
from govsms.keys.store import Vault
from govsms.migrate import upgrade
from govsms.sending import outbox as outbox_module
from govsms.sending.claims import is_transient
from govsms.sending.dispatch import DispatchRequest, create_dispatch
from govsms.sending.models import OutboundMessage
from govsms.sending.outbox import Outbox
from govsms.sending.pricing import seed_default_prices
from govsms.sending.transports.base import Submission, SubmitResult
from govsms.sending.transports.loopback import LoopbackTransport
from tests.conftest import drop_postgres_database, fresh_database_url, make_settings, not_applicable
from tests.factories import now


class Counting(LoopbackTransport):
    """Loopback that remembers every message id it was handed; ``on_submit`` runs after each submit."""

    def __init__(self) -> None:
        super().__init__(report_delay=0)
        self.ids: list[int] = []
        self.on_submit: Any = None

    def submit(self, batch: list[Submission]) -> list[SubmitResult]:
        self.ids.extend(item.message_id for item in batch)
        results = super().submit(batch)
        if self.on_submit:
            self.on_submit()
        return results


@dataclass
class Db:
    url: str
    engine: Engine
    factory: sessionmaker[Session]
    vault: Vault

    def new_factory(self, **engine_options: Any) -> sessionmaker[Session]:
        """A second engine on the same database (another worker, or one with odd settings)."""
        engine = make_engine(self.url, **engine_options)
        self.extra.append(engine)
        return make_session_factory(engine, vault=self.vault)

    def __post_init__(self) -> None:
        self.extra: list[Engine] = []


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Db]:
    url = fresh_database_url(request.param, tmp_path)
    upgrade(url)
    engine = make_engine(url)
    vault = Vault(load_key_ring(make_settings(tmp_path)))
    database = Db(url, engine, make_session_factory(engine, vault=vault), vault)
    yield database
    for other in [engine, *database.extra]:
        other.dispose()
    if request.param == "postgresql":
        drop_postgres_database(url)


def queue_dispatch(factory: sessionmaker[Session], count: int) -> None:
    with session_scope(factory) as session:
        seed_default_prices(session, now=now())
        account = create_account(session, name="Belastad AB", now=now(), actor=Actor.platform())
        create_dispatch(
            session, Actor.system(account.id, account.name),  # type: ignore[arg-type]
            DispatchRequest(sender="Kommunen", text="Hej", numbers=[f"+4670{n:07d}" for n in range(count)]),
            public_url="http://x", now=now(),
        )


def statuses(factory: sessionmaker[Session]) -> dict[str, int]:
    with session_scope(factory) as session:
        return dict(session.execute(select(OutboundMessage.status, func.count()).group_by(OutboundMessage.status)).all())  # type: ignore[arg-type]


def fail_recording(engine: Engine, *, times: int = 0, until: float = 0.0) -> list[int]:
    """The recording transaction (the UPDATE that sets 'sent') raises "database is locked" the
    first ``times`` times, or until the monotonic time ``until``; returns the failure counter."""
    failures = [0]

    def before(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if statement.lstrip().upper().startswith("UPDATE") and "submitted_at" in statement:
            if failures[0] < times or time.monotonic() < until:
                failures[0] += 1
                raise OperationalError(statement, None, sqlite3.OperationalError("database is locked"))

    event.listen(engine, "before_cursor_execute", before)
    return failures


def drain(outbox: Outbox, factory: sessionmaker[Session], total: int, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while statuses(factory).get("delivered", 0) < total:
        assert time.monotonic() < deadline, statuses(factory)
        outbox.run_once()


def test_recording_that_fails_transiently_sends_each_message_once(db: Db) -> None:
    queue_dispatch(db.factory, 250)
    failures = fail_recording(db.engine, times=3)
    transport = Counting()
    drain(Outbox(db.factory, transport, public_url="http://x", batch_size=100), db.factory, 250)
    assert failures[0] == 3
    assert len(transport.ids) == 250 and set(Counter(transport.ids).values()) == {1}
    assert statuses(db.factory) == {"delivered": 250}


def test_no_other_worker_takes_a_batch_while_its_recording_fails(db: Db) -> None:
    """The recording fails for longer than the claim TTL: the keeper extends the claims, so a
    second worker finds nothing to take, and the batch is recorded once the database lets it."""
    queue_dispatch(db.factory, 50)
    ttl = timedelta(seconds=1.5)
    first_factory = db.new_factory()
    first, second = Counting(), Counting()
    outbox = Outbox(first_factory, first, public_url="http://x", batch_size=50, claim_ttl=ttl, worker_id="first")
    other = Outbox(db.factory, second, public_url="http://x", batch_size=50, claim_ttl=ttl, worker_id="second")
    failures = fail_recording(first_factory.kw["bind"], until=time.monotonic() + 4.0)
    submitted = threading.Event()
    first.on_submit = submitted.set
    done: list[int] = []
    thread = threading.Thread(target=lambda: done.append(outbox.run_once()))
    thread.start()
    assert submitted.wait(10)
    expiries = set()
    while thread.is_alive():
        assert other.run_once() == 0
        with session_scope(db.factory) as session:
            expiries.update(session.execute(select(OutboundMessage.claim_expires_at).where(OutboundMessage.status == "sending")).scalars())
        time.sleep(0.1)
    thread.join()
    assert done == [50] and failures[0] >= 3
    assert len(expiries) >= 3, "the claims were extended while the recording failed"
    assert Counter(first.ids) == {mid: 1 for mid in first.ids} and len(first.ids) == 50 and second.ids == []
    outbox.apply_reports()
    assert statuses(db.factory) == {"delivered": 50}


def test_a_worker_claims_nothing_new_until_its_last_batch_is_recorded(db: Db, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(outbox_module, "RECORD_RETRY_SECONDS", 0.2)
    queue_dispatch(db.factory, 20)
    failures = fail_recording(db.engine, times=8)
    transport = Counting()
    outbox = Outbox(db.factory, transport, public_url="http://x", batch_size=10)
    assert outbox.run_once() == 10  # submitted; the recording gave up for now
    assert statuses(db.factory) == {"sending": 10, "queued": 10}
    waited = 0
    while failures[0] < 8:
        assert outbox.run_once() == 0  # retries the recording, claims nothing
        waited += 1
    assert waited >= 1 and len(transport.ids) == 10
    drain(outbox, db.factory, 20)
    assert len(transport.ids) == 20 and set(Counter(transport.ids).values()) == {1}


@pytest.mark.parametrize("holder", ["another connection", "a writer in this process"])
def test_a_database_that_is_really_locked_delays_the_recording_only(db: Db, holder: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Something holds the lock the recording needs for a second, and the worker's lock waits are
    short: the recording fails, is retried, and every message reaches the transport once.
    SQLite: another connection's write lock ("database is locked"), or another writer of this
    process holding its turn in db's write queue (``DatabaseBusy``); PostgreSQL: row locks
    (``lock_timeout``)."""
    postgres = db.engine.dialect.name == "postgresql"
    if postgres and holder != "another connection":
        not_applicable("PostgreSQL has no write queue: row locks are the case")
    queue_dispatch(db.factory, 100)
    factory = db.new_factory(lock_timeout_ms=200)
    if not postgres:  # SQLite's own wait for another connection's lock
        event.listen(factory.kw["bind"], "connect", lambda connection, _: _execute(connection, "PRAGMA busy_timeout = 100"))
    failed: list[str] = []
    record = Outbox._record

    def counted(self: Outbox, flight: Any) -> None:
        try:
            record(self, flight)
        except Exception as error:
            failed.append(type(error).__name__)
            raise

    monkeypatch.setattr(Outbox, "_record", counted)
    locked = threading.Event()

    def hold() -> None:
        if postgres:
            with db.engine.connect() as connection:
                connection.execute(text("SELECT id FROM outbound_message FOR UPDATE"))
                locked.set()
                time.sleep(1.0)
                connection.commit()
        elif holder == "a writer in this process":
            with db.engine.begin() as connection:
                connection.execute(text("UPDATE price SET currency = currency"))
                locked.set()
                time.sleep(1.0)
        else:
            raw = sqlite3.connect(make_url(db.url).database, isolation_level=None)  # type: ignore[arg-type]
            raw.execute("BEGIN IMMEDIATE")
            locked.set()
            time.sleep(1.0)
            raw.execute("COMMIT")
            raw.close()

    transport = Counting()
    holders: list[threading.Thread] = []

    def lock_after_first_submit() -> None:
        if not holders:
            holders.append(threading.Thread(target=hold))
            holders[0].start()
            assert locked.wait(10)

    transport.on_submit = lock_after_first_submit
    outbox = Outbox(factory, transport, public_url="http://x", batch_size=100, claim_ttl=timedelta(seconds=5))
    drain(outbox, factory, 100)
    holders[0].join()
    assert failed, "the lock made the recording fail at least once"
    expected = {"another connection": "OperationalError", "a writer in this process": "DatabaseBusy"}[holder]
    assert set(failed) == {expected}, failed
    assert len(transport.ids) == 100 and set(Counter(transport.ids).values()) == {1}


def _execute(dbapi_connection: Any, statement: str) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute(statement)
    cursor.close()


def test_a_failure_before_the_submit_sends_nothing_and_gives_the_claims_back(db: Db, monkeypatch: pytest.MonkeyPatch) -> None:
    queue_dispatch(db.factory, 10)
    prepare = Outbox._prepare
    calls = [0]

    def flaky(self: Outbox, claimed: Any, when: Any) -> Any:
        calls[0] += 1
        if calls[0] == 1:
            raise OperationalError("SELECT", None, sqlite3.OperationalError("database is locked"))
        return prepare(self, claimed, when)

    monkeypatch.setattr(Outbox, "_prepare", flaky)
    transport = Counting()
    outbox = Outbox(db.factory, transport, public_url="http://x", batch_size=10)
    with pytest.raises(OperationalError):
        outbox.run_once()
    assert transport.ids == []
    with session_scope(db.factory) as session:
        rows = session.execute(select(OutboundMessage.status, OutboundMessage.claimed_by, OutboundMessage.due_at)).all()
    assert {(status, claimed_by) for status, claimed_by, _ in rows} == {("queued", None)}
    assert all(due_at > now() for _, _, due_at in rows)  # due again a few seconds later, not in a tight loop
    assert outbox.run_once() == 0
    assert outbox.run_once(now=now() + outbox_module.PREPARE_RETRY + timedelta(seconds=1)) == 10
    outbox.apply_reports()
    assert sorted(transport.ids) == sorted(set(transport.ids)) and len(transport.ids) == 10
    assert statuses(db.factory) == {"delivered": 10}


def test_delivery_reports_wait_while_the_database_is_busy(db: Db, monkeypatch: pytest.MonkeyPatch) -> None:
    queue_dispatch(db.factory, 5)
    apply = outbox_module.apply_delivery_reports
    refused = [0]

    def busy_once(factory: Any, reports: Any, **options: Any) -> None:  # options: the outbox's clock
        if reports and not refused[0]:
            refused[0] += 1
            raise OperationalError("UPDATE", None, sqlite3.OperationalError("database is locked"))
        apply(factory, reports, **options)

    monkeypatch.setattr(outbox_module, "apply_delivery_reports", busy_once)
    outbox = Outbox(db.factory, Counting(), public_url="http://x")
    outbox.run_once()  # records 'sent'; the reports' first try is refused and they are kept
    assert refused == [1] and statuses(db.factory) == {"sent": 5}
    assert outbox.apply_reports() == 5  # nothing new from the transport: the kept ones
    assert statuses(db.factory) == {"delivered": 5}


def test_what_counts_as_a_transient_database_error() -> None:
    locked = OperationalError("UPDATE", None, sqlite3.OperationalError("database is locked"))
    assert is_transient(locked) and is_transient(DatabaseBusy("waited")) and is_transient(sqlite3.OperationalError("database is locked"))
    assert not is_transient(IntegrityError("INSERT", None, sqlite3.IntegrityError("UNIQUE"))) and not is_transient(KeyError("x"))


class OddIds(Counting):
    """A provider that answers with ids no table column can hold (too long, a NUL)."""

    odd = True

    def submit(self, batch: list[Submission]) -> list[SubmitResult]:
        results = super().submit(batch)
        if not self.odd:
            return results
        return [
            SubmitResult(message_id=result.message_id, accepted=True, provider_ids=("x" * 200 if index % 2 else "ab\x00c",))
            for index, result in enumerate(results)
        ]


def test_results_that_cannot_be_recorded_in_full_are_never_sent_again(db: Db, monkeypatch: pytest.MonkeyPatch) -> None:
    queue_dispatch(db.factory, 40)
    transport = OddIds()
    outbox = Outbox(db.factory, transport, public_url="http://x", batch_size=20, claim_ttl=timedelta(seconds=1))
    for _ in range(3):
        outbox.run_once()
    # A permanent error while writing the parts (not a busy database): the statuses are still written.
    from govsms.sending import results as results_module

    def refuse_parts(*args: Any, **kwargs: Any) -> None:
        raise IntegrityError("INSERT INTO message_part", None, Exception("refused"))

    queue_dispatch_more = 10
    with session_scope(db.factory) as session:
        account = session.execute(text("SELECT id, name FROM account")).first()
        create_dispatch(
            session, Actor.system(account[0], account[1]),
            DispatchRequest(sender="Kommunen", text="Igen", numbers=[f"+4673{n:07d}" for n in range(queue_dispatch_more)]),
            public_url="http://x", now=now(),
        )
    monkeypatch.setattr(results_module, "bulk_insert", refuse_parts)
    transport.odd = False
    for _ in range(3):
        outbox.run_once()
    time.sleep(1.5)  # past the claim lifetime: nothing may come back
    for _ in range(3):
        outbox.run_once()
    assert Counter(transport.ids).most_common(1)[0][1] == 1
    assert len(transport.ids) == 50
    assert statuses(db.factory) == {"sent": 50}


def test_the_last_resort_save_is_not_undone_by_a_reply_route_that_cannot_be_written(db: Db, monkeypatch: pytest.MonkeyPatch) -> None:
    """Parts refused for good and the reply routes too (SMS from the shared reply number): the
    statuses are still saved and nothing is sent again (replies then go to the operator's queue)."""
    from govsms.sending import results as results_module

    with session_scope(db.factory) as session:
        seed_default_prices(session, now=now())
        account = create_account(session, name="Svarande AB", now=now(), actor=Actor.platform())
        create_dispatch(
            session, Actor.system(account.id, account.name),  # type: ignore[arg-type]
            DispatchRequest(sender="72323", text="Svara JA", numbers=[f"+4670{n:07d}" for n in range(12)]),
            public_url="http://x", now=now(),
        )

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise IntegrityError("INSERT INTO message_part / reply_route", None, Exception("refused"))

    monkeypatch.setattr(results_module, "bulk_insert", refuse)
    monkeypatch.setattr(outbox_module, "write_reply_routes", refuse)
    transport = Counting()
    outbox = Outbox(db.factory, transport, public_url="http://x", batch_size=5, claim_ttl=timedelta(seconds=1))
    for _ in range(4):
        outbox.run_once()
    time.sleep(1.5)  # past the claim lifetime: nothing may come back
    for _ in range(3):
        outbox.run_once()
    assert statuses(db.factory) == {"sent": 12}
    assert len(transport.ids) == 12 and Counter(transport.ids).most_common(1)[0][1] == 1
