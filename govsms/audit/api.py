"""HTTP API of the audit log: events (filtered) and a verification run."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from litestar import Request, get
from litestar.params import FromQuery

from govsms.accounts.roles import Permission
from govsms.audit.service import AuditFilter, list_events, verify_now
from govsms.errors import InvalidInput
from govsms.i18n import _
from govsms.web.forms import Db
from govsms.web.guards import requires
from govsms.web.params import Page, PerPage


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


@get("/api/v1/audit", guards=[requires(Permission.AUDIT_READ)], sync_to_thread=True, tags=["audit"], summary="Audit events of the account")
def audit_events(
    request: Request[Any, Any, Any],
    db: Db,
    since: FromQuery[datetime | None] = None,
    until: FromQuery[datetime | None] = None,
    actor: FromQuery[str | None] = None,
    action: FromQuery[str | None] = None,
    number: FromQuery[str | None] = None,
    page: Page = 1,
    per_page: PerPage = 50,
) -> dict[str, Any]:
    """Newest first. ``number`` finds every event about that person through the blind index."""
    query = AuditFilter(since=_utc(since, "since"), until=_utc(until, "until"), actor=actor, action=action, number=number)
    result = list_events(
        db, request.scope["user"], query,
        now=datetime.now(UTC), page=page, per_page=per_page,
    )
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


@get("/api/v1/audit/verify", guards=[requires(Permission.AUDIT_READ)], sync_to_thread=True, tags=["audit"], summary="Verify the whole log now")
def audit_verify(request: Request[Any, Any, Any], db: Db) -> dict[str, Any]:
    result = verify_now(db, request.scope["user"], request.app.state.key_ring, now=datetime.now(UTC))
    return {
        "ok": result.ok,
        "events": result.events,
        "checkpoints": result.checkpoints,
        "first_bad_seq": result.first_bad_seq,
        "problems": result.problems,
    }


ROUTES = [audit_events, audit_verify]
