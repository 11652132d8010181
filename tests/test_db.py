"""The data layer: migrations give exactly the models' schema, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.engine import Engine
from sqlmodel import Session

from govsms.db import copy_rows, make_engine, truncate_sqlite_wal
from govsms.keys.store import SubjectKey
from govsms.models import metadata
from tests.factories import make_account


def test_migrations_match_models(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []


def test_sqlite_pragmas_or_postgres_driver(engine: Engine) -> None:
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
            assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert connection.execute(text("PRAGMA busy_timeout")).scalar() == 10_000
        else:
            assert engine.dialect.driver == "psycopg"
            assert connection.execute(text("SELECT 1")).scalar() == 1


def test_bulk_insert_conflict_is_sqlalchemy_integrity_error(session: Session) -> None:
    """The bulk paths run on the driver; a unique violation still reaches callers as SQLAlchemy's
    IntegrityError (they catch it to retry), and a savepoint keeps the transaction usable."""
    account = make_account(session)
    rows = [(account.id, bytes([n]) * 16, b"k", "b1", datetime.now(UTC)) for n in (1, 2, 1)]
    with pytest.raises(IntegrityError), session.begin_nested():
        copy_rows(session, SubjectKey.__table__, ["account_id", "blind_index", "wrapped_key", "kek_id", "created_at"], rows)
    copy_rows(session, SubjectKey.__table__, ["account_id", "blind_index", "wrapped_key", "kek_id", "created_at"], rows[:2])
    assert session.execute(select(func.count()).select_from(SubjectKey).where(SubjectKey.account_id == account.id)).scalar_one() == 2


def test_truncate_sqlite_wal_leaves_no_clear_values_in_the_wal(tmp_path: Path) -> None:
    """The data steps of ``govsms db upgrade`` end with it: what they replaced is in the WAL until
    it is checkpointed and truncated."""
    engine = make_engine(f"sqlite:///{tmp_path / 'wal.db'}")
    wal = tmp_path / "wal.db-wal"
    try:
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE note (body TEXT)"))
            connection.execute(text("INSERT INTO note VALUES ('written in clear')"))
        assert wal.stat().st_size > 0 and b"written in clear" in wal.read_bytes()
        with engine.connect() as connection:  # a session's bind may be a connection of the engine
            truncate_sqlite_wal(connection)
        assert not wal.exists() or wal.stat().st_size == 0
        with engine.connect() as connection:
            assert connection.execute(text("SELECT body FROM note")).scalar() == "written in clear"
    finally:
        engine.dispose()
