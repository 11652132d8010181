"""`govsms audit verify|export` and `govsms keys rotate|retire` as an operator runs them, on
SQLite and PostgreSQL: tampering is named, exports verify offline, rotation keeps data readable."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import delete, insert, select, update

from govsms.audit.models import AuditEvent
from govsms.audit.service import public_key, public_key_text
from govsms.contacts import service
from govsms.db import session_scope
from govsms.keys.ring import load_key_ring
from govsms.settings import Settings
from tests import sensitive
from tests.cli import cli_env, govsms, open_db  # noqa: F401  (fixture)
from tests.factories import now, system

events = AuditEvent.__table__
NUMBERS = ["+46701112233", "+46709998877", "+4741234567"]


def seed(env: dict[str, str]) -> None:
    assert govsms(env, "init").returncode == 0
    assert govsms(env, "account", "create", "Kommun AB").returncode == 0
    engine, factory = open_db(env)
    from govsms.accounts.service import get_account_by_name

    with session_scope(factory) as session:
        actor = system(get_account_by_name(session, "Kommun AB"))
        for number in NUMBERS:
            service.create_contact(session, actor, number=sensitive.register(number), name="Åsa Öberg", now=now())
        service.list_contacts(session, actor, now=now())
    engine.dispose()


def test_tampering_is_named_and_exports_verify_offline(cli_env: dict[str, str], tmp_path: Path) -> None:  # noqa: F811
    seed(cli_env)
    assert govsms(cli_env, "audit", "seal").returncode == 0  # the scheduler's work: verify never seals
    intact = govsms(cli_env, "audit", "verify")
    assert intact.returncode == 0 and intact.stdout.startswith("OK"), intact.stderr
    engine, factory = open_db(cli_env)
    with factory() as session:
        rows = session.execute(select(events).order_by(events.c.seq)).all()
    target = rows[2]

    def run_altered(change, undo) -> str:  # type: ignore[no-untyped-def]
        with engine.begin() as connection:
            change(connection)
        result = govsms(cli_env, "audit", "verify", "--no-seal")
        with engine.begin() as connection:
            undo(connection)
        assert result.returncode == 1, result.stdout
        return result.stderr

    changed = run_altered(
        lambda c: c.execute(update(events).where(events.c.seq == target.seq).values(actor="user:666")),
        lambda c: c.execute(update(events).where(events.c.seq == target.seq).values(actor=target.actor)),
    )
    assert f"first bad sequence number {target.seq}" in changed
    deleted = run_altered(
        lambda c: c.execute(delete(events).where(events.c.seq == target.seq)),
        lambda c: c.execute(insert(events).values(**target._mapping)),
    )
    assert f"first bad sequence number {target.seq}" in deleted
    first, second = rows[1], rows[3]
    swap = lambda c, a, b: (  # noqa: E731
        c.execute(update(events).where(events.c.seq == a).values(seq=999_999)),
        c.execute(update(events).where(events.c.seq == b).values(seq=a)),
        c.execute(update(events).where(events.c.seq == 999_999).values(seq=b)),
    )
    reordered = run_altered(lambda c: swap(c, first.seq, second.seq), lambda c: swap(c, first.seq, second.seq))
    assert f"first bad sequence number {first.seq}" in reordered
    assert govsms(cli_env, "audit", "verify").returncode == 0  # undone: intact again
    engine.dispose()

    export = tmp_path / "audit.jsonl"
    assert govsms(cli_env, "audit", "export", "-o", str(export)).returncode == 0
    text = export.read_text()
    for number in NUMBERS:
        assert number not in text and number[3:] not in text
    assert "Åsa" not in text
    settings = Settings(data_dir=Path(cli_env["GOVSMS_DATA_DIR"]))
    published = public_key_text(public_key(load_key_ring(settings)))
    unpinned = govsms({"PATH": "/usr/bin:/bin"}, "audit", "verify", "--file", str(export))  # the key inside proves nothing
    assert unpinned.returncode == 2 and "--public-key" in unpinned.stderr
    offline = govsms({"PATH": "/usr/bin:/bin"}, "audit", "verify", "--file", str(export), "--public-key", published)  # no database settings at all
    assert offline.returncode == 0, offline.stderr
    data = bytearray(export.read_bytes())
    position = data.index(b'"action":"contacts.listed"') + len(b'"action":"contacts.')
    data[position] = ord("X")
    export.write_bytes(bytes(data))
    broken = govsms({"PATH": "/usr/bin:/bin"}, "audit", "verify", "--file", str(export), "--public-key", published)
    assert broken.returncode == 1 and "first bad sequence number" in broken.stderr


def test_rotation_then_removal_of_the_old_key_keeps_contacts_readable(cli_env: dict[str, str], tmp_path: Path) -> None:  # noqa: F811
    seed(cli_env)
    key_file = Path(cli_env["GOVSMS_DATA_DIR"]) / "keys.json"
    refused = govsms(cli_env, "keys", "retire", "k1")
    assert refused.returncode == 2 and "active" in refused.stderr
    rotated = govsms(cli_env, "keys", "rotate")
    assert rotated.returncode == 0, rotated.stderr
    assert "k2" in rotated.stdout and "re-wrapped" in rotated.stdout
    assert govsms(cli_env, "keys", "rotate", "--resume").returncode == 0  # idempotent
    retired = govsms(cli_env, "keys", "retire", "k1")
    assert retired.returncode == 0, retired.stderr
    content = json.loads(key_file.read_text())
    assert [entry.split(":")[0] for entry in content["master_keys"].split(",")] == ["k2"]
    assert key_file.stat().st_mode & 0o777 == 0o600
    engine, factory = open_db(cli_env)
    from govsms.accounts.service import get_account_by_name

    with session_scope(factory) as session:
        actor = system(get_account_by_name(session, "Kommun AB"))
        contacts = service.list_contacts(session, actor, now=now(), per_page=500).items
        assert sorted(view.number for view in contacts) == sorted(NUMBERS)
        assert {view.name for view in contacts} == {"Åsa Öberg"}
        assert service.list_contacts(session, actor, number=NUMBERS[0], now=now()).total == 1
    engine.dispose()
    assert govsms(cli_env, "audit", "verify").returncode == 0
