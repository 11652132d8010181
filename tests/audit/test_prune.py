"""Pruning the access log (issue 12 item 3), on SQLite and PostgreSQL: whole sealed segments older
than a date go, a signed anchor says where the rest starts, and `govsms audit verify` (the
database and an export, offline) still passes and names the anchor; tampering with what remains,
or with the anchor, still fails."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import delete, func, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from govsms.accounts.service import get_account_by_name
from govsms.audit.actions import Action
from govsms.audit.chain import GAP_GRACE, seal_events, verify_export, witness_checkpoint
from govsms.audit.models import AuditAnchor, AuditChain, AuditCheckpoint, AuditEvent, AuditEventSubject
from govsms.audit.prune import PruneRefused, prune_access_log
from govsms.audit.record import record_event
from govsms.audit.service import public_key, public_key_text
from govsms.auth import Actor, Role
from govsms.db import make_session_factory, session_scope
from govsms.keys.ring import KeyRing, load_key_ring
from govsms.keys.store import Vault
from tests.cli import cli_env, govsms, open_db, settings_of  # noqa: F401  (fixture)
from tests.factories import make_account, make_api_key, make_user
from tests.web_helpers import login, post_form

events, links, chain_rows, checkpoints, anchors = (
    AuditEvent.__table__, AuditEventSubject.__table__, AuditChain.__table__, AuditCheckpoint.__table__, AuditAnchor.__table__,
)
NOW = datetime.now(UTC)
OLD, RECENT = NOW - timedelta(days=800), NOW - timedelta(days=100)
BEFORE = (NOW - timedelta(days=400)).date().isoformat()


@dataclass
class Log:
    env: dict[str, str]
    engine: Engine
    factory: sessionmaker[Session]
    keys: KeyRing
    witness: Path
    old: list[int]
    recent: list[int]


def write(log: Log, count: int, at: datetime, *, seal: bool = True, platform: bool = False) -> list[int]:
    with session_scope(log.factory) as session:
        account = None if platform else get_account_by_name(session, "Kommun AB")
        actor = Actor.system(account.id, account.name) if account is not None and account.id is not None else None
        seqs = [
            record_event(session, actor, Action.CONTACT_VIEWED, now=at + timedelta(seconds=n), target=("contact", n),
                         subjects=[n, n + 1000], details={"n": n})
            for n in range(count)
        ]
    if seal:
        with session_scope(log.factory) as session:
            result = seal_events(session, log.keys.audit_signing_seed, now=at + timedelta(seconds=count) + 2 * GAP_GRACE)
        witness_checkpoint(log.witness, result)
    return seqs


@pytest.fixture
def log(cli_env: dict[str, str]) -> Iterator[Log]:  # noqa: F811
    """An installation whose access log has an old segment (800 days) and a recent one (100 days),
    both sealed and witnessed."""
    assert govsms(cli_env, "init").returncode == 0
    settings = settings_of(cli_env)
    engine, factory = open_db(cli_env)
    made = Log(cli_env, engine, factory, load_key_ring(settings), settings.audit_witness_file, [], [])
    made.old = write(made, 4, OLD, platform=True)  # platform events (no account yet)
    assert govsms(cli_env, "account", "create", "Kommun AB").returncode == 0  # an event of today, sealed with the recent ones
    made.recent = write(made, 3, RECENT)
    yield made
    engine.dispose()


def count(engine: Engine, table: Any, *where: Any) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


def test_prune_the_oldest_segment_verify_names_the_anchor_and_tampering_still_fails(log: Log, tmp_path: Path) -> None:
    anchor_seq = log.old[-1]
    assert govsms(log.env, "audit", "verify").returncode == 0
    dry = govsms(log.env, "audit", "prune", "--before", BEFORE, "--dry-run")
    assert dry.returncode == 0 and f"Would prune {anchor_seq} events (seq 1 to {anchor_seq})" in dry.stdout, dry.stdout + dry.stderr
    assert count(log.engine, events, events.c.seq <= anchor_seq) == anchor_seq and count(log.engine, anchors) == 0
    too_new = govsms(log.env, "audit", "prune", "--before", (NOW - timedelta(days=30)).date().isoformat())
    assert too_new.returncode == 2 and "shortest storage time" in too_new.stderr

    pruned = govsms(log.env, "audit", "prune", "--before", BEFORE)
    assert pruned.returncode == 0 and f"Pruned {anchor_seq} events" in pruned.stdout, pruned.stdout + pruned.stderr
    assert f"verifies from sequence {anchor_seq + 1}" in pruned.stdout
    for table in (events, links, chain_rows):
        assert count(log.engine, table, table.c.seq <= anchor_seq) == 0, table.name
    assert count(log.engine, events, events.c.seq > anchor_seq, events.c.action != "audit.pruned") == 4
    assert count(log.engine, links, links.c.seq.in_(log.recent)) == 6
    assert count(log.engine, checkpoints, checkpoints.c.seq < anchor_seq) == 0
    with log.engine.connect() as connection:
        event = connection.execute(select(events).where(events.c.action == "audit.pruned")).one()
    assert event.seq > log.recent[-1]  # a new event, not pruned
    assert json.loads(event.details) == {
        "anchor_seq": anchor_seq, "previous_anchor_seq": 0, "events": 4, "links": 8, "checkpoints": 0, "batches": 3,
        "finished_earlier_run": False, "cli": True,
    }
    assert len(log.witness.read_text().splitlines()) == 2  # the pruned segment's checkpoint stays in the witness

    verified = govsms(log.env, "audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert f"Verified from sequence {anchor_seq + 1} (anchor signed at {NOW:%Y-%m-%d}" in verified.stdout
    assert "Compared with the witness" in verified.stdout
    assert govsms(log.env, "audit", "seal").returncode == 0  # the sealer goes on after the anchor
    again = govsms(log.env, "audit", "verify")
    assert again.returncode == 0 and f"Verified from sequence {anchor_seq + 1}" in again.stdout, again.stderr
    nothing = govsms(log.env, "audit", "prune", "--before", BEFORE)
    assert nothing.returncode == 0 and "Nothing to prune" in nothing.stdout

    # Exports of the pruned log verify offline: the whole log and one account's.
    published = public_key_text(public_key(log.keys))
    offline = {"PATH": "/usr/bin:/bin"}
    full, own = tmp_path / "full.jsonl", tmp_path / "own.jsonl"
    assert govsms(log.env, "audit", "export", "-o", str(full)).returncode == 0
    assert govsms(log.env, "audit", "export", "-o", str(own), "--account", "Kommun AB").returncode == 0
    for export in (full, own):
        checked = govsms(offline, "audit", "verify", "--file", str(export), "--public-key", published)
        assert checked.returncode == 0, checked.stderr
        assert f"Verified from sequence {anchor_seq + 1} (anchor signed at" in checked.stdout
    lines = full.read_text().splitlines()
    assert json.loads(lines[0])["anchor"] == anchor_seq and sum('"type":"anchor"' in line for line in lines) == 1
    forged_line = [json.dumps({**json.loads(line), "head_hash": "00" * 32}) if '"type":"anchor"' in line else line for line in lines]
    forged = tmp_path / "forged.jsonl"
    forged.write_text("\n".join(forged_line) + "\n")
    bad = govsms(offline, "audit", "verify", "--file", str(forged), "--public-key", published)
    assert bad.returncode == 1 and "anchor" in bad.stderr
    without = tmp_path / "without.jsonl"
    without.write_text("\n".join(line for line in lines if '"type":"anchor"' not in line) + "\n")
    assert govsms(offline, "audit", "verify", "--file", str(without), "--public-key", published).returncode == 1

    # Tampering with a remaining event still fails.
    middle = log.recent[1]
    with log.engine.begin() as connection:
        connection.execute(update(events).where(events.c.seq == middle).values(details='{"n":99}'))
    changed = govsms(log.env, "audit", "verify")
    assert changed.returncode == 1 and f"first bad sequence number {middle}" in changed.stderr
    with log.engine.begin() as connection:
        connection.execute(update(events).where(events.c.seq == middle).values(details='{"n":1}'))
    assert govsms(log.env, "audit", "verify").returncode == 0
    # So does a forged or altered anchor.
    with log.engine.connect() as connection:
        anchor = connection.execute(select(anchors)).one()
    for change in (
        {"signature": bytes(64)}, {"head_hash": bytes(32)}, {"signed_at": anchor.signed_at - timedelta(days=1)},
        {"seq": anchor.seq - 1}, {"seq": log.recent[0]},
    ):
        with log.engine.begin() as connection:
            connection.execute(update(anchors).values(**change))
        forged_db = govsms(log.env, "audit", "verify")
        assert forged_db.returncode == 1, change
        with log.engine.begin() as connection:
            connection.execute(update(anchors).values(seq=anchor.seq, head_hash=anchor.head_hash, signed_at=anchor.signed_at,
                                                      signature=anchor.signature))
    assert govsms(log.env, "audit", "verify").returncode == 0
    with log.engine.begin() as connection:  # no anchor at all: the log starts at an event that follows nothing
        connection.execute(delete(anchors))
    assert govsms(log.env, "audit", "verify").returncode == 1
    with log.engine.begin() as connection:
        connection.execute(anchors.insert().values(**anchor._mapping))
    # A deleted event in the middle of the remaining log still fails.
    with log.engine.begin() as connection:
        for table in (links, events, chain_rows):
            connection.execute(delete(table).where(table.c.seq == middle))
    cut = govsms(log.env, "audit", "verify")
    assert cut.returncode == 1 and f"first bad sequence number {log.recent[2]}" in cut.stderr, cut.stderr


def test_unsealed_events_and_the_newest_checkpoint_bound_the_prune_in_batches(log: Log) -> None:
    waiting = write(log, 5, OLD, seal=False)  # old, but not sealed: no checkpoint covers them
    seed = log.keys.audit_signing_seed
    later_on = datetime.now(UTC) + timedelta(minutes=5)  # after the account's creation too
    report = prune_access_log(log.factory, seed, before=later_on, now=later_on, batch_rows=3)
    newest = log.recent[-1]
    assert report.anchor_seq == newest and report.events == newest and report.checkpoints == 1
    assert report.batches >= 3 + 3 + 3 + 1  # links (14 rows), chain rows (8), events (8), the older checkpoint: about 3 at a time
    assert count(log.engine, events) == len(waiting) + 1  # the unsealed ones, and the prune's own event
    assert count(log.engine, events, events.c.seq.in_(waiting)) == len(waiting)
    assert count(log.engine, chain_rows) == 0 and count(log.engine, checkpoints) == 1
    verified = govsms(log.env, "audit", "verify")
    assert verified.returncode == 0 and f"Verified from sequence {newest + 1}" in verified.stdout, verified.stderr
    assert f"{len(waiting) + 1} events not yet sealed" in verified.stdout
    sealed = govsms(log.env, "audit", "seal")  # chains on from the anchor: the log had no chain row left
    assert sealed.returncode == 0 and f"Sealed {len(waiting) + 1} events" in sealed.stdout, sealed.stderr
    assert govsms(log.env, "audit", "verify").returncode == 0
    later = prune_access_log(log.factory, seed, before=later_on + timedelta(minutes=1), now=later_on + timedelta(minutes=1))
    assert later.previous_anchor_seq == newest and later.anchor_seq is not None and later.anchor_seq > newest
    final = govsms(log.env, "audit", "verify")
    assert final.returncode == 0 and f"Verified from sequence {later.anchor_seq + 1}" in final.stdout, final.stderr
    assert len(log.witness.read_text().splitlines()) == 3  # every checkpoint ever signed stays in the witness


def test_a_log_that_does_not_verify_is_not_pruned(log: Log) -> None:
    with log.engine.begin() as connection:
        connection.execute(update(events).where(events.c.seq == log.old[1]).values(details='{"n":7}'))
    with pytest.raises(PruneRefused):
        prune_access_log(log.factory, log.keys.audit_signing_seed, before=NOW - timedelta(days=400), now=NOW)
    assert count(log.engine, anchors) == 0 and count(log.engine, events, events.c.seq <= log.old[-1]) == log.old[-1]
    dry = prune_access_log(log.factory, log.keys.audit_signing_seed, before=NOW - timedelta(days=400), now=NOW, dry_run=True)
    assert dry.anchor_seq == log.old[-1] and count(log.engine, anchors) == 0


def test_verify_now_and_the_api_name_the_anchor(client: TestClient, session: Session, connection: Connection, vault: Vault) -> None:
    account = make_account(session)
    auditor, password = make_user(session, account, roles={Role.AUDITOR})
    _key, token = make_api_key(session, account, roles={Role.AUDITOR})
    seed = vault.keys.audit_signing_seed
    at = datetime.now(UTC)
    seal_events(session, seed, now=at + 2 * GAP_GRACE)
    session.flush()
    report = prune_access_log(make_session_factory(connection, vault=vault), seed, before=at + timedelta(minutes=1), now=at)
    assert report.anchor_seq is not None and report.events >= 1
    answer = client.get("/api/v1/audit/verify", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["ok"] and body["pruned_to"] == report.anchor_seq and body["anchor_signed_at"] == f"{at:%Y-%m-%dT%H:%M:%SZ}"
    login(client, auditor.email, password)
    page = post_form(client, "/audit/verify", {}, token_from="/audit").text
    assert "Loggen är intakt" in page and f"Verifierad från löpnummer {report.anchor_seq + 1} (ankaret signerat {at:%Y-%m-%dT%H:%M:%SZ})" in page
    export = client.get("/audit/export")
    lines = export.text.splitlines()
    assert json.loads(lines[0])["anchor"] == report.anchor_seq
    assert verify_export(lines, public_key(vault.keys)).ok


def test_the_witness_rebuilt_after_pruning_keeps_the_pruned_checkpoints_and_since_across_the_anchor(
    log: Log, tmp_path: Path,
) -> None:
    earlier = tmp_path / "earlier.jsonl"
    assert govsms(log.env, "audit", "export", "-o", str(earlier)).returncode == 0
    assert govsms(log.env, "audit", "prune", "--before", BEFORE).returncode == 0
    assert govsms(log.env, "audit", "seal").returncode == 0
    newer = tmp_path / "newer.jsonl"
    assert govsms(log.env, "audit", "export", "-o", str(newer)).returncode == 0
    since = govsms({"PATH": "/usr/bin:/bin"}, "audit", "verify", "--file", str(newer), "--since", str(earlier))
    assert since.returncode == 0, since.stderr  # the earlier head (the recent checkpoint) lies after the anchor
    witnessed = log.witness.read_text().splitlines()
    assert len(witnessed) == 3
    log.witness.write_text("\n".join(witnessed[:2]) + "\n")  # the newest checkpoint lost from the witness
    assert govsms(log.env, "audit", "verify").returncode == 1
    rebuilt = govsms(log.env, "audit", "seal", "--rebuild-witness")
    assert rebuilt.returncode == 0 and "4 signed checkpoints" in rebuilt.stdout, rebuilt.stdout + rebuilt.stderr  # seal sealed one more
    assert log.witness.read_text().splitlines()[0] == witnessed[0]  # the pruned segment's checkpoint is kept
    assert govsms(log.env, "audit", "verify").returncode == 0

    later_on = datetime.now(UTC) + timedelta(minutes=5)  # a prune past the earlier export's head
    report = prune_access_log(log.factory, log.keys.audit_signing_seed, before=later_on, now=later_on)
    assert report.anchor_seq is not None and report.anchor_seq > log.recent[-1]
    latest = tmp_path / "latest.jsonl"
    assert govsms(log.env, "audit", "export", "-o", str(latest)).returncode == 0
    cannot = govsms({"PATH": "/usr/bin:/bin"}, "audit", "verify", "--file", str(latest), "--since", str(earlier))
    assert cannot.returncode == 1 and f"pruned up to seq {report.anchor_seq}, past the earlier export's head" in cannot.stderr
    published = public_key_text(public_key(log.keys))
    assert govsms({"PATH": "/usr/bin:/bin"}, "audit", "verify", "--file", str(latest), "--public-key", published).returncode == 0


def test_a_run_stopped_half_way_leaves_a_log_that_verifies_and_the_next_run_finishes_it(log: Log, monkeypatch: pytest.MonkeyPatch) -> None:
    from govsms.audit import prune

    delete_upto = prune._delete_upto

    def stops_at_the_events(factory: Any, table: Any, *args: Any, **kwargs: Any) -> tuple[int, int]:
        if table.name == "audit_event":
            raise KeyboardInterrupt  # killed after the links and chain rows went
        return delete_upto(factory, table, *args, **kwargs)

    monkeypatch.setattr(prune, "_delete_upto", stops_at_the_events)
    with pytest.raises(KeyboardInterrupt):
        prune_access_log(log.factory, log.keys.audit_signing_seed, before=NOW - timedelta(days=400), now=NOW)
    monkeypatch.undo()
    anchor_seq = log.old[-1]
    assert count(log.engine, events, events.c.seq <= anchor_seq) == 4 and count(log.engine, chain_rows, chain_rows.c.seq <= anchor_seq) == 0
    verified = govsms(log.env, "audit", "verify")
    assert verified.returncode == 0 and f"Verified from sequence {anchor_seq + 1}" in verified.stdout, verified.stderr
    finished = govsms(log.env, "audit", "prune", "--before", BEFORE)
    assert finished.returncode == 0 and "finished an earlier run" in finished.stdout and "deleted 4 events" in finished.stdout, finished.stdout
    assert count(log.engine, events, events.c.seq <= anchor_seq) == 0
    assert govsms(log.env, "audit", "verify").returncode == 0
    assert "Nothing to prune" in govsms(log.env, "audit", "prune", "--before", BEFORE).stdout


def test_a_second_prune_while_one_runs_reports_another_prune_not_tampering(log: Log, monkeypatch: pytest.MonkeyPatch) -> None:
    # The second starts (by hand) after the first planned, while it checks the segments it is about
    # to delete: without the lease one of them would read chain rows the other deletes.
    from govsms.audit import prune

    check = prune._check_segments
    seconds: list[Any] = []

    def meanwhile(*args: Any, **kwargs: Any) -> None:
        if not seconds:
            seconds.append(prune_access_log(log.factory, log.keys.audit_signing_seed, before=NOW - timedelta(days=400), now=NOW, wait_seconds=0))
            by_hand = govsms(log.env, "audit", "prune", "--before", BEFORE)
            assert by_hand.returncode == 1 and "Another prune of the access log is running" in by_hand.stdout, by_hand.stdout + by_hand.stderr
            assert "verify" not in by_hand.stdout + by_hand.stderr
        check(*args, **kwargs)

    monkeypatch.setattr(prune, "_check_segments", meanwhile)
    first = prune_access_log(log.factory, log.keys.audit_signing_seed, before=NOW - timedelta(days=400), now=NOW)
    assert first.anchor_seq == log.old[-1] and first.events == len(log.old) and not first.busy
    assert seconds[0].busy and seconds[0].anchor_seq is None and seconds[0].events == 0
    assert count(log.engine, anchors) == 1
    verified = govsms(log.env, "audit", "verify")
    assert verified.returncode == 0 and f"Verified from sequence {log.old[-1] + 1}" in verified.stdout, verified.stdout + verified.stderr
    # The lease is given back: the next prune runs (nothing left to prune).
    assert not prune_access_log(log.factory, log.keys.audit_signing_seed, before=NOW - timedelta(days=400), now=NOW, wait_seconds=0).busy


def test_two_prunes_at_once_neither_reports_tampering_and_the_log_verifies_after(log: Log, monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    from govsms.audit import prune

    delete_upto = prune._delete_upto

    def slowly(*args: Any, **kwargs: Any) -> tuple[int, int]:
        time.sleep(0.05)  # the deleting takes a while: the other run comes meanwhile
        return delete_upto(*args, **kwargs)

    monkeypatch.setattr(prune, "_delete_upto", slowly)
    start = threading.Barrier(2)
    reports: list[Any] = []
    errors: list[BaseException] = []

    def run() -> None:
        start.wait()
        try:
            reports.append(prune_access_log(log.factory, log.keys.audit_signing_seed, before=NOW - timedelta(days=400), now=NOW, batch_rows=1))
        except BaseException as error:  # noqa: BLE001  (reported below)
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == [] and len(reports) == 2
    assert sorted(report.events for report in reports) == [0, len(log.old)]  # the second waited, then found nothing left
    assert count(log.engine, anchors) == 1 and count(log.engine, events, events.c.seq <= log.old[-1]) == 0
    verified = govsms(log.env, "audit", "verify")
    assert verified.returncode == 0 and f"Verified from sequence {log.old[-1] + 1}" in verified.stdout, verified.stdout + verified.stderr


def test_a_killed_prune_holds_its_lease_until_its_heartbeat_is_stale(log: Log) -> None:
    from govsms.audit.prune import PRUNE_JOB, PRUNE_PERIOD
    from govsms.jobs import LEASE, claim

    with session_scope(log.factory) as session:  # a prune killed outright (no ^C): its row stays running
        assert claim(session, PRUNE_JOB, PRUNE_PERIOD, now=NOW, holder="killed:1", again=True) is not None
    seed, before = log.keys.audit_signing_seed, NOW - timedelta(days=400)
    fresh = prune_access_log(log.factory, seed, before=before, now=NOW + LEASE - timedelta(minutes=1), wait_seconds=0)
    assert fresh.busy and count(log.engine, anchors) == 0
    stale = prune_access_log(log.factory, seed, before=before, now=NOW + LEASE + timedelta(minutes=1), wait_seconds=0)
    assert not stale.busy and stale.anchor_seq == log.old[-1] and count(log.engine, anchors) == 1
    assert govsms(log.env, "audit", "verify").returncode == 0
