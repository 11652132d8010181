"""Erasure of one person (govsms.subjects.erasure), on both backends: the preview says what goes
and what stays and why; the erasure leaves nothing a search finds but the blocklist entry (which
still blocks the number), no key for the person (raw SQL), a done row with its counts and a
request linked to it; a legal hold refuses it with its reason (audited); an erasure interrupted
after its first batch resumes to the same counts; another account's erasure is not found."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlmodel import Session

from govsms.db import session_scope
from govsms.errors import Conflict, InvalidInput, NotFound
from govsms.keys.ring import KeyRing, load_key_ring
from govsms.keys.store import Vault
from govsms.lifecycle import lifecycle_holdings
from govsms.personal_data import Holding
from govsms.retention.holds import place_legal_hold
from govsms.subjects.erasure import Sealer, erase_subject, get_erasure, preview_erasure, resume_erasures, running_erasures
from govsms.subjects.erasure_models import DONE, RUNNING, SubjectErasure
from govsms.subjects.models import SubjectRequest
from govsms.subjects.search import search_subject
from tests.cli import cli_env, govsms, open_db, settings_of  # noqa: F401  (fixture)
from tests.factories import audit_events, linked_subjects, make_account, make_dispatch, now, system
from tests.subjects.people import E164, TYPED, dpo_of, factory_on, hold_person, sealer_for

EXPECTED = {"contact": 1, "group_member": 2, "outbound_message": 3}
"""At least these rows go (each holding counts its own table's rows)."""


def test_the_preview_says_what_goes_and_what_stays(session: Session) -> None:
    held = hold_person(session)
    preview = preview_erasure(session, held.dpo, lifecycle_holdings(), TYPED, now=now())
    erased = {plan.table: plan.rows for plan in preview.erased}
    kept = {plan.table: plan for plan in preview.kept}
    assert {table: erased.get(table) for table in EXPECTED} == EXPECTED
    assert "block_entry" in kept and "keyed hash" in kept["block_entry"].reason and "block_entry" not in erased
    assert not preview.holds and not preview.refused and preview.accesses >= 1
    assert any("access log" in note.lower() for note in preview.notes) and any("Statistics" in note for note in preview.notes)
    unblocking = preview_erasure(session, held.dpo, lifecycle_holdings(), TYPED, unblock=True, now=now())
    assert {plan.table for plan in unblocking.erased} >= {"block_entry"}
    event = audit_events(session, "subject.erasure_previewed", held.account.id)[0]
    assert linked_subjects(session, event) == {held.subject_id} and E164 not in event.details


def test_the_erasure_leaves_only_the_block_and_no_key(session: Session, connection: Connection, vault: Vault, keys: KeyRing, tmp_path: Path) -> None:
    held = hold_person(session)
    done = erase_subject(factory_on(connection, vault), held.dpo, lifecycle_holdings(), TYPED, sealer=sealer_for(keys, tmp_path), now=now())
    session.expire_all()
    assert {table: done.counts.get(table) for table in EXPECTED} == EXPECTED
    assert done.erasure.status == DONE and done.erasure.finished_at is not None
    # Nothing left but the blocklist entry, which still blocks the number.
    after = search_subject(session, held.dpo, lifecycle_holdings(), TYPED, now=now())
    assert [category.key for category in after.categories] == ["blocklist"] and after.person.subject is None
    assert session.execute(text("SELECT count(*) FROM subject_key WHERE id = :s"), {"s": held.subject_id}).scalar_one() == 0
    assert session.execute(text("SELECT count(*) FROM contact WHERE id = :c"), {"c": held.contact_id}).scalar_one() == 0
    assert session.execute(
        text("SELECT count(*) FROM outbound_message WHERE subject_id = :s"), {"s": held.subject_id}
    ).scalar_one() == 0
    sent = make_dispatch(session, system(held.account), numbers=[E164], text="Hej igen", dry_run=True)
    assert sent.blocked == 1 and sent.accepted == 0
    with pytest.raises(InvalidInput):
        make_dispatch(session, system(held.account), numbers=[E164], text="Hej igen")
    # Recorded: started and erased, naming the person and the request, which is done and linked.
    request = session.get_one(SubjectRequest, done.erasure.request_id, populate_existing=True)
    assert request.kind == "erasure" and request.status == "done" and request.erasure_id == done.erasure.id
    erased = audit_events(session, "subject.erased", held.account.id)
    assert len(erased) == 1 and linked_subjects(session, erased[0]) == {held.subject_id}
    assert (erased[0].target_type, erased[0].target_id) == ("subject_request", request.reference)
    assert '"outbound_message":3' in erased[0].details
    assert len(audit_events(session, "subject.erasure_started", held.account.id)) == 1


def test_unblock_erases_the_blocklist_entry_too(session: Session, connection: Connection, vault: Vault, keys: KeyRing, tmp_path: Path) -> None:
    held = hold_person(session)
    done = erase_subject(
        factory_on(connection, vault), held.dpo, lifecycle_holdings(), E164, sealer=sealer_for(keys, tmp_path), unblock=True, now=now(),
    )
    session.expire_all()
    assert done.counts.get("block_entry") == 1
    assert search_subject(session, held.dpo, lifecycle_holdings(), TYPED, now=now()).empty


def test_a_legal_hold_refuses_the_erasure_with_its_reason(session: Session, connection: Connection, vault: Vault, keys: KeyRing, tmp_path: Path) -> None:
    held = hold_person(session)
    person = preview_erasure(session, held.dpo, lifecycle_holdings(), TYPED, now=now()).person
    until = now().date() + timedelta(days=10)
    place_legal_hold(session, held.dpo, blind_index=person.blind_index, reason="Tvist om faktura", until=until, now=now())
    preview = preview_erasure(session, held.dpo, lifecycle_holdings(), TYPED, now=now())
    assert preview.refused and preview.holds[0].reason == "Tvist om faktura" and preview.holds[0].until == until
    with pytest.raises(Conflict) as refused:
        erase_subject(factory_on(connection, vault), held.dpo, lifecycle_holdings(), TYPED, sealer=sealer_for(keys, tmp_path), now=now())
    assert "Tvist om faktura" in refused.value.message and until.isoformat() in refused.value.message
    session.expire_all()
    assert session.execute(text("SELECT count(*) FROM contact WHERE id = :c"), {"c": held.contact_id}).scalar_one() == 1
    assert session.execute(text("SELECT count(*) FROM subject_erasure")).scalar_one() == 0
    event = audit_events(session, "subject.erasure_refused", held.account.id)
    assert len(event) == 1 and linked_subjects(session, event[0]) == {held.subject_id}


def _interrupted(holdings: tuple[Holding, ...], table: str) -> tuple[Holding, ...]:
    """The holdings, with ``table``'s erase failing after its first batch (a process killed)."""
    calls = {"n": 0}

    def holding_with_failure(holding: Holding) -> Holding:
        erase = holding.erase
        assert erase is not None

        def failing(session: Session, person: Any, *, limit: int, now: Any) -> int:
            calls["n"] += 1
            if calls["n"] > 1:
                raise RuntimeError("killed mid-way")
            return erase(session, person, limit=limit, now=now)

        return replace(holding, erase=failing)

    return tuple(holding_with_failure(holding) if holding.table == table else holding for holding in holdings)


def test_an_interrupted_erasure_resumes_to_the_same_counts(
    session: Session, connection: Connection, vault: Vault, keys: KeyRing, tmp_path: Path,
) -> None:
    factory, sealer = factory_on(connection, vault), sealer_for(keys, tmp_path)
    whole = hold_person(session)
    expected = erase_subject(factory, whole.dpo, lifecycle_holdings(), TYPED, sealer=sealer, now=now(), batch=1).counts

    held = hold_person(session)
    with pytest.raises(RuntimeError, match="killed mid-way"):
        erase_subject(factory, held.dpo, _interrupted(lifecycle_holdings(), "outbound_message"), TYPED, sealer=sealer, now=now(), batch=1)
    session.expire_all()
    [(account_id, erasure_id)] = running_erasures(session)
    assert account_id == held.account.id
    row = session.get_one(SubjectErasure, erasure_id, populate_existing=True)
    assert row.status == RUNNING and '"outbound_message":1' in row.counts  # the first batch committed with its count
    assert session.execute(text("SELECT count(*) FROM subject_key WHERE id = :s"), {"s": held.subject_id}).scalar_one() == 1

    [resumed] = resume_erasures(factory, lifecycle_holdings(), sealer=sealer, now=now(), batch=1)
    assert resumed.erasure.id == erasure_id and resumed.erasure.status == DONE
    assert resumed.counts == expected
    assert resumed.receipt["erased"] and resumed.receipt["reference"].startswith("DSR-")
    session.expire_all()
    assert running_erasures(session) == []
    assert session.execute(text("SELECT count(*) FROM subject_key WHERE id = :s"), {"s": held.subject_id}).scalar_one() == 0
    assert len(audit_events(session, "subject.erased", held.account.id)) == 1


def test_a_new_erasure_of_the_same_person_finishes_the_interrupted_one_first(
    session: Session, connection: Connection, vault: Vault, keys: KeyRing, tmp_path: Path,
) -> None:
    factory, sealer = factory_on(connection, vault), sealer_for(keys, tmp_path)
    held = hold_person(session)
    with pytest.raises(RuntimeError):
        erase_subject(factory, held.dpo, _interrupted(lifecycle_holdings(), "outbound_message"), TYPED, sealer=sealer, now=now(), batch=1)
    erase_subject(factory, held.dpo, lifecycle_holdings(), TYPED, sealer=sealer, now=now(), batch=1)
    session.expire_all()
    assert running_erasures(session) == []
    rows = session.execute(text("SELECT status, counts FROM subject_erasure WHERE account_id = :a ORDER BY id"), {"a": held.account.id}).all()
    assert [status for status, _counts in rows] == [DONE, DONE] and '"outbound_message":3' in rows[0][1]


def test_another_accounts_erasure_is_not_found(session: Session, connection: Connection, vault: Vault, keys: KeyRing, tmp_path: Path) -> None:
    held = hold_person(session)
    done = erase_subject(factory_on(connection, vault), held.dpo, lifecycle_holdings(), TYPED, sealer=sealer_for(keys, tmp_path), now=now())
    stranger = dpo_of(session, make_account(session))
    assert done.erasure.id is not None
    with pytest.raises(NotFound):
        get_erasure(session, stranger, done.erasure.id)


def test_govsms_dsr_resume_finishes_an_interrupted_erasure(cli_env: dict[str, str]) -> None:  # noqa: F811
    assert govsms(cli_env, "init").returncode == 0
    assert govsms(cli_env, "dsr", "resume").stdout.strip() == "No interrupted erasure."
    engine, factory = open_db(cli_env)
    try:
        with session_scope(factory) as session:
            held = hold_person(session)
            account_id, subject_id = held.account.id, held.subject_id
        sealer = Sealer(keys=load_key_ring(settings_of(cli_env)), witness_path=settings_of(cli_env).audit_witness_file)
        with pytest.raises(RuntimeError):
            erase_subject(factory, held.dpo, _interrupted(lifecycle_holdings(), "outbound_message"), TYPED, sealer=sealer, now=now(), batch=1)
        ran = govsms(cli_env, "dsr", "resume")
        assert ran.returncode == 0, ran.stderr
        assert "finished" in ran.stdout and "DSR-" in ran.stdout and E164 not in ran.stdout
        with session_scope(factory) as session:
            assert running_erasures(session) == []
            row = session.execute(text("SELECT status, counts FROM subject_erasure WHERE account_id = :a"), {"a": account_id}).one()
            assert row[0] == DONE and '"outbound_message":3' in row[1]
            assert session.execute(text("SELECT count(*) FROM subject_key WHERE id = :s"), {"s": subject_id}).scalar_one() == 0
    finally:
        engine.dispose()
