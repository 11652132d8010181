"""``govsms price set`` and ``govsms price list`` (issue 15 item 10, Done-when #5): a fresh
installation (``govsms init``, no demo data) has no prices and cannot send; ``govsms price set SE
45`` lets a new account send. On SQLite and PostgreSQL."""

from __future__ import annotations

from litestar.testing import TestClient

from govsms.app import create_app
from tests.cli import cli_env, govsms, settings_of  # noqa: F401  (fixture)


def test_a_fresh_installation_sends_once_a_price_is_set(cli_env: dict[str, str]) -> None:  # noqa: F811
    assert govsms(cli_env, "init").returncode == 0
    assert govsms(cli_env, "account", "create", "Nya kommunen", "--org-number", "212000-2346").returncode == 0
    key = govsms(cli_env, "apikey", "create", "--account", "Nya kommunen", "--name", "Skolsystemet").stdout.strip().split()[-1]
    listed = govsms(cli_env, "price", "list")
    assert listed.returncode == 0 and "No prices" in listed.stdout and "govsms price set SE 45" in listed.stdout

    body = {"from": "Kommunen", "to": ["0701234567"], "text": "Hej"}
    headers = {"Authorization": f"Bearer {key}", "Accept-Language": "en"}
    with TestClient(create_app(settings_of(cli_env))) as client:
        before = client.post("/api/v1/messages", json=body, headers=headers)
        assert before.status_code == 422 and "No price for this destination (SE)" in before.text

    for args, reason in (
        (("XX", "45"), "XX is not a country code"), (("Sverige", "45"), "two letters"), (("SE", "0,45"), "whole öre"),
        (("SE", "-1"), "whole öre"), (("SE", "100001"), "out of range"), (("SE", "4\x005"), "whole öre"),
    ):
        refused = govsms(cli_env, "price", "set", *args)
        assert refused.returncode == 2 and reason in refused.stderr, (args, refused.stderr)
    assert "No prices" in govsms(cli_env, "price", "list").stdout  # nothing was written by the refusals

    set_ = govsms(cli_env, "price", "set", "se", "45")
    assert set_.returncode == 0 and "SE: 45 öre per part (0,45 kr)" in set_.stdout, set_.stderr
    assert govsms(cli_env, "price", "set", "NO", "55").returncode == 0
    listing = govsms(cli_env, "price", "list").stdout.splitlines()
    assert [line.split()[:4] for line in listing] == [["NO", "55", "öre", "0,55"], ["SE", "45", "öre", "0,45"]]

    with TestClient(create_app(settings_of(cli_env))) as client:
        sent = client.post("/api/v1/messages", json=body, headers=headers)
        assert sent.status_code == 201, sent.text
        assert sent.json()["accepted"] == 1 and sent.json()["cost"] == {"amount": 45, "currency": "SEK", "unit": "minor"}
        assert client.get(f"/api/v1/dispatches/{sent.json()['dispatch_id']}", headers=headers).json()["accepted"] == 1
