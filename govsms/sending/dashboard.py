"""What the dashboard (``/``) reads of sending: this month's messages, parts and cost so far, and
the last dispatches with their state and their messages by status.

The month's figures are the roll-up's (``statistics``) for the days it rolled up after they ended
with no message waiting, and the messages themselves for the rest (today, the days since the last
roll-up, and the days that still waited): an SMS sent a minute ago counts at once, and a day whose
messages were purged still counts from the roll-up (a purge never takes a day the roll-up has not
finished)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlmodel import Session, col

from govsms.auth import Actor, Permission, require
from govsms.clock import zone
from govsms.db import table_of
from govsms.sending import history
from govsms.sending.models import Dispatch, OutboundMessage, StatisticsDay, StatisticsProgress
from govsms.sending.status import DispatchState, dispatch_state
from govsms.sending.statistics import Figures, _parse_days, _rolled_through, _runs, _within, local_day
from govsms.tenancy import owned_by, scoped

RECENT = 5
"""Dispatches the dashboard lists."""


def month_so_far(session: Session, actor: Actor, *, now: datetime) -> Figures:
    """This month's messages, parts and cost (the account's days, its time zone) up to now."""
    require(actor, Permission.STATS)
    timezone = zone(actor.timezone)
    today = local_day(now, timezone)
    first = today.replace(day=1)
    progress = session.get(StatisticsProgress, actor.account_id)
    rolled = _rolled_through(progress) if progress is not None else None
    waiting = set(_parse_days(progress.waiting_days)) if progress is not None else set()
    counted: list[date] = []  # from the roll-up
    live: list[date] = []  # from the messages
    day = first
    while day <= today:
        (counted if rolled is not None and day <= rolled and day not in waiting else live).append(day)
        day += timedelta(days=1)
    figures = Figures()
    if counted:
        table = table_of(StatisticsDay)
        row = session.execute(
            scoped(table, actor, func.sum(table.c.messages), func.sum(table.c.parts), func.sum(table.c.cost_minor))
            .where(table.c.day.in_(counted))
        ).one()
        figures.add(Figures(messages=int(row[0] or 0), parts=int(row[1] or 0), cost_minor=int(row[2] or 0)))
    if live:
        created = col(OutboundMessage.created_at)
        row = session.execute(
            select(func.count(), func.sum(col(OutboundMessage.parts)), func.sum(col(OutboundMessage.cost_minor)))
            .where(owned_by(OutboundMessage, actor), _within(created, _runs(live), timezone))
        ).one()
        figures.add(Figures(messages=int(row[0] or 0), parts=int(row[1] or 0), cost_minor=int(row[2] or 0)))
    return figures


@dataclass(frozen=True)
class RecentDispatch:
    dispatch: Dispatch
    state: DispatchState
    """Where it is, as its messages tell it (the history's rule)."""
    counts: dict[str, int]
    """Its messages by status."""


def recent_dispatches(session: Session, actor: Actor, *, limit: int = RECENT) -> list[RecentDispatch]:
    """The account's last dispatches (newest first) and their messages by status: no number, no
    text, no sender (a mobile-number sender is a person's: it is shown, recorded, in the history)."""
    require(actor, Permission.MESSAGES_READ)
    dispatches = history.list_dispatches(session, actor, page=1, per_page=limit).items
    counts = history.status_counts_of(session, [dispatch.id for dispatch in dispatches if dispatch.id is not None])
    return [
        RecentDispatch(dispatch, dispatch_state(dispatch.status, counts.get(dispatch.id or 0, {})), counts.get(dispatch.id or 0, {}))
        for dispatch in dispatches
    ]
