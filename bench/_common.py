"""Shared set-up of the benchmarks: fresh databases on SQLite and (when reachable) PostgreSQL."""

from __future__ import annotations

import base64
import os
import secrets
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from govsms.db import make_engine, make_session_factory
from govsms.keys.ring import load_key_ring
from govsms.keys.store import Vault
from govsms.migrate import upgrade
from govsms.settings import Settings

POSTGRES = os.environ.get("GOVSMS_BENCH_POSTGRES_URL") or os.environ.get("GOVSMS_TEST_POSTGRES_URL") or "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def settings(data_dir: Path) -> Settings:
    return Settings(
        data_dir=data_dir,
        master_keys="b1:" + base64.b64encode(secrets.token_bytes(32)).decode(),
        secret_key=secrets.token_urlsafe(40),
        audit_signing_key=base64.b64encode(secrets.token_bytes(32)).decode(),
    )


def _postgres_reachable() -> bool:
    try:
        engine = create_engine(make_url(POSTGRES).set(drivername="postgresql+psycopg"))
        with engine.connect():
            pass
        engine.dispose()
        return True
    except Exception:
        return False


@contextmanager
def databases() -> Iterator[Iterator[tuple[str, str]]]:
    """Yields (backend, url) of fresh migrated databases; dropped afterwards."""
    created: list[str] = []
    admin_url = make_url(POSTGRES).set(drivername="postgresql+psycopg")

    def generate() -> Iterator[tuple[str, str]]:
        url = f"sqlite:///{Path(tempfile.mkdtemp()) / 'bench.db'}"
        upgrade(url)
        yield "sqlite", url
        if not _postgres_reachable():
            print("  (PostgreSQL not reachable: set GOVSMS_BENCH_POSTGRES_URL for its figures)")
            return
        name = f"govsms_bench_{uuid.uuid4().hex[:8]}"
        admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        created.append(name)
        url = admin_url.set(database=name).render_as_string(hide_password=False)
        upgrade(url)
        yield "postgresql", url

    try:
        yield generate()
    finally:
        admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            for name in created:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def session_factory(url: str, data_dir: Path):  # type: ignore[no-untyped-def]
    keys = load_key_ring(settings(data_dir))
    engine = make_engine(url)
    return engine, make_session_factory(engine, vault=Vault(keys)), keys


class Timer:
    def __enter__(self) -> Timer:
        self.started = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.started


def bench_account(factory, now):  # type: ignore[no-untyped-def]
    """A fresh account (with the default prices) and the system actor acting for it."""
    from govsms.auth import Actor
    from govsms.accounts.service import create_account
    from govsms.db import session_scope
    from govsms.sending.pricing import seed_default_prices

    with session_scope(factory) as session:
        seed_default_prices(session, now=now)
        account = create_account(session, name="Bench AB", now=now, actor=Actor.platform())
    return account, Actor.system(account.id, account.name)  # type: ignore[arg-type]
