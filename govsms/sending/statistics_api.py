"""The statistics API: ``GET /api/v1/statistics?from=&to=&group_by=`` (the roll-up's figures; no
numbers or texts). ``from`` and ``to`` are dates (``format: date``), which
``tests/test_no_numbers_in_urls.py`` tells from the phone numbers those names carry elsewhere."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from litestar import Request, get
from litestar.params import QueryParameter
from msgspec import Struct, field

from govsms.auth import Permission
from govsms.clock import zone
from govsms.sending import statistics
from govsms.sending.api import Cost
from govsms.web.api import ApiController, errors
from govsms.web.forms import Db, Now
from govsms.web.guards import requires

TAGS = ("statistics",)
GroupBy = Literal["day", "country", "sender_kind", "status"]


class Figures(Struct):
    key: str
    """The day (ISO 8601 date, the account's time zone), the country (ISO 3166; empty for
    recipients refused as blocked at the dispatch), the sender kind or the status."""
    messages: int
    parts: int
    cost: Cost
    delivered: int
    failed: int
    """Failed or expired."""
    blocked: int
    """Blocked after queueing, or refused as blocked when the dispatch was made."""


class Statistics(Struct):
    from_: str = field(name="from")
    """The first day (ISO 8601 date)."""
    to: str
    """The last day, included."""
    group_by: GroupBy
    rows: list[Figures]
    totals: Figures


def _figures(row: statistics.Figures) -> Figures:
    return Figures(key=row.key, messages=row.messages, parts=row.parts, cost=Cost(amount=row.cost_minor, currency="SEK", unit="minor"),
                   delivered=row.delivered, failed=row.failed, blocked=row.blocked)


class StatisticsApi(ApiController):
    guards = (requires(Permission.STATS),)
    tags = TAGS

    @get("/api/v1/statistics", summary="Sent SMS counted per day, country, sender kind or status", responses=errors(400, 422))
    def get_statistics(
        self, request: Request[Any, Any, Any], db: Db, now: Now,
        start: Annotated[date | None, QueryParameter(name="from", description="First day (YYYY-MM-DD); the 1st of this month by default.")] = None,
        end: Annotated[date | None, QueryParameter(name="to", description="Last day (YYYY-MM-DD), included; today by default.")] = None,
        group_by: Annotated[GroupBy, QueryParameter(description="day (every day of the range), country, sender_kind or status.")] = "day",
    ) -> Statistics:
        """The account's figures from the roll-up (updated every 15 minutes), in its time zone's
        days, at most 1,100 days at a time; cost in öre."""
        actor = request.scope["user"]
        today = statistics.local_day(now, zone(actor.timezone))
        first = start or today.replace(day=1)
        last = end or max(today, first)
        figures = statistics.report(db, actor, start=first, end=last, group_by=group_by)
        return Statistics(from_=first.isoformat(), to=last.isoformat(), group_by=group_by,
                          rows=[_figures(row) for row in figures.rows], totals=_figures(figures.totals))


ROUTES = [StatisticsApi]
