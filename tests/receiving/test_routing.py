"""Routing of inbound SMS on both backends: a reply reaches the account that sent last from 72323
to that number (routes written by the real outbox worker), linked to that message; keywords on a
shared number (stripped, any case, å ä ö); virtual numbers; STOP words block the number and a
queued SMS then ends blocked, with the account's confirmation sent free; the rest lands in the
provider's unrouted queue; a provider ref is stored once; concatenated SMS are joined in order and
timed-out ones stored as they arrived; expired reply routes do not match."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Connection
from sqlmodel import Session

from govsms.accounts.login import actor_for_user
from govsms.accounts.models import Account
from govsms.auth import Actor, Role
from govsms.db import make_session_factory
from govsms.keys.store import Vault, vault_of
from govsms.receiving.models import INBOUND_NUMBER, INBOUND_TEXT, InboundFragment, InboundKeyword, InboundMessage
from govsms.receiving.routing import normalise_source
from govsms.receiving.service import accept_upstream, route_expired_fragments, route_inbound, run_receiving_job, store_inbound
from govsms.sending.models import BlockEntry, Dispatch, OutboundMessage, PendingReport, ReplyRoute, VirtualNumber
from govsms.sending.outbox import Outbox
from govsms.sending.pricing import seed_default_prices
from govsms.sending.reply_routes import purge_expired_routes
from govsms.sending.transports.base import DeliveryReport, InboundPart, ReportStatus
from govsms.sending.transports.loopback import LoopbackTransport
from tests import sensitive
from tests.factories import audit_events, make_account, make_dispatch, make_user, now

URL = "https://sms.example.se"
NUMBER = sensitive.register("+46701234567")
OTHER = sensitive.register("+46707654321")


def sender(session: Session, **account: object) -> Actor:
    seed_default_prices(session, now=now())
    owner = make_account(session, **account)
    user, _ = make_user(session, owner, roles={Role.SENDER})
    return actor_for_user(user, owner)


def send(session: Session, connection: Connection, vault: Vault, actor: Actor, numbers: list[str], *, sender: str = "72323",
         at: timedelta = timedelta(seconds=1)) -> int:
    summary = make_dispatch(session, actor, sender=sender, numbers=numbers, text="Svara JA eller NEJ.", public_url=URL)
    session.flush()
    outbox = Outbox(make_session_factory(connection, vault=vault), LoopbackTransport(report_delay=0), public_url=URL)
    while outbox.run_once(now=now() + at):
        pass
    assert summary.dispatch_id is not None
    return summary.dispatch_id


def receive(session: Session, text: str, *, source: str = NUMBER, to: str = "72323", ref: str | None = None) -> InboundMessage | None:
    return route_inbound(session, source_e164=source, destination=to, text=text, transport="smpp", provider_ref=ref, parts=1,
                         now=now() + timedelta(seconds=5))


def opened(session: Session, message: InboundMessage) -> tuple[str, str]:
    subject = vault_of(session).subjects_by_id(session, message.account_id, [message.subject_id])[message.subject_id]
    return subject.unseal(INBOUND_NUMBER, message.number_ct), subject.unseal(INBOUND_TEXT, message.text_ct)


def message_of(session: Session, dispatch_id: int) -> OutboundMessage:
    return session.execute(select(OutboundMessage).where(OutboundMessage.dispatch_id == dispatch_id)).scalar_one()


def test_a_reply_reaches_the_account_that_sent_last(session: Session, connection: Connection, vault: Vault, provider: int) -> None:
    first, second = sender(session), sender(session)
    send(session, connection, vault, first, [NUMBER], at=timedelta(seconds=1))
    latest = send(session, connection, vault, second, [NUMBER], at=timedelta(seconds=2))
    route = session.execute(select(ReplyRoute)).scalars().all()
    assert len(route) == 1 and route[0].account_id == second.account_id and route[0].shared_number == "72323"
    reply = receive(session, "Ja tack", source="46701234567")  # as an SMSC gives it, without '+'
    assert reply is not None
    assert (reply.account_id, reply.routed_by, reply.reply_to_message_id) == (second.account_id, "reply", message_of(session, latest).id)
    assert opened(session, reply) == (NUMBER, "Ja tack")
    # the route holds no number: only the provider's keyed hash
    assert NUMBER.encode() not in bytes(route[0].number_index) and len(bytes(route[0].number_index)) == 16
    [event] = audit_events(session, "inbound.received", second.account_id)
    assert event.details is not None and NUMBER not in str(event.details) and "Ja tack" not in str(event.details)


def test_a_reply_from_another_number_or_to_another_shared_number_is_unrouted(
    session: Session, connection: Connection, vault: Vault, provider: int,
) -> None:
    actor = sender(session)
    send(session, connection, vault, actor, [NUMBER])
    elsewhere = receive(session, "Hej", source=OTHER)
    other_shared = receive(session, "Hej", to="1963")
    assert elsewhere is not None and other_shared is not None
    assert {elsewhere.account_id, other_shared.account_id} == {provider}
    assert {elsewhere.routed_by, other_shared.routed_by} == {"unrouted"}


def test_a_text_sender_writes_no_reply_route(session: Session, connection: Connection, vault: Vault, provider: int) -> None:
    actor = sender(session)
    send(session, connection, vault, actor, [NUMBER], sender="Kommunen")
    assert session.execute(select(func.count()).select_from(ReplyRoute)).scalar_one() == 0
    reply = receive(session, "Hej")
    assert reply is not None and reply.account_id == provider


def test_an_expired_reply_route_does_not_match_and_is_purged(session: Session, connection: Connection, vault: Vault, provider: int) -> None:
    actor = sender(session)
    send(session, connection, vault, actor, [NUMBER])
    route = session.execute(select(ReplyRoute)).scalar_one()
    later = route.expires_at + timedelta(seconds=1)
    late = route_inbound(session, source_e164=NUMBER, destination="72323", text="Sent svar", transport="smpp", provider_ref=None,
                         parts=1, now=later)
    assert late is not None and late.account_id == provider and late.routed_by == "unrouted"
    assert purge_expired_routes(session, now=route.expires_at - timedelta(seconds=1)) == 0
    assert purge_expired_routes(session, now=later) == 1
    assert session.execute(select(func.count()).select_from(ReplyRoute)).scalar_one() == 0


def test_a_keyword_routes_to_its_account_stripped(session: Session, connection: Connection, vault: Vault, provider: int) -> None:
    school, other = sender(session), sender(session)
    send(session, connection, vault, other, [NUMBER])  # a reply route to another account: the keyword wins
    session.add(InboundKeyword(account_id=school.account_id, shared_number="72323", keyword="skolå", created_at=now()))
    session.flush()
    message = receive(session, "  SKOLÅ   Min son är sjuk idag")
    assert message is not None
    assert (message.account_id, message.routed_by, message.keyword, message.reply_to_message_id) == (school.account_id, "keyword", "skolå", None)
    assert opened(session, message)[1] == "Min son är sjuk idag"
    # the keyword is per shared number
    elsewhere = receive(session, "skolå hej", to="1963")
    assert elsewhere is not None and elsewhere.routed_by == "unrouted"


def test_a_virtual_number_routes_to_its_account(session: Session, provider: int) -> None:
    owner = make_account(session)
    session.add(VirtualNumber(number="+46766000009", account_id=owner.id, created_at=now()))  # type: ignore[arg-type]
    session.flush()
    message = receive(session, "Hej från mig", to="46766000009")
    assert message is not None and (message.account_id, message.routed_by, message.destination) == (owner.id, "virtual", "46766000009")
    assert opened(session, message) == (NUMBER, "Hej från mig")


@pytest.mark.parametrize("word", ["STOP", "stopp", " Avsluta ", "AVREGISTRERA"])
def test_stop_blocks_the_number_and_a_queued_sms_ends_blocked(
    session: Session, connection: Connection, vault: Vault, provider: int, word: str,
) -> None:
    actor = sender(session)
    account = session.get(Account, actor.account_id)
    assert account is not None
    account.stop_confirmation_text = "Du får inga fler SMS från oss."
    session.add(account)
    send(session, connection, vault, actor, [NUMBER])
    queued = make_dispatch(session, actor, numbers=[NUMBER], text="Påminnelse")
    message = receive(session, word)
    assert message is not None and message.stop and message.account_id == actor.account_id
    entry = session.execute(select(BlockEntry).where(BlockEntry.account_id == actor.account_id)).scalar_one()
    assert entry.source == "stop"
    confirmation = session.execute(select(Dispatch).where(Dispatch.account_id == actor.account_id, Dispatch.channel == "stop")).scalar_one()
    assert confirmation.cost_minor == 0 and confirmation.sender == "72323"
    session.flush()
    outbox = Outbox(make_session_factory(connection, vault=vault), LoopbackTransport(report_delay=0), public_url=URL)
    while outbox.run_once(now=now() + timedelta(seconds=10)):
        pass
    session.expire_all()
    assert message_of(session, queued.dispatch_id).status == "blocked"  # type: ignore[arg-type]
    sent = message_of(session, confirmation.id)  # type: ignore[arg-type]
    assert sent.status in ("sent", "delivered") and sent.cost_minor == 0
    # a second STOP blocks nothing new and confirms nothing again
    again = receive(session, word)
    assert again is not None and again.stop
    confirmations = select(func.count()).select_from(Dispatch).where(Dispatch.channel == "stop", Dispatch.account_id == actor.account_id)
    assert session.execute(confirmations).scalar_one() == 1


def test_stop_after_a_keyword_blocks_for_the_keywords_account(session: Session, provider: int) -> None:
    owner = make_account(session)
    session.add(InboundKeyword(account_id=owner.id, shared_number="72323", keyword="vård", created_at=now()))  # type: ignore[arg-type]
    session.flush()
    message = receive(session, "VÅRD stopp")
    assert message is not None and message.stop and message.account_id == owner.id
    assert session.execute(select(BlockEntry.source).where(BlockEntry.account_id == owner.id)).scalar_one() == "stop"
    # without a confirmation text nothing is sent
    assert session.execute(select(func.count()).select_from(Dispatch).where(Dispatch.account_id == owner.id)).scalar_one() == 0


def test_a_stop_word_in_a_sentence_or_unrouted_blocks_nothing(session: Session, provider: int) -> None:
    message = receive(session, "stop")  # nobody sent to the number: unrouted
    assert message is not None and message.routed_by == "unrouted" and not message.stop
    owner = make_account(session)
    session.add(VirtualNumber(number="+46766000010", account_id=owner.id, created_at=now()))  # type: ignore[arg-type]
    session.flush()
    sentence = receive(session, "Kan ni stoppa bussen?", to="46766000010")
    assert sentence is not None and not sentence.stop
    assert session.execute(select(func.count()).select_from(BlockEntry).where(BlockEntry.account_id.in_([owner.id, provider]))).scalar_one() == 0  # type: ignore[attr-defined]


def test_a_source_that_is_no_number_goes_to_the_operator(session: Session, provider: int) -> None:
    owner = make_account(session)
    session.add(VirtualNumber(number="+46766000011", account_id=owner.id, created_at=now()))  # type: ignore[arg-type]
    session.flush()
    message = receive(session, "Ditt paket", source="Posten\x00\n", to="46766000011")
    assert message is not None and message.account_id == provider and message.routed_by == "unrouted"
    assert opened(session, message) == ("Posten", "Ditt paket")
    assert normalise_source("0701234567").e164 == "+46701234567"
    assert normalise_source("+4670123").e164 is None


def test_a_provider_ref_is_stored_once(session: Session, provider: int) -> None:
    first = receive(session, "Hej", ref="smsc-1")
    again = receive(session, "Hej", ref="smsc-1")
    assert first is not None and again is None
    assert session.execute(select(func.count()).select_from(InboundMessage).where(InboundMessage.provider_ref == "smsc-1")).scalar_one() == 1


def part(text: str, sequence: int, *, total: int = 3, reference: int = 77, ref: str | None = None) -> InboundPart:
    return InboundPart(source="46701234567", destination="72323", text=text, concat=(reference, total, sequence), provider_ref=ref)


def test_parts_are_joined_in_order_when_all_arrived(session: Session, provider: int) -> None:
    texts = ["Första delen, ", "andra delen, ", "tredje 😀"]
    routed = store_inbound(session, [part(texts[2], 3, ref="p3"), part(texts[0], 1, ref="p1")], transport="smpp", now=now())
    assert routed == [] and session.execute(select(func.count()).select_from(InboundFragment)).scalar_one() == 2
    assert store_inbound(session, [part(texts[0], 1, ref="p1")], transport="smpp", now=now()) == []  # sent again
    assert all(b"delen" not in bytes(row) for row in session.execute(select(InboundFragment.text_ct)).scalars())  # sealed
    [message] = store_inbound(session, [part(texts[1], 2, ref="p2")], transport="smpp", now=now())
    assert message.parts == 3 and opened(session, message) == (NUMBER, "".join(texts))
    waiting = select(func.count()).select_from(InboundFragment).where(InboundFragment.joined_at.is_(None))  # type: ignore[union-attr]
    assert session.execute(waiting).scalar_one() == 0
    assert set(session.execute(select(InboundFragment.text_ct)).scalars()) == {b""}  # tombstones hold nothing
    # a part the SMSC sends again after the join (its acknowledgement was lost, same id) is no new SMS
    assert store_inbound(session, [part(texts[1], 2, ref="p2")], transport="smpp", now=now()) == []
    assert route_expired_fragments(session, now=now() + timedelta(minutes=30)) == 0
    # another SMS reusing the reference (new provider refs) is stored and joined
    [again] = store_inbound(session, [part("Ny ", 1, ref="q1"), part("text ", 2, ref="q2"), part("här", 3, ref="q3")], transport="smpp", now=now())
    assert opened(session, again)[1] == "Ny text här"
    # the tombstones outlive the timeout: a part the SMSC sends again hours later is no new SMS
    run_receiving_job(session, now=now() + timedelta(hours=3))
    assert store_inbound(session, [part("Ny ", 1, ref="q1")], transport="smpp", now=now() + timedelta(hours=3)) == []
    assert route_expired_fragments(session, now=now() + timedelta(hours=4)) == 0
    assert session.execute(select(func.count()).select_from(InboundMessage)).scalar_one() == 2
    # the receiving job deletes them after 24 hours
    run_receiving_job(session, now=now() + timedelta(hours=24, minutes=1))
    assert session.execute(select(func.count()).select_from(InboundFragment)).scalar_one() == 0


def test_a_timed_out_concatenation_is_stored_as_it_arrived(session: Session, provider: int) -> None:
    start = now()
    store_inbound(session, [part("Början ", 1, reference=5), part("slutet", 3, reference=5)], transport="smpp", now=start)
    assert route_expired_fragments(session, now=start + timedelta(minutes=9)) == 0
    assert route_expired_fragments(session, now=start + timedelta(minutes=11)) == 1
    message = session.execute(select(InboundMessage).order_by(InboundMessage.id.desc())).scalars().first()  # type: ignore[union-attr]
    assert message is not None and message.parts == 2 and opened(session, message)[1] == "Början slutet"
    assert session.execute(select(func.count()).select_from(InboundFragment).where(InboundFragment.joined_at.is_(None))).scalar_one() == 0  # type: ignore[union-attr]
    # the missing part arriving after that is not lost: it waits, then is stored as what arrived of it
    assert store_inbound(session, [part("mitten ", 2, reference=5)], transport="smpp", now=start + timedelta(minutes=12)) == []
    assert route_expired_fragments(session, now=start + timedelta(minutes=23)) == 1


def test_accept_upstream_stores_reports_and_sms_together(session: Session, connection: Connection, vault: Vault, provider: int) -> None:
    factory = make_session_factory(connection, vault=vault)
    accept_upstream(
        factory, [DeliveryReport(provider_id="up-1", status=ReportStatus.DELIVERED)],
        [InboundPart(source=NUMBER, destination="72323", text="Hej", provider_ref="in-1")], transport="smpp", now=now(),
    )
    session.expire_all()
    assert session.get(PendingReport, "up-1") is not None
    assert session.execute(select(func.count()).select_from(InboundMessage).where(InboundMessage.provider_ref == "in-1")).scalar_one() == 1


def test_the_worker_runs_the_receiving_job_every_minute(session: Session, settings, keys, provider: int) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy.orm import sessionmaker

    from govsms.clock import FixedClock
    from govsms.scheduler import build_scheduler

    scheduler = build_scheduler(settings, sessionmaker(bind=session.connection(), class_=Session), keys, FixedClock(now()))
    job = scheduler.get_job("receiving.fragments_and_routes")
    assert job is not None and job.trigger.interval.total_seconds() == 60
    start = now()
    store_inbound(session, [part("Bara början", 1, reference=9)], transport="smpp", now=start)
    session.add(ReplyRoute(number_index=b"\x01" * 16, shared_number="72323", account_id=provider, message_id=1,
                           sent_at=start - timedelta(days=31), expires_at=start - timedelta(days=1)))
    session.flush()
    assert run_receiving_job(session, now=start + timedelta(minutes=11)) == 2  # one SMS routed, one route deleted


def test_hostile_text_and_numbers_are_stored_safely(session: Session, provider: int) -> None:
    """NUL, lone surrogates (bytes that were no text), control characters and overlong input:
    stored (sealed) without an error, cut to their limits."""
    message = receive(session, "a\x00b\udcff" + "x" * 20_000, source="+4670\udcff1234567\x07", to="72\x00323" + "9" * 40)
    assert message is not None and message.routed_by == "unrouted" and len(message.destination) <= 16
    number, text = opened(session, message)
    assert text.startswith("ab?") and len(text) == 10_000 and "\x00" not in number and len(number) <= 32


def test_a_route_recorded_late_for_an_older_send_keeps_the_newer_one(session: Session) -> None:
    from govsms.sending.reply_routes import find_reply_route, write_reply_routes

    index = b"\x02" * 16
    sent = now()
    write_reply_routes(session, [(index, "72323", 1, 10), (index, "+72323", 1, 11)], sent_at=sent)  # one row per key and statement
    write_reply_routes(session, [(index, "72323", 2, 5)], sent_at=sent - timedelta(minutes=1))  # another worker's older batch
    assert find_reply_route(session, index, "72323", now=sent) == (1, 11)
    write_reply_routes(session, [(index, "72323", 3, 20)], sent_at=sent + timedelta(minutes=1), window=timedelta(days=2))
    assert find_reply_route(session, index, "72323", now=sent + timedelta(days=1)) == (3, 20)
    assert find_reply_route(session, index, "72323", now=sent + timedelta(days=3)) is None


def test_an_id_with_a_nul_or_control_characters_is_stored_cleaned(session: Session, connection: Connection, vault: Vault, provider: int) -> None:
    """PostgreSQL takes no NUL in text: an SMSC's id with one inside (an inbound SMS's, a part's,
    a receipt's) must not make the whole batch fail (and be sent again for ever)."""
    from types import SimpleNamespace

    from govsms.sending.transports.smpp.inbound import parse_inbound
    from govsms.sending.transports.smpp.receipts import parse_receipt

    factory = make_session_factory(connection, vault=vault)
    report = parse_receipt(b"id:r\x00-1 sub:001 dlvrd:001 stat:DELIVRD err:000", b"r\x00-1\x07")
    assert report is not None and report.provider_id == "r-1"
    pdu = SimpleNamespace(message_payload=None, short_message=b"Hej", esm_class=0, source_addr=b"46701234567", source_addr_ton=1,
                          destination_addr=b"72323", data_coding=0, receipted_message_id=b"mo\x00-1\x1b")
    assert parse_inbound(pdu).provider_ref == "mo-1"
    accept_upstream(
        factory, [DeliveryReport(provider_id="nul\x00report", status=ReportStatus.DELIVERED)],
        [InboundPart(source=NUMBER, destination="72323", text="Hej", provider_ref="in\x00-nul\x01"),
         InboundPart(source=NUMBER, destination="72323", text="Del ett", concat=(3, 2, 1), provider_ref="part\x00-1")],
        transport="smpp", now=now(),
    )
    session.expire_all()
    assert session.get(PendingReport, "nulreport") is not None
    assert session.execute(select(func.count()).select_from(InboundMessage).where(InboundMessage.provider_ref == "in-nul")).scalar_one() == 1
    assert session.execute(select(func.count()).select_from(InboundFragment).where(InboundFragment.provider_ref == "part-1")).scalar_one() == 1
    # sent again (the ids as the SMSC gives them): stored once
    accept_upstream(factory, [], [InboundPart(source=NUMBER, destination="72323", text="Hej", provider_ref="in\x00-nul\x01")], transport="smpp", now=now())
    session.expire_all()
    assert session.execute(select(func.count()).select_from(InboundMessage).where(InboundMessage.provider_ref == "in-nul")).scalar_one() == 1


def test_a_part_without_an_id_matching_a_joined_sms_is_not_lost(session: Session, provider: int) -> None:
    """Without ids a second long SMS from the same sender that reuses the reference (phones and
    gateways using 0) cannot be told from a re-send: it is stored (a possible duplicate), never
    acknowledged and dropped. With ids, a re-sent part is still stored once."""
    [first] = store_inbound(session, [part("Ett ", 1, total=2, reference=0), part("två", 2, total=2, reference=0)], transport="smpp", now=now())
    assert opened(session, first)[1] == "Ett två"
    [second] = store_inbound(session, [part("Tre ", 1, total=2, reference=0), part("fyra", 2, total=2, reference=0)], transport="smpp", now=now())
    assert second.id != first.id and opened(session, second)[1] == "Tre fyra"
    # only one part of a third arrives: kept, routed by the timeout as what arrived
    assert store_inbound(session, [part("Fem", 1, total=2, reference=0)], transport="smpp", now=now()) == []
    assert route_expired_fragments(session, now=now() + timedelta(minutes=11)) == 1
    # another SMS (another id) reusing the reference while the first still waits: both kept
    assert store_inbound(session, [part("Sex ", 1, total=2, reference=4, ref="a1")], transport="smpp", now=now()) == []
    [sixth] = store_inbound(session, [part("Sju ", 1, total=2, reference=4, ref="b1")], transport="smpp", now=now())
    assert opened(session, sixth)[1] == "Sex "  # the first, routed as it is
    [seventh] = store_inbound(session, [part("åtta", 2, total=2, reference=4, ref="b2")], transport="smpp", now=now())
    assert opened(session, seventh)[1] == "Sju åtta"
    texts = [opened(session, message)[1] for message in session.execute(select(InboundMessage).order_by(InboundMessage.id)).scalars()]
    assert texts == ["Ett två", "Tre fyra", "Fem", "Sex ", "Sju åtta"]
    # with ids a re-sent part is no new SMS
    assert store_inbound(session, [part("Sju ", 1, total=2, reference=4, ref="b1")], transport="smpp", now=now()) == []
    assert route_expired_fragments(session, now=now() + timedelta(minutes=30)) == 0


def test_parts_stored_by_concurrent_transactions_are_joined_by_the_minute_job(session: Session, provider: int) -> None:
    """Two parts committed by two transactions that each saw only its own: the minute job joins
    them at once, not after the 10-minute timeout."""
    from govsms.receiving.service import _store_fragment

    start = now()
    for sequence, text in ((2, "andra"), (1, "Första ")):
        assert _store_fragment(session, part(text, sequence, total=2, reference=21), "smpp", start) is not None  # stored, not joined
    assert session.execute(select(func.count()).select_from(InboundMessage)).scalar_one() == 0
    assert route_expired_fragments(session, now=start + timedelta(minutes=1)) == 1
    message = session.execute(select(InboundMessage)).scalar_one()
    assert message.parts == 2 and opened(session, message)[1] == "Första andra"


def test_a_join_that_races_another_gives_up_rather_than_route_twice(session: Session, provider: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another transaction joins a part while this one joins the group (read, then updated): this
    one raises (rolled back and tried again) instead of routing the SMS a second time."""
    from sqlalchemy import update

    from govsms.db import DatabaseBusy
    from govsms.receiving import service

    store_inbound(session, [part("Ett ", 1, total=2, reference=22)], transport="smpp", now=now())
    opened_parts = service.unseal_field

    def other_transaction_joins_first(*args: object) -> bytes:
        session.execute(update(InboundFragment).where(InboundFragment.sequence == 1).values(joined_at=now()))  # type: ignore[arg-type]
        return opened_parts(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(service, "unseal_field", other_transaction_joins_first)
    with pytest.raises(DatabaseBusy):
        store_inbound(session, [part("två", 2, total=2, reference=22)], transport="smpp", now=now())
    assert session.execute(select(func.count()).select_from(InboundMessage)).scalar_one() == 0


@pytest.mark.parametrize("to", ["46766000013", "+46766000013", "0766000013", "0046766000013"])
def test_a_virtual_number_written_nationally_or_with_00_routes_to_its_account(session: Session, provider: int, to: str) -> None:
    owner = make_account(session)
    session.add(VirtualNumber(number="+46766000013", account_id=owner.id, created_at=now()))  # type: ignore[arg-type]
    session.flush()
    message = receive(session, "Hej", to=to)
    assert message is not None and (message.account_id, message.routed_by, message.destination) == (owner.id, "virtual", "46766000013")


def test_shared_short_numbers_are_kept_as_they_are() -> None:
    from govsms.receiving.routing import normalise_destination

    assert [normalise_destination(number) for number in ("72323", "1963", "4560991000", "+72323", "0123")] == [
        "72323", "1963", "4560991000", "72323", "0123",
    ]


@pytest.mark.parametrize("text", ["Stopp.", "STOP!", "avsluta ,", "Avregistrera;"])
def test_a_stop_word_with_punctuation_after_it_is_a_stop(session: Session, provider: int, text: str) -> None:
    owner = make_account(session)
    session.add(VirtualNumber(number="+46766000014", account_id=owner.id, created_at=now()))  # type: ignore[arg-type]
    session.flush()
    message = receive(session, text, to="46766000014")
    assert message is not None and message.stop
    assert session.execute(select(BlockEntry.source).where(BlockEntry.account_id == owner.id)).scalar_one() == "stop"


@pytest.mark.parametrize(("text", "rest"), [("Bygg: hej", "hej"), ("bygg, fråga", "fråga"), ("BYGG!", ""), ("Bygg. Stopp.", "Stopp.")])
def test_a_keyword_with_punctuation_after_it_routes(session: Session, provider: int, text: str, rest: str) -> None:
    owner = make_account(session)
    session.add(InboundKeyword(account_id=owner.id, shared_number="72323", keyword="bygg", created_at=now()))  # type: ignore[arg-type]
    session.flush()
    message = receive(session, text)
    assert message is not None and (message.account_id, message.routed_by, message.keyword) == (owner.id, "keyword", "bygg")
    assert opened(session, message)[1] == rest and message.stop == (rest == "Stopp.")


def test_long_sms_in_one_batch_cost_a_bounded_number_of_statements(session: Session, connection: Connection, vault: Vault, provider: int) -> None:
    """A batch of 2-part SMS: the sources' indexes and the parts' ids looked up once for the
    batch, a group's parts read once per part, the joined SMS routed together (was about 17
    statements per SMS, each joined SMS routed alone)."""
    from sqlalchemy import event

    factory = make_session_factory(connection, vault=vault)
    warm = [InboundPart(source="+46701000000", destination="72323", text="Hej", concat=(1, 2, s), provider_ref=f"w{s}") for s in (1, 2)]
    accept_upstream(factory, [], warm, transport="smpp", now=now())
    count = 30
    parts = [InboundPart(source=f"+4670200{i:04d}", destination="72323", text=f"Del {s} ", concat=(i, 2, s), provider_ref=f"b{i}-{s}")
             for i in range(count) for s in (1, 2)]
    statements: list[str] = []

    def counted(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement)

    event.listen(connection, "before_cursor_execute", counted)
    try:
        accept_upstream(factory, [], parts, transport="smpp", now=now())
    finally:
        event.remove(connection, "before_cursor_execute", counted)
    session.expire_all()
    assert session.execute(select(func.count()).select_from(InboundMessage).where(InboundMessage.parts == 2)).scalar_one() == count + 1
    assert len(statements) <= 9 * count + 20, len(statements)
