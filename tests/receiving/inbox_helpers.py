"""Received SMS for the inbox's tests: stored as the routing stores them (number and text sealed
under the sender's subject key in the account), or received through the real routing after a
send from 72323 through the loopback transport."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.engine import Connection
from sqlmodel import Session

from govsms.accounts.models import Account
from govsms.auth import Actor
from govsms.db import make_session_factory
from govsms.keys.store import Vault, vault_of
from govsms.receiving.models import INBOUND_NUMBER, INBOUND_TEXT, InboundMessage
from govsms.sending.outbox import Outbox
from govsms.sending.transports.loopback import LoopbackTransport
from tests.factories import make_dispatch, now

URL = "https://sms.example.se"


def stored_inbound(
    session: Session, account: Account | int, number: str, text: str, *, destination: str = "72323", routed_by: str = "reply",
    reply_to: int | None = None, stop: bool = False, received_at: datetime | None = None, read_at: datetime | None = None,
) -> InboundMessage:
    """One received SMS of ``account`` from ``number``, stored as routing stores it."""
    account_id = account if isinstance(account, int) else account.id
    assert account_id is not None
    subject = vault_of(session).subjects(session, account_id, [number], now=now())[number]
    row = InboundMessage(
        account_id=account_id, subject_id=subject.id, number_ct=subject.seal(INBOUND_NUMBER, number),
        text_ct=subject.seal(INBOUND_TEXT, text), destination=destination, routed_by=routed_by, reply_to_message_id=reply_to,
        stop=stop, parts=1, transport="loopback", received_at=received_at or now(), read_at=read_at,
    )
    session.add(row)
    session.flush()
    return row


def send_and_submit(session: Session, connection: Connection, vault: Vault, actor: Actor, numbers: list[str], *, text: str,
                    sender: str = "72323") -> int:
    """A dispatch from ``sender`` to ``numbers``, submitted through the loopback transport (the
    outbox writes the reply routes); returns the dispatch id."""
    summary = make_dispatch(session, actor, sender=sender, numbers=numbers, text=text, public_url=URL)
    session.flush()
    outbox = Outbox(make_session_factory(connection, vault=vault), LoopbackTransport(report_delay=0), public_url=URL)
    while outbox.run_once(now=now() + timedelta(seconds=1)):
        pass
    assert summary.dispatch_id is not None
    return summary.dispatch_id
