"""``govsms retention show``: the provider's maximums, or an account's storage times in force
(both backends)."""

from __future__ import annotations

from govsms.accounts.service import get_account_by_name
from govsms.db import session_scope
from govsms.retention.service import set_storage_time, set_storage_times_for
from tests.cli import cli_env, govsms, open_db  # noqa: F401  (fixture)
from tests.factories import now, system


def test_retention_show(cli_env: dict[str, str]) -> None:  # noqa: F811
    assert govsms(cli_env, "init").returncode == 0
    assert govsms(cli_env, "account", "create", "Region Norr", "--org-number", "232100-0001").returncode == 0
    assert govsms(cli_env, "account", "create", "Kommunen Väst", "--org-number", "212000-1234").returncode == 0
    assert govsms(cli_env, "account", "create", "Leverantören AB", "--provider", "--org-number", "559900-1122").returncode == 0
    engine, factory = open_db(cli_env)
    try:
        with session_scope(factory) as session:
            provider = system(get_account_by_name(session, "Leverantören AB"))
            set_storage_time(session, provider, "outbound_messages", 60, now=now())
            region = system(get_account_by_name(session, "Region Norr"))
            set_storage_times_for(session, region, {"outbound_messages": 30, "contacts": 400, "users": 25}, now=now())
            set_storage_time(session, provider, "users", 20, now=now())
    finally:
        engine.dispose()
    maximums = govsms(cli_env, "retention", "show")
    assert maximums.returncode == 0, maximums.stderr
    lines = {line.split()[0]: line.split()[1:] for line in maximums.stdout.splitlines()}
    assert lines["category"] == ["maximum", "set", "by"]
    assert lines["outbound_messages"] == ["60", "days", "operator"]
    assert lines["inbound_messages"] == ["90", "days", "default"]
    assert lines["contacts"] == ["until", "deleted", "default"]
    shown = govsms(cli_env, "retention", "show", "--account", "Region Norr")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines()[0] == "Storage times of Region Norr"
    rows = {line.split()[0]: " ".join(line.split()[1:]) for line in shown.stdout.splitlines()[1:]}
    assert rows["outbound_messages"] == "60 days 30 days 30 days"
    assert rows["contacts"] == "until deleted 400 days 400 days"
    assert rows["users"] == "20 days 25 days 20 days"  # capped by the maximum
    assert rows["inbound_messages"] == "90 days - 90 days"
    other = govsms(cli_env, "retention", "show", "--account", "Kommunen Väst")
    assert {line.split()[0]: " ".join(line.split()[1:]) for line in other.stdout.splitlines()[1:]}["outbound_messages"] == "60 days - 60 days"
    missing = govsms(cli_env, "retention", "show", "--account", "Ingen Sådan")
    assert missing.returncode == 2 and missing.stderr.startswith("govsms: ")


def test_retention_run_and_hold(cli_env: dict[str, str]) -> None:  # noqa: F811
    """``govsms retention hold add`` places a DPO's hold; ``govsms retention run --dry-run`` lists
    what would go per table and deletes nothing; ``run`` deletes (here: nothing expired)."""
    assert govsms(cli_env, "init").returncode == 0
    assert govsms(cli_env, "account", "create", "Region Norr", "--org-number", "232100-0001").returncode == 0
    held = govsms(cli_env, "retention", "hold", "add", "--account", "Region Norr", "--number", "0701234567", "--reason", "Tvist",
                  "--until", "2099-12-31")
    assert held.returncode == 0, held.stderr
    assert "one number of Region Norr until 2099-12-31" in held.stdout and "0701234567" not in held.stdout
    refused = govsms(cli_env, "retention", "hold", "add", "--account", "Region Norr", "--reason", " ", "--until", "2099-12-31")
    assert refused.returncode != 0
    dry = govsms(cli_env, "retention", "run", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    rows = {line.split()[1]: line.split()[2:] for line in dry.stdout.splitlines()[1:] if len(line.split()) == 5}
    assert rows["outbound_message"] == ["0", "0", rows["outbound_message"][2]]
    assert "app_user" in rows and "dispatch" in rows
    assert dry.stdout.splitlines()[0].split()[:4] == ["category", "table", "would", "go"]
    assert "Nothing deleted (--dry-run)." in dry.stdout
    done = govsms(cli_env, "retention", "run")
    assert done.returncode == 0, done.stderr
    assert "Subject keys destroyed: 0" in done.stdout
