"""Migrations on a database that holds data: what `govsms db upgrade` meets on a running
installation. SQLite alters a table by copying it, and a copy of a table that others point at
fails while foreign keys are enforced, which an empty test database never shows."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import func, select, text

from govsms.accounts.models import User
from govsms.db import make_engine, make_session_factory, session_scope
from govsms.keys.ring import load_key_ring
from govsms.keys.store import Vault
from govsms.migrate import alembic_config, upgrade
from tests.conftest import drop_postgres_database, fresh_database_url, make_settings
from tests.factories import make_account, make_api_key, make_user

BEFORE_ISSUE_15 = "f14d2a9c0b31"
"""The head before the migrations of issue 15 (sub-processors' effective date, password change)."""


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_issue_15_migrations_go_down_and_up_again_over_users_with_sessions_and_keys(backend: str, tmp_path: Path) -> None:
    url = fresh_database_url(backend, tmp_path)
    engine = make_engine(url)
    try:
        upgrade(url)
        factory = make_session_factory(engine, vault=Vault(load_key_ring(make_settings(tmp_path))))
        with session_scope(factory) as session:
            account = make_account(session)
            user, _password = make_user(session, account)
            make_api_key(session, account)
            session.execute(
                text("INSERT INTO login_session (token_hash, user_id, created_at, last_seen_at, expires_at, stage)"
                     " VALUES ('t', :user, :at, :at, :at, '')"),
                {"user": user.id, "at": "2026-11-30 12:00:00"},
            )
        command.downgrade(alembic_config(url), BEFORE_ISSUE_15)
        upgrade(url)
        with session_scope(factory) as session:
            assert session.execute(select(func.count()).select_from(User)).scalar_one() == 1
            again = session.get(User, user.id)
            assert again is not None and again.must_change_password is False
            assert session.execute(text("SELECT count(*) FROM login_session")).scalar_one() == 1
    finally:
        engine.dispose()
        if backend == "postgresql":
            drop_postgres_database(url)
