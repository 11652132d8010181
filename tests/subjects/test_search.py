"""The data-subject search (govsms.subjects.search), on both backends: one number typed in any
format finds the contact and its groups, the 3 SMS, the blocklist entry and who accessed the
person; the search is itself an audited read naming the person (and the request); a number the
account knows nothing of is empty (still audited, naming no one); another account's DPO finds
nothing; a number that is not one is refused."""

from __future__ import annotations

import pytest
from sqlmodel import Session

from govsms.accounts.service import staff_names
from govsms.auth import Actor, Role
from govsms.errors import Forbidden, InvalidInput, NotFound
from govsms.lifecycle import lifecycle_holdings
from govsms.subjects.requests import request_for
from govsms.subjects.search import search_subject
from tests.factories import audit_events, linked_subjects, make_account, now
from tests.subjects.people import E164, TYPED, dpo_of, hold_person


def test_the_search_finds_everything_held_about_the_person(session: Session) -> None:
    held = hold_person(session)
    result = search_subject(session, held.dpo, lifecycle_holdings(), TYPED, now=now(), staff_names=staff_names)
    assert result.person.e164 == E164 and result.person.subject_id == held.subject_id
    found = {f.table: f for category in result.categories for f in category.found}
    assert {category.key for category in result.categories} >= {"contacts", "outbound_messages", "blocklist"}
    assert found["contact"].count == 1
    assert found["group_member"].count == 2
    assert any("Styrelsen" in line for line in found["group_member"].lines + found["contact"].lines)
    assert found["outbound_message"].count == 3
    assert found["block_entry"].count == 1
    assert not result.empty
    # Who accessed the person: the contact's creation and the groups' changes name them, newest first.
    assert result.history.total >= 1
    seqs = [access.seq for access in result.history.items]
    assert seqs == sorted(seqs, reverse=True)
    assert all(access.label and access.actor_name for access in result.history.items)
    event = audit_events(session, "subject.searched", held.account.id)[-1]
    assert linked_subjects(session, event) == {held.subject_id}
    assert E164 not in event.details and "0701" not in event.details and event.target_type is None


def test_the_history_is_capped_with_its_count(session: Session) -> None:
    held = hold_person(session)
    for _ in range(3):
        search_subject(session, held.dpo, lifecycle_holdings(), E164, now=now())
    result = search_subject(session, held.dpo, lifecycle_holdings(), E164, now=now())
    before = result.history.total
    assert before >= 4 and result.history.items[0].action == "subject.searched"
    paged = search_subject(session, held.dpo, lifecycle_holdings(), E164, now=now(), page=2)
    assert paged.history.total == before + 1 and paged.history.page == 2


def test_a_search_for_a_request_names_it_and_links_the_person(session: Session) -> None:
    held = hold_person(session)
    request = request_for(session, held.dpo, None, "access", now=now())
    result = search_subject(session, held.dpo, lifecycle_holdings(), TYPED, request_id=request.id, now=now())
    assert result.request is not None and result.request.id == request.id
    assert request.subject_id == held.subject_id
    event = audit_events(session, "subject.searched", held.account.id)[-1]
    assert (event.target_type, event.target_id) == ("subject_request", request.reference)


def test_a_number_the_account_knows_nothing_of_is_empty_and_still_audited(session: Session) -> None:
    held = hold_person(session)
    result = search_subject(session, held.dpo, lifecycle_holdings(), "0739998877", now=now())
    assert result.empty and result.categories == [] and result.history.total == 0 and result.person.subject is None
    event = audit_events(session, "subject.searched", held.account.id)[-1]
    assert linked_subjects(session, event) == set()


def test_another_accounts_dpo_finds_nothing(session: Session) -> None:
    hold_person(session)
    other = make_account(session)
    stranger = dpo_of(session, other)
    result = search_subject(session, stranger, lifecycle_holdings(), TYPED, now=now())
    assert result.empty and result.history.total == 0


def test_another_accounts_request_is_not_found(session: Session) -> None:
    held = hold_person(session)
    other = dpo_of(session, make_account(session))
    theirs = request_for(session, other, None, "access", now=now())
    with pytest.raises(NotFound):
        search_subject(session, held.dpo, lifecycle_holdings(), TYPED, request_id=theirs.id, now=now())


@pytest.mark.parametrize("typed", ["", "abc", "9" * 200, "070\x00123", "+1 202 555 0100x", "070-12"])
def test_a_number_that_is_not_one_is_refused(session: Session, typed: str) -> None:
    held = hold_person(session, blocked=False)
    with pytest.raises(InvalidInput) as refused:
        search_subject(session, held.dpo, lifecycle_holdings(), typed, now=now())
    assert "number" in refused.value.fields and refused.value.message


def test_a_sender_may_not_search(session: Session) -> None:
    held = hold_person(session, blocked=False)
    sender = Actor(kind="user", id=held.dpo.id, account_id=held.account.id, account_name="", roles=frozenset({Role.SENDER}))
    with pytest.raises(Forbidden):
        search_subject(session, sender, lifecycle_holdings(), TYPED, now=now())
