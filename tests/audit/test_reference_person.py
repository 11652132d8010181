"""The access log's filter by a request's reference finds, besides the request's own events,
every event linked to the request's person: searches and previews made without the request and
senders' earlier reads, also after the erasure destroyed the key (the link names the subject by
id). Both backends; another account's request of the same reference finds none of it; and
through the app, which hands the subjects domain's resolver down (``app.state.request_subject``)."""

from __future__ import annotations

from pathlib import Path

from litestar.testing import TestClient
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlmodel import Session

from govsms.audit.actions import Action
from govsms.audit.service import AuditFilter, list_events
from govsms.auth import Actor, Role
from govsms.contacts.service import get_contact
from govsms.keys.ring import KeyRing
from govsms.keys.store import Vault
from govsms.lifecycle import lifecycle_holdings
from govsms.subjects.erasure import erase_subject, preview_erasure
from govsms.subjects.requests import register_request, request_subject
from govsms.subjects.search import search_subject
from tests.factories import make_api_key, make_user, now
from tests.audit.test_reference_filter import _seqs
from tests.subjects.people import TYPED, factory_on, hold_person, sealer_for
from tests.web_helpers import login


def _auditor(session: Session, account) -> Actor:  # type: ignore[no-untyped-def]
    user, _password = make_user(session, account, roles={Role.AUDITOR})
    return Actor(kind="user", id=user.id, account_id=account.id, account_name=account.name, roles=frozenset({Role.AUDITOR}))


def _sender(session: Session, account) -> Actor:  # type: ignore[no-untyped-def]
    user, _password = make_user(session, account, roles={Role.SENDER})
    return Actor(kind="user", id=user.id, account_id=account.id, account_name=account.name, roles=frozenset({Role.SENDER}))


def test_the_reference_finds_the_persons_events_made_without_the_request(
    session: Session, connection: Connection, vault: Vault, keys: KeyRing, tmp_path: Path,
) -> None:
    held, theirs = hold_person(session), hold_person(session)
    holdings = lifecycle_holdings()
    get_contact(session, _sender(session, held.account), held.contact_id, now=now())  # a sender's earlier read
    search_subject(session, held.dpo, holdings, TYPED, now=now())  # ad hoc, no request
    preview_erasure(session, held.dpo, holdings, TYPED, now=now())
    request = register_request(session, held.dpo, kind="erasure", now=now())
    their_request = register_request(session, theirs.dpo, kind="erasure", now=now())
    search_subject(session, theirs.dpo, holdings, TYPED, request_id=their_request.id, now=now())
    assert their_request.reference == request.reference
    session.flush()
    erase_subject(factory_on(connection, vault), held.dpo, holdings, TYPED, sealer=sealer_for(keys, tmp_path), request_id=request.id, now=now())
    session.expire_all()

    auditor = _auditor(session, held.account)
    assert request_subject(session, held.account.id, request.reference) == held.subject_id
    assert request_subject(session, held.account.id, "DSR-1999-0001") is None
    found = list_events(session, auditor, AuditFilter(reference=request.reference), now=now(), per_page=200, request_subject=request_subject)
    actions = [event.action for event in found.items]
    assert {Action.CONTACT_VIEWED.value, Action.SUBJECT_SEARCHED.value, Action.SUBJECT_ERASURE_PREVIEWED.value,
            Action.SUBJECT_ERASURE_STARTED.value, Action.SUBJECT_ERASED.value} <= set(actions), actions
    ad_hoc = [event for event in found.items if event.action == Action.SUBJECT_SEARCHED.value]
    assert any(event.target_id is None for event in ad_hoc)  # found through the person, not the target
    # Without the resolver only the request's own events (the previous behaviour, kept as the default).
    own = list_events(session, auditor, AuditFilter(reference=request.reference), now=now(), per_page=200)
    assert Action.CONTACT_VIEWED.value not in {event.action for event in own.items}

    # Another account's auditor, the same reference: their request's events only.
    their_found = list_events(session, _auditor(session, theirs.account), AuditFilter(reference=request.reference), now=now(),
                              per_page=200, request_subject=request_subject)
    assert not {event.seq for event in their_found.items} & {event.seq for event in found.items}
    assert Action.SUBJECT_ERASED.value not in {event.action for event in their_found.items}


def test_the_page_and_the_api_find_the_persons_events_by_the_reference(client: TestClient, session: Session) -> None:
    held = hold_person(session)
    search_subject(session, held.dpo, lifecycle_holdings(), TYPED, now=now())  # ad hoc, no request
    request = register_request(session, held.dpo, kind="access", now=now())
    search_subject(session, held.dpo, lifecycle_holdings(), TYPED, request_id=request.id, now=now())
    ad_hoc = {seq for (seq,) in session.execute(text(
        "SELECT seq FROM audit_event WHERE account_id = :a AND action = 'subject.searched' AND target_id IS NULL"), {"a": held.account.id})}
    assert len(ad_hoc) == 1
    _key, token = make_api_key(session, held.account, roles={Role.AUDITOR})
    listed = client.get("/api/v1/audit", params={"reference": request.reference, "per_page": 100}, headers={"Authorization": f"Bearer {token}"})
    assert listed.status_code == 200 and ad_hoc <= {item["seq"] for item in listed.json()["items"]}
    user, password = make_user(session, held.account, roles={Role.AUDITOR})
    login(client, user.email, password)
    page = client.get("/audit", params={"reference": request.reference})
    assert page.status_code == 200 and ad_hoc <= _seqs(page.text)
