"""The data directory of an embedded installation: the database, its WAL and shared memory, the
key file and every other file there are readable by their owner only, inside a 0700 folder,
and SQLite overwrites what it deletes (``secure_delete``)."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import pytest
from litestar.testing import TestClient
from sqlalchemy import text

from govsms.app import create_app
from govsms.audit.chain import seal_and_witness
from govsms.contacts import groups
from govsms.db import make_engine, session_scope
from govsms.settings import Settings
from tests.cli import govsms
from tests.factories import make_account, now, system


def _cli_env(data_dir: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("GOVSMS_")}
    env["GOVSMS_DATA_DIR"] = str(data_dir)
    return env


def _loose_modes(data_dir: Path) -> list[str]:
    """Every path under the data dir (and the dir itself) that group or others may use."""
    loose = []
    for path in [data_dir, *data_dir.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        if mode & 0o077:
            loose.append(f"{path.relative_to(data_dir.parent)} {mode:o}")
    return loose


def _start_and_write(data_dir: Path) -> list[str]:
    """Start the app on the data dir as ``govsms serve`` would, write through it, and list the files."""
    settings = Settings(data_dir=data_dir, scheduler_enabled=False)
    app = create_app(settings)
    with TestClient(app) as client:
        assert client.get("/health").status_code == 200
        with session_scope(app.state.session_factory) as session:
            account = make_account(session)
            groups.create_group(session, system(account), name="Skrivtest", now=now())
        assert client.get("/login").status_code == 200
        # The sealer's run: a signed checkpoint, also appended to the witness file in the data dir.
        seal_and_witness(app.state.session_factory, app.state.key_ring.audit_signing_seed, settings.audit_witness_file, now=now())
        names = sorted(path.name for path in data_dir.iterdir())
    return names


def test_a_fresh_data_dir_holds_nothing_group_or_others_can_read(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    previous = os.umask(0o022)  # a usual umask: the service must not rely on a stricter one
    try:
        result = govsms(_cli_env(data_dir), "init")
        assert result.returncode == 0, result.stderr
        names = _start_and_write(data_dir)
    finally:
        os.umask(previous)
    assert {"govsms.db", "govsms.db-wal", "govsms.db-shm", "keys.json", "audit-witness.jsonl"} <= set(names), names
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    assert _loose_modes(data_dir) == []


def test_loose_modes_of_an_existing_data_dir_are_tightened_at_start(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    data_dir = tmp_path / "var"
    result = govsms(_cli_env(data_dir), "init")
    assert result.returncode == 0, result.stderr
    _start_and_write(data_dir)
    os.chmod(data_dir, 0o755)
    for name in ("govsms.db", "govsms.db-wal", "govsms.db-shm"):
        if (data_dir / name).exists():
            os.chmod(data_dir / name, 0o644)
    (data_dir / "left-over.txt").write_text("x")
    os.chmod(data_dir / "left-over.txt", 0o664)
    with caplog.at_level(logging.WARNING):
        _start_and_write(data_dir)
    assert _loose_modes(data_dir) == []
    warned = " ".join(record.getMessage() for record in caplog.records if record.levelno >= logging.WARNING)
    assert "govsms.db" in warned and "left-over.txt" in warned


def test_the_cli_creates_the_data_dir_0700_even_with_a_loose_umask(tmp_path: Path) -> None:
    data_dir = tmp_path / "deep" / "var"
    previous = os.umask(0o002)
    try:
        result = govsms(_cli_env(data_dir), "init")
    finally:
        os.umask(previous)
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    assert _loose_modes(data_dir) == []


@pytest.mark.parametrize("read_only", [False, True], ids=["writer", "reader"])
def test_sqlite_overwrites_what_it_deletes(tmp_path: Path, read_only: bool) -> None:
    url = f"sqlite:///{tmp_path / 'secure.db'}"
    make_engine(url).dispose()  # the file exists before a reading engine opens it
    engine = make_engine(url, read_only=read_only)
    try:
        with engine.connect() as connection:
            assert connection.execute(text("PRAGMA secure_delete")).scalar_one() == 1
    finally:
        engine.dispose()


def test_a_new_sqlite_file_is_private_whatever_the_umask(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    previous = os.umask(0o000)
    try:
        engine = make_engine(url)
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE t (x TEXT)"))
            connection.execute(text("INSERT INTO t VALUES ('x')"))
        files = sorted(tmp_path.glob("new.db*"))
        modes = {file.name: stat.S_IMODE(file.stat().st_mode) for file in files}
        engine.dispose()
    finally:
        os.umask(previous)
    assert "new.db-wal" in modes and all(mode == 0o600 for mode in modes.values()), modes
