"""The request register and the erasure, both backends: the erasure removes what the DPO wrote
about the person (the notes, the extension's reason) and keeps the request as proof, saying so in
the preview and the receipt; a request about one person is not used for another, a closed one
takes no new work (nothing erased), and an access request answered by an erasure stays open."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlmodel import Session

from govsms.errors import Conflict
from govsms.keys.ring import KeyRing
from govsms.keys.store import Vault
from govsms.lifecycle import lifecycle_holdings
from govsms.subjects.erasure import erase_subject, preview_erasure
from govsms.subjects.requests import extend_request, find_request, get_request, register_request, update_request
from govsms.subjects.search import search_subject
from tests.factories import now
from tests.subjects.people import OTHER, TYPED, factory_on, hold_person, sealer_for

NOTES = "Åsa Öberg ringde, Storgatan 1"
KEPT = "the DPO's notes and the reason for an extension are erased"


def test_the_erasure_removes_the_notes_and_the_extension_reason_and_keeps_the_request(
    session: Session, connection: Connection, vault: Vault, keys: KeyRing, tmp_path: Path,
) -> None:
    held = hold_person(session)
    request = register_request(session, held.dpo, kind="erasure", notes=NOTES, now=now())
    extend_request(session, held.dpo, request.id, "Uppgifter om Åsa i flera system", now=now())
    earlier = register_request(session, held.dpo, kind="access", notes="Första samtalet med Åsa", now=now())
    search_subject(session, held.dpo, lifecycle_holdings(), TYPED, request_id=earlier.id, now=now())
    unrelated = register_request(session, held.dpo, kind="access", notes="Någon annan", now=now())
    preview = preview_erasure(session, held.dpo, lifecycle_holdings(), TYPED, request_id=request.id, now=now())
    kept = {plan.table: plan for plan in preview.kept}
    # The preview counts the request the search linked (the erasure's own is linked when it starts).
    assert KEPT in kept["subject_request"].reason and kept["subject_request"].rows == 1
    assert {plan.table: plan.rows for plan in preview.erased}["subject_request"] == 1
    session.flush()

    done = erase_subject(factory_on(connection, vault), held.dpo, lifecycle_holdings(), TYPED, sealer=sealer_for(keys, tmp_path),
                         request_id=request.id, now=now())
    session.expire_all()
    assert done.counts["subject_request"] == 2
    receipt_kept = {line["table"]: line for line in done.receipt["kept"]}
    assert KEPT in receipt_kept["subject_request"]["reason"] and receipt_kept["subject_request"]["rows"] == 2
    for answered in (request, earlier):
        view = get_request(session, held.dpo, answered.id, now=now())
        row = view.request
        assert view.notes == "" and row.notes_ct is None and row.extension_reason is None
        assert row.subject_id == held.subject_id and row.reference == answered.reference and row.kind == answered.kind
    stored = find_request(session, held.dpo, request.id)
    assert (stored.status, stored.extended_until is not None, stored.erasure_id) == ("done", True, done.erasure.id)
    assert find_request(session, held.dpo, earlier.id).status == "open"  # the access request is no erasure request
    assert get_request(session, held.dpo, unrelated.id, now=now()).notes == "Någon annan"
    clear = session.execute(text("SELECT extension_reason FROM subject_request WHERE account_id = :a"), {"a": held.account.id}).scalars()
    assert not any(reason and "Åsa" in reason for reason in clear)


def test_an_erasure_under_another_persons_request_is_refused_and_erases_nothing(
    session: Session, connection: Connection, vault: Vault, keys: KeyRing, tmp_path: Path,
) -> None:
    held = hold_person(session)
    theirs = register_request(session, held.dpo, kind="access", now=now())
    search_subject(session, held.dpo, lifecycle_holdings(), OTHER, request_id=theirs.id, now=now())
    other_subject = find_request(session, held.dpo, theirs.id).subject_id
    assert other_subject is not None and other_subject != held.subject_id
    session.flush()
    with pytest.raises(Conflict) as refused:
        erase_subject(factory_on(connection, vault), held.dpo, lifecycle_holdings(), TYPED, sealer=sealer_for(keys, tmp_path),
                      request_id=theirs.id, now=now())
    assert refused.value.message == "This request is about another person: register a new one."
    session.expire_all()
    stored = find_request(session, held.dpo, theirs.id)
    assert (stored.subject_id, stored.status, stored.erasure_id) == (other_subject, "open", None)
    assert session.execute(text("SELECT count(*) FROM subject_erasure WHERE account_id = :a"), {"a": held.account.id}).scalar_one() == 0
    assert session.execute(text("SELECT count(*) FROM contact WHERE id = :c"), {"c": held.contact_id}).scalar_one() == 1
    with pytest.raises(Conflict):
        search_subject(session, held.dpo, lifecycle_holdings(), TYPED, request_id=theirs.id, now=now())


def test_a_closed_request_is_refused_for_an_erasure(
    session: Session, connection: Connection, vault: Vault, keys: KeyRing, tmp_path: Path,
) -> None:
    held = hold_person(session)
    closed = register_request(session, held.dpo, kind="erasure", now=now())
    update_request(session, held.dpo, closed.id, status="refused", now=now())
    session.flush()
    with pytest.raises(Conflict, match="closed"):
        erase_subject(factory_on(connection, vault), held.dpo, lifecycle_holdings(), TYPED, sealer=sealer_for(keys, tmp_path),
                      request_id=closed.id, now=now())
    session.expire_all()
    assert session.execute(text("SELECT count(*) FROM subject_key WHERE id = :s"), {"s": held.subject_id}).scalar_one() == 1
    assert find_request(session, held.dpo, closed.id).status == "refused"
