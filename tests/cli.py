"""The `govsms` command run in the test's own process (``govsms.cli.main``), as an operator runs
it: its own GOVSMS_ environment, standard input, output and exit code. Tests of what only a
real process shows (several web processes, signals, kill -9) start one instead.

    from tests.cli import cli_env, govsms  # noqa: F401  (fixture)
"""

from __future__ import annotations

import io
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import ExitStack, redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from sqlalchemy.engine import Engine

from govsms import db
from govsms.cli import main
from govsms.keys.ring import load_key_ring
from govsms.keys.store import make_vault
from govsms.settings import Settings
from tests.conftest import POSTGRES_URL, create_postgres_database, drop_postgres_database


@dataclass
class Ran:
    """What one command did, as ``subprocess.run`` would report it."""

    returncode: int
    stdout: str
    stderr: str


@pytest.fixture(params=["sqlite", "postgresql"])
def cli_env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    """The environment of an installation: a data directory, and on PostgreSQL a new database."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("GOVSMS_")}
    env["GOVSMS_DATA_DIR"] = str(tmp_path / "var")
    url = None
    if request.param == "postgresql":
        if not POSTGRES_URL:
            pytest.skip("PostgreSQL variant: set GOVSMS_TEST_POSTGRES_URL to run it")
        url = create_postgres_database("govsms_cli")
        env["GOVSMS_DATABASE_URL"] = url
    yield env
    if url:
        drop_postgres_database(url)


def govsms(env: dict[str, str], *args: str, stdin: str = "") -> Ran:
    """``govsms ARGS`` with exactly ``env``'s GOVSMS_ variables (none other), ``stdin`` as its
    standard input. What a process would leave behind is undone: the umask it sets, its log
    handler and level, and its database connections. An exception the command does not turn
    into an exit code is raised here, where a process would have printed it and exited 1."""
    stdout = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", newline="")
    stderr = io.StringIO()
    engines: list[Any] = []
    make_engine = db.make_engine

    def recorded_engine(*engine_args: Any, **engine_kwargs: Any) -> Any:
        engine = make_engine(*engine_args, **engine_kwargs)
        engines.append(engine)
        return engine

    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    umask = os.umask(0o077)
    os.umask(umask)
    with ExitStack() as undo:
        undo.enter_context(mock.patch.dict(os.environ))
        for name in [name for name in os.environ if name.startswith("GOVSMS_")]:
            del os.environ[name]
        os.environ.update({name: value for name, value in env.items() if name.startswith("GOVSMS_")})
        undo.enter_context(mock.patch.object(db, "make_engine", recorded_engine))
        undo.enter_context(mock.patch.object(sys, "stdin", io.StringIO(stdin)))
        undo.enter_context(redirect_stdout(stdout))
        undo.enter_context(redirect_stderr(stderr))
        undo.callback(os.umask, umask)
        undo.callback(root.setLevel, level)
        undo.callback(lambda: [root.removeHandler(handler) for handler in list(root.handlers) if handler not in handlers])
        undo.callback(lambda: [engine.dispose() for engine in engines])
        try:
            code = main(list(args))
        except SystemExit as exit_:  # argparse's refusals
            code = exit_.code if isinstance(exit_.code, int) else 2
        stdout.flush()
    return Ran(code, stdout.buffer.getvalue().decode("utf-8"), stderr.getvalue())  # type: ignore[attr-defined]


def settings_of(env: dict[str, str]) -> Settings:
    """The settings the command reads from ``env``."""
    return Settings(data_dir=Path(env["GOVSMS_DATA_DIR"]), database_url=env.get("GOVSMS_DATABASE_URL"))


def open_db(env: dict[str, str]) -> tuple[Engine, Any]:
    """An engine (dispose it) and a session factory with the installation's keys, for what a
    test writes or reads beside the command."""
    settings = settings_of(env)
    engine = db.make_engine(settings.resolved_database_url)
    return engine, db.make_session_factory(engine, vault=make_vault(settings, load_key_ring(settings)))
