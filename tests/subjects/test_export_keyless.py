"""An access export of a person the account holds no key for (only blocked, say), both
backends: it is named by the blind index of the number, so the search and the erasure find it
and the erasure deletes it; its request is not then used for another person."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlmodel import Session

from govsms.errors import Conflict, NotFound
from govsms.keys.ring import KeyRing
from govsms.keys.store import Vault
from govsms.lifecycle import lifecycle_holdings
from govsms.sending import blocklist
from govsms.subjects.erasure import erase_subject
from govsms.subjects.export import create_export, download_export
from govsms.subjects.person import person_for
from govsms.subjects.requests import find_request
from govsms.subjects.search import search_subject
from tests.factories import make_account, now, system
from tests.subjects.people import E164, OTHER, TYPED, dpo_of, factory_on, sealer_for


def test_an_export_of_a_person_without_a_key_is_erased_with_them(
    session: Session, connection: Connection, vault: Vault, keys: KeyRing, tmp_path: Path,
) -> None:
    account, theirs = make_account(session), make_account(session)
    for owner in (account, theirs):
        blocklist.block_number(session, system(owner), E164, source="manual", now=now())
    dpo, their_dpo = dpo_of(session, account), dpo_of(session, theirs)
    person = person_for(session, dpo, TYPED, now=now())
    assert person.subject is None
    export = create_export(session, dpo, lifecycle_holdings(), person, None, language="en", now=now())
    their_export = create_export(session, their_dpo, lifecycle_holdings(), person_for(session, their_dpo, TYPED, now=now()), None,
                                 language="en", now=now())
    assert export.blind_index == person.blind_index and export.subject_id is None
    export_id, their_export_id = export.id, their_export.id
    found = search_subject(session, dpo, lifecycle_holdings(), TYPED, now=now())
    assert "subject_export" in {holding.table for category in found.categories for holding in category.found}
    session.flush()

    done = erase_subject(factory_on(connection, vault), dpo, lifecycle_holdings(), TYPED, sealer=sealer_for(keys, tmp_path),
                         unblock=True, now=now())
    session.expire_all()
    assert done.counts.get("subject_export") == 1
    with pytest.raises(NotFound):
        download_export(session, dpo, export_id, now=now())
    assert session.execute(text("SELECT count(*) FROM subject_export WHERE account_id = :a"), {"a": account.id}).scalar_one() == 0
    assert download_export(session, their_dpo, their_export_id, now=now()).content  # another account's stays


def test_a_request_with_a_keyless_persons_export_is_refused_for_another_person(session: Session) -> None:
    account = make_account(session)
    blocklist.block_number(session, system(account), E164, source="manual", now=now())
    dpo = dpo_of(session, account)
    export = create_export(session, dpo, lifecycle_holdings(), person_for(session, dpo, TYPED, now=now()), None, language="en", now=now())
    with pytest.raises(Conflict, match="another person"):
        search_subject(session, dpo, lifecycle_holdings(), OTHER, request_id=export.request_id, now=now())
    with pytest.raises(Conflict, match="another person"):
        create_export(session, dpo, lifecycle_holdings(), person_for(session, dpo, OTHER, now=now()), export.request_id,
                      language="en", now=now())
    search_subject(session, dpo, lifecycle_holdings(), TYPED, request_id=export.request_id, now=now())  # the same person: fine
    assert find_request(session, dpo, export.request_id).export_id == export.id
