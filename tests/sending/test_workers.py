"""Several outbox workers at once (threads with their own connections, committed data): no
message is sent twice, none is left behind; on SQLite and on PostgreSQL (SKIP LOCKED)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import func, select

from govsms.auth import Actor
from govsms.accounts.service import create_account
from govsms.db import make_engine, make_session_factory, session_scope
from govsms.keys.ring import load_key_ring
from govsms.keys.store import Vault
from govsms.migrate import upgrade
from govsms.sending.dispatch import DispatchRequest, create_dispatch
from govsms.sending.models import OutboundMessage
from govsms.sending.outbox import Outbox
from govsms.sending.pricing import seed_default_prices
from govsms.sending.transports.base import Submission, SubmitResult
from govsms.sending.transports.loopback import LoopbackTransport
from tests.conftest import drop_postgres_database, fresh_database_url, make_settings
from tests.factories import now

MESSAGES = 3000


class Recording(LoopbackTransport):
    def __init__(self) -> None:
        super().__init__(report_delay=0)
        self.ids: list[int] = []

    def submit(self, batch: list[Submission]) -> list[SubmitResult]:
        self.ids.extend(item.message_id for item in batch)
        return super().submit(batch)


@pytest.fixture(params=["sqlite", "postgresql"])
def committed_url(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    url = fresh_database_url(request.param, tmp_path)
    upgrade(url)
    yield url
    if request.param == "postgresql":
        drop_postgres_database(url)


def test_two_workers_never_send_the_same_message(committed_url: str, tmp_path: Path) -> None:
    keys = load_key_ring(make_settings(tmp_path))
    engines = [make_engine(committed_url) for _ in range(3)]
    factories = [make_session_factory(engine, vault=Vault(keys)) for engine in engines]
    with session_scope(factories[0]) as session:
        seed_default_prices(session, now=now())
        account = create_account(session, name="Parallell AB", now=now(), actor=Actor.platform())
        actor = Actor.system(account.id, account.name)  # type: ignore[arg-type]
        create_dispatch(
            session, actor, DispatchRequest(sender="Test", text="Hej", numbers=[f"+4670{n:07d}" for n in range(MESSAGES)]),
            public_url="http://x", now=now(),
        )
    transports = [Recording(), Recording()]
    outboxes = [Outbox(factories[i + 1], transports[i], public_url="http://x", batch_size=100, worker_id=f"w{i}") for i in range(2)]
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def drain(outbox: Outbox) -> None:
        try:
            start.wait(timeout=30)
            idle = 0
            while idle < 3:
                idle = idle + 1 if outbox.run_once() == 0 else 0
        except BaseException as error:  # noqa: BLE001  (reported by the test)
            errors.append(error)

    threads = [threading.Thread(target=drain, args=(outbox,)) for outbox in outboxes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    first, second = set(transports[0].ids), set(transports[1].ids)
    assert len(transports[0].ids) == len(first) and len(transports[1].ids) == len(second)
    assert not first & second, "a message was sent by both workers"
    assert len(first | second) == MESSAGES
    if committed_url.startswith("postgresql"):
        # SKIP LOCKED lets both work at once; SQLite runs one writer at a time, so there one
        # worker may well take every batch, which is correct too.
        assert first and second, "both workers took part"
    with session_scope(factories[0]) as session:
        statuses = dict(session.execute(select(OutboundMessage.status, func.count()).group_by(OutboundMessage.status)).all())
    assert statuses == {"delivered": MESSAGES}
    for engine in engines:
        engine.dispose()
