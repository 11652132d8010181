"""The inbox's services on SQLite and PostgreSQL: conversations and unread counts, reads recorded
in the access log, the SMS a reply answers, mark as read, search by number, replies from the
number an SMS arrived on (blocklist-checked, priced), the API's cursor; every read scoped to the
acting account."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Connection
from sqlmodel import Session

from govsms.accounts.login import actor_for_user
from govsms.auth import Actor, Role
from govsms.db import make_engine, make_session_factory, session_scope
from govsms.errors import Forbidden, InvalidInput, NotFound
from govsms.keys.ring import load_key_ring
from govsms.keys.store import Vault
from govsms.receiving import inbox
from govsms.receiving.models import InboundMessage
from govsms.sending import blocklist
from govsms.sending.models import Dispatch, OutboundMessage, VirtualNumber
from govsms.sending.outbox import Outbox
from govsms.sending.pricing import seed_default_prices
from govsms.sending.transports.base import Submission, SubmitResult
from govsms.sending.transports.loopback import LoopbackTransport
from tests.conftest import make_settings, not_applicable
from tests.factories import audit_events, linked_subjects, make_account, make_user, now
from tests.receiving.inbox_helpers import URL, send_and_submit, stored_inbound

ANNA, BO, CILLA = "+46701234567", "+46709876543", "+46705550101"


def customer(session: Session, *roles: Role) -> Actor:
    seed_default_prices(session, now=now())
    account = make_account(session)
    user, _ = make_user(session, account, roles=set(roles) or {Role.SENDER})
    return actor_for_user(user, account)


def account_of(session: Session, actor: Actor):  # type: ignore[no-untyped-def]
    from govsms.accounts.models import Account

    return session.get(Account, actor.account_id)


def test_conversations_one_per_number_unread_first_then_newest(session: Session) -> None:
    actor = customer(session)
    account = account_of(session, actor)
    start = now() - timedelta(hours=3)
    stored_inbound(session, account, ANNA, "Första", received_at=start, read_at=start)
    stored_inbound(session, account, ANNA, "Andra från Anna", received_at=start + timedelta(minutes=30))
    stored_inbound(session, account, BO, "Bo svarar", received_at=start + timedelta(minutes=10))
    stored_inbound(session, account, CILLA, "Cilla läst", received_at=start + timedelta(hours=2), read_at=now())
    other = customer(session)
    stored_inbound(session, account_of(session, other), ANNA, "Till ett annat konto")

    listed = inbox.list_conversations(session, actor, now=now())
    assert listed.total == 3
    assert [(item.messages, item.unread) for item in listed.items] == [(2, 1), (1, 1), (1, 0)]  # unread first, then newest
    anna, bo, cilla = listed.items
    assert anna.latest_text == "Andra från Anna" and bo.latest_text == "Bo svarar" and cilla.latest_text == "Cilla läst"
    for item in listed.items:
        assert "*" in item.number and item.number.startswith("+46 ")  # masked
        assert item.number not in (ANNA, BO, CILLA)
    assert inbox.unread_count(session, actor) == 2
    assert inbox.unread_count(session, other) == 1
    assert inbox.list_conversations(session, other, now=now()).total == 1
    [event] = audit_events(session, "inbound.listed", actor.account_id)
    assert linked_subjects(session, event) == {anna.id, bo.id, cilla.id}
    assert ANNA not in event.details and "Anna" not in event.details


def test_a_long_latest_text_is_cut_and_pages_hold_the_rest(session: Session) -> None:
    actor = customer(session)
    account = account_of(session, actor)
    for serial in range(30):
        stored_inbound(session, account, f"+4670111{serial:04d}", "x" * 200, received_at=now() - timedelta(minutes=serial))
    first = inbox.list_conversations(session, actor, now=now())
    second = inbox.list_conversations(session, actor, now=now(), page=2)
    assert first.total == 30 and len(first.items) == 25 and len(second.items) == 5
    assert not {item.id for item in first.items} & {item.id for item in second.items}
    assert len(first.items[0].latest_text) == inbox.PREVIEW and first.items[0].latest_text.endswith("…")


def test_unrouted_sms_of_the_provider_are_no_conversation(session: Session) -> None:
    seed_default_prices(session, now=now())
    provider = make_account(session, is_provider=True)
    # The provider's account has operators only; an actor with the inbox there (a system actor,
    # a role given later) still never sees the operator's queue.
    actor = Actor(kind="system", id=None, account_id=provider.id, account_name=provider.name, roles=frozenset(), is_provider=True)
    stored_inbound(session, provider, ANNA, "Okänt ärende", routed_by="unrouted")
    stored_inbound(session, provider, BO, "Svar till leverantören")
    listed = inbox.list_conversations(session, actor, now=now())
    assert [item.latest_text for item in listed.items] == ["Svar till leverantören"]
    assert inbox.unread_count(session, actor) == 1
    assert inbox.poll_inbound(session, actor, now=now()).items[0].text == "Svar till leverantören"


def test_roles_without_the_inbox_read_nothing(session: Session) -> None:
    actor = customer(session)
    stored_inbound(session, account_of(session, actor), ANNA, "Hej")
    for role in (Role.DPO, Role.AUDITOR):  # the admin reads the inbox (issue 14: senders and admins)
        user, _ = make_user(session, account_of(session, actor), roles={role})
        other = actor_for_user(user, account_of(session, actor))
        with pytest.raises(Forbidden):
            inbox.list_conversations(session, other, now=now())
        assert inbox.unread_count(session, other) == 0


def test_a_conversation_is_masked_and_shown_in_clear_only_on_request_each_recorded(session: Session) -> None:
    actor = customer(session)
    account = account_of(session, actor)
    first = stored_inbound(session, account, ANNA, "Hej igen", received_at=now() - timedelta(minutes=5))
    stored_inbound(session, account, ANNA, "STOPP", stop=True)
    masked = inbox.get_conversation(session, actor, first.subject_id, now=now())
    assert masked.number != ANNA and "*" in masked.number and masked.can_reply and masked.unread == 2
    assert [item.text for item in masked.messages.items] == ["STOPP", "Hej igen"]  # newest first
    assert all(ANNA not in item.number for item in masked.messages.items)
    [viewed] = audit_events(session, "inbound.viewed", actor.account_id)
    assert linked_subjects(session, viewed) == {first.subject_id} and not audit_events(session, "inbound.number_shown", actor.account_id)

    clear = inbox.get_conversation(session, actor, first.subject_id, now=now(), in_clear=True)
    assert clear.number == ANNA and clear.messages.items[0].number == ANNA
    [shown] = audit_events(session, "inbound.number_shown", actor.account_id)
    assert linked_subjects(session, shown) == {first.subject_id} and ANNA not in shown.details


def test_another_accounts_conversation_and_sms_are_not_found(session: Session) -> None:
    actor, other = customer(session), customer(session)
    theirs = stored_inbound(session, account_of(session, other), ANNA, "Inte ditt")
    assert theirs.id is not None
    for read in (
        lambda: inbox.get_conversation(session, actor, theirs.subject_id, now=now()),
        lambda: inbox.get_conversation(session, actor, theirs.subject_id, now=now(), in_clear=True),
        lambda: inbox.get_inbound(session, actor, theirs.id, now=now()),  # type: ignore[arg-type]
        lambda: inbox.mark_read(session, actor, theirs.subject_id, now=now()),
        lambda: inbox.mark_read(session, actor, theirs.subject_id, inbound_id=theirs.id, now=now()),
        lambda: inbox.reply(session, actor, "Hej", conversation_id=theirs.subject_id, public_url=URL, now=now()),
        lambda: inbox.reply(session, actor, "Hej", inbound_id=theirs.id, public_url=URL, now=now()),
    ):
        with pytest.raises(NotFound):
            read()
    assert inbox.poll_inbound(session, actor, now=now()).items == []
    assert inbox.find_conversation(session, actor, ANNA, now=now()) is None
    session.refresh(theirs)
    assert theirs.read_at is None
    assert session.execute(select(Dispatch).where(Dispatch.account_id == actor.account_id)).first() is None


def test_a_reply_shows_the_sms_it_answers(session: Session, connection: Connection, vault: Vault) -> None:
    actor = customer(session)
    dispatch_id = send_and_submit(session, connection, vault, actor, [ANNA], text="Kommer du på mötet i morgon?")
    [message] = session.execute(select(OutboundMessage).where(OutboundMessage.dispatch_id == dispatch_id)).scalars().all()
    session.refresh(message)
    reply = stored_inbound(session, account_of(session, actor), ANNA, "Ja, jag kommer", reply_to=message.id)
    [view] = inbox.get_conversation(session, actor, reply.subject_id, now=now()).messages.items
    assert view.original is not None
    assert (view.original.text, view.original.dispatch_id, view.original.sender) == ("Kommer du på mötet i morgon?", dispatch_id, "72323")
    assert view.original.sent_at == message.submitted_at
    # Another account's message id in the row (it cannot happen, but a read never crosses over).
    other = customer(session)
    crossed = stored_inbound(session, account_of(session, other), ANNA, "Svar", reply_to=message.id)
    [view] = inbox.get_conversation(session, other, crossed.subject_id, now=now()).messages.items
    assert view.original is None


def test_mark_one_sms_or_a_conversation_as_read(session: Session) -> None:
    actor = customer(session)
    account = account_of(session, actor)
    first = stored_inbound(session, account, ANNA, "Ett")
    stored_inbound(session, account, ANNA, "Två")
    stored_inbound(session, account, BO, "Tre")
    assert inbox.unread_count(session, actor) == 3
    assert inbox.mark_read(session, actor, first.subject_id, inbound_id=first.id, now=now()) == 1
    assert inbox.unread_count(session, actor) == 2
    assert inbox.mark_read(session, actor, first.subject_id, now=now()) == 1
    assert inbox.mark_read(session, actor, first.subject_id, now=now()) == 0  # nothing left unread: no error
    assert inbox.unread_count(session, actor) == 1
    bo = stored_inbound(session, account, BO, "Fyra")
    with pytest.raises(NotFound):  # an SMS of another conversation
        inbox.mark_read(session, actor, first.subject_id, inbound_id=bo.id, now=now())


def test_search_by_number_finds_the_conversation_and_is_recorded(session: Session) -> None:
    actor = customer(session)
    row = stored_inbound(session, account_of(session, actor), ANNA, "Hej")
    assert inbox.find_conversation(session, actor, "070-123 45 67", now=now()) == row.subject_id
    assert inbox.find_conversation(session, actor, BO, now=now()) is None  # no SMS from Bo
    events = audit_events(session, "inbound.searched", actor.account_id)
    assert [json.loads(event.details) for event in events] == [{"found": True}, {"found": False}]
    assert linked_subjects(session, events[0]) == {row.subject_id}
    for bad in ("", "   ", "07", "abc", "+4670\x00123"):
        with pytest.raises(InvalidInput) as refused:
            inbox.find_conversation(session, actor, bad, now=now())
        assert "number" in refused.value.fields


class Recording(LoopbackTransport):
    """The loopback transport, remembering what it was handed."""

    def __init__(self) -> None:
        super().__init__(report_delay=0)
        self.handed: list[Submission] = []

    def submit(self, batch: list[Submission]) -> list[SubmitResult]:
        self.handed.extend(batch)
        return super().submit(batch)


def submitted(session: Session, connection: Connection, vault: Vault) -> list[Submission]:
    session.flush()
    transport = Recording()
    outbox = Outbox(make_session_factory(connection, vault=vault), transport, public_url=URL)
    while outbox.run_once(now=now() + timedelta(seconds=1)):
        pass
    return transport.handed


def test_a_reply_goes_from_the_number_the_sms_arrived_on(session: Session, connection: Connection, vault: Vault) -> None:
    actor = customer(session)
    account = account_of(session, actor)
    swedish = stored_inbound(session, account, ANNA, "Fråga", destination="72323")
    summary = inbox.reply(session, actor, "Svar från kommunen", conversation_id=swedish.subject_id, public_url=URL, now=now())
    assert summary.accepted == 1 and summary.cost_minor > 0 and summary.dispatch_id is not None
    dispatch = session.get(Dispatch, summary.dispatch_id)
    assert dispatch is not None and dispatch.sender == "72323" and dispatch.channel == "inbox"
    norwegian = stored_inbound(session, account, "+4791234567", "Spørsmål", destination="1963")
    inbox.reply(session, actor, "Svar", inbound_id=norwegian.id, public_url=URL, now=now(), channel="api")
    virtual = VirtualNumber(number="+46766860001", account_id=actor.account_id, created_at=now())
    session.add(virtual)
    session.flush()
    direct = stored_inbound(session, account, BO, "Till vårt nummer", destination="46766860001", routed_by="virtual")
    inbox.reply(session, actor, "Svar", conversation_id=direct.subject_id, public_url=URL, now=now())
    handed = {item.recipient: item.sender for item in submitted(session, connection, vault)}
    assert handed == {ANNA: "72323", "+4791234567": "1963", BO: "46766860001"}


def test_a_blocked_number_is_refused_with_the_reason(session: Session) -> None:
    actor = customer(session)
    row = stored_inbound(session, account_of(session, actor), ANNA, "STOPP", stop=True)
    blocklist.block_number(session, actor, ANNA, source="stop", now=now())
    with pytest.raises(InvalidInput) as refused:
        inbox.reply(session, actor, "Men vänta", conversation_id=row.subject_id, public_url=URL, now=now())
    assert refused.value.recorded and "blocklist" in refused.value.message and "STOP" in refused.value.fields["text"]
    assert session.execute(select(Dispatch).where(Dispatch.account_id == actor.account_id)).first() is None
    [event] = audit_events(session, "dispatch.previewed", actor.account_id)
    assert linked_subjects(session, event) == {row.subject_id}


def test_a_reply_is_refused_without_send_or_to_a_sender_name(session: Session) -> None:
    actor = customer(session)
    account = account_of(session, actor)
    named = stored_inbound(session, account, "Posten", "Ditt paket")
    with pytest.raises(InvalidInput) as refused:
        inbox.reply(session, actor, "Tack", conversation_id=named.subject_id, public_url=URL, now=now())
    assert "text" in refused.value.fields
    assert not inbox.get_conversation(session, actor, named.subject_id, now=now()).can_reply
    row = stored_inbound(session, account, ANNA, "Hej")
    with pytest.raises(InvalidInput) as empty:
        inbox.reply(session, actor, "", conversation_id=row.subject_id, public_url=URL, now=now())
    assert empty.value.fields
    user, _ = make_user(session, account, roles={Role.ADMIN})
    with pytest.raises(Forbidden):
        inbox.reply(session, actor_for_user(user, account), "Hej", conversation_id=row.subject_id, public_url=URL, now=now())


def test_the_poll_cursor_is_stable_and_pages(session: Session) -> None:
    actor, other = customer(session), customer(session)
    account = account_of(session, actor)
    rows = [stored_inbound(session, account, number, f"SMS {serial}") for serial, number in enumerate([ANNA, BO, ANNA, CILLA, BO])]
    stored_inbound(session, account_of(session, other), ANNA, "Annat konto")
    first = inbox.poll_inbound(session, actor, limit=2, now=now())
    assert [item.text for item in first.items] == ["SMS 0", "SMS 1"] and first.more and first.cursor == rows[1].id
    assert [item.number for item in first.items] == [ANNA, BO]  # in clear for the API
    again = inbox.poll_inbound(session, actor, limit=2, now=now())
    assert [item.id for item in again.items] == [item.id for item in first.items] and again.cursor == first.cursor
    second = inbox.poll_inbound(session, actor, after=first.cursor, limit=2, now=now())
    third = inbox.poll_inbound(session, actor, after=second.cursor, limit=2, now=now())
    assert [item.text for item in second.items] == ["SMS 2", "SMS 3"] and second.more
    assert [item.text for item in third.items] == ["SMS 4"] and not third.more
    empty = inbox.poll_inbound(session, actor, after=third.cursor, limit=2, now=now())
    assert empty.items == [] and empty.cursor == third.cursor and not empty.more
    late = stored_inbound(session, account, CILLA, "Sent inkommet")
    assert [item.id for item in inbox.poll_inbound(session, actor, after=empty.cursor, now=now()).items] == [late.id]
    events = audit_events(session, "inbound.number_shown", actor.account_id)
    assert len(events) == 5  # one per page that held SMS; the empty page is no read
    assert linked_subjects(session, events[0]) == {rows[0].subject_id, rows[1].subject_id}
    assert all(ANNA not in event.details for event in events)


@pytest.mark.parametrize(("after", "limit", "field"), [(-1, 10, "after"), (2**63, 10, "after"), (0, 0, "limit"), (0, 501, "limit")])
def test_the_poll_refuses_cursors_and_limits_out_of_range(session: Session, after: int, limit: int, field: str) -> None:
    actor = customer(session)
    with pytest.raises(InvalidInput) as refused:
        inbox.poll_inbound(session, actor, after=after, limit=limit, now=now())
    assert field in refused.value.fields


def test_an_sms_that_cannot_be_read_is_marked_and_recorded(session: Session) -> None:
    actor = customer(session)
    row = stored_inbound(session, account_of(session, actor), ANNA, "Hej")
    other = stored_inbound(session, account_of(session, actor), BO, "Annat")
    row.text_ct = other.text_ct  # moved in from another row: does not open
    session.add(row)
    session.flush()
    [view] = inbox.get_conversation(session, actor, row.subject_id, now=now()).messages.items
    assert view.unreadable and view.text == "cannot be read"
    assert audit_events(session, "data.unreadable", actor.account_id)
    listed = {item.id: item for item in inbox.list_conversations(session, actor, now=now()).items}
    assert listed[row.subject_id].unreadable and not listed[other.subject_id].unreadable
    assert session.get(InboundMessage, row.id) is not None


def test_a_routed_reply_lands_in_the_inbox_under_the_sms_it_answers(session: Session, connection: Connection, vault: Vault) -> None:
    """The whole way: sent from 72323 through the loopback transport (the outbox writes the reply
    route), answered, routed; the inbox shows it under that SMS, and the answer to it goes back."""
    from govsms.receiving.service import route_inbound

    actor, other = customer(session), customer(session)
    send_and_submit(session, connection, vault, other, [ANNA], text="Från det andra kontot")
    send_and_submit(session, connection, vault, actor, [ANNA], text="Vill du boka en tid?")
    routed = route_inbound(
        session, source_e164="46701234567", destination="72323", text="Ja tack", transport="loopback", provider_ref=None, parts=1,
        now=now() + timedelta(seconds=2),
    )
    assert routed is not None and routed.account_id == actor.account_id  # the account that sent last
    [conversation] = inbox.list_conversations(session, actor, now=now()).items
    assert conversation.latest_text == "Ja tack" and conversation.unread == 1
    assert inbox.list_conversations(session, other, now=now()).items == []
    [view] = inbox.get_conversation(session, actor, conversation.id, now=now()).messages.items
    assert view.original is not None and view.original.text == "Vill du boka en tid?"
    inbox.reply(session, actor, "Välkommen på tisdag", conversation_id=conversation.id, public_url=URL, now=now())
    assert [(item.recipient, item.sender) for item in submitted(session, connection, vault)] == [(ANNA, "72323")]


def test_the_poll_never_moves_past_an_sms_still_being_committed(own_database_url: str, tmp_path: Path) -> None:
    """PostgreSQL takes ids before transactions commit: an SMS with a lower id may commit after
    one with a higher id. The poll stops before the first SMS whose transaction may have a lower
    id still running, so the cursor never passes an SMS that commits later."""
    if not own_database_url.startswith("postgresql"):
        not_applicable("SQLite commits one writer at a time, ids in their order")
    engine = make_engine(own_database_url)
    factory = make_session_factory(engine, vault=Vault(load_key_ring(make_settings(tmp_path))))
    try:
        with session_scope(factory) as setup:
            actor = customer(setup)
        slow, fast = factory(), factory()
        first = stored_inbound(slow, actor.account_id, ANNA, "Långsam")  # id taken, not committed
        second = stored_inbound(fast, actor.account_id, BO, "Snabb")
        fast.commit()
        assert first.id is not None and second.id is not None and first.id < second.id
        with session_scope(factory) as poller:
            early = inbox.poll_inbound(poller, actor, now=now())
        assert early.items == [] and early.cursor == 0 and not early.more  # not [Snabb] with the cursor past Långsam
        slow.commit()
        with session_scope(factory) as poller:
            settled = inbox.poll_inbound(poller, actor, now=now())
        assert [item.text for item in settled.items] == ["Långsam", "Snabb"] and settled.cursor == second.id
        slow.close()
        fast.close()
    finally:
        engine.dispose()
