"""Erasure of one person (govsms.subjects.erasure), on both backends: the preview says what goes
and what stays and why; the erasure leaves nothing a search finds but the blocklist entry (which
still blocks the number), no key for the person (raw SQL), a done row with its counts and a
request linked to it; a legal hold refuses it with its reason (audited); an erasure interrupted
after its first batch resumes to the same counts; another account's erasure is not found."""

from __future__ import annotations

import json
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
from tests.conftest import not_applicable

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
    [(_account, interrupted)] = running_erasures(session)
    done = erase_subject(factory, held.dpo, lifecycle_holdings(), TYPED, sealer=sealer, now=now(), batch=1)
    session.expire_all()
    assert running_erasures(session) == []
    # The interrupted erasure is finished and is the one returned: one erasure, one receipt.
    rows = session.execute(text("SELECT status, counts FROM subject_erasure WHERE account_id = :a ORDER BY id"), {"a": held.account.id}).all()
    assert [status for status, _counts in rows] == [DONE] and '"outbound_message":3' in rows[0][1]
    assert done.erasure.id == interrupted and done.receipt["erasure"] == interrupted


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


def _sending_meanwhile(holdings: tuple[Holding, ...], account: Any, text_: str, sent: dict[str, int]) -> tuple[Holding, ...]:
    """The holdings, with a send to the person committed in the erasure's first batch of access
    exports (after the messages' batches ran): another user sends while the erasure runs."""

    def hooked_holding(holding: Holding) -> Holding:
        erase = holding.erase
        assert erase is not None

        def hooked(session: Session, person: Any, *, limit: int, now: Any) -> int:
            if not sent:
                sent["dispatch"] = make_dispatch(session, system(account), text=text_, numbers=[E164]).dispatch_id
                session.flush()
            return erase(session, person, limit=limit, now=now)

        return replace(holding, erase=hooked)

    return tuple(hooked_holding(holding) if holding.table == "subject_export" else holding for holding in holdings)


def test_a_message_sent_while_the_erasure_runs_is_swept_with_the_key(
    session: Session, connection: Connection, vault: Vault, keys: KeyRing, tmp_path: Path,
) -> None:
    """The last transaction shreds the key, then sweeps every holding once more: the SMS sent
    meanwhile goes too (counted on the receipt) and its dispatch loses its text."""
    from govsms.keys.crypto import unseal_field
    from govsms.keys.store import DATA_PURPOSE, vault_of
    from govsms.sending.models import DISPATCH_TEXT, Dispatch

    held = hold_person(session, blocked=False)
    sent: dict[str, int] = {}
    holdings = _sending_meanwhile(lifecycle_holdings(), held.account, "Hej Åsa, din tid hos BUP är flyttad", sent)
    done = erase_subject(factory_on(connection, vault), held.dpo, holdings, TYPED, sealer=sealer_for(keys, tmp_path), now=now())
    session.expire_all()
    assert sent and session.execute(
        text("SELECT count(*) FROM outbound_message WHERE subject_id = :s"), {"s": held.subject_id}
    ).scalar_one() == 0
    assert done.counts["outbound_message"] == 4  # the three, and the one sent meanwhile
    assert {line["table"]: line["rows"] for line in done.receipt["erased"]}["outbound_message"] == 4
    dispatch = session.get_one(Dispatch, sent["dispatch"])
    key = vault_of(session).account_key(session, held.account.id, DATA_PURPOSE, now=now())
    assert unseal_field(key, DISPATCH_TEXT, held.account.id, dispatch.id, dispatch.text_ct) == b""
    assert [c.key for c in search_subject(session, held.dpo, lifecycle_holdings(), TYPED, now=now()).categories
            if c.key != "access_log"] == []


def test_a_send_that_read_the_key_before_the_shred_is_waited_for(own_database_url: str, tmp_path: Path) -> None:
    """PostgreSQL, two connections: a send has read the person's key (FOR SHARE) and commits only
    after the erasure reached its shred. The shred waits for the send; the sweep then erases its
    message: no message is left with a dead key."""
    import threading
    import time

    from govsms.db import make_engine, make_session_factory
    from tests.conftest import make_settings

    if not own_database_url.startswith("postgresql"):
        not_applicable("SQLite serialises writes: the in-transaction test above covers it")
    engine = make_engine(own_database_url)
    keys = load_key_ring(make_settings(tmp_path))
    sending_vault, erasing_vault = Vault(keys), Vault(keys)
    sending, erasing = make_session_factory(engine, vault=sending_vault), make_session_factory(engine, vault=erasing_vault)
    with session_scope(erasing) as session:
        held = hold_person(session, blocked=False)
    read, go, failures = threading.Event(), threading.Event(), []
    subjects = sending_vault.subjects

    def reading_then_waiting(*args: Any, **kwargs: Any) -> Any:
        found = subjects(*args, **kwargs)
        read.set()
        go.wait(timeout=30)
        return found

    sending_vault.subjects = reading_then_waiting  # type: ignore[method-assign]

    def send() -> None:
        try:
            with session_scope(sending) as session:
                make_dispatch(session, system(held.account), text="Hej Åsa, personligt", numbers=[E164])
        except Exception as error:  # noqa: BLE001 - reported below
            failures.append(error)

    done: list[Any] = []

    def erase() -> None:
        try:
            done.append(erase_subject(erasing, held.dpo, lifecycle_holdings(), TYPED, sealer=sealer_for(keys, tmp_path), now=now()))
        except Exception as error:  # noqa: BLE001 - reported below
            failures.append(error)

    sender = threading.Thread(target=send)
    sender.start()
    assert read.wait(timeout=30)
    eraser = threading.Thread(target=erase)
    eraser.start()
    time.sleep(2)  # the erasure runs its batches and reaches the shred meanwhile
    go.set()
    sender.join(timeout=60)
    eraser.join(timeout=60)
    try:
        assert failures == [] and len(done) == 1
        with session_scope(erasing) as session:
            assert session.execute(
                text("SELECT count(*) FROM outbound_message WHERE subject_id = :s"), {"s": held.subject_id}
            ).scalar_one() == 0
            assert session.execute(text("SELECT count(*) FROM subject_key WHERE id = :s"), {"s": held.subject_id}).scalar_one() == 0
        assert done[0].counts["outbound_message"] == 4
    finally:
        engine.dispose()


def test_a_hold_placed_since_an_erasure_began_stops_it_where_it_is(
    session: Session, connection: Connection, vault: Vault, keys: KeyRing, tmp_path: Path,
) -> None:
    """An interrupted erasure under a legal hold placed since: starting it again or resuming it
    continues nothing; the refusal says it stopped part way (not "nothing was erased")."""
    factory, sealer = factory_on(connection, vault), sealer_for(keys, tmp_path)
    held = hold_person(session)
    with pytest.raises(RuntimeError):
        erase_subject(factory, held.dpo, _interrupted(lifecycle_holdings(), "outbound_message"), TYPED, sealer=sealer, now=now(), batch=1)
    session.expire_all()
    messages = text("SELECT count(*) FROM outbound_message WHERE subject_id = :s")
    left = session.execute(messages, {"s": held.subject_id}).scalar_one()
    assert left == 2  # the first of the three went before the interruption
    person = preview_erasure(session, held.dpo, lifecycle_holdings(), TYPED, now=now()).person
    until = now().date() + timedelta(days=10)
    place_legal_hold(session, held.dpo, blind_index=person.blind_index, reason="Tvist", until=until, now=now())
    session.flush()
    with pytest.raises(Conflict) as refused:
        erase_subject(factory, held.dpo, lifecycle_holdings(), TYPED, sealer=sealer, now=now(), batch=1)
    message = refused.value.message
    assert "Nothing was erased" not in message and "stopped part way" in message and "Tvist" in message and until.isoformat() in message
    row = session.get_one(SubjectErasure, running_erasures(session)[0][1], populate_existing=True)
    erased_so_far = sum(json.loads(row.counts).values())
    assert erased_so_far >= 1 and f"{erased_so_far} rows were erased" in message and refused.value.recorded
    held_back: list[tuple[int, str]] = []
    assert resume_erasures(factory, lifecycle_holdings(), sealer=sealer, now=now(), batch=1, held=held_back) == []
    [(erasure_id, resumed_message)] = held_back
    assert "stopped part way" in resumed_message
    session.expire_all()
    assert session.execute(messages, {"s": held.subject_id}).scalar_one() == left
    assert session.execute(text("SELECT count(*) FROM subject_key WHERE id = :s"), {"s": held.subject_id}).scalar_one() == 1
    assert session.get_one(SubjectErasure, erasure_id, populate_existing=True).status == RUNNING
    assert len(audit_events(session, "subject.erasure_refused", held.account.id)) == 2


def test_a_busy_file_reader_stops_the_erasure_resumably(
    session: Session, connection: Connection, vault: Vault, keys: KeyRing, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The reader cannot check a pending import file now: the erasure stops with a retryable
    error (its row running, the key kept) and, started again later, erases the file."""
    from govsms.contacts import filereader
    from govsms.contacts.importing import store_upload

    factory, sealer = factory_on(connection, vault), sealer_for(keys, tmp_path)
    held = hold_person(session)
    store_upload(session, system(held.account), "lista.csv", "nummer;namn\n070-123 45 67;Åsa Öberg\n0709876543;Bo\n".encode(), now=now())
    session.flush()
    monkeypatch.setattr(filereader._parsers, "acquire", lambda timeout=None: False)
    with pytest.raises(Conflict, match="start it again in a minute"):
        erase_subject(factory, held.dpo, lifecycle_holdings(), TYPED, sealer=sealer, now=now())
    session.expire_all()
    [(_account, erasure_id)] = running_erasures(session)
    assert session.execute(text("SELECT count(*) FROM import_upload WHERE account_id = :a"), {"a": held.account.id}).scalar_one() == 1
    assert session.execute(text("SELECT count(*) FROM subject_key WHERE id = :s"), {"s": held.subject_id}).scalar_one() == 1
    monkeypatch.undo()
    done = erase_subject(factory, held.dpo, lifecycle_holdings(), TYPED, sealer=sealer, now=now())
    assert done.erasure.id == erasure_id and done.counts["import_upload"] == 1
    session.expire_all()
    assert session.execute(text("SELECT count(*) FROM import_upload WHERE account_id = :a"), {"a": held.account.id}).scalar_one() == 0


def test_two_erasures_of_one_person_at_once_make_one_erasure_and_one_receipt(own_database_url: str, tmp_path: Path) -> None:
    """Two DPOs erase the same person at the same moment: the check for a running erasure and the
    new row are one serialised transaction, so one erasure runs and the other finishes it."""
    import threading
    import time

    from govsms.db import make_engine, make_session_factory
    from tests.conftest import make_settings

    engine = make_engine(own_database_url)
    keys = load_key_ring(make_settings(tmp_path))
    factory = make_session_factory(engine, vault=Vault(keys))
    with session_scope(factory) as session:
        held = hold_person(session)

    def slow(holding: Holding) -> Holding:
        erase = holding.erase
        assert erase is not None

        def slowly(session: Session, person: Any, *, limit: int, now: Any) -> int:
            time.sleep(0.3)  # the other erasure starts meanwhile
            return erase(session, person, limit=limit, now=now)

        return replace(holding, erase=slowly)

    holdings = tuple(slow(holding) if holding.table == "contact" else holding for holding in lifecycle_holdings())
    start, done, failures = threading.Barrier(2), [], []

    def erase() -> None:
        try:
            start.wait()
            done.append(erase_subject(factory, held.dpo, holdings, TYPED, sealer=sealer_for(keys, tmp_path), now=now()))
        except Exception as error:  # noqa: BLE001 - reported below
            failures.append(error)

    threads = [threading.Thread(target=erase) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    try:
        assert failures == [] and len(done) == 2
        assert done[0].erasure.id == done[1].erasure.id and done[0].file == done[1].file
        with session_scope(factory) as session:
            assert session.execute(text("SELECT count(*) FROM subject_erasure WHERE account_id = :a"), {"a": held.account.id}).scalar_one() == 1
            assert len(audit_events(session, "subject.erased", held.account.id)) == 1
            assert len(audit_events(session, "subject.erasure_started", held.account.id)) == 1
    finally:
        engine.dispose()
