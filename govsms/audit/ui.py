"""The auditor's pages: the access log with filters, verification, and the export download."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from litestar import Request, get, post
from litestar.params import FromQuery
from litestar.response import Response, Template

from govsms.auth import Permission
from govsms.audit.actions import ACTION_LABELS, Action
from govsms.audit.service import AuditFilter, EventView, export_events, export_for, list_events, public_key, public_key_text, verify_now
from govsms.audit.witness import read_witness
from govsms.errors import InvalidInput
from govsms.i18n import N_, _
from govsms.web.controller import PageController
from govsms.web.forms import Db, Now, Form, form_text
from govsms.web.guards import requires, users_only
from govsms.web.params import MAX_ID, PageNumber
from govsms.clock import LOCAL_TIME, localtime, zone
from govsms.web.render import NavItem, page

NAV = [NavItem(N_("Access log"), "/audit", Permission.AUDIT_READ)]
FIRST_DAY, LAST_DAY = date(1970, 1, 1), date(9998, 12, 31)


def parse_day(value: str | None, field: str, *, end: bool = False, timezone: ZoneInfo = LOCAL_TIME) -> datetime | None:
    """A calendar day in ``timezone`` (the account's) as a UTC bound (``end`` gives the start of the next day)."""
    if not value:
        return None
    try:
        day = datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise InvalidInput(_("Dates are written YYYY-MM-DD."), fields={field: _("Write the date as YYYY-MM-DD.")}) from None
    if not FIRST_DAY <= day <= LAST_DAY:  # the calendar ends at 0001-01-01 and 9999-12-31 in UTC too
        raise InvalidInput(
            _("The date is out of range."),
            fields={field: _("Give a date from %(first)s to %(last)s.") % {"first": FIRST_DAY, "last": LAST_DAY}},
        )
    moment = datetime.combine(day + timedelta(days=1) if end else day, time(), tzinfo=timezone)
    return moment.astimezone(UTC)


FILTER_FIELDS = ("since", "until", "who", "action", "reference", "number")


def _query(form: dict[str, str], timezone: ZoneInfo) -> AuditFilter:
    """The filter the form's fields give (InvalidInput with the field when one is wrong)."""
    return AuditFilter(
        since=parse_day(form["since"], "since", timezone=timezone),
        until=parse_day(form["until"], "until", end=True, timezone=timezone),
        actor=form["who"] or None, action=form["action"] or None, number=form["number"] or None,
        reference=form["reference"] or None,
    )


def _inert(text: str) -> str:
    """A cell a spreadsheet would run as a formula (=, +, -, @ first) gets a leading apostrophe."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def events_csv(events: list[EventView], timezone: str | None) -> bytes:
    """The events as a CSV for a spreadsheet: ";" and a UTF-8 BOM, as Swedish Excel expects;
    headings and sentences in the reader's language, times in the account's zone."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow([_("Event"), _("Time"), _("Who"), _("Who (id)"), _("What"), _("What happened"), _("People"), _("Request id"), _("Sealed")])
    for event in events:
        writer.writerow([
            event.seq, localtime(event.occurred_at, "%Y-%m-%d %H:%M:%S", timezone), _inert(event.actor_name), _inert(event.actor),
            _inert(event.action), _inert(event.description), event.people, _inert(event.request_id),
            _("yes") if event.sealed else _("no"),
        ])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def _query_filters(since: str | None, until: str | None, who: str | None, action: str | None, reference: str | None) -> dict[str, str]:
    """An export's filter from the address (never a number: that travels in a posted form)."""
    return {
        "since": since or "", "until": until or "", "who": who or "", "action": action or "",
        "reference": (reference or "").strip(), "number": "",
    }


def _number_in_address(request: Request[Any, Any, Any], db: Db, form: dict[str, str], now: datetime) -> Template | None:
    """The log page refusing an export whose address carries a number (400), or None."""
    if "number" not in request.query_params:
        return None
    message = _("A search by phone number is sent with the form below, never in the address. Type the number there.")
    return _log_page(request, db, form, 1, status=400, error=message, now=now)


def _log_page(
    request: Request[Any, Any, Any], db: Db, form: dict[str, str], page_number: int, *, status: int = 200, error: str | None = None, now: datetime,
    errors: dict[str, str] | None = None,
) -> Template:
    """The access log, filtered. A number comes only from the posted form (never the address),
    and the page it renders keeps it out of every link."""
    actor = request.scope["user"]
    context: dict[str, Any] = {"form": form, "errors": errors or {}, "events": None, "error": error}
    if error is None:
        try:
            query = _query(form, zone(actor.timezone))
            context["events"] = list_events(
                db, actor, query, now=now, page=max(page_number, 1), staff_names=request.app.state.staff_names,
                request_subject=request.app.state.request_subject,
            )
        except InvalidInput as invalid:
            context.update(errors=invalid.fields, error=invalid.message)
            status = 422
    return page(
        request,
        "audit/log.html",
        status_code=status,
        actions=[(action.value, _(ACTION_LABELS[action])) for action in Action],
        labels={action.value: _(ACTION_LABELS[action]) for action in Action},
        actors=sorted({**request.app.state.staff_names(db, actor.account_id), "system": "system"}.items(), key=lambda item: item[1].lower()),
        public_key=public_key_text(public_key(request.app.state.key_ring)),
        filter_query=urlencode({key: value for key, value in form.items() if value and key != "number"}),
        filtered=any(form.values()),
        by_number=bool(form["number"]),
        **context,
    )


class AuditPages(PageController):
    """The access log, its verification and its export, for auditors."""

    guards = (users_only, requires(Permission.AUDIT_READ))

    @get("/audit")
    def audit_page(
        self, request: Request[Any, Any, Any],
        db: Db, now: Now,
        since: FromQuery[str | None] = None,
        until: FromQuery[str | None] = None,
        who: FromQuery[str | None] = None,
        action: FromQuery[str | None] = None,
        reference: FromQuery[str | None] = None,
        page_number: PageNumber = 1,
    ) -> Template:
        form = {
            "since": since or "", "until": until or "", "who": who or "", "action": action or "",
            "reference": (reference or "").strip(), "number": "",
        }
        if "number" in request.query_params:
            # A number in an address stays in proxy logs and browser histories: search with the form.
            message = _("A search by phone number is sent with the form below, never in the address. Type the number there.")
            return _log_page(request, db, form, 1, status=400, error=message, now=now)
        return _log_page(request, db, form, page_number, now=now)

    @post("/audit")
    def audit_search(self, request: Request[Any, Any, Any], db: Db, data: Form, now: Now) -> Template:
        """The filter form, posted: the number travels in the body only."""
        form = {name: form_text(data, name).strip() for name in FILTER_FIELDS}
        try:
            page_number = min(max(int(form_text(data, "page") or 1), 1), MAX_ID)
        except ValueError:
            page_number = 1
        return _log_page(request, db, form, page_number, now=now)

    @post("/audit/verify")
    def audit_verify(self, request: Request[Any, Any, Any], db: Db, now: Now) -> Template:
        state = request.app.state
        result = verify_now(db, request.scope["user"], state.key_ring, now=now, witness_path=state.settings.audit_witness_file)
        return page(request, "audit/verified.html", result=result, public_key=public_key_text(public_key(state.key_ring)))

    def _csv(self, request: Request[Any, Any, Any], db: Db, form: dict[str, str], now: Now) -> Response[bytes] | Template:
        actor = request.scope["user"]
        state = request.app.state
        try:
            events = export_events(
                db, actor, _query(form, zone(actor.timezone)), now=now, staff_names=state.staff_names, request_subject=state.request_subject,
            )
        except InvalidInput as invalid:
            return _log_page(request, db, form, 1, status=422, error=invalid.message, now=now, errors=invalid.fields)
        return Response(
            events_csv(events, actor.timezone),
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="access-log-{now.strftime("%Y%m%d-%H%M")}.csv"',
                "Cache-Control": "no-store",
            },
        )

    @get("/audit/export.csv")
    def audit_export_csv(
        self, request: Request[Any, Any, Any], db: Db, now: Now,
        since: FromQuery[str | None] = None, until: FromQuery[str | None] = None, who: FromQuery[str | None] = None,
        action: FromQuery[str | None] = None, reference: FromQuery[str | None] = None,
    ) -> Response[bytes] | Template:
        """The events the filter selects, as CSV. A number is searched with the form (POST), never in the address."""
        form = _query_filters(since, until, who, action, reference)
        return _number_in_address(request, db, form, now) or self._csv(request, db, form, now)

    @post("/audit/export.csv", status_code=200)
    def audit_export_csv_search(self, request: Request[Any, Any, Any], db: Db, data: Form, now: Now) -> Response[bytes] | Template:
        """The filter form's values posted (a number travels in the body only), as CSV."""
        return self._csv(request, db, {name: form_text(data, name).strip() for name in FILTER_FIELDS}, now)

    def _jsonl(self, request: Request[Any, Any, Any], db: Db, form: dict[str, str], now: Now) -> Response[bytes] | Template:
        actor = request.scope["user"]
        state = request.app.state
        witness = read_witness(state.settings.audit_witness_file)  # first: the log is read after it
        try:
            query = _query(form, zone(actor.timezone))
            with state.read_factory() as reader:
                lines = export_for(
                    db, actor, state.key_ring, now=now, witness=witness, reader=reader, query=query, request_subject=state.request_subject,
                )
                content = "\n".join(lines) + "\n"
        except InvalidInput as invalid:
            return _log_page(request, db, form, 1, status=422, error=invalid.message, now=now, errors=invalid.fields)
        return Response(
            content.encode(),
            media_type="application/jsonl",
            headers={
                "Content-Disposition": f'attachment; filename="audit-{now.strftime("%Y%m%d-%H%M")}.jsonl"',
                "Cache-Control": "no-store",
            },
        )

    @get("/audit/export")
    def audit_export(
        self, request: Request[Any, Any, Any], db: Db, now: Now,
        since: FromQuery[str | None] = None, until: FromQuery[str | None] = None, who: FromQuery[str | None] = None,
        action: FromQuery[str | None] = None, reference: FromQuery[str | None] = None,
    ) -> Response[bytes] | Template:
        """The verifiable export (JSON lines): with a filter, the events it selects in full and the
        account's others as hashes, so it still verifies whole. No number in the address."""
        form = _query_filters(since, until, who, action, reference)
        return _number_in_address(request, db, form, now) or self._jsonl(request, db, form, now)

    @post("/audit/export", status_code=200)
    def audit_export_search(self, request: Request[Any, Any, Any], db: Db, data: Form, now: Now) -> Response[bytes] | Template:
        """The filter form's values posted (a number travels in the body only), as JSON lines."""
        return self._jsonl(request, db, {name: form_text(data, name).strip() for name in FILTER_FIELDS}, now)


ROUTES = [AuditPages]
