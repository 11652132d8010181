"""Fixtures: every data-layer test runs on SQLite and, with GOVSMS_TEST_POSTGRES_URL, PostgreSQL.

Each backend gets a fresh database built with ``alembic upgrade head`` once per run; each test
runs inside a transaction that is rolled back, so tests never see each other's rows.
"""

from __future__ import annotations

import base64
import logging
import os
import re
import secrets
import uuid
import warnings
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any, NoReturn
from unittest import mock

import pytest
from argon2 import Parameters, Type
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlmodel import Session

from govsms.accounts.password import HASH_PARAMETERS, use_hash_parameters
from govsms import app as govsms_app
from govsms.app import create_app
from govsms.db import make_engine, make_session_factory
from govsms.i18n import language
from govsms.keys.ring import KeyRing, load_key_ring
from govsms.keys.store import Vault
from govsms.migrate import upgrade
from govsms.settings import Settings
from tests import sensitive

POSTGRES_URL = os.environ.get("GOVSMS_TEST_POSTGRES_URL")
BACKENDS = ["sqlite", "postgresql"]
REQUIRE_ALL_TESTS = bool(os.environ.get("GOVSMS_REQUIRE_ALL_TESTS"))
"""Set in CI (.ci/run): a test skipped for want of PostgreSQL, the npm SMSC, chromium or
poppler fails instead; only ``not_applicable`` skips pass."""


def not_applicable(reason: str) -> NoReturn:
    """Skip a variant that has nothing to test on this backend (not a missing install)."""
    __tracebackhide__ = True
    skip = pytest.skip.Exception(reason)
    skip.not_applicable = True  # type: ignore[attr-defined]
    raise skip


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[pytest.TestReport]:
    """With GOVSMS_REQUIRE_ALL_TESTS, a skip (a fixture's, a mark's or the test's own) is a
    failure, unless the test said it does not apply (``not_applicable``)."""
    report: pytest.TestReport = yield
    if not (REQUIRE_ALL_TESTS and report.skipped) or hasattr(report, "wasxfail"):
        return report
    if call.excinfo is not None and getattr(call.excinfo.value, "not_applicable", False):
        return report
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    report.outcome = "failed"
    report.longrepr = f"skipped although GOVSMS_REQUIRE_ALL_TESTS is set: {reason}"
    return report


ONE_PROCESS = {
    "tests/contacts/test_hostile_files.py": "its last test checks the process's peak memory over all its files",
    "tests/browser/": "one chromium for all browser tests",
}
"""Tests that run in one process, one after the other, when the suite runs on several
(``make test``: pytest-xdist, ``--dist loadgroup``): path prefix -> why. Every other test is
sent on its own to whichever process is free."""


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist loadgroup`` with the groups of ``ONE_PROCESS``. (xdist's own ``xdist_group``
    marks do nothing with pytest 9.2: xdist 3.8 renames ``item._nodeid``, which pytest no
    longer reads.)"""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling

    class OneProcessGroups(LoadGroupScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return next((prefix for prefix in ONE_PROCESS if nodeid.startswith(prefix)), nodeid)

    return OneProcessGroups(config, log)


CHEAP_HASHING = Parameters(type=Type.ID, version=19, salt_len=16, hash_len=32, time_cost=1, memory_cost=8, parallelism=1)
"""argon2id of the production shape at the least cost: at the production cost (64 MiB, about
0.15 s a hash or a check) the tests' users and logins took minutes. Production keeps
``HASH_PARAMETERS`` (tests/accounts/test_service.py checks them); processes the tests start hash
at the production cost."""
use_hash_parameters(CHEAP_HASHING)


@pytest.fixture
def production_hashing() -> Iterator[None]:
    """For tests of argon2's real cost (many logins at once): the production parameters."""
    use_hash_parameters(HASH_PARAMETERS)
    yield
    use_hash_parameters(CHEAP_HASHING)


def _admin_url(url: str) -> str:
    return make_url(url).set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


def create_postgres_database(prefix: str = "govsms_test") -> str:
    """A new, empty PostgreSQL database on the test server; returns its URL."""
    assert POSTGRES_URL
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(_admin_url(POSTGRES_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(_admin_url(POSTGRES_URL)).set(database=name).render_as_string(hide_password=False)


def drop_postgres_database(url: str) -> None:
    assert POSTGRES_URL
    name = make_url(url).database
    admin = create_engine(_admin_url(POSTGRES_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def fresh_database_url(backend: str, tmp_dir: Path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_dir / f'govsms-{uuid.uuid4().hex[:8]}.db'}"
    if not POSTGRES_URL:
        pytest.skip("PostgreSQL variant: set GOVSMS_TEST_POSTGRES_URL to run it")
    return create_postgres_database()


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database per backend, shared by the whole run."""
    url = fresh_database_url(request.param, tmp_path_factory.mktemp(request.param))
    upgrade(url)
    yield url
    if request.param == "postgresql":
        drop_postgres_database(url)


@pytest.fixture(params=BACKENDS)
def own_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated database of the test's own, per backend, for tests that start processes on it
    (workers killed and restarted, workers started together)."""
    url = fresh_database_url(request.param, tmp_path)
    upgrade(url)
    yield url
    if request.param == "postgresql":
        drop_postgres_database(url)


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def connection(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            # Rolled-back tests still advance sequences; start the audit log at 1 like a fresh
            # database, so sealing does not wait out gaps no real installation would have.
            connection.execute(text("SELECT setval('audit_event_seq_seq', 1, false)"))
            connection.commit()
        transaction = connection.begin()
        yield connection
        transaction.rollback()


@pytest.fixture
def keys(tmp_path: Path) -> KeyRing:
    return load_key_ring(make_settings(tmp_path))


@pytest.fixture
def vault(keys: KeyRing) -> Vault:
    return Vault(keys)


@pytest.fixture
def session(connection: Connection, vault: Vault) -> Iterator[Session]:
    session = make_session_factory(connection, vault=vault)()
    yield session
    session.close()


# One set of keys per test run, so the test's session and the app under test read each other's data.
TEST_MASTER_KEYS = "t1:" + base64.b64encode(secrets.token_bytes(32)).decode()
TEST_SECRET_KEY = secrets.token_urlsafe(48)
TEST_SIGNING_KEY = base64.b64encode(secrets.token_bytes(32)).decode()


def make_settings(data_dir: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "data_dir": data_dir,
        "master_keys": TEST_MASTER_KEYS,
        "secret_key": TEST_SECRET_KEY,
        "audit_signing_key": TEST_SIGNING_KEY,
        "scheduler_enabled": False,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


class _StateBuilt(Exception):
    """``create_app`` stopped where it hands its arguments to ``Litestar``: they are here."""

    def __init__(self, arguments: dict[str, Any]) -> None:
        super().__init__("create_app stopped before building the routes")
        self.arguments = arguments


def _stop_before_litestar(*_args: Any, **arguments: Any) -> NoReturn:
    raise _StateBuilt(arguments)


_BUILT_APPS: dict[str, Litestar] = {}
"""Apps ``create_app`` built for the ``client`` fixture, one per settings (all but the data directory)."""


def app_on_connection(settings: Settings, connection: Connection) -> Litestar:
    """``create_app(settings, bind=connection)``, without building its routes again for every test.

    Building the routes (Litestar copies and inspects every handler: about 0.2 s) was a third of
    the suite's time. The routes, middleware and configuration depend on the settings only, so
    the first app built for equal settings (the data directory aside) is kept. For each test
    ``create_app`` still runs and builds everything the test's app holds (settings, key ring,
    vault, session factory on the test's connection, limiters, caches: ``app.state``) and is
    stopped where it would build the routes; that fresh state replaces the kept app's. Nothing
    of an earlier test stays: what an app keeps between requests is all in its state."""
    key = settings.model_dump_json(exclude={"data_dir"})
    built = _BUILT_APPS.get(key)
    if built is None:
        built = _BUILT_APPS[key] = create_app(settings, bind=connection)
        return built
    with ExitStack() as patches:
        patches.enter_context(mock.patch.object(govsms_app, "Litestar", _stop_before_litestar))
        patches.enter_context(mock.patch.object(govsms_app, "Router", lambda *_args, **_kwargs: None))
        try:
            create_app(settings, bind=connection)
        except _StateBuilt as stopped:
            built.state = stopped.arguments["state"]
            return built
    warnings.warn("create_app no longer calls govsms.app.Litestar: the client fixture builds a whole app per test", stacklevel=1)
    return create_app(settings, bind=connection)


@pytest.fixture
def client(settings: Settings, connection: Connection) -> Iterator[TestClient]:
    """The app on the test's connection: what the test's ``session`` writes, requests see."""
    with TestClient(app_on_connection(settings, connection)) as client:
        yield client


# -- no secrets in logs ---------------------------------------------------------------------------

E164 = re.compile(r"\+\d{8,15}")


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


CLIENT_LOGGERS = ("httpx", "httpcore")
"""The test client's own log of the request a test built (a test that proves a number in a URL
is refused puts it there itself); the app's lines are what is checked."""


def _holds(text_: str, value: str) -> bool:
    """A word (letters only: a sealed "stopp") counts as a whole word ("worker stopped" does not
    hold it); anything else (numbers, keys, phrases) anywhere."""
    if value.isalpha():
        return re.search(rf"(?<!\w){re.escape(value)}(?!\w)", text_) is not None
    return value in text_


def leaked(records: list[logging.LogRecord], secrets_: frozenset[str]) -> list[str]:
    """Log lines (as the code wrote them, before any redaction) that hold a secret or a number."""
    found = []
    for record in records:
        if record.name.split(".")[0] in CLIENT_LOGGERS:
            continue
        text_ = record.getMessage()
        if record.exc_info:
            text_ += logging.Formatter().formatException(record.exc_info)
        if any(_holds(text_, value) for value in secrets_) or E164.search(text_):
            found.append(f"{record.name}: {text_[:200]}")
    return found


MIN_REGISTERED_LENGTH = 5


@pytest.fixture(autouse=True)
def no_secrets_in_logs(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Capture]:
    """Every test: nothing logged may contain a password or API key a factory made, nor any
    number, name or note the code sealed under a person's key during the test."""
    from govsms.keys.crypto import SealedField, Subject

    original = Subject.seal

    def seal_and_register(self: Subject, field: SealedField, value: str, *, owner_id: int | None = None) -> bytes:
        if len(value) >= MIN_REGISTERED_LENGTH:
            sensitive.register(value)
        return original(self, field, value, owner_id=owner_id)

    monkeypatch.setattr(Subject, "seal", seal_and_register)
    registered_before = sensitive.values()
    capture = _Capture()
    root = logging.getLogger()
    ours = logging.getLogger("govsms")
    previous = (root.level, ours.level)
    root.addHandler(capture)
    root.setLevel(logging.INFO)
    ours.setLevel(logging.DEBUG)
    yield capture
    root.removeHandler(capture)
    root.setLevel(previous[0])
    ours.setLevel(previous[1])
    problems = leaked(capture.records, sensitive.values())
    sensitive.forget_since(registered_before)
    assert not problems, f"personal data or secrets in logs: {problems}"


@pytest.fixture(autouse=True)
def english_messages() -> Iterator[None]:
    """Service calls made straight from a test speak English (requests pick their own language)."""
    with language("en"):
        yield
