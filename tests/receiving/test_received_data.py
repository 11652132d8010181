"""Received SMS as personal data, on both backends: a data-subject request finds, exports and
erases what a person sent and the account's reply route to them, and nothing of another account;
the retention purge deletes received SMS past the storage time (not a held number's); nothing
of one account's inbound is readable by another (another account's subject key does not open
it, and every read is scoped)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Connection
from sqlmodel import Session

from govsms.accounts.login import actor_for_user
from govsms.auth import Actor, Role
from govsms.db import make_session_factory
from govsms.keys.crypto import DecryptionError
from govsms.keys.store import Vault, vault_of
from govsms.personal_data import Person
from govsms.receiving.models import INBOUND_TEXT, InboundMessage
from govsms.receiving.service import route_inbound
from govsms.receiving.subject_data import (
    erase_received, erase_route, export_received, export_route, find_received, find_route, purge_received,
)
from govsms.sending.models import ReplyRoute
from govsms.sending.outbox import Outbox
from govsms.sending.pricing import seed_default_prices
from govsms.sending.transports.loopback import LoopbackTransport
from tests import sensitive
from tests.factories import make_account, make_dispatch, make_user, now

URL = "https://sms.example.se"
NUMBER = sensitive.register("+46701234567")


def sender(session: Session) -> Actor:
    seed_default_prices(session, now=now())
    owner = make_account(session)
    user, _ = make_user(session, owner, roles={Role.SENDER})
    return actor_for_user(user, owner)


def person(session: Session, account_id: int, e164: str = NUMBER) -> Person:
    vault = vault_of(session)
    index = vault.blind_indexes(session, account_id, [e164], now=now())[e164]
    subject = vault.find_subjects(session, account_id, [e164], now=now()).get(e164)
    return Person(account_id=account_id, blind_index=index, subject=subject, e164=e164)


def replied(session: Session, connection: Connection, vault: Vault, actor: Actor, text: str) -> InboundMessage:
    make_dispatch(session, actor, sender="72323", numbers=[NUMBER], text="Kommer du?", public_url=URL)
    session.flush()
    outbox = Outbox(make_session_factory(connection, vault=vault), LoopbackTransport(report_delay=0), public_url=URL)
    while outbox.run_once(now=now() + timedelta(seconds=1)):
        pass
    message = route_inbound(session, source_e164=NUMBER, destination="72323", text=text, transport="smpp", provider_ref=None,
                            parts=1, now=now() + timedelta(seconds=2))
    assert message is not None and message.account_id == actor.account_id
    return message


def test_a_request_finds_exports_and_erases_what_the_person_sent(
    session: Session, connection: Connection, vault: Vault, provider: int,
) -> None:
    ours, theirs = sender(session), sender(session)
    replied(session, connection, vault, theirs, "Till det andra kontot")
    replied(session, connection, vault, ours, "Ja, jag kommer")  # sent last: the route is ours now
    me = person(session, ours.account_id)
    found = find_received(session, me)
    assert found is not None and found.count == 1
    [record] = export_received(session, me)
    assert record["number"] == NUMBER and record["text"] == "Ja, jag kommer" and record["routed_by"] == "reply"
    route = find_route(session, me)
    assert route is not None and route.count == 1 and export_route(session, me)[0]["shared_number"] == "72323"
    other = person(session, theirs.account_id)
    assert find_route(session, other) is None  # the route names the account that sent last only
    assert erase_received(session, me, limit=100, now=now()) == 1 and erase_route(session, me, limit=100, now=now()) == 1
    assert find_received(session, me) is None and find_route(session, me) is None
    # the other account's SMS from the same person is untouched
    assert [row["text"] for row in export_received(session, other)] == ["Till det andra kontot"]


def test_the_retention_purge_takes_expired_received_sms_except_held(session: Session, provider: int) -> None:
    owner = make_account(session)
    assert owner.id is not None
    from govsms.sending.models import VirtualNumber

    session.add(VirtualNumber(number="+46766000021", account_id=owner.id, created_at=now()))
    session.flush()
    old = now() - timedelta(days=100)
    held_number = sensitive.register("+46707777777")
    for source, when in ((NUMBER, old), (held_number, old), (NUMBER, now())):
        route_inbound(session, source_e164=source, destination="46766000021", text="Hej", transport="smpp", provider_ref=None,
                      parts=1, now=when)
    cutoff = now() - timedelta(days=90)
    held = frozenset({person(session, owner.id, held_number).blind_index})
    assert purge_received(session, account_id=owner.id, before=cutoff, held=held, limit=100, dry_run=True) == 1
    assert purge_received(session, account_id=owner.id, before=cutoff, held=held, limit=100) == 1
    left = session.execute(select(func.count()).select_from(InboundMessage).where(InboundMessage.account_id == owner.id)).scalar_one()
    assert left == 2


def test_another_accounts_key_opens_nothing_and_scoped_reads_find_nothing(
    session: Session, connection: Connection, vault: Vault, provider: int,
) -> None:
    owner, stranger = sender(session), sender(session)
    message = replied(session, connection, vault, owner, "Hemligt svar")
    # the stranger's subject for the same number has another key: the sealed text does not open
    foreign = vault_of(session).subjects(session, stranger.account_id, [NUMBER], now=now())[NUMBER]
    with pytest.raises(DecryptionError):
        foreign.unseal(INBOUND_TEXT, message.text_ct, owner_id=message.subject_id)
    outsider = person(session, stranger.account_id)
    assert find_received(session, outsider) is None and export_received(session, outsider) == []
    assert erase_received(session, outsider, limit=100, now=now()) == 0 and erase_route(session, outsider, limit=100, now=now()) == 0
    assert session.get(InboundMessage, message.id) is not None
    assert session.execute(select(func.count()).select_from(ReplyRoute).where(ReplyRoute.account_id == owner.account_id)).scalar_one() == 1
