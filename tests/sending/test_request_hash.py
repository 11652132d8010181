"""The fingerprint an Idempotency-Key is checked against (issue 10, item 1), on both backends.

It was an unkeyed SHA-256 over sender, text, recipients and time: anyone with the database
recovered a recipient's number by guessing, and it outlived crypto-shredding. Now it is an
HMAC under a key of the account's own; without that key nothing can be guessed from it."""

from __future__ import annotations

import hashlib
import json

import pytest
from sqlalchemy import select, update
from sqlmodel import Session

from govsms.errors import Conflict
from govsms.sending.dispatch import DispatchRequest, create_dispatch
from govsms.sending.models import Dispatch, OutboundMessage
from govsms.sending.pricing import seed_default_prices
from tests.factories import make_account, now, system

URL = "https://sms.example.se"


def request(**overrides: object) -> DispatchRequest:
    values: dict[str, object] = {"sender": "Kommunen", "text": "Din tid hos tandläkaren är i morgon.", "numbers": ["+46701234567"],
                                 "idempotency_key": "tid-1"}
    values.update(overrides)
    return DispatchRequest(**values)  # type: ignore[arg-type]


def unkeyed(dispatch_request: DispatchRequest) -> str:
    """The old fingerprint, as anyone can compute it."""
    body = json.dumps(
        [dispatch_request.sender, dispatch_request.text, list(dispatch_request.numbers), sorted(dispatch_request.group_ids),
         dispatch_request.send_at.isoformat() if dispatch_request.send_at else None],
        ensure_ascii=False,
    )
    return hashlib.sha256(body.encode()).hexdigest()


def stored_hash(session: Session, dispatch_id: int | None) -> str | None:
    return session.execute(select(Dispatch.request_hash).where(Dispatch.id == dispatch_id)).scalar_one()


def test_the_fingerprint_is_keyed_per_account_and_cannot_be_guessed(session: Session) -> None:
    seed_default_prices(session, now=now())
    first, second = make_account(session), make_account(session)
    sent = request()
    one = create_dispatch(session, system(first), sent, public_url=URL, now=now())
    two = create_dispatch(session, system(second), request(), public_url=URL, now=now())
    stored_one, stored_two = stored_hash(session, one.dispatch_id), stored_hash(session, two.dispatch_id)
    assert stored_one and stored_two
    assert stored_one != unkeyed(sent)
    assert stored_one != stored_two  # the same request in two accounts: unrelated fingerprints
    # The attack of the review: try every number of a series with the known text; none matches.
    guesses = {unkeyed(request(numbers=[f"+4670123{tail:04d}"])) for tail in range(4000, 5000)}
    assert stored_one not in guesses and stored_two not in guesses
    for sha in (hashlib.sha256, hashlib.sha3_256, hashlib.blake2s):
        assert stored_one != sha(b"+46701234567").hexdigest()


def test_retries_still_find_their_dispatch_and_other_requests_conflict(session: Session) -> None:
    seed_default_prices(session, now=now())
    actor = system(make_account(session))
    first = create_dispatch(session, actor, request(), public_url=URL, now=now())
    again = create_dispatch(session, actor, request(), public_url=URL, now=now())
    assert again.dispatch_id == first.dispatch_id
    for changed in ({"text": "Annan text"}, {"numbers": ["+46701234568"]}, {"sender": "Skolan"}):
        with pytest.raises(Conflict):
            create_dispatch(session, actor, request(**changed), public_url=URL, now=now())
    count = session.execute(select(OutboundMessage.id).where(OutboundMessage.account_id == actor.account_id)).all()
    assert len(count) == 1


def test_a_dispatch_whose_fingerprint_was_dropped_by_the_upgrade_is_still_found_by_its_key(session: Session) -> None:
    """The upgrade cannot re-key old fingerprints (a migration holds no keys), so it drops them;
    a retry of such a request within the key's short life must not send a second time."""
    seed_default_prices(session, now=now())
    actor = system(make_account(session))
    first = create_dispatch(session, actor, request(), public_url=URL, now=now())
    session.execute(update(Dispatch).where(Dispatch.id == first.dispatch_id).values(request_hash=None))
    again = create_dispatch(session, actor, request(), public_url=URL, now=now())
    assert again.dispatch_id == first.dispatch_id
    assert len(session.execute(select(OutboundMessage.id).where(OutboundMessage.account_id == actor.account_id)).all()) == 1


def stored_key(session: Session, dispatch_id: int | None) -> str | None:
    return session.execute(select(Dispatch.idempotency_key).where(Dispatch.id == dispatch_id)).scalar_one()


def test_the_idempotency_key_is_stored_keyed_per_account(session: Session) -> None:
    """A client chooses its Idempotency-Key freely (a number, a name); stored in clear it would
    be personal data outside the encrypted stores that no erasure reaches."""
    seed_default_prices(session, now=now())
    first, second = make_account(session), make_account(session)
    chosen = "0701234567"
    one = create_dispatch(session, system(first), request(idempotency_key=chosen), public_url=URL, now=now())
    two = create_dispatch(session, system(second), request(idempotency_key=chosen), public_url=URL, now=now())
    stored_one, stored_two = stored_key(session, one.dispatch_id), stored_key(session, two.dispatch_id)
    assert stored_one and stored_two and stored_one != stored_two
    assert "701234567" not in stored_one and "701234567" not in stored_two
    again = create_dispatch(session, system(first), request(idempotency_key=chosen), public_url=URL, now=now())
    assert again.dispatch_id == one.dispatch_id


def test_a_clear_key_from_before_is_still_found_then_keyed_by_the_upgrade(session: Session) -> None:
    from govsms.sending.dispatch import key_clear_idempotency_keys

    seed_default_prices(session, now=now())
    actor = system(make_account(session))
    first = create_dispatch(session, actor, request(idempotency_key="gammal-1"), public_url=URL, now=now())
    session.execute(update(Dispatch).where(Dispatch.id == first.dispatch_id).values(idempotency_key="gammal-1"))  # as stored before
    again = create_dispatch(session, actor, request(idempotency_key="gammal-1"), public_url=URL, now=now())
    assert again.dispatch_id == first.dispatch_id
    assert key_clear_idempotency_keys(session, now=now()) == 1
    assert key_clear_idempotency_keys(session, now=now()) == 0
    assert stored_key(session, first.dispatch_id) != "gammal-1"
    third = create_dispatch(session, actor, request(idempotency_key="gammal-1"), public_url=URL, now=now())
    assert third.dispatch_id == first.dispatch_id
    assert len(session.execute(select(OutboundMessage.id).where(OutboundMessage.account_id == actor.account_id)).all()) == 1
