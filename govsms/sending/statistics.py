"""Statistics of sent SMS: the roll-up per account, day (the account's time zone), country, sender
kind and status, which outlives the messages it counts, and the figures read from it.

``roll_up`` reads the messages in a few aggregate queries per account (one GROUP BY per run of up
to 31 days: each message's local day is a CASE over the UTC instants the account's days begin at,
so SQLite and PostgreSQL bucket alike, daylight saving included) and replaces those days' rows.
A day is complete once it has ended and none of its messages waits (scheduled, queued, sending,
or sent without a report). Each run rolls up the days since the last ended day it rolled up and
again the days that still waited (``StatisticsProgress.waiting_days``), in bulk either way, so a
message scheduled months ahead keeps only the day it was made on open. ``purgeable`` gives the
purge of sent SMS its bounds: the days rolled up after they ended except the waiting ones (a purge
never removes a day not rolled up); ``rolled_up_through`` names the last day up to which every day
is complete. A complete day is not rolled up again (its messages may be purged), so a report that
changes an ``unknown`` message of a complete day to ``delivered`` is not counted.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Integer, and_, case, delete, func, insert, literal, not_, or_, select
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session, col

from govsms.accounts.models import Account
from govsms.auth import Actor, Permission, require
from govsms.clock import zone
from govsms.db import insert_unless_taken, rowcount, session_scope, table_of
from govsms.errors import InvalidInput
from govsms.i18n import _
from govsms.sending.models import Dispatch, OutboundMessage, StatisticsDay, StatisticsProgress
from govsms.sending.status import MessageStatus
from govsms.tenancy import owned_by, scoped

PENDING = (MessageStatus.SCHEDULED, MessageStatus.QUEUED, MessageStatus.SENDING, MessageStatus.SENT)
"""Statuses a message leaves later: a day with such a message is not complete."""
FAILED = (MessageStatus.FAILED, MessageStatus.EXPIRED)
CHUNK_DAYS = 31
"""Days per aggregate query (the CASE has one branch per day)."""
MAX_SKIPPED_RUNS = 100
"""Runs of waiting days a purge steps over; it stops before a later one (the next purge gets on)."""
MAX_RANGE_DAYS = 1100
"""The longest range a page or the API reads (the statistics are kept 36 months by default)."""
GROUPS = ("day", "country", "sender_kind", "status")


def day_start(day: date, timezone: ZoneInfo) -> datetime:
    """The UTC instant ``day`` begins at in ``timezone``."""
    return datetime.combine(day, time(), tzinfo=timezone).astimezone(UTC)


def local_day(moment: datetime, timezone: ZoneInfo) -> date:
    return moment.astimezone(timezone).date()


def _days(first: date, last: date) -> Iterator[date]:
    for offset in range((last - first).days + 1):
        yield first + timedelta(days=offset)


def _runs(days: list[date]) -> list[tuple[date, date]]:
    """The first and last day of each run of consecutive days in ``days`` (ascending)."""
    runs: list[tuple[date, date]] = []
    for day in days:
        if runs and runs[-1][1] + timedelta(days=1) == day:
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs


def _within(column: Any, runs: list[tuple[date, date]], timezone: ZoneInfo) -> Any:
    """``column`` falls on a day of one of ``runs``."""
    ranges = [and_(column >= day_start(first, timezone), column < day_start(last + timedelta(days=1), timezone)) for first, last in runs]
    return ranges[0] if len(ranges) == 1 else or_(*ranges)


def _day_of(column: Any, days: list[date], timezone: ZoneInfo) -> tuple[Any, Any]:
    """A CASE giving the index in ``days`` (ascending, gaps allowed) of the local day ``column``
    falls on, and the condition that it falls on one of them."""
    last = literal(len(days) - 1, Integer)
    if len(days) == 1:
        return last, _within(column, _runs(days), timezone)
    ends = [day_start(day + timedelta(days=1), timezone) for day in days]
    index = case(*((column < ends[position], literal(position, Integer)) for position in range(len(days) - 1)), else_=last)
    return index, _within(column, _runs(days), timezone)


def _parse_days(text: str) -> list[date]:
    return sorted(date.fromisoformat(day) for day in text.split())


def _rolled_through(progress: StatisticsProgress) -> date | None:
    """The last ended day rolled up (a row written with only ``complete_through`` set: that day)."""
    return progress.rolled_through or progress.complete_through


def _roll_up_days(session: Session, account_id: int, days: list[date], timezone: ZoneInfo) -> tuple[int, set[date]]:
    """Replace the rows of ``days`` (ascending) of one account; the rows written and the days
    that have a message still waiting."""
    created = col(OutboundMessage.created_at)
    index, on_days = _day_of(created, days, timezone)
    inner = (
        select(index.label("day_index"), col(OutboundMessage.country), col(OutboundMessage.sender_kind), col(OutboundMessage.status),
               col(OutboundMessage.parts), col(OutboundMessage.cost_minor))
        .where(owned_by(OutboundMessage, account_id), on_days)
        .subquery()
    )
    messages = session.execute(
        select(inner.c.day_index, inner.c.country, inner.c.sender_kind, inner.c.status, func.count(), func.sum(inner.c.parts),
               func.sum(inner.c.cost_minor))
        .group_by(inner.c.day_index, inner.c.country, inner.c.sender_kind, inner.c.status)
    ).all()
    dispatch_created = col(Dispatch.created_at)
    dispatch_index, dispatch_on_days = _day_of(dispatch_created, days, timezone)
    refused = (
        select(dispatch_index.label("day_index"), col(Dispatch.blocked))
        .where(owned_by(Dispatch, account_id), dispatch_on_days, col(Dispatch.blocked) > 0)
        .subquery()
    )
    blocked_at_dispatch = session.execute(select(refused.c.day_index, func.sum(refused.c.blocked)).group_by(refused.c.day_index)).all()
    rows: list[dict[str, Any]] = []
    waiting: set[date] = set()
    for day_index, country, sender_kind, status, count, parts, cost in messages:
        day = days[int(day_index)]
        if status in PENDING:
            waiting.add(day)
        rows.append({
            "account_id": account_id, "day": day, "country": country, "sender_kind": sender_kind, "status": status,
            "messages": int(count), "parts": int(parts or 0), "cost_minor": int(cost or 0),
            "delivered": int(count) if status == MessageStatus.DELIVERED else 0,
            "failed": int(count) if status in FAILED else 0, "blocked": int(count) if status == MessageStatus.BLOCKED else 0,
        })
    for day_index, blocked in blocked_at_dispatch:
        rows.append({
            "account_id": account_id, "day": days[int(day_index)], "country": "", "sender_kind": "", "status": MessageStatus.BLOCKED,
            "messages": 0, "parts": 0, "cost_minor": 0, "delivered": 0, "failed": 0, "blocked": int(blocked or 0),
        })
    day_column = col(StatisticsDay.day)
    session.execute(delete(StatisticsDay).where(owned_by(StatisticsDay, account_id), day_column.in_(days)))
    if rows:
        session.execute(insert(table_of(StatisticsDay)), rows)
    return len(rows), waiting


def _first_day(session: Session, account_id: int, timezone: ZoneInfo, today: date) -> date:
    """The day of the account's first dispatch still stored (today when there is none)."""
    first = session.execute(select(func.min(col(Dispatch.created_at))).where(owned_by(Dispatch, account_id))).scalar_one_or_none()
    if first is None:
        return today
    if isinstance(first, datetime) and first.tzinfo is None:  # an aggregate bypasses the column's type on SQLite
        first = first.replace(tzinfo=UTC)
    elif isinstance(first, str):
        first = datetime.fromisoformat(first).replace(tzinfo=UTC)
    return min(local_day(cast(datetime, first), timezone), today)


def roll_up_account(session: Session, account_id: int, timezone_name: str | None, *, now: datetime) -> int:
    """Roll up one account: the days that still waited, and the days from the one after the last
    ended day rolled up through today; the rows written."""
    timezone = zone(timezone_name)
    today = local_day(now, timezone)
    # One roll-up of an account at a time (the 15-minute job and the nightly one, on any number of
    # workers): the second waits here for the first to commit, then replaces what it wrote.
    insert_unless_taken(session, table_of(StatisticsProgress), {"account_id": account_id})
    progress = session.execute(
        select(StatisticsProgress).where(owned_by(StatisticsProgress, account_id)).with_for_update().execution_options(populate_existing=True)
    ).scalars().one()
    rolled = _rolled_through(progress)
    if rolled is None:
        first = _first_day(session, account_id, timezone, today)
    else:
        first = rolled + timedelta(days=1)  # a complete day is never rolled up again
    new_days = list(_days(first, today))
    all_days = [*(day for day in _parse_days(progress.waiting_days) if day < first), *new_days]
    written = 0
    waiting: set[date] = set()
    for chunk_start in range(0, len(all_days), CHUNK_DAYS):
        count, pending = _roll_up_days(session, account_id, all_days[chunk_start:chunk_start + CHUNK_DAYS], timezone)
        written += count
        waiting |= pending
    waiting = {day for day in waiting if day < today}  # today has not ended: it is rolled up again anyway
    ended = [day for day in new_days if day < today]
    progress.rolled_through = ended[-1] if ended else rolled
    progress.waiting_days = " ".join(day.isoformat() for day in sorted(waiting))
    complete = progress.complete_through
    if all_days and progress.rolled_through is not None:
        start = all_days[0] if complete is None else complete + timedelta(days=1)
        for day in _days(start, progress.rolled_through):
            if day in waiting:
                break
            complete = day
    progress.complete_through = complete
    progress.checked_at = now
    session.add(progress)
    session.flush()
    return written


def roll_up(session: Session, *, now: datetime, account_id: int | None = None) -> int:
    """Roll up every account (or one): the days since each one's last complete day through
    today, in its time zone. Running it again replaces the same days. The rows written."""
    accounts = select(col(Account.id), col(Account.timezone)).order_by(col(Account.id))
    if account_id is not None:
        accounts = accounts.where(col(Account.id) == account_id)
    written = 0
    for found_id, timezone_name in session.execute(accounts).all():
        written += roll_up_account(session, found_id, timezone_name, now=now)
    return written


def roll_up_each(factory: sessionmaker[Session], *, now: datetime) -> int:
    """``roll_up`` with a transaction per account (the scheduler's jobs): no write turn (SQLite)
    or progress-row lock is held across every account's aggregate queries. The rows written."""
    with session_scope(factory) as session:
        accounts = session.execute(select(col(Account.id), col(Account.timezone)).order_by(col(Account.id))).all()
    written = 0
    for account_id, timezone_name in accounts:
        with session_scope(factory) as session:
            written += roll_up_account(session, account_id, timezone_name, now=now)
    return written


def rolled_up_through(session: Session, account_id: int) -> date | None:
    """The last day (the account's time zone) up to which every day has ended, has no message
    still waiting, and is rolled up. None: no day yet."""
    progress = session.get(StatisticsProgress, account_id)
    return progress.complete_through if progress is not None else None


def purgeable(session: Session, account_id: int, column: Any, before: datetime) -> list[Any] | None:
    """Conditions on ``column`` (the ``created_at`` of the account's messages or dispatches) that
    keep a purge to the instants before ``before`` on days rolled up after they ended with no
    message waiting: a purge never removes a day not rolled up, and a day waiting for a message
    scheduled far ahead is stepped over, not a bar to the days after it. None: nothing may go."""
    progress = session.get(StatisticsProgress, account_id)
    rolled = _rolled_through(progress) if progress is not None else None
    if progress is None or rolled is None:
        return None
    timezone = zone(session.execute(select(col(Account.timezone)).where(col(Account.id) == account_id)).scalar())
    cap = min(before, day_start(rolled + timedelta(days=1), timezone))
    runs = [run for run in _runs(_parse_days(progress.waiting_days)) if day_start(run[0], timezone) < cap]
    if len(runs) > MAX_SKIPPED_RUNS:
        cap = day_start(runs[MAX_SKIPPED_RUNS][0], timezone)
        runs = runs[:MAX_SKIPPED_RUNS]
    return [column < cap, not_(_within(column, runs, timezone))] if runs else [column < cap]


def purge_statistics(session: Session, account_id: int, *, before: date) -> int:
    """Delete one account's statistics of the days before ``before`` (their storage time, category
    ``statistics``, is up); the rows deleted."""
    return rowcount(session.execute(delete(StatisticsDay).where(owned_by(StatisticsDay, account_id), col(StatisticsDay.day) < before)))


# -- reading -------------------------------------------------------------------------------------


@dataclass
class Figures:
    """Sums over some rows of the roll-up."""

    key: str = ""
    """The day (ISO), country, sender kind or status the figures are for; empty for totals."""
    messages: int = 0
    parts: int = 0
    cost_minor: int = 0
    delivered: int = 0
    failed: int = 0
    blocked: int = 0

    def add(self, other: Figures) -> None:
        for name in ("messages", "parts", "cost_minor", "delivered", "failed", "blocked"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class Report:
    start: date
    end: date
    group_by: str
    rows: list[Figures] = field(default_factory=list)
    totals: Figures = field(default_factory=Figures)


FIRST_DAY = date(1970, 1, 1)
LAST_DAY = date(9998, 12, 31)
"""The days figures can be asked for: a day's bounds in UTC must exist for every time zone."""


def check_day(day: date, field: str) -> None:
    """Refuses a day outside ``FIRST_DAY``..``LAST_DAY`` (naming ``field``)."""
    if not FIRST_DAY <= day <= LAST_DAY:
        message = _("Choose a date from %(first)s to %(last)s.") % {"first": FIRST_DAY.isoformat(), "last": LAST_DAY.isoformat()}
        raise InvalidInput(message, fields={field: message})


def check_range(start: date, end: date) -> None:
    check_day(start, "from")
    check_day(end, "to")
    if end < start:
        raise InvalidInput(_("The end date is before the start date."), fields={"to": _("Choose a date on or after the start date.")})
    if (end - start).days >= MAX_RANGE_DAYS:
        raise InvalidInput(_("Choose at most %(days)d days.") % {"days": MAX_RANGE_DAYS},
                           fields={"from": _("Choose at most %(days)d days.") % {"days": MAX_RANGE_DAYS}})


def report(session: Session, actor: Actor, *, start: date, end: date, group_by: str = "day") -> Report:
    """The actor's account's figures from ``start`` through ``end`` (its days), one row per day
    (every day, empty ones too), country, sender kind or status, and their totals."""
    require(actor, Permission.STATS)
    check_range(start, end)
    if group_by not in GROUPS:
        raise InvalidInput(_("Unknown grouping."), fields={"group_by": _("Choose day, country, sender_kind or status.")})
    table = table_of(StatisticsDay)
    key_column = table.c[group_by]
    query = (
        scoped(table, actor, key_column, func.sum(table.c.messages), func.sum(table.c.parts), func.sum(table.c.cost_minor),
               func.sum(table.c.delivered), func.sum(table.c.failed), func.sum(table.c.blocked))
        .where(table.c.day >= start, table.c.day <= end)
        .group_by(key_column).order_by(key_column)
    )
    found: dict[str, Figures] = {}
    for key, *sums in session.execute(query).all():
        text = key.isoformat() if isinstance(key, date) else str(key)
        found[text] = Figures(text, *(int(value or 0) for value in sums))
    result = Report(start=start, end=end, group_by=group_by)
    result.rows = [found.get(day.isoformat(), Figures(day.isoformat())) for day in _days(start, end)] if group_by == "day" else list(found.values())
    for row in result.rows:
        result.totals.add(row)
    return result


def month_so_far(session: Session, actor: Actor, *, now: datetime) -> Figures:
    """This month's totals (the account's days up to today), for the dashboard."""
    today = local_day(now, zone(actor.timezone))
    return report(session, actor, start=today.replace(day=1), end=today).totals


def day_range(day: date, timezone_name: str | None) -> tuple[datetime, datetime]:
    """The UTC instants the account's ``day`` begins and ends at."""
    timezone = zone(timezone_name)
    return day_start(day, timezone), day_start(day + timedelta(days=1), timezone)


def excel_of(figures: Report) -> bytes:
    """The days (or groups) of ``figures`` and their totals as an Excel workbook (xlsxwriter):
    a date per day, cost in kronor."""
    import io

    import xlsxwriter

    buffer = io.BytesIO()
    workbook = xlsxwriter.Workbook(buffer, {"in_memory": True})
    sheet = workbook.add_worksheet(_("Statistics")[:31])
    bold = workbook.add_format({"bold": True})
    day_format = workbook.add_format({"num_format": "yyyy-mm-dd"})
    money_format = workbook.add_format({"num_format": "#,##0.00"})
    headings = [_("Day") if figures.group_by == "day" else _("Group"), _("Messages"), _("Parts"), _("Cost (SEK)"),
                _("Delivered"), _("Failed"), _("Blocked")]
    sheet.write_row(0, 0, headings, bold)
    for line, row in enumerate([*figures.rows, figures.totals], start=1):
        if row is figures.totals:
            sheet.write_string(line, 0, _("Total"), bold)
        elif figures.group_by == "day":
            sheet.write_datetime(line, 0, datetime.combine(date.fromisoformat(row.key), time()), day_format)
        else:
            sheet.write_string(line, 0, row.key)
        sheet.write_number(line, 1, row.messages)
        sheet.write_number(line, 2, row.parts)
        sheet.write_number(line, 3, row.cost_minor / 100, money_format)
        sheet.write_row(line, 4, [row.delivered, row.failed, row.blocked])
    sheet.set_column(0, 0, 12)
    sheet.set_column(1, 6, 12)
    workbook.close()
    return buffer.getvalue()
