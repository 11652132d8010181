"""Pages of the statistics: /statistics (a date range, a bar chart drawn on the server as SVG, a
table per day, totals, an Excel export), one day's SMS (searched by number with POST, texts
shown on request), and the dashboard's figures of this month."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.params import QueryParameter
from litestar.response import Template
from markupsafe import Markup, escape

from govsms.auth import ROLE_PERMISSIONS, Actor, Permission, Role
from govsms.clock import zone
from govsms.errors import InvalidInput
from govsms.i18n import N_, _
from govsms.sending import dashboard, history, statistics
from govsms.sending.statistics_detail import day_messages
from govsms.web.controller import PageController
from govsms.web.forms import Db, Form, Now, form_text
from govsms.web.guards import requires, users_only
from govsms.web.params import PageNumber, form_id
from govsms.web.render import NavItem, money, page

NAV = [NavItem(N_("Statistics"), "/statistics", Permission.STATS)]
FromQuery = Annotated[str, QueryParameter(name="from", format="date")]
"""A date (``<input type="date">``; parsed here, so a wrong one gets the form back with a reason)."""
ToQuery = Annotated[str, QueryParameter(name="to", format="date")]
DayQuery = Annotated[str, QueryParameter(name="day")]


def parse_day(value: str, field: str) -> date:
    try:
        day = date.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInput(_("Write the date as YYYY-MM-DD."), fields={field: _("Write the date as YYYY-MM-DD.")}) from None
    statistics.check_day(day, field)
    return day


def date_range(start: str, end: str, *, now: datetime, timezone: str | None) -> tuple[date, date]:
    """The range asked for; this month (through today) by default."""
    today = statistics.local_day(now, zone(timezone))
    first = parse_day(start, "from") if start else today.replace(day=1)
    last = parse_day(end, "to") if end else max(today, first)
    statistics.check_range(first, last)
    return first, last


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    height: float
    label: str


def bar_chart(figures: statistics.Report, *, width: int = 720, height: int = 200) -> Markup:
    """Messages per day as an SVG bar chart: drawn here, no script, no style attributes (the
    pages' CSP allows none), a title per bar for the reader's pointer and screen reader."""
    rows = figures.rows
    top = max((row.messages for row in rows), default=0) or 1
    slot = width / max(len(rows), 1)
    bars = [
        Bar(x=index * slot + slot * 0.1, y=height - row.messages / top * (height - 20), height=row.messages / top * (height - 20),
            label=_("%(day)s: %(count)d messages") % {"day": row.key, "count": row.messages})
        for index, row in enumerate(rows)
    ]
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" id="statistics-chart" class="chart" viewBox="0 0 {width} {height + 20}" '
        f'role="img" aria-label="{escape(_("Messages per day"))}" preserveAspectRatio="none">',
        f'<line x1="0" y1="{height}" x2="{width}" y2="{height}" stroke="#888" stroke-width="1"/>',
        f'<text x="2" y="12" font-size="12" fill="#444">{top}</text>',
    ]
    for bar in bars:
        parts.append(f'<rect x="{bar.x:.1f}" y="{bar.y:.1f}" width="{slot * 0.8:.1f}" height="{bar.height:.1f}" fill="#1d5fa8">'
                     f"<title>{escape(bar.label)}</title></rect>")
    if rows:
        parts.append(f'<text x="0" y="{height + 16}" font-size="12" fill="#444">{escape(rows[0].key)}</text>')
        parts.append(f'<text x="{width}" y="{height + 16}" font-size="12" fill="#444" text-anchor="end">{escape(rows[-1].key)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704  (every value above is a number or escaped)


class StatisticsPages(PageController):
    """The account's statistics: its admin and its senders."""

    guards = (users_only, requires(Permission.STATS))

    @get("/statistics")
    def statistics_page(self, request: Request[Any, Any, Any], db: Db, now: Now, start: FromQuery = "", end: ToQuery = "") -> Template:
        actor = request.scope["user"]
        try:
            first, last = date_range(start, end, now=now, timezone=actor.timezone)
        except InvalidInput as refused:
            today = statistics.local_day(now, zone(actor.timezone))
            figures = statistics.report(db, actor, start=today.replace(day=1), end=today)
            return page(request, "sending/statistics.html", status_code=422, figures=figures, chart=bar_chart(figures),
                        errors=refused.fields, start=start, end=end, can_open=actor.can(Permission.MESSAGES_READ))
        figures = statistics.report(db, actor, start=first, end=last)
        return page(request, "sending/statistics.html", figures=figures, chart=bar_chart(figures), errors={},
                    start=first.isoformat(), end=last.isoformat(), can_open=actor.can(Permission.MESSAGES_READ))

    @get("/statistics.xlsx")
    def statistics_excel(self, request: Request[Any, Any, Any], db: Db, now: Now, start: FromQuery = "", end: ToQuery = "") -> Response[bytes]:
        actor = request.scope["user"]
        first, last = date_range(start, end, now=now, timezone=actor.timezone)
        workbook = statistics.excel_of(statistics.report(db, actor, start=first, end=last))
        return Response(
            workbook, media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            headers={"Content-Disposition": f'attachment; filename="statistik-{first.isoformat()}-{last.isoformat()}.xlsx"',
                     "Cache-Control": "no-store"},
        )


def _day_page(request: Request[Any, Any, Any], db: Db, day: str, *, now: datetime, number: str = "", texts: bool = False,
              page_number: int = 1, posted: str = "") -> Template:
    actor = request.scope["user"]
    shown = parse_day(day, "day")
    errors: dict[str, str] = {}
    messages = None
    try:
        messages = day_messages(db, actor, shown, now=now, number=number or None, texts=texts, page=page_number)
    except InvalidInput as refused:
        errors = refused.fields
    figures = statistics.report(db, actor, start=shown, end=shown)
    return page(request, "sending/statistics_day.html", status_code=422 if errors else 200, day=shown, figures=figures.totals,
                messages=messages, number=number, texts=texts, errors=errors, posted=posted)


class StatisticsDayPages(PageController):
    """One day's SMS: those who may read the sent messages (senders)."""

    guards = (users_only, requires(Permission.STATS), requires(Permission.MESSAGES_READ))

    @get("/statistics/day")
    def statistics_day(self, request: Request[Any, Any, Any], db: Db, now: Now, day: DayQuery = "", page_number: PageNumber = 1) -> Template:
        """A day is no object of an account (each account has its own), so it goes in the query."""
        return _day_page(request, db, day, now=now, page_number=page_number)

    @post("/statistics/day/search")
    def statistics_day_search(self, request: Request[Any, Any, Any], db: Db, data: Form, now: Now) -> Template:
        """The number comes in the form: no address holds it."""
        return _day_page(request, db, form_text(data, "day"), now=now, number=form_text(data, "number").strip(),
                         page_number=form_id(data, "page") or 1, posted="/statistics/day/search")

    @post("/statistics/day/texts")
    def statistics_day_texts(self, request: Request[Any, Any, Any], db: Db, data: Form, now: Now) -> Template:
        """The texts in clear: an explicit action, recorded in the access log."""
        return _day_page(request, db, form_text(data, "day"), now=now, number=form_text(data, "number").strip(), texts=True,
                         page_number=form_id(data, "page") or 1, posted="/statistics/day/texts")


SHORTCUT_ROLES = (Role.SENDER, Role.ADMIN, Role.DPO, Role.AUDITOR, Role.OPERATOR)
"""The order the dashboard's shortcuts are grouped in: sending first, the provider's work last."""


def count_text(value: int) -> str:
    """A count the Swedish way, thousands apart: 1 234 (a no-break space, like ``money``)."""
    return f"{value:,}".replace(",", "\u00a0")


def shortcuts(actor: Actor, nav: list[NavItem]) -> list[tuple[Role, list[NavItem]]]:
    """The pages the actor may open, under the first of its roles that grants each (the app's
    navigation: every domain's pages, none named here)."""
    seen: set[str] = set()
    grouped: list[tuple[Role, list[NavItem]]] = []
    for role in SHORTCUT_ROLES:
        if role not in actor.roles:
            continue
        items = [item for item in nav if item.permission in ROLE_PERMISSIONS[role] and item.path not in seen and item.visible_to(actor)]
        seen.update(item.path for item in items)
        grouped.append((role, items))
    return grouped


class DashboardPages(PageController):
    """The start page of a logged-in user: this month's messages, parts and cost, the last
    dispatches, unread replies, data-subject requests due, and shortcuts by role."""

    guards = (users_only,)

    @get("/")
    def dashboard(self, request: Request[Any, Any, Any], db: Db, now: Now) -> Template:
        actor = request.scope["user"]
        state = request.app.state
        month = dashboard.month_so_far(db, actor, now=now) if actor.can(Permission.STATS) else None
        recent = dashboard.recent_dispatches(db, actor) if actor.can(Permission.MESSAGES_READ) else None
        # Unread replies (the receiving domain counts; the app hands the function down).
        unread_counter = (getattr(state, "nav_counts", None) or {}).get("inbox")
        unread = unread_counter(db, actor) if unread_counter is not None and actor.can(Permission.INBOX) else None
        # Data-subject requests due within 7 days (the subjects domain's, handed down by the app).
        requests_due = state.subject_requests_due(db, actor, now=now) if actor.can(Permission.SUBJECTS) else None
        return page(
            request, "web/dashboard.html", month=month, requests_due=requests_due, recent=recent, unread=unread,
            figures={"messages": count_text(month.messages), "parts": count_text(month.parts), "cost": money(month.cost_minor)} if month else {},
            shortcuts=shortcuts(actor, state.nav), can_send=actor.can(Permission.SEND), state_label=history.state_label,
        )


ROUTES = [StatisticsPages, StatisticsDayPages, DashboardPages]
