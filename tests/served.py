"""The app served for real (uvicorn on 127.0.0.1) on a fresh database of each backend, for tests of
many clients at once. Import the fixtures where they are used::

    from tests.served import Served, backend, serve  # noqa: F401
"""

from __future__ import annotations

import itertools
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from litestar import Litestar

from govsms.app import create_app
from govsms.db import make_engine, make_session_factory, session_scope
from govsms.keys.ring import load_key_ring
from govsms.keys.store import Vault
from govsms.migrate import upgrade
from govsms.sending.pricing import seed_default_prices
from govsms.settings import Settings
from tests.conftest import POSTGRES_URL, create_postgres_database, drop_postgres_database, make_settings
from tests.factories import now
from tests.smsc.fixture import Smsc


@dataclass
class Served:
    url: str
    settings: Settings
    factory: Any
    """Sessions of the test's own (with a vault of its own) on the served app's database."""
    app: Litestar

    def session(self):  # type: ignore[no-untyped-def]
        return session_scope(self.factory)


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "postgresql" and not POSTGRES_URL:
        pytest.skip("PostgreSQL variant: set GOVSMS_TEST_POSTGRES_URL to run it")
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def serve(backend: str, tmp_path: Path) -> Iterator[Callable[..., Served]]:
    """``serve(**settings)`` starts the app on a fresh database of the backend (and a data
    directory of its own: two apps of one test share nothing); stopped at the end."""
    started: list[tuple[uvicorn.Server, threading.Thread, Any, socket.socket]] = []
    databases: list[str] = []
    serial = itertools.count(1)

    def start(**overrides: Any) -> Served:
        data_dir = tmp_path / f"app-{next(serial)}"
        data_dir.mkdir()
        url = f"sqlite:///{data_dir / 'govsms.db'}" if backend == "sqlite" else create_postgres_database()
        if backend == "postgresql":
            databases.append(url)
        settings = make_settings(data_dir, database_url=url, **overrides)
        upgrade(url)
        engine = make_engine(url)
        factory = make_session_factory(engine, vault=Vault(load_key_ring(settings)))
        with session_scope(factory) as session:
            seed_default_prices(session, now=now())
        # The server gets its socket bound already: a port picked free and bound later could be
        # taken in between by a test in another process (make test runs several).
        listening = socket.create_server(("127.0.0.1", 0))
        port = listening.getsockname()[1]
        app = create_app(settings, worker=settings.scheduler_enabled)
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [listening]}, daemon=True)
        thread.start()
        started.append((server, thread, engine, listening))
        deadline = time.monotonic() + 15
        while not server.started:
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.05)
        return Served(url=f"http://127.0.0.1:{port}", settings=settings, factory=factory, app=app)

    yield start
    for server, thread, engine, listening in started:
        server.should_exit = True
        thread.join(timeout=30)
        listening.close()
        engine.dispose()
    for url in databases:
        drop_postgres_database(url)


def worker_to(smsc: Smsc) -> dict[str, Any]:
    """Settings that run the worker in the served process, sending to the npm SMSC."""
    return {
        "scheduler_enabled": True, "transport": "smpp", "smpp_host": smsc.host, "smpp_port": smsc.port,
        "smpp_system_id": smsc.system_id, "smpp_password": smsc.password,
    }


def in_parallel(count: int, work: Callable[[int], Any]) -> list[Any]:
    """Run ``work(i)`` for i in range(count) on as many threads, released together."""
    gate = threading.Barrier(count)

    def run(index: int) -> Any:
        gate.wait()
        return work(index)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(run, range(count)))


def fails_after(original: Callable[..., Any]) -> Callable[..., Any]:
    """``original``, then a fault: everything was written, the transaction fails late."""

    def fail_after_writing(*args: Any, **kwargs: Any) -> Any:
        original(*args, **kwargs)
        raise RuntimeError("injected fault after the dispatch was written")

    return fail_after_writing
