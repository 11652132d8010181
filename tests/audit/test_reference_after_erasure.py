"""Issue 13, Done when: "every search, export and erasure is an audit event the auditor finds by
filtering on the number (before erasure) and on the request reference (after)". Through the real
search, export and erasure, both backends; another account's auditor finds none of it."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import Connection
from sqlmodel import Session

from govsms.audit.actions import Action
from govsms.audit.service import AuditFilter, list_events
from govsms.auth import Actor, Role
from govsms.keys.ring import KeyRing
from govsms.keys.store import Vault
from govsms.lifecycle import lifecycle_holdings
from govsms.subjects.erasure import erase_subject
from govsms.subjects.export import create_export
from govsms.subjects.models import SubjectRequest
from govsms.subjects.person import person_for
from govsms.subjects.requests import register_request
from govsms.subjects.search import search_subject
from tests.factories import make_user, now
from tests.subjects.people import TYPED, factory_on, hold_person, sealer_for


def _auditor(session: Session, held_account) -> Actor:  # type: ignore[no-untyped-def]
    user, _password = make_user(session, held_account, roles={Role.AUDITOR})
    return Actor(kind="user", id=user.id, account_id=held_account.id, account_name=held_account.name, roles=frozenset({Role.AUDITOR}))


def test_the_number_finds_the_requests_events_before_the_erasure_and_the_reference_after(
    session: Session, connection: Connection, vault: Vault, keys: KeyRing, tmp_path: Path,
) -> None:
    held = hold_person(session)
    theirs = hold_person(session)  # the same number in another account, with requests of the same references
    holdings = lifecycle_holdings()
    erasure = register_request(session, held.dpo, kind="erasure", now=now())
    search_subject(session, held.dpo, holdings, TYPED, request_id=erasure.id, now=now())
    export = create_export(session, held.dpo, holdings, person_for(session, held.dpo, TYPED, now=now()), None, language="sv", now=now())
    access = session.get_one(SubjectRequest, export.request_id)
    their_request = register_request(session, theirs.dpo, kind="erasure", now=now())
    search_subject(session, theirs.dpo, holdings, TYPED, request_id=their_request.id, now=now())
    assert {erasure.reference, access.reference} == {f"DSR-{now().year}-0001", f"DSR-{now().year}-0002"}
    assert their_request.reference == erasure.reference
    auditor = _auditor(session, held.account)

    before = list_events(session, auditor, AuditFilter(number=TYPED), now=now(), per_page=200)
    actions = {event.action for event in before.items}
    assert {Action.SUBJECT_SEARCHED.value, Action.SUBJECT_EXPORTED.value} <= actions

    session.flush()
    erase_subject(factory_on(connection, vault), held.dpo, holdings, TYPED, sealer=sealer_for(keys, tmp_path), request_id=erasure.id, now=now())
    session.expire_all()

    # The key is gone: the number leads nowhere now, the reference still does.
    assert list_events(session, auditor, AuditFilter(number=TYPED), now=now()).total == 0
    found = list_events(session, auditor, AuditFilter(reference=erasure.reference), now=now(), per_page=200)
    actions = {event.action for event in found.items}
    assert {Action.SUBJECT_REQUEST_REGISTERED.value, Action.SUBJECT_SEARCHED.value, Action.SUBJECT_ERASURE_STARTED.value,
            Action.SUBJECT_ERASED.value} <= actions, actions
    assert all(event.target_type == "subject_request" and event.target_id == erasure.reference for event in found.items)
    exported = list_events(session, auditor, AuditFilter(reference=access.reference), now=now(), per_page=200)
    assert Action.SUBJECT_EXPORTED.value in {event.action for event in exported.items}
    mine = {event.seq for event in found.items} | {event.seq for event in exported.items}

    # Another account's auditor, the same reference: only their own request's events.
    their_found = list_events(session, _auditor(session, theirs.account), AuditFilter(reference=erasure.reference), now=now(), per_page=200)
    assert their_found.total >= 2 and not {event.seq for event in their_found.items} & mine
    assert Action.SUBJECT_ERASED.value not in {event.action for event in their_found.items}
