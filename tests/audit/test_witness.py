"""The witness file, verification that never seals, the DPA's full public key, and chain format 1
(events written before the MAC) still verifying, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar.testing import TestClient
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from govsms.auth import Role
from govsms.audit.actions import Action
from govsms.audit.chain import (
    GAP_GRACE,
    NoTrustedKey,
    check_export,
    export_lines,
    WitnessNotRebuilt,
    head,
    rebuild_witness,
    seal_and_witness,
    seal_events,
    verify_database,
)
from govsms.audit.models import AuditCheckpoint, AuditEvent
from govsms.audit.record import canonical_json, mac_key, record_event
from govsms.audit.service import export_for, public_key, public_key_text, verify_now
from govsms.audit.witness import append_witness, read_witness, witness_to_compare
from govsms.db import make_engine, make_session_factory, session_scope
from govsms.dpa import service as dpa_service
from govsms.keys.ring import KeyRing
from govsms.keys.store import Vault
from govsms.migrate import upgrade
from govsms.scheduler import build_scheduler
from govsms.settings import Settings
from tests.conftest import drop_postgres_database, fresh_database_url, make_settings
from tests.dpa.test_dpa import pdf_text, provider_and_customer
from tests.factories import make_account, make_api_key, now, system

events = AuditEvent.__table__


def write_events(session: Session, count: int) -> list[int]:
    actor = system(make_account(session))
    return [record_event(session, actor, Action.CONTACT_VIEWED, now=now(), subjects=[n], details={"n": n}) for n in range(count)]


def later() -> object:
    return now() + 2 * GAP_GRACE


def test_verify_never_seals_and_an_edit_before_sealing_stays_found(session: Session, keys: KeyRing, tmp_path: Path) -> None:
    seqs = write_events(session, 4)
    auditor = system(make_account(session))
    before = head(session)
    result = verify_now(session, auditor, keys, now=now(), witness_path=tmp_path / "none.jsonl")
    assert result.ok and result.events == 0 and result.unsealed >= len(seqs)
    assert head(session) == before  # nothing sealed by verifying
    assert session.execute(select(AuditCheckpoint.__table__)).first() is None
    # Edited while it waited for the sealer: the sealer chains what it finds, and it is still found.
    session.execute(update(events).where(events.c.seq == seqs[1]).values(details=json.dumps({"n": 99})))
    assert not verify_database(session, public_key(keys), mac_key=mac_key(keys.audit_signing_seed)).ok
    seal_events(session, keys.audit_signing_seed, now=later())  # type: ignore[arg-type]
    after = verify_database(session, public_key(keys), mac_key=mac_key(keys.audit_signing_seed))
    assert not after.ok and after.first_bad_seq == seqs[1] and any("MAC" in problem for problem in after.problems)


def test_api_verify_never_seals(client: TestClient, session: Session) -> None:
    account = make_account(session)
    write_events(session, 3)
    before = head(session)
    _key, token = make_api_key(session, account, roles={Role.AUDITOR})
    answer = client.get("/api/v1/audit/verify", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200 and answer.json()["ok"] and answer.json()["unsealed"] >= 3
    assert head(session) == before


@pytest.fixture(params=["sqlite", "postgresql"])
def committed(request: pytest.FixtureRequest, tmp_path: Path, keys: KeyRing) -> Iterator[sessionmaker[Session]]:
    """A database of its own whose transactions really commit (the sealer commits before it
    writes the witness)."""
    url = fresh_database_url(request.param, tmp_path)
    upgrade(url)
    engine = make_engine(url)
    yield make_session_factory(engine, vault=Vault(keys))
    engine.dispose()
    if request.param == "postgresql":
        drop_postgres_database(url)


def test_sealer_appends_every_checkpoint_to_a_private_witness(committed: sessionmaker[Session], keys: KeyRing, tmp_path: Path) -> None:
    path = tmp_path / "witness" / "audit-witness.jsonl"
    with session_scope(committed) as session:
        write_events(session, 3)
    first = seal_and_witness(committed, keys.audit_signing_seed, path, now=later())  # type: ignore[arg-type]
    assert first is not None and first.sealed == 4
    assert path.stat().st_mode & 0o777 == 0o600 and path.parent.stat().st_mode & 0o777 == 0o700
    assert seal_and_witness(committed, keys.audit_signing_seed, path, now=later()).checkpoint is None  # type: ignore[arg-type,union-attr]
    with session_scope(committed) as session:
        write_events(session, 2)
    seal_and_witness(committed, keys.audit_signing_seed, path, now=later())  # type: ignore[arg-type]
    lines = path.read_text().splitlines()
    assert len(lines) == 2  # one per checkpoint, appended
    with session_scope(committed) as session:
        stored = session.execute(select(AuditCheckpoint.__table__).order_by(AuditCheckpoint.__table__.c.seq)).all()
        assert [json.loads(line)["seq"] for line in lines] == [row.seq for row in stored]
        assert [json.loads(line)["signature"] for line in lines] == [row.signature.hex() for row in stored]
        witness = read_witness(path)
        result = verify_database(session, public_key(keys), mac_key=mac_key(keys.audit_signing_seed), witness=witness)
        assert result.ok and result.witnessed == 2, result.problems

    # The scheduler's job writes to the configured witness (GOVSMS_AUDIT_WITNESS), here the
    # witness moved elsewhere (a missing one it would not start anew: the database has checkpoints).
    settings = make_settings(tmp_path, audit_witness=tmp_path / "elsewhere.jsonl")
    path.rename(tmp_path / "elsewhere.jsonl")
    with session_scope(committed) as session:
        write_events(session, 1)
    build_scheduler(settings, committed, keys).get_job("audit.seal").func()  # type: ignore[union-attr]
    written = (tmp_path / "elsewhere.jsonl").read_text().splitlines()
    assert written[:2] == lines and len(written) == 3 and json.loads(written[2])["seq"] > json.loads(lines[-1])["seq"]
    assert (tmp_path / "elsewhere.jsonl").stat().st_mode & 0o777 == 0o600


def test_sealer_does_not_recreate_a_deleted_witness_and_rebuilding_is_explicit(
    committed: sessionmaker[Session], keys: KeyRing, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "audit-witness.jsonl"
    with session_scope(committed) as session:
        write_events(session, 2)
    seal_and_witness(committed, keys.audit_signing_seed, path, now=later())  # type: ignore[arg-type]
    assert len(path.read_text().splitlines()) == 1  # the database's first checkpoint starts it

    path.unlink()
    with session_scope(committed) as session:
        write_events(session, 2)
    with caplog.at_level("ERROR"):
        result = seal_and_witness(committed, keys.audit_signing_seed, path, now=later())  # type: ignore[arg-type]
    assert result is not None and result.sealed == 3  # sealing into the database goes on
    assert not path.exists(), "the sealer quietly started a new witness"
    assert any("is missing" in record.getMessage() and "--rebuild-witness" in record.getMessage() for record in caplog.records)
    with session_scope(committed) as session:
        missing = verify_database(session, public_key(keys), mac_key=mac_key(keys.audit_signing_seed), witness=witness_to_compare(path))
        assert not missing.ok and any(f"no witness file at {path}" in problem for problem in missing.problems), missing.problems

        assert rebuild_witness(session, keys.audit_signing_seed, path, read_witness(path)) == 2
    assert path.stat().st_mode & 0o777 == 0o600
    with session_scope(committed) as session:
        rebuilt = verify_database(session, public_key(keys), mac_key=mac_key(keys.audit_signing_seed), witness=witness_to_compare(path))
        assert rebuilt.ok and rebuilt.witnessed == 2, rebuilt.problems

        # Never over a cut: the last checkpoint went from the database, the witness keeps it.
        last = session.execute(select(func.max(AuditCheckpoint.__table__.c.seq))).scalar_one()
        session.execute(delete(AuditCheckpoint.__table__).where(AuditCheckpoint.__table__.c.seq == last))
        with pytest.raises(WitnessNotRebuilt):
            rebuild_witness(session, keys.audit_signing_seed, path, read_witness(path))
    assert len(path.read_text().splitlines()) == 2


def test_witness_setting_and_its_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings(data_dir=tmp_path).audit_witness_file == tmp_path / "audit-witness.jsonl"
    monkeypatch.setenv("GOVSMS_AUDIT_WITNESS", str(tmp_path / "pinned" / "w.jsonl"))
    assert Settings(data_dir=tmp_path).audit_witness_file == tmp_path / "pinned" / "w.jsonl"


def test_exports_carry_the_witness_and_extend_each_other(session: Session, keys: KeyRing, tmp_path: Path) -> None:
    path = tmp_path / "audit-witness.jsonl"

    def seal() -> None:
        result = seal_events(session, keys.audit_signing_seed, now=later())  # type: ignore[arg-type]
        append_witness(path, [result.checkpoint])  # type: ignore[list-item]

    def export() -> list[str]:
        return list(export_lines(session, account_id=None, public_key=public_key(keys), now=now(), witness=read_witness(path)))

    write_events(session, 3)
    seal()
    earlier = export()
    assert sum(json.loads(line)["type"] == "witness" for line in earlier) == 1
    write_events(session, 2)
    seal()
    later_export = export()
    assert sum(json.loads(line)["type"] == "witness" for line in later_export) == 2
    assert check_export(later_export, public_key=public_key(keys)).ok
    extended = check_export(later_export, since=earlier)
    assert extended.ok, extended.problems
    backwards = check_export(earlier, since=later_export)
    assert not backwards.ok and any("before the earlier export's head" in problem for problem in backwards.problems)
    with pytest.raises(NoTrustedKey):
        check_export(later_export)
    # A witness copy kept apart catches an export cut together with its own witness lines (and
    # the header's count of them, which alone is no proof: the header is not signed).
    cut = [line for line in earlier if json.loads(line)["type"] != "witness"]
    assert not check_export(cut, public_key=public_key(keys)).ok
    cut[0] = json.dumps({**json.loads(cut[0]), "witness": 0})
    assert check_export(cut, public_key=public_key(keys)).ok
    kept_apart = check_export(cut, public_key=public_key(keys), witness=read_witness(path))
    assert not kept_apart.ok and any("the export ends at seq" in problem for problem in kept_apart.problems)


def test_events_written_before_macs_still_verify(session: Session, keys: KeyRing) -> None:
    """Chain format 1: a log sealed before this change has events without a MAC."""
    moment = now()
    for n in range(3):
        session.execute(
            insert(events).values(occurred_at=moment, actor="system", action="contact.viewed", subject_ids="[]", details=canonical_json({"n": n}))
        )
    seal_events(session, keys.audit_signing_seed, now=later())  # type: ignore[arg-type]
    write_events(session, 2)  # format 2 from here on
    seal_events(session, keys.audit_signing_seed, now=later())  # type: ignore[arg-type]
    result = verify_database(session, public_key(keys), mac_key=mac_key(keys.audit_signing_seed))
    assert result.ok and result.events == 6, result.problems
    lines = list(export_lines(session, account_id=None, public_key=public_key(keys), now=now()))
    assert check_export(lines, public_key=public_key(keys)).ok
    # After the first event with a MAC, one without is an event written outside govsms.
    session.execute(
        insert(events).values(occurred_at=moment, actor="system", action="contact.viewed", subject_ids="[]", details="{}")
    )
    forged = verify_database(session, public_key(keys), mac_key=mac_key(keys.audit_signing_seed))
    assert not forged.ok and any("has no MAC" in problem for problem in forged.problems)


def test_public_key_text_is_the_whole_key_and_parses_back(keys: KeyRing) -> None:
    from govsms.audit.service import parse_public_key

    key = public_key(keys)
    text = public_key_text(key)
    assert re.fullmatch(r"([0-9a-f]{8} ){7}[0-9a-f]{8}", text)
    assert parse_public_key(text) == key and parse_public_key(text.replace(" ", ":")) == key
    for bad in ("", text[:-2], text + "00", "zz" * 32):
        with pytest.raises(ValueError):
            parse_public_key(bad)


def test_dpa_shows_the_whole_public_key(session: Session, settings: Settings, keys: KeyRing, tmp_path: Path) -> None:
    _provider, customer = provider_and_customer(session)
    actor = system(customer)
    whole = public_key(keys).hex()
    for lang in ("sv", "en"):
        html = dpa_service.preview(session, settings, keys, actor, lang=lang, now=now())
        assert public_key_text(public_key(keys)) in html
        version, _created = dpa_service.generate(session, settings, keys, actor, lang=lang, now=now())
        pdf = dpa_service.download(session, actor, version.id, now=now())[1]  # type: ignore[arg-type]
        assert whole in "".join(pdf_text(pdf, tmp_path).split())


def test_export_for_reads_through_a_given_session(session: Session, keys: KeyRing, tmp_path: Path) -> None:
    account = make_account(session)
    actor = system(account)
    write_events(session, 1)
    lines = list(export_for(session, actor, keys, now=now(), witness=None))
    assert json.loads(lines[0])["type"] == "header" and json.loads(lines[0])["witness"] is None
