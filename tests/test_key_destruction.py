"""Subject keys that protect no data any more are destroyed (issue 12 item 3; Done when: "a
subject whose last data was purged has no key left", by a raw scan of the key store). Both
backends, with the keys in the main database and in a key store of their own."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlmodel import Session

from govsms.accounts.login import actor_for_user
from govsms.accounts.models import Account
from govsms.audit.actions import Action
from govsms.auth import Actor, Role
from govsms.contacts import service as contacts
from govsms.db import make_engine, make_session_factory
from govsms.keys.ring import KeyRing
from govsms.keys.store import KEY_GRACE, Vault, destroy_unused_subject_keys
from govsms.migrate import upgrade
from govsms.registry import destroy_unused_subject_keys as destroy_with_event, subject_references
from govsms.sending.pricing import seed_default_prices
from tests.factories import audit_events, make_account, make_contact, make_dispatch, make_user, now

GONE, KEPT = "+46701110001", "+46701110002"


def _sender(session: Session) -> Actor:
    seed_default_prices(session, now=now())
    account = make_account(session)
    user, _ = make_user(session, account, roles={Role.SENDER, Role.ADMIN})
    return actor_for_user(user, account)


def _purge_data_of(session: Session, subject_id: int) -> None:
    """As the purge leaves it: the subject's messages (with their parts) and contacts gone."""
    session.execute(
        text("DELETE FROM message_part WHERE message_id IN (SELECT id FROM outbound_message WHERE subject_id = :s)"), {"s": subject_id}
    )
    session.execute(text("DELETE FROM outbound_message WHERE subject_id = :s"), {"s": subject_id})


def _stored_key_ids(store: Session | Connection) -> set[int]:
    return set(store.execute(text("SELECT id FROM subject_key")).scalars())


def _plant(session: Session, actor: Actor, vault: Vault) -> tuple[int, int]:
    """Two people each with a contact and a message; the first one's data is then deleted."""
    account = session.get_one(Account, actor.account_id)
    gone = make_contact(session, account, number=GONE)
    make_contact(session, account, number=KEPT)
    make_dispatch(session, actor, numbers=[GONE, KEPT])
    subjects = vault.find_subjects(session, actor.account_id, [GONE, KEPT], now=now())
    gone_id, kept_id = subjects[GONE].id, subjects[KEPT].id
    contacts.delete_contact(session, actor, gone.id, now=now())
    _purge_data_of(session, gone_id)
    assert vault.cached(session, (actor.account_id, gone_id)) is not None  # cached by the sends (for this session until it commits)
    return gone_id, kept_id


def test_a_subject_whose_last_data_went_has_no_key_left(session: Session, vault: Vault) -> None:
    actor = _sender(session)
    gone_id, kept_id = _plant(session, actor, vault)
    # Keys made within the grace time are left alone (their data may be in an open transaction).
    assert destroy_unused_subject_keys(session, subject_references(), now=now(), limit=100) == 0
    later = now() + KEY_GRACE + timedelta(minutes=1)
    assert destroy_with_event(session, now=later, limit=100) == 1
    stored = _stored_key_ids(session)
    assert gone_id not in stored and kept_id in stored
    # No copy of the destroyed key is used: it is not in the cache, and nothing unwraps it.
    assert vault.cached(session, (actor.account_id, gone_id)) is None
    assert vault.subjects_by_id(session, actor.account_id, [gone_id, kept_id]).keys() == {kept_id}
    (event,) = audit_events(session, Action.SUBJECT_KEYS_DESTROYED)
    assert json.loads(event.details) == {"destroyed": 1}
    assert destroy_with_event(session, now=later, limit=100) == 0


def test_the_access_log_keeps_no_key_alive_and_the_limit_holds(session: Session, vault: Vault) -> None:
    actor = _sender(session)
    gone_id, kept_id = _plant(session, actor, vault)  # deleting the contact named it in the access log
    assert session.execute(text("SELECT count(*) FROM audit_event_subject WHERE subject_id = :s"), {"s": gone_id}).scalar_one() > 0
    assert ("audit_event_subject", "subject_id") not in subject_references()
    assert ("subject_key", "id") not in subject_references()
    later = now() + KEY_GRACE + timedelta(minutes=1)
    assert destroy_unused_subject_keys(session, subject_references(), now=later, limit=0) == 0
    assert destroy_unused_subject_keys(session, subject_references(), now=later, limit=1) == 1
    assert gone_id not in _stored_key_ids(session) and kept_id in _stored_key_ids(session)


def test_a_separate_key_store_loses_the_unused_keys_too(connection: Connection, keys: KeyRing, tmp_path: Path) -> None:
    """With GOVSMS_KEYSTORE_URL the keys are in another database: candidates are read there and
    their references looked up in the main one."""
    url = f"sqlite:///{tmp_path / 'keys.db'}"
    upgrade(url)
    store_engine = make_engine(url)
    try:
        vault = Vault(keys, keystore=make_session_factory(store_engine))
        session = make_session_factory(connection, vault=vault)()
        actor = _sender(session)
        gone_id, kept_id = _plant(session, actor, vault)
        assert _stored_key_ids(session) == set()  # no key in the main database
        with store_engine.connect() as raw:
            assert {gone_id, kept_id} <= _stored_key_ids(raw)
        later = now() + KEY_GRACE + timedelta(minutes=1)
        assert destroy_unused_subject_keys(session, subject_references(), now=later, limit=100) == 1
        with store_engine.connect() as raw:
            stored = _stored_key_ids(raw)
        assert gone_id not in stored and kept_id in stored
        assert vault.subjects_by_id(session, actor.account_id, [gone_id, kept_id]).keys() == {kept_id}
        session.close()
    finally:
        store_engine.dispose()
