"""The `govsms` command as an operator uses it, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

from govsms.accounts.service import get_account_by_name
from govsms.db import session_scope
from govsms.dpa.service import save_details
from govsms.sending.pricing import seed_default_prices
from tests import sensitive
from tests.cli import cli_env, govsms, open_db  # noqa: F401  (fixture)
from tests.factories import now, system
from tests.web_helpers import free_port

GOVSMS = Path(sys.executable).parent / "govsms"


def test_init_account_user_and_key(cli_env: dict[str, str], tmp_path: Path) -> None:  # noqa: F811
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


def test_production_refuses_to_serve_without_keys(cli_env: dict[str, str]) -> None:  # noqa: F811
    # A process of its own: a refusal that stopped working must not start a server in the tests.
    env = {**cli_env, "GOVSMS_ENV": "production"}
    result = subprocess.run([str(GOVSMS), "serve", "--port", "1"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "GOVSMS_SECRET_KEY" in result.stderr and "Refusing to start in production" in result.stderr


def test_dpa_render(cli_env: dict[str, str], tmp_path: Path) -> None:  # noqa: F811
    assert govsms(cli_env, "init").returncode == 0
    assert govsms(cli_env, "account", "create", "Region Norr", "--org-number", "232100-0001").returncode == 0
    no_provider = govsms(cli_env, "dpa", "render", "--account", "Region Norr", "--lang", "sv", "-o", str(tmp_path / "x.pdf"))
    assert no_provider.returncode == 2 and "GOVSMS_PROVIDER_NAME" in no_provider.stderr
    assert govsms(cli_env, "account", "create", "Leverantören AB", "--provider", "--org-number", "559900-1122").returncode == 0
    no_details = govsms(cli_env, "dpa", "render", "--account", "Region Norr", "--lang", "sv", "-o", str(tmp_path / "x.pdf"))
    assert no_details.returncode == 2 and "signatory_name" in no_details.stderr and not (tmp_path / "x.pdf").exists()
    engine, factory = open_db(cli_env)
    with session_scope(factory) as session:
        account = get_account_by_name(session, "Region Norr")
        details = {
            "signatory_name": "Örjan Åkesson", "signatory_title": "Regiondirektör", "contact_name": "Märta Lind", "contact_email": "marta@region.example",
        }
        save_details(session, system(account), details, now=now())
    engine.dispose()
    output = tmp_path / "dpa-en.pdf"
    rendered = govsms(cli_env, "dpa", "render", "--account", "Region Norr", "--lang", "en", "-o", str(output))
    assert rendered.returncode == 0, rendered.stderr
    pdf = output.read_bytes()
    assert pdf.startswith(b"%PDF") and "new version 1 (en)" in rendered.stderr
    assert hashlib.sha256(pdf).hexdigest() in rendered.stderr
    again = govsms(cli_env, "dpa", "render", "--account", "Region Norr", "--lang", "en", "-o", str(tmp_path / "again.pdf"))
    assert again.returncode == 0 and "unchanged since version 1" in again.stderr
    assert (tmp_path / "again.pdf").read_bytes() == pdf
    assert govsms(cli_env, "dpa", "render", "--account", "Saknas", "--lang", "en", "-o", "-").returncode == 2


def test_serve_with_several_processes_and_the_worker_once(cli_env: dict[str, str]) -> None:  # noqa: F811
    """`serve --processes 2 --with-worker`: two web processes answer on one port, the worker runs
    once (in the parent), an API send is delivered, and Ctrl-C (SIGINT) stops everything."""
    import signal
    import time

    import httpx

    assert govsms(cli_env, "init").returncode == 0
    assert govsms(cli_env, "account", "create", "Flera AB").returncode == 0
    key = govsms(cli_env, "apikey", "create", "--account", "Flera AB", "--name", "last").stdout.strip().split()[-1]
    engine, factory = open_db(cli_env)
    with session_scope(factory) as session:
        seed_default_prices(session, now=now())
    engine.dispose()
    port = free_port()
    server = subprocess.Popen(
        [str(GOVSMS), "serve", "--processes", "2", "--with-worker", "--port", str(port)], env=cli_env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline and server.poll() is None, "the server did not start"
            time.sleep(0.2)
        headers = {"Authorization": f"Bearer {key}"}
        sent = httpx.post(f"{base}/api/v1/messages", json={"from": "Kommunen", "to": ["0701234567"], "text": "Hej"}, headers=headers, timeout=10)
        assert sent.status_code == 201, sent.text
        dispatch = sent.json()["dispatch_id"]
        deadline = time.monotonic() + 20
        while httpx.get(f"{base}/api/v1/dispatches/{dispatch}", headers=headers, timeout=5).json()["messages"].get("delivered") != 1:
            assert time.monotonic() < deadline, "the worker did not deliver"
            time.sleep(0.05)
    finally:
        server.send_signal(signal.SIGINT)
        output, _ = server.communicate(timeout=30)
    assert server.returncode == 0, output[-2000:]
    assert "with 2 processes" in output and output.count("Started server process") == 2
    assert output.count("outbox worker") >= 1 and output.count("started (loopback)") == 1
