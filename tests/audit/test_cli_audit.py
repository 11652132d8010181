"""`govsms audit seal|verify|export` as an operator runs them, on SQLite and PostgreSQL: verify
never seals, the export is itself an audit event (counts only), the witness catches a cut tail,
and a later export is proved to extend an earlier one."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import delete, func, select

from govsms.audit.models import AuditChain, AuditCheckpoint, AuditEvent, AuditEventSubject
from govsms.audit.service import public_key, public_key_text
from govsms.db import make_engine
from govsms.keys.ring import load_key_ring
from tests.cli import cli_env, govsms, settings_of  # noqa: F401  (fixture)

events, chain_rows, checkpoints, links = AuditEvent.__table__, AuditChain.__table__, AuditCheckpoint.__table__, AuditEventSubject.__table__


def test_export_is_an_event_verify_never_seals_and_the_witness_finds_a_cut(cli_env: dict[str, str], tmp_path: Path) -> None:  # noqa: F811
    assert govsms(cli_env, "init").returncode == 0
    assert govsms(cli_env, "account", "create", "Kommun AB").returncode == 0
    settings = settings_of(cli_env)
    engine = make_engine(settings.resolved_database_url)

    waiting = govsms(cli_env, "audit", "verify")
    assert waiting.returncode == 0 and "1 events not yet sealed" in waiting.stdout, waiting.stdout + waiting.stderr
    assert "no witness file" in waiting.stderr
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(chain_rows)).scalar_one() == 0  # verifying sealed nothing

    sealed = govsms(cli_env, "audit", "seal")
    assert sealed.returncode == 0 and "Sealed 1 events" in sealed.stdout
    witness = settings.audit_witness_file
    assert witness.stat().st_mode & 0o777 == 0o600 and len(witness.read_text().splitlines()) == 1

    earlier = tmp_path / "earlier.jsonl"
    assert govsms(cli_env, "audit", "export", "-o", str(earlier), "--account", "Kommun AB").returncode == 0
    with engine.connect() as connection:
        exported = connection.execute(select(events).where(events.c.action == "audit.exported")).all()
    assert len(exported) == 1
    event = exported[0]
    items = [json.loads(line) for line in earlier.read_text().splitlines()]
    assert event.actor == "system" and event.subject_ids == "[]" and event.account_id is not None
    assert json.loads(event.details) == {
        "cli": True, "events": sum(item["type"] == "event" for item in items), "hashes": sum(item["type"] == "sealed" for item in items),
        "checkpoints": sum(item["type"] == "checkpoint" for item in items), "witness": sum(item["type"] == "witness" for item in items),
    }
    assert json.loads(event.details)["witness"] == 1

    assert govsms(cli_env, "audit", "seal").returncode == 0  # seals the export event
    newer = tmp_path / "newer.jsonl"
    assert govsms(cli_env, "audit", "export", "-o", str(newer)).returncode == 0
    published = public_key_text(public_key(load_key_ring(settings)))
    offline = {"PATH": "/usr/bin:/bin"}
    extends = govsms(offline, "audit", "verify", "--file", str(newer), "--since", str(earlier))
    assert extends.returncode == 0 and "extends" in extends.stdout, extends.stderr
    assert govsms(offline, "audit", "verify", "--file", str(newer), "--public-key", published).returncode == 0
    backwards = govsms(offline, "audit", "verify", "--file", str(earlier), "--since", str(newer))
    assert backwards.returncode == 1 and "before the earlier export's head" in backwards.stderr
    wrong_key = govsms(offline, "audit", "verify", "--file", str(newer), "--public-key", "00" * 32)
    assert wrong_key.returncode == 1 and "unknown key" in wrong_key.stderr
    assert govsms(offline, "audit", "verify", "--file", str(newer), "--public-key", "abc").returncode == 2
    assert govsms(offline, "audit", "verify", "--file", str(tmp_path / "missing.jsonl"), "--public-key", published).returncode == 2

    # Cut the tail: the newest events with their chain rows and the last checkpoint.
    with engine.begin() as connection:
        last = connection.execute(select(func.max(checkpoints.c.seq))).scalar_one()
        previous = connection.execute(select(func.max(checkpoints.c.seq)).where(checkpoints.c.seq < last)).scalar_one()
        for table in (links, events, chain_rows, checkpoints):
            connection.execute(delete(table).where(table.c.seq > previous))
    cut = govsms(cli_env, "audit", "verify")
    assert cut.returncode == 1, cut.stdout
    assert f"the sealed log ends at seq {previous} but the witness has a checkpoint at seq {last}" in cut.stderr
    # Every checkpoint gone: named from the witness.
    with engine.begin() as connection:
        connection.execute(delete(checkpoints))
    gone = govsms(cli_env, "audit", "verify")
    assert gone.returncode == 1 and "missing from the database" in gone.stderr
    engine.dispose()


def test_witness_gone_verify_fails_seal_keeps_it_gone_until_rebuilt_and_file_output(cli_env: dict[str, str], tmp_path: Path) -> None:  # noqa: F811
    assert govsms(cli_env, "init").returncode == 0
    assert govsms(cli_env, "account", "create", "Kommun AB").returncode == 0
    settings = settings_of(cli_env)
    witness = settings.audit_witness_file
    assert govsms(cli_env, "audit", "seal").returncode == 0
    export = tmp_path / "export.jsonl"
    assert govsms(cli_env, "audit", "export", "-o", str(export)).returncode == 0
    published = public_key_text(public_key(load_key_ring(settings)))
    offline = govsms({"PATH": "/usr/bin:/bin"}, "audit", "verify", "--file", str(export), "--public-key", published)
    assert offline.returncode == 0, offline.stderr
    assert "None" not in offline.stdout and "Compared with the witness lines in the export: 1 checkpoints." in offline.stdout
    assert "Verified up to seq 1, the last signed checkpoint (20" in offline.stdout and "--since OLD" in offline.stdout

    witness.write_text("")  # : > audit-witness.jsonl
    emptied = govsms(cli_env, "audit", "verify")
    assert emptied.returncode == 1 and "is empty but the database has 1 signed checkpoints" in emptied.stderr
    witness.unlink()
    deleted = govsms(cli_env, "audit", "verify")
    assert deleted.returncode == 1 and f"no witness file at {witness}" in deleted.stderr
    sealed = govsms(cli_env, "audit", "seal")  # seals the export event into the database only
    assert sealed.returncode == 1 and "not recreated" in sealed.stderr and not witness.exists()
    rebuilt = govsms(cli_env, "audit", "seal", "--rebuild-witness")
    assert rebuilt.returncode == 0 and "2 signed checkpoints" in rebuilt.stdout, rebuilt.stderr
    assert len(witness.read_text().splitlines()) == 2
    engine = make_engine(settings.resolved_database_url)
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(events).where(events.c.action == "audit.witness_rebuilt")).scalar_one() == 1
    engine.dispose()
    again = govsms(cli_env, "audit", "verify")
    assert again.returncode == 0 and "Compared with the witness" in again.stdout, again.stdout + again.stderr
