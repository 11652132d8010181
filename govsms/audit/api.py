"""HTTP API of the audit log: events (filtered) and a verification run."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from litestar import Request, get, post
from litestar.exceptions import HTTPException
from litestar.params import FromQuery, JSONBody

from govsms.auth import Permission
from govsms.audit.service import AuditFilter, list_events, verify_now
from govsms.errors import InvalidInput
from govsms.i18n import _
from govsms.web.forms import Db
from govsms.web.guards import requires
from govsms.web.params import IdValue, Page, PerPage


def _utc(moment: datetime | None, field: str) -> datetime | None:
    """A bound of the filter in UTC: it needs a time zone, and must stay within the calendar there."""
    if moment is None:
        return None
    try:
        if moment.tzinfo is None:
            raise ValueError(field)
        return moment.astimezone(UTC)
    except (ValueError, OverflowError):
        message = _("Give the time in ISO 8601 with a time zone, e.g. 2026-12-01T09:00:00+01:00.")
        raise InvalidInput(message, fields={field: message}) from None


def _page_json(result: Any) -> dict[str, Any]:
    return {
        "items": [
            {
                "seq": event.seq,
                "occurred_at": event.occurred_at.isoformat(),
                "actor": event.actor,
                "action": event.action,
                "target": {"type": event.target_type, "id": event.target_id} if event.target_type else None,
                "people": event.people,
                "details": event.details,
                "request_id": event.request_id,
                "sealed": event.sealed,
            }
            for event in result.items
        ],
        "total": result.total,
        "page": result.page,
        "per_page": result.per_page,
    }


@get("/api/v1/audit", guards=[requires(Permission.AUDIT_READ)], sync_to_thread=True, tags=["audit"], summary="Audit events of the account")
def audit_events(
    request: Request[Any, Any, Any],
    db: Db,
    since: FromQuery[datetime | None] = None,
    until: FromQuery[datetime | None] = None,
    actor: FromQuery[str | None] = None,
    action: FromQuery[str | None] = None,
    page: Page = 1,
    per_page: PerPage = 50,
) -> dict[str, Any]:
    """Newest first. To find every event about one person, POST the number to ``/api/v1/audit/search``."""
    if "number" in request.query_params:
        # A number in a URL stays in proxy logs: refused, not searched.
        raise HTTPException(status_code=400, detail=_("Search the access log by number with POST /api/v1/audit/search and the body {\"number\": \"...\"}: a number in the URL would stay in proxy logs and browser histories."))
    query = AuditFilter(since=_utc(since, "since"), until=_utc(until, "until"), actor=actor, action=action)
    return _page_json(list_events(db, request.scope["user"], query, now=datetime.now(UTC), page=page, per_page=per_page))


@dataclass
class AuditSearch:
    number: str
    since: datetime | None = None
    until: datetime | None = None
    actor: str | None = None
    action: str | None = None
    page: IdValue = 1
    per_page: IdValue = 50


@post(
    "/api/v1/audit/search", guards=[requires(Permission.AUDIT_READ)], sync_to_thread=True, tags=["audit"], status_code=200,
    summary="Audit events about one person, found by number",
)
def audit_search(request: Request[Any, Any, Any], db: Db, data: JSONBody[AuditSearch]) -> dict[str, Any]:
    """Newest first: every event about the person with this number (through the blind index; the
    log holds no numbers). The number travels in the body, never in the URL; the search is logged."""
    if not data.number.strip():
        message = _("Give the phone number whose events you want to see.")
        raise InvalidInput(message, fields={"number": message})
    query = AuditFilter(
        since=_utc(data.since, "since"), until=_utc(data.until, "until"), actor=data.actor, action=data.action, number=data.number,
    )
    return _page_json(list_events(db, request.scope["user"], query, now=datetime.now(UTC), page=data.page, per_page=data.per_page))


@get("/api/v1/audit/verify", guards=[requires(Permission.AUDIT_READ)], sync_to_thread=True, tags=["audit"], summary="Verify the whole log now")
def audit_verify(request: Request[Any, Any, Any], db: Db) -> dict[str, Any]:
    """Checks the log as it is (seals nothing): ``unsealed`` events wait for the scheduler;
    ``witnessed`` is how many checkpoints of the witness file were compared (null: none here)."""
    state = request.app.state
    result = verify_now(db, request.scope["user"], state.key_ring, now=datetime.now(UTC), witness_path=state.settings.audit_witness_file)
    return {
        "ok": result.ok,
        "events": result.events,
        "unsealed": result.unsealed,
        "witnessed": result.witnessed,
        "checkpoints": result.checkpoints,
        "first_bad_seq": result.first_bad_seq,
        "problems": result.problems,
    }


ROUTES = [audit_events, audit_search, audit_verify]
