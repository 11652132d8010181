"""The `govsms` command as an operator uses it, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests import sensitive
from tests.conftest import POSTGRES_URL, create_postgres_database, drop_postgres_database

GOVSMS = Path(sys.executable).parent / "govsms"


@pytest.fixture(params=["sqlite", "postgresql"])
def cli_env(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
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


def govsms(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(GOVSMS), *args], env=env, input=stdin, capture_output=True, text=True, timeout=60)


def test_init_account_user_and_key(cli_env: dict[str, str], tmp_path: Path) -> None:
    first = govsms(cli_env, "init")
    assert first.returncode == 0, first.stderr
    key_file = tmp_path / "var" / "keys.json"
    assert key_file.stat().st_mode & 0o777 == 0o600
    again = govsms(cli_env, "init")
    assert again.returncode == 0 and "left as they are" in again.stdout

    created = govsms(cli_env, "account", "create", "Sjukhuset i Ängelholm", "--org-number", "212000-0001")
    assert created.returncode == 0 and "Created account" in created.stdout
    duplicate = govsms(cli_env, "account", "create", "Sjukhuset i Ängelholm")
    assert duplicate.returncode == 2 and "exists already" in duplicate.stderr

    password = sensitive.register("Cli-lösenord-för-test-1")
    user = govsms(
        cli_env, "user", "create", "--account", "Sjukhuset i Ängelholm", "--email", "a@ex.se", "--role", "admin", "--role", "dpo",
        stdin=password + "\n",
    )
    assert user.returncode == 0, user.stderr
    assert "admin,dpo" in user.stdout and password not in user.stdout + user.stderr
    weak = govsms(cli_env, "user", "create", "--account", "Sjukhuset i Ängelholm", "--email", "b@ex.se", "--role", "sender", stdin="kort\n")
    assert weak.returncode == 2 and "password" in weak.stderr
    unknown = govsms(cli_env, "user", "create", "--account", "Saknas AB", "--email", "c@ex.se", "--role", "sender", stdin=password)
    assert unknown.returncode == 2 and "No account" in unknown.stderr
    bad_role = govsms(cli_env, "user", "create", "--account", "Sjukhuset i Ängelholm", "--email", "d@ex.se", "--role", "boss", stdin=password)
    assert bad_role.returncode == 2 and "Unknown role" in bad_role.stderr

    key = govsms(cli_env, "apikey", "create", "--account", "Sjukhuset i Ängelholm", "--name", "Journal")
    assert key.returncode == 0 and key.stdout.strip().startswith("gsk_")
    sensitive.register(key.stdout.strip())
    listing = govsms(cli_env, "account", "list")
    assert "Sjukhuset i Ängelholm" in listing.stdout and "212000-0001" in listing.stdout

    reset = govsms(cli_env, "user", "set-password", "--email", "a@ex.se", stdin="Ett-annat-lösen-2026\n")
    assert reset.returncode == 0


def test_production_refuses_to_serve_without_keys(cli_env: dict[str, str]) -> None:
    env = {**cli_env, "GOVSMS_ENV": "production"}
    result = govsms(env, "serve", "--port", "1")
    assert result.returncode == 2
    assert "GOVSMS_SECRET_KEY" in result.stderr and "Refusing to start in production" in result.stderr
