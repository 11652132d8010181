"""Receiving end to end through the independent npm SMSC (tests/smsc) and the worker's SMPP
transport with its upstream (``Worker``: accept_upstream commits before each deliver_sm_resp),
on a database of the test's own (SQLite file, PostgreSQL): two accounts send from 72323 to the
same number and its reply lands in the account that sent last; a UCS-2 reply in 3 parts
arriving out of order is joined; a keyword SMS reaches the keyword's account stripped; an SMS
to a virtual number reaches its account; "stopp" blocks the number and a queued SMS to it ends
``blocked``; an unmatched SMS lands in the operator's queue; the receipts of the sends, stored
by the upstream in pending_report, settle the messages once; a database outage answers the
SMSC with a temporary error and its re-sent SMS is stored once."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from govsms.accounts.login import actor_for_user
from govsms.auth import Actor, Role
from govsms.db import make_engine, make_session_factory, session_scope
from govsms.keys.ring import load_key_ring, write_key_file
from govsms.keys.store import Vault, vault_of
from govsms.receiving.models import INBOUND_NUMBER, INBOUND_TEXT, InboundKeyword, InboundMessage
from govsms.sending.dispatch import DispatchRequest, create_dispatch
from govsms.sending.models import OutboundMessage, VirtualNumber
from govsms.sending.pricing import seed_default_prices
from govsms.sending.transports.smpp import SmppTransport
from govsms.sending.transports.smpp.status import ESME_RX_T_APPN
from govsms.settings import Settings
from govsms.worker import Worker
from tests import sensitive
from tests.factories import make_account, make_user
from tests.smsc.fixture import Smsc, smsc  # noqa: F401

NUMBER = sensitive.register("+46701234567")
OTHER = sensitive.register("+46707654321")


class Setup:
    def __init__(self, factory: sessionmaker[Session], worker: Worker, smsc: Smsc) -> None:  # noqa: F811
        self.factory, self.worker, self.smsc = factory, worker, smsc
        with session_scope(factory) as session:
            seed_default_prices(session, now=datetime.now(UTC))
            self.provider = int(make_account(session, name="Operatören", is_provider=True).id)  # type: ignore[arg-type]
            self.first = self._sender(session, "Skolan i Byn")
            self.second = self._sender(session, "Vårdcentralen")

    @staticmethod
    def _sender(session: Session, name: str) -> Actor:
        account = make_account(session, name=name)
        user, _ = make_user(session, account, roles={Role.SENDER})
        return actor_for_user(user, account)

    def send(self, actor: Actor, numbers: list[str], text: str = "Svara JA eller NEJ.", sender: str = "72323") -> int:
        with session_scope(self.factory) as session:
            summary = create_dispatch(
                session, actor, DispatchRequest(sender=sender, text=text, numbers=numbers), public_url="http://x", now=datetime.now(UTC),
            )
        return int(summary.dispatch_id)  # type: ignore[arg-type]

    def run_outbox(self) -> None:
        while self.worker.outbox.run_once():
            pass

    def message_of(self, dispatch_id: int) -> OutboundMessage:
        with session_scope(self.factory) as session:
            return session.execute(select(OutboundMessage).where(OutboundMessage.dispatch_id == dispatch_id)).scalar_one()

    def inbound(self) -> list[tuple[InboundMessage, str, str]]:
        """Every inbound SMS with its number and text opened, oldest first."""
        with session_scope(self.factory) as session:
            rows = session.execute(select(InboundMessage).order_by(InboundMessage.id)).scalars().all()  # type: ignore[arg-type]
            opened = []
            for row in rows:
                subject = vault_of(session).subjects_by_id(session, row.account_id, [row.subject_id])[row.subject_id]
                opened.append((row, subject.unseal(INBOUND_NUMBER, row.number_ct), subject.unseal(INBOUND_TEXT, row.text_ct)))
            return opened

    def deliver(self, *messages: dict[str, Any]) -> list[tuple[InboundMessage, str, str]]:
        """Originate SMS at the SMSC; once every part is acknowledged, what was stored since."""
        before = len(self.inbound())
        queued = len(self.smsc.mo_queued()) + sum(message.get("parts", 1) for message in messages)
        self.smsc.deliver(*messages)
        assert wait_for(lambda: len(self.smsc.mo_queued()) == queued)
        assert wait_for(lambda: len(self.smsc.mo_acknowledged()) == queued), self.smsc.mo_events()[-5:]
        return self.inbound()[before:]


def wait_for(condition: Any, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.02)


@pytest.fixture
def setup(smsc: Smsc, own_database_url: str, tmp_path: Path) -> Iterator[Setup]:  # noqa: F811
    settings = Settings(data_dir=tmp_path, database_url=own_database_url, scheduler_enabled=False)
    write_key_file(settings.key_file)
    engine = make_engine(own_database_url)
    factory = make_session_factory(engine, vault=Vault(load_key_ring(settings)))
    transport = SmppTransport(smsc.host, smsc.port, smsc.system_id, smsc.password, reconnect_backoff=(0.1, 1.0))
    worker = Worker(settings, factory, load_key_ring(settings), transport=transport)
    assert wait_for(lambda: transport.bound)
    try:
        yield Setup(factory, worker, smsc)
    finally:
        transport.close()
        engine.dispose()


def digits(number: str) -> str:
    return number.removeprefix("+")


def test_replies_keywords_virtual_numbers_stop_and_the_operators_queue(setup: Setup) -> None:
    first = setup.send(setup.first, [NUMBER])
    second = setup.send(setup.second, [NUMBER])  # the second account sent last
    setup.run_outbox()
    assert setup.smsc.accepted(), "the sends reached the SMSC"

    # The receipts came through the upstream into pending_report; the outbox applies them once.
    def delivered() -> bool:
        setup.worker.outbox.apply_reports()
        return setup.message_of(first).status == setup.message_of(second).status == "delivered"

    assert wait_for(delivered)

    [(reply, number, text)] = setup.deliver({"source": digits(NUMBER), "destination": "72323", "text": "Ja, jag kommer."})
    assert (reply.account_id, reply.routed_by, reply.reply_to_message_id) == (setup.second.account_id, "reply", setup.message_of(second).id)
    assert (number, text, reply.transport, reply.provider_ref) == (NUMBER, "Ja, jag kommer.", "smpp", setup.smsc.mo_queued()[-1])

    long_reply = sensitive.register("Hej! Min dotter är sjuk 🤒 och kommer inte i dag. Hälsningar från mamma 👩‍👧. " * 2)
    [(joined, _, text)] = setup.deliver({
        "source": digits(NUMBER), "destination": "72323", "text": long_reply, "coding": "ucs2", "split": "udh16", "parts": 3, "ref": 4711,
        "order": [2, 0, 1],
    })
    assert text == long_reply and joined.parts == 3 and joined.account_id == setup.second.account_id and joined.routed_by == "reply"

    with session_scope(setup.factory) as session:
        session.add(InboundKeyword(account_id=setup.first.account_id, shared_number="72323", keyword="skola", created_at=datetime.now(UTC)))
        session.add(VirtualNumber(number="+46766000009", account_id=setup.first.account_id, created_at=datetime.now(UTC)))
    [(keyword, _, text)] = setup.deliver({"source": digits(OTHER), "destination": "72323", "text": "SKOLA Min son är sjuk"})
    assert (keyword.account_id, keyword.routed_by, text) == (setup.first.account_id, "keyword", "Min son är sjuk")
    [(virtual, number, text)] = setup.deliver({"source": digits(OTHER), "destination": "46766000009", "text": "Hej"})
    assert (virtual.account_id, virtual.routed_by, number, text) == (setup.first.account_id, "virtual", OTHER, "Hej")

    queued = setup.send(setup.second, [NUMBER], text="Påminnelse om tisdag.")
    [(stop, _, _)] = setup.deliver({"source": digits(NUMBER), "destination": "72323", "text": " stopp "})
    assert stop.stop and stop.account_id == setup.second.account_id
    setup.run_outbox()
    assert setup.message_of(queued).status == "blocked"

    [(unmatched, number, text)] = setup.deliver({"source": digits(OTHER), "destination": "1963", "text": "Vem är detta?"})
    assert (unmatched.account_id, unmatched.routed_by, number) == (setup.provider, "unrouted", OTHER)


def test_a_database_outage_answers_a_temporary_error_and_the_resent_sms_is_stored_once(setup: Setup, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = setup.factory.kw["bind"]
    outage = {"on": True}

    def refuse(*_args: Any, **_kwargs: Any) -> None:
        if outage["on"]:
            raise ConnectionRefusedError("database down")

    from sqlalchemy import event

    event.listen(engine, "do_connect", refuse)  # every new connection fails, as with a stopped database
    engine.dispose()  # and there is no pooled one
    try:
        setup.smsc.deliver({"source": digits(NUMBER), "destination": "1963", "text": "Hallå?"})
        assert wait_for(lambda: setup.smsc.mo_answers(ESME_RX_T_APPN) >= 3)
        assert not setup.smsc.mo_acknowledged()
        outage["on"] = False
        assert wait_for(lambda: setup.smsc.mo_acknowledged() == set(setup.smsc.mo_queued()))
    finally:
        event.remove(engine, "do_connect", refuse)
    [(message, number, text)] = setup.inbound()
    assert (message.routed_by, number, text) == ("unrouted", NUMBER, "Hallå?")


def test_parts_committed_but_not_acknowledged_are_stored_once_when_the_smsc_sends_them_again(setup: Setup) -> None:
    """The connection dies after the commit and before the deliver_sm_resp: the SMSC sends the
    same parts again (same ids) on the next bind; a whole SMS and a concatenated one (joined
    already) each stay one row, and no part waits to be routed again as a fragment."""
    transport = setup.worker.transport
    store = transport.upstream
    assert store is not None
    dropped = {"done": False}
    concatenated = []

    def then_drop(reports: Any, parts: Any) -> None:
        store(reports, parts)
        concatenated.extend(part for part in parts if part.concat)
        if len(concatenated) == 3 and not dropped["done"]:  # the SMS was joined in this commit
            dropped["done"] = True
            setup.smsc.drop_connections()
            time.sleep(0.5)  # the answers go to a closed connection

    transport.set_upstream(then_drop)
    setup.smsc.deliver(
        {"source": digits(NUMBER), "destination": "1963", "text": "Hej igen"},
        {"source": digits(OTHER), "destination": "1963", "text": "Ett längre svar i tre delar. " * 10, "split": "udh8", "parts": 3, "ref": 9},
    )
    assert wait_for(lambda: len(setup.smsc.mo_queued()) == 4)
    assert wait_for(lambda: setup.smsc.mo_acknowledged() == set(setup.smsc.mo_queued()))
    sent = [e for e in setup.smsc.mo_events() if e["event"] == "answered"]
    assert dropped["done"]
    stored = setup.inbound()
    assert sorted((row.parts, text) for row, _, text in stored) == [(1, "Hej igen"), (3, "Ett längre svar i tre delar. " * 10)]
    with session_scope(setup.factory) as session:
        from govsms.receiving.models import InboundFragment

        waiting = select(InboundFragment).where(InboundFragment.joined_at.is_(None))  # type: ignore[union-attr]
        assert session.execute(waiting).first() is None, "a part sent again waits to be routed again as a fragment"
    assert len(sent) >= 4
