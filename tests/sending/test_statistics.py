"""Statistics (issue 12 item 4): the roll-up per account, day (the account's time zone), country,
sender kind and status; re-running replaces a day; complete days for the purge. Both backends."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select, update
from sqlmodel import Session, col

from govsms.accounts.models import Account
from govsms.db import make_engine, make_session_factory, session_scope, table_of
from govsms.keys.store import Vault
from govsms.sending.dispatch import DispatchRequest, create_dispatch
from govsms.sending.models import OutboundMessage, StatisticsDay
from govsms.sending.pricing import seed_default_prices
from govsms.sending.statistics import purge_statistics, report, roll_up, rolled_up_through
from govsms.sending.status import MessageStatus
from tests.factories import make_account, system

WINTER_EVENING = datetime(2026, 1, 14, 23, 30, tzinfo=UTC)
"""00:30 on 15 January in Stockholm."""


def send(session: Session, account, numbers: list[str], *, at: datetime, text: str = "Hej") -> int:  # type: ignore[no-untyped-def]
    request = DispatchRequest(sender="Skolan", text=text, numbers=numbers)
    return create_dispatch(session, system(account), request, public_url="https://sms.example", now=at).dispatch_id  # type: ignore[return-value]


def rows(session: Session, account_id: int) -> list[tuple[date, str, str, str, int, int, int, int, int, int]]:
    table = StatisticsDay
    return [tuple(row) for row in session.execute(  # type: ignore[misc]
        select(table.day, table.country, table.sender_kind, table.status, table.messages, table.parts, table.cost_minor,
               table.delivered, table.failed, table.blocked)
        .where(col(table.account_id) == account_id).order_by(table.day, table.country, table.status)
    ).all()]


def set_status(session: Session, dispatch_id: int, status: str, limit: int) -> None:
    query = select(OutboundMessage.id).where(OutboundMessage.dispatch_id == dispatch_id).order_by(OutboundMessage.id).limit(limit)
    ids = session.execute(query).scalars().all()
    session.execute(update(OutboundMessage).where(col(OutboundMessage.id).in_(ids)).values(status=status))


def test_a_message_at_half_past_eleven_utc_in_winter_counts_on_the_next_stockholm_day(session: Session) -> None:
    seed_default_prices(session, now=WINTER_EVENING)
    account = make_account(session)
    send(session, account, ["0701234567"], at=WINTER_EVENING)
    send(session, account, ["0701234568"], at=WINTER_EVENING - timedelta(hours=1))  # 23:30 on the 14th in Stockholm
    roll_up(session, now=WINTER_EVENING + timedelta(days=2))
    days = {row[0]: row[4] for row in rows(session, account.id)}  # type: ignore[arg-type]
    assert days == {date(2026, 1, 14): 1, date(2026, 1, 15): 1}


def test_a_summer_day_and_another_time_zone(session: Session) -> None:
    summer = datetime(2026, 7, 1, 22, 30, tzinfo=UTC)  # 00:30 on 2 July in Stockholm (UTC+2)
    seed_default_prices(session, now=summer)
    stockholm, new_york = make_account(session), make_account(session)
    new_york.timezone = "America/New_York"
    session.add(new_york)
    session.flush()
    send(session, stockholm, ["0701234567"], at=summer)
    send(session, new_york, ["0701234567"], at=summer)  # 18:30 on 1 July in New York
    roll_up(session, now=summer + timedelta(days=3))
    assert [row[0] for row in rows(session, stockholm.id)] == [date(2026, 7, 2)]  # type: ignore[arg-type]
    assert [row[0] for row in rows(session, new_york.id)] == [date(2026, 7, 1)]  # type: ignore[arg-type]


def test_counts_parts_cost_and_statuses_and_a_rerun_replaces_the_day(session: Session) -> None:
    day = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
    seed_default_prices(session, now=day)
    account, other = make_account(session), make_account(session)
    long_text = "Hej! " * 60  # several parts
    first = send(session, account, ["0701000001", "0701000002", "0701000003", "+4791234567"], at=day, text=long_text)
    send(session, other, ["0701000001"], at=day)
    set_status(session, first, MessageStatus.DELIVERED, 2)
    roll_up(session, now=day + timedelta(days=1))
    stored = rows(session, account.id)  # type: ignore[arg-type]
    messages = session.execute(select(OutboundMessage).where(OutboundMessage.dispatch_id == first)).scalars().all()
    assert sum(row[4] for row in stored) == 4
    assert sum(row[5] for row in stored) == sum(message.parts for message in messages) > 4
    assert sum(row[6] for row in stored) == sum(message.cost_minor for message in messages) > 0
    assert sum(row[7] for row in stored) == 2
    assert {row[1] for row in stored} == {"SE", "NO"}
    assert {row[2] for row in stored} == {"alphanumeric"}
    again = rows(session, account.id)  # type: ignore[arg-type]
    roll_up(session, now=day + timedelta(days=1), account_id=account.id)
    assert rows(session, account.id) == again  # type: ignore[arg-type]
    set_status(session, first, MessageStatus.FAILED, 4)  # a later run of the same (unfinished) day replaces it
    roll_up(session, now=day + timedelta(hours=2))
    stored = rows(session, account.id)  # type: ignore[arg-type]
    assert sum(row[8] for row in stored) == 4 and sum(row[7] for row in stored) == 0 and sum(row[4] for row in stored) == 4
    assert sum(row[4] for row in rows(session, other.id)) == 1  # type: ignore[arg-type]
    figures = report(session, system(account), start=day.date(), end=day.date())
    assert figures.totals.messages == 4 and figures.totals.failed == 4
    assert report(session, system(other), start=day.date(), end=day.date()).totals.messages == 1


def test_blocked_recipients_are_counted(session: Session) -> None:
    from govsms.sending.blocklist import block_number

    day = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
    seed_default_prices(session, now=day)
    account = make_account(session)
    block_number(session, system(account), "0701000002", source="manual", now=day)
    dispatch_id = send(session, account, ["0701000001", "0701000002"], at=day)
    set_status(session, dispatch_id, MessageStatus.BLOCKED, 1)
    roll_up(session, now=day + timedelta(days=1))
    stored = rows(session, account.id)  # type: ignore[arg-type]
    assert sum(row[9] for row in stored) == 2  # one refused at the dispatch, one blocked after queueing
    assert sum(row[4] for row in stored) == 1


def test_complete_days_for_the_purge(session: Session) -> None:
    day = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
    seed_default_prices(session, now=day)
    account = make_account(session)
    assert rolled_up_through(session, account.id) is None  # type: ignore[arg-type]
    dispatch_id = send(session, account, ["0701000001"], at=day)
    roll_up(session, now=day + timedelta(hours=1))
    assert rolled_up_through(session, account.id) is None  # type: ignore[arg-type]  # the day has not ended
    roll_up(session, now=day + timedelta(days=3))
    assert rolled_up_through(session, account.id) is None  # type: ignore[arg-type]  # its message is still queued
    set_status(session, dispatch_id, MessageStatus.DELIVERED, 1)
    roll_up(session, now=day + timedelta(days=3))
    assert rolled_up_through(session, account.id) == date(2026, 3, 12)  # type: ignore[arg-type]
    assert sum(row[7] for row in rows(session, account.id)) == 1  # type: ignore[arg-type]


def test_a_day_waiting_for_a_scheduled_message_is_rolled_up_again_and_later_days_are_purgeable(session: Session) -> None:
    from govsms.sending.models import Dispatch
    from govsms.sending.statistics import purgeable

    day = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
    seed_default_prices(session, now=day)
    account = make_account(session)
    request = DispatchRequest(sender="Skolan", text="Hej", numbers=["0701000001"], send_at=day + timedelta(days=200))
    scheduled = create_dispatch(session, system(account), request, public_url="https://sms.example", now=day).dispatch_id
    later = send(session, account, ["0701000002"], at=day + timedelta(days=2))
    set_status(session, later, MessageStatus.DELIVERED, 1)
    roll_up(session, now=day + timedelta(days=5))
    assert rolled_up_through(session, account.id) is None  # type: ignore[arg-type]  # its first day waits
    created = col(OutboundMessage.created_at)
    conditions = purgeable(session, account.id, created, day + timedelta(days=30))  # type: ignore[arg-type]
    assert conditions is not None
    found = set(session.execute(select(col(OutboundMessage.dispatch_id)).where(*conditions)).scalars())
    assert found == {later}  # the later complete day may go, the waiting one not
    dispatches = purgeable(session, account.id, col(Dispatch.created_at), day + timedelta(days=30))  # type: ignore[arg-type]
    assert set(session.execute(select(col(Dispatch.id)).where(*dispatches or [])).scalars()) == {later}
    assert sum(row[4] for row in rows(session, account.id) if row[3] == MessageStatus.SCHEDULED) == 1  # type: ignore[arg-type]

    set_status(session, scheduled, MessageStatus.DELIVERED, 1)  # sent at last
    roll_up(session, now=day + timedelta(days=6))
    assert rolled_up_through(session, account.id) == date(2026, 3, 15)  # type: ignore[arg-type]
    stored = rows(session, account.id)  # type: ignore[arg-type]
    assert [row[0] for row in stored if row[7]] == [date(2026, 3, 10), date(2026, 3, 12)]  # the waiting day was rolled up again
    assert not [row for row in stored if row[3] == MessageStatus.SCHEDULED]
    conditions = purgeable(session, account.id, created, day + timedelta(days=30))  # type: ignore[arg-type]
    assert set(session.execute(select(col(OutboundMessage.dispatch_id)).where(*conditions or [])).scalars()) == {scheduled, later}


def test_the_roll_up_holds_no_number_or_text_and_its_old_days_can_be_purged(session: Session) -> None:
    columns = set(table_of(StatisticsDay).c.keys())
    assert columns == {"id", "account_id", "day", "country", "sender_kind", "status", "messages", "parts", "cost_minor", "delivered",
                       "failed", "blocked"}
    day = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
    seed_default_prices(session, now=day)
    account, other = make_account(session), make_account(session)
    for when in (day, day + timedelta(days=1)):
        send(session, account, ["0701000001"], at=when)
        send(session, other, ["0701000001"], at=when)
    roll_up(session, now=day + timedelta(days=2))
    assert purge_statistics(session, account.id, before=date(2026, 3, 11)) == 1  # type: ignore[arg-type]
    assert [row[0] for row in rows(session, account.id)] == [date(2026, 3, 11)]  # type: ignore[arg-type]
    assert len(rows(session, other.id)) == 2  # type: ignore[arg-type]


def test_two_roll_ups_of_an_account_at_once_both_succeed(own_database_url: str, vault: Vault) -> None:
    """The 15-minute job and the nightly one (or two workers) at the same moment: the second waits
    for the first and replaces its rows; neither is refused a duplicate."""
    engine = make_engine(own_database_url)
    factory = make_session_factory(engine, vault=vault)
    day = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
    with session_scope(factory) as session:
        seed_default_prices(session, now=day)
        account = make_account(session)
        account_id = account.id
        for _ in range(20):
            send(session, account, ["0701000001", "0701000002"], at=day)
    start = threading.Barrier(4)
    failures: list[BaseException] = []

    def run() -> None:
        try:
            with session_scope(factory) as session:
                start.wait()
                roll_up(session, now=day + timedelta(hours=3))
        except BaseException as failure:  # noqa: BLE001  (the test reports it)
            failures.append(failure)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not failures, failures
    with session_scope(factory) as session:
        assert sum(row[4] for row in rows(session, account_id)) == 40  # type: ignore[arg-type]
    engine.dispose()


@pytest.mark.parametrize(("day", "inside", "outside"), [
    # 23 hours: Stockholm's day begins at 23:00 UTC (CET) and ends at 22:00 UTC (CEST)
    (date(2026, 3, 29), [datetime(2026, 3, 28, 23, 0, tzinfo=UTC), datetime(2026, 3, 29, 21, 59, tzinfo=UTC)],
     [datetime(2026, 3, 28, 22, 59, tzinfo=UTC), datetime(2026, 3, 29, 22, 30, tzinfo=UTC)]),  # 23:59 on the 28th, 00:30 on the 30th
    # 25 hours: it begins at 22:00 UTC (CEST) and ends at 23:00 UTC (CET)
    (date(2026, 10, 25), [datetime(2026, 10, 24, 22, 0, tzinfo=UTC), datetime(2026, 10, 25, 22, 30, tzinfo=UTC)],  # 00:00, 23:30
     [datetime(2026, 10, 24, 21, 59, tzinfo=UTC), datetime(2026, 10, 25, 23, 0, tzinfo=UTC)]),  # 23:59 on the 24th, 00:00 on the 26th
])
def test_a_day_when_the_clocks_change_lists_its_own_messages(session: Session, day: date, inside: list[datetime],
                                                             outside: list[datetime]) -> None:
    """The day's SMS (statistics_detail, history.list_messages) are those of the Stockholm day,
    23 or 25 hours long, as the roll-up counts them."""
    from govsms.sending.history import list_messages
    from govsms.sending.statistics import day_range
    from govsms.sending.statistics_detail import day_messages

    seed_default_prices(session, now=min(outside))
    account = make_account(session)
    numbers = iter(f"07012340{index:02d}" for index in range(10))
    dispatches = [send(session, account, [next(numbers)], at=at) for at in inside]
    for at in outside:
        send(session, account, [next(numbers)], at=at)
    expected = set(session.execute(select(OutboundMessage.id).where(col(OutboundMessage.dispatch_id).in_(dispatches))).scalars())
    start, end = day_range(day, None)
    assert end - start == (timedelta(hours=23) if day.month == 3 else timedelta(hours=25))
    actor = system(account)
    listed = list_messages(session, actor, now=max(outside), created_between=(start, end))
    assert {item.id for item in listed.items} == expected and listed.total == 2
    shown = day_messages(session, actor, day, now=max(outside))
    assert {item.message.id for item in shown.items} == expected and shown.total == 2
    roll_up(session, now=max(outside) + timedelta(days=2))
    assert report(session, actor, start=day, end=day).totals.messages == 2  # the roll-up's day is the same


def test_an_accounts_messages_are_read_by_time_through_one_index(session: Session) -> None:
    """(account_id, created_at), on both backends, and no second index that starts with
    account_id; SQLite's plan for a day's messages searches it by both columns."""
    from sqlalchemy import inspect, text

    indexes = inspect(session.connection()).get_indexes("outbound_message")
    by_account = [index["column_names"] for index in indexes if index["column_names"][0] == "account_id"]
    assert by_account == [["account_id", "created_at"]], indexes
    if session.get_bind().dialect.name == "sqlite":
        plan = " ".join(str(row[-1]) for row in session.execute(text(
            "EXPLAIN QUERY PLAN SELECT id FROM outbound_message WHERE account_id = 1 AND created_at >= '2026-03-28' AND created_at < '2026-03-29'"
        )))
        assert "ix_outbound_message_account_created (account_id=? AND created_at>? AND created_at<?)" in plan, plan


def test_the_scheduled_roll_up_takes_each_account_in_its_own_transaction(own_database_url: str, vault: Vault) -> None:
    """roll_up_each (the scheduler's) writes what roll_up writes, a transaction per account: the
    commits counted on the engine are one for the list of accounts and one per account."""
    from sqlalchemy import event

    from govsms.sending.statistics import roll_up_each

    engine = make_engine(own_database_url)
    factory = make_session_factory(engine, vault=vault)
    day = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
    with session_scope(factory) as session:
        seed_default_prices(session, now=day)
        first, second = make_account(session), make_account(session)
        ids = (first.id, second.id)
        send(session, first, ["0701000001", "0701000002"], at=day)
        send(session, second, ["0701000003"], at=day)
        accounts = session.execute(select(func.count()).select_from(Account)).scalar_one()
    commits: list[object] = []
    event.listen(engine, "commit", lambda connection: commits.append(connection))
    assert roll_up_each(factory, now=day + timedelta(hours=3)) > 0
    assert len(commits) == 1 + accounts
    with session_scope(factory) as session:
        assert [sum(row[4] for row in rows(session, account_id)) for account_id in ids] == [2, 1]
    engine.dispose()
