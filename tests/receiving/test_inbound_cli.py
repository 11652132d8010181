"""``govsms inbound simulate`` on both backends: stores and routes an SMS as the loopback
transport would, says where it went and never prints the number or the text."""

from __future__ import annotations

from tests import sensitive
from tests.cli import cli_env, govsms  # noqa: F401  (fixture)

NUMBER = sensitive.register("+46701234567")
TEXT = "Hej, jag kommer inte på mötet"


def test_simulate_routes_and_prints_no_number_or_text(cli_env: dict[str, str]) -> None:  # noqa: F811
    assert govsms(cli_env, "init").returncode == 0
    no_provider = govsms(cli_env, "inbound", "simulate", "--to", "72323", "--from", NUMBER, "--text", TEXT)
    assert no_provider.returncode == 2 and "provider account" in no_provider.stderr
    assert govsms(cli_env, "account", "create", "Leverantören AB", "--provider", "--org-number", "559900-1122").returncode == 0
    ran = govsms(cli_env, "inbound", "simulate", "--to", "72323", "--from", NUMBER, "--text", TEXT)
    assert ran.returncode == 0, ran.stderr
    assert "'Leverantören AB'" in ran.stdout and "unrouted" in ran.stdout
    for output in (ran.stdout, ran.stderr, no_provider.stdout, no_provider.stderr):
        assert "701234567" not in output and "mötet" not in output
