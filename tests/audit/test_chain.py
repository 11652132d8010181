"""The audit chain on both backends: sealing, verifying, tampering, exports verified offline."""

from __future__ import annotations

import json
from datetime import timedelta
from types import SimpleNamespace

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import delete, insert, select, update
from sqlmodel import Session

from govsms.audit import chain
from govsms.audit.actions import Action
from govsms.audit.chain import GAP_GRACE, export_lines, seal_events, verify_database, verify_export
from govsms.audit.models import AuditChain, AuditEvent, AuditEventSubject
from govsms.audit.record import event_mac, mac_key, record_event
from govsms.keys.ring import KeyRing
from tests.factories import make_account, now, system

events = AuditEvent.__table__


def public_key(keys: KeyRing) -> bytes:
    return Ed25519PrivateKey.from_private_bytes(keys.audit_signing_seed).public_key().public_bytes_raw()


def seal(session: Session, keys: KeyRing):  # type: ignore[no-untyped-def]
    """Seal as a worker would a while later: PostgreSQL sequences leave gaps from the rolled-back
    transactions of earlier tests, and a gap is sealed over once it is old enough."""
    return seal_events(session, keys.audit_signing_seed, now=now() + 2 * GAP_GRACE)


def make_events(session: Session, count: int = 6) -> list[int]:
    account = make_account(session)
    actor = system(account)
    return [
        record_event(session, actor, Action.CONTACT_VIEWED, now=now(), target=("contact", n), subjects=[n, n + 100], details={"n": n})
        for n in range(count)
    ]


def test_sealed_log_verifies(session: Session, keys: KeyRing) -> None:
    seqs = make_events(session)
    result = seal(session, keys)
    assert result.sealed == len(seqs) + 1 and result.head_seq == seqs[-1]  # + the account's creation
    verification = verify_database(session, public_key(keys))
    assert verification.ok, verification.problems
    assert verification.events == result.sealed and verification.checkpoints == 1
    assert seal(session, keys).sealed == 0  # nothing new


def test_new_events_after_sealing_are_not_a_problem(session: Session, keys: KeyRing) -> None:
    make_events(session)
    seal(session, keys)
    make_events(session, 2)
    assert verify_database(session, public_key(keys)).ok
    seal(session, keys)
    verification = verify_database(session, public_key(keys))
    assert verification.ok and verification.checkpoints == 2


def test_changed_event_names_its_sequence(session: Session, keys: KeyRing) -> None:
    seqs = make_events(session)
    seal(session, keys)
    session.execute(update(events).where(events.c.seq == seqs[3]).values(actor="user:999"))
    verification = verify_database(session, public_key(keys))
    assert not verification.ok and verification.first_bad_seq == seqs[3]


def test_deleted_event_names_its_sequence(session: Session, keys: KeyRing) -> None:
    seqs = make_events(session)
    seal(session, keys)
    session.execute(delete(AuditEventSubject.__table__).where(AuditEventSubject.__table__.c.seq == seqs[2]))
    session.execute(delete(events).where(events.c.seq == seqs[2]))
    verification = verify_database(session, public_key(keys))
    assert not verification.ok and verification.first_bad_seq == seqs[2]


def test_deleted_last_event_is_found(session: Session, keys: KeyRing) -> None:
    seqs = make_events(session)
    seal(session, keys)
    session.execute(delete(events).where(events.c.seq == seqs[-1]))
    verification = verify_database(session, public_key(keys))
    assert not verification.ok and verification.first_bad_seq == seqs[-1]


def test_reordered_events_are_found(session: Session, keys: KeyRing) -> None:
    seqs = make_events(session)
    seal(session, keys)
    first, second = seqs[1], seqs[4]
    # Swap the two rows' sequence numbers through a free number.
    session.execute(update(events).where(events.c.seq == first).values(seq=10_000_000))
    session.execute(update(events).where(events.c.seq == second).values(seq=first))
    session.execute(update(events).where(events.c.seq == 10_000_000).values(seq=second))
    verification = verify_database(session, public_key(keys))
    assert not verification.ok and verification.first_bad_seq == first


def test_rewritten_chain_is_caught_by_the_signed_checkpoint(session: Session, keys: KeyRing) -> None:
    seqs = make_events(session)
    seal(session, keys)
    session.execute(update(events).where(events.c.seq == seqs[1]).values(action="contact.created"))
    # An attacker without the signing key recomputes the chain table to match.
    session.execute(delete(AuditChain.__table__))
    previous = chain.GENESIS
    rows = session.execute(select(*chain.EVENT_COLUMNS).order_by(events.c.seq)).all()
    for row in rows:
        content = chain.content_hash(chain.event_document(row))
        previous = chain.chain_hash(previous, content)
        session.execute(insert(AuditChain.__table__).values(seq=row.seq, content_hash=content, chain_hash=previous))
    verification = verify_database(session, public_key(keys))
    assert not verification.ok and verification.first_bad_seq == seqs[-1]
    assert any("checkpoint" in problem for problem in verification.problems)


def test_removed_person_link_is_found(session: Session, keys: KeyRing) -> None:
    seqs = make_events(session)
    seal(session, keys)
    session.execute(delete(AuditEventSubject.__table__).where(AuditEventSubject.__table__.c.seq == seqs[0]))
    assert not verify_database(session, public_key(keys)).ok


def test_details_refuse_what_could_be_personal_data(session: Session) -> None:
    actor = system(make_account(session))
    for bad in ({"number": "+46701234567"}, {"name": "Åsa Öberg"}, {"email": "a@b.se"}, {"x": 1.5}):
        with pytest.raises(ValueError):
            record_event(session, actor, Action.CONTACT_VIEWED, now=now(), details=bad)


def test_recent_gap_waits_old_gap_is_sealed(session: Session, keys: KeyRing) -> None:
    seqs = make_events(session, 2)
    seal(session, keys)
    moment = now()
    gap_seq = seqs[-1] + 5
    row = dict(occurred_at=moment, account_id=None, actor="system", action="contact.viewed", target_type=None, target_id=None,
               request_id="-", subject_ids="[]", details="{}")
    mac = event_mac(mac_key(keys.audit_signing_seed), SimpleNamespace(**row))  # as record_event writes it, past a gap
    session.execute(insert(events).values(seq=gap_seq, mac=mac, **row))
    assert seal_events(session, keys.audit_signing_seed, now=moment).head_seq == seqs[-1]
    assert seal_events(session, keys.audit_signing_seed, now=moment + timedelta(minutes=5)).head_seq == gap_seq
    assert verify_database(session, public_key(keys)).ok


def export(session: Session, keys: KeyRing, account_id: int | None = None) -> list[str]:
    return list(export_lines(session, account_id=account_id, public_key=public_key(keys), now=now()))


def test_export_verifies_offline_and_fails_after_one_byte_changes(session: Session, keys: KeyRing) -> None:
    make_events(session)
    seal(session, keys)
    lines = export(session, keys)
    assert verify_export(lines, public_key(keys)).ok
    blob = "\n".join(lines).encode()
    position = blob.index(b'"n":3') + 4
    changed = blob[:position] + b"4" + blob[position + 1 :]
    result = verify_export(changed.decode().splitlines(), public_key(keys))
    assert not result.ok and result.first_bad_seq is not None


def test_export_with_another_signing_key_fails(session: Session, keys: KeyRing) -> None:
    make_events(session)
    seal(session, keys)
    other = Ed25519PrivateKey.generate().public_key().public_bytes_raw()
    assert not verify_export(export(session, keys), other).ok


def test_account_export_shows_only_its_events_and_still_verifies(session: Session, keys: KeyRing) -> None:
    mine, theirs = make_account(session), make_account(session)
    record_event(session, system(mine), Action.CONTACT_VIEWED, now=now(), subjects=[1], details={"shown": 1})
    record_event(session, system(theirs), Action.CONTACT_VIEWED, now=now(), subjects=[2], details={"shown": 2})
    record_event(session, system(mine), Action.CONTACTS_LISTED, now=now(), subjects=[1, 3], details={"shown": 2})
    seal(session, keys)
    lines = export(session, keys, mine.id)
    items = [json.loads(line) for line in lines]
    shown = [item["event"]["account"] for item in items if item["type"] == "event"]
    assert shown and set(shown) == {mine.id}
    assert any(item["type"] == "sealed" for item in items)
    assert verify_export(lines, public_key(keys)).ok
