"""HTTP API of the audit log: events (filtered) and a verification run."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from litestar import Request, get, post
from litestar.exceptions import HTTPException
from litestar.params import FromQuery, JSONBody
from msgspec import Struct

from govsms.audit.service import AuditFilter, EventView, list_events, verify_now
from govsms.auth import Permission
from govsms.errors import InvalidInput
from govsms.i18n import _
from govsms.paging import Page as ResultPage
from govsms.web.api import ApiController, Timestamp, errors
from govsms.web.forms import Db, Now
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


class EventTarget(Struct):
    type: str
    id: str | None


class AuditEvent(Struct):
    seq: int
    occurred_at: Timestamp
    actor: str
    """``user:<id>``, ``api_key:<id>``, ``system`` ..."""
    action: str
    target: EventTarget | None
    people: int
    """How many people the event is about (who they are stays in the log)."""
    details: dict[str, Any]
    request_id: str
    sealed: bool
    actor_name: str = ""
    """Who, as the account knows them now (a user's name, ``API: <key name>``, the system); the event keeps the id in ``actor``."""
    description: str = ""
    """The event as one sentence in the request's language (Accept-Language), names resolved now."""


class AuditEvents(Struct):
    items: list[AuditEvent]
    total: int
    page: int
    per_page: int


class AuditVerification(Struct):
    ok: bool
    events: int
    unsealed: int
    witnessed: int | None
    checkpoints: int
    first_bad_seq: int | None
    problems: list[str]
    pruned_to: int = 0
    """Events up to this seq were pruned (0: none): the log verifies from the next one, chained
    from a signed anchor."""
    anchor_signed_at: str | None = None
    """When that anchor was signed (UTC); null when nothing was pruned."""


def _events(result: ResultPage[EventView]) -> AuditEvents:
    return AuditEvents(
        items=[
            AuditEvent(
                seq=event.seq,
                occurred_at=event.occurred_at.isoformat(),
                actor=event.actor,
                action=event.action,
                target=EventTarget(type=event.target_type, id=event.target_id) if event.target_type else None,
                people=event.people,
                details=event.details,
                request_id=event.request_id,
                sealed=event.sealed,
                actor_name=event.actor_name,
                description=event.description,
            )
            for event in result.items
        ],
        total=result.total,
        page=result.page,
        per_page=result.per_page,
    )


@dataclass
class AuditSearch:
    number: str
    since: datetime | None = None
    until: datetime | None = None
    actor: str | None = None
    action: str | None = None
    reference: str | None = None
    page: IdValue = 1
    per_page: IdValue = 50


class AuditApi(ApiController):
    guards = (requires(Permission.AUDIT_READ),)
    tags = ("audit",)

    @get("/api/v1/audit", summary="Audit events of the account", responses=errors(400, 422))
    def audit_events(
        self,
        request: Request[Any, Any, Any],
        db: Db, now: Now,
        since: FromQuery[datetime | None] = None,
        until: FromQuery[datetime | None] = None,
        actor: FromQuery[str | None] = None,
        action: FromQuery[str | None] = None,
        reference: FromQuery[str | None] = None,
        page: Page = 1,
        per_page: PerPage = 50,
    ) -> AuditEvents:
        """Newest first. ``reference`` (e.g. ``DSR-2026-0001``) gives the events of one data-subject
        request (its search, export, erasure and register events), also after the person's data is
        erased. To find every event about one person, POST the number to ``/api/v1/audit/search``."""
        if "number" in request.query_params:
            # A number in a URL stays in proxy logs: refused, not searched.
            raise HTTPException(
                status_code=400,
                detail=_(
                    "Search the access log by number with POST /api/v1/audit/search and the body {\"number\": \"...\"}: "
                    "a number in the URL would stay in proxy logs and browser histories."
                ),
            )
        query = AuditFilter(since=_utc(since, "since"), until=_utc(until, "until"), actor=actor, action=action, reference=reference)
        return _events(list_events(
            db, request.scope["user"], query, now=now, page=page, per_page=per_page, staff_names=request.app.state.staff_names,
            request_subject=request.app.state.request_subject,
        ))

    @post("/api/v1/audit/search", status_code=200, summary="Audit events about one person, found by number", responses=errors(400, 415, 422))
    def audit_search(self, request: Request[Any, Any, Any], db: Db, data: JSONBody[AuditSearch], now: Now) -> AuditEvents:
        """Newest first: every event about the person with this number (through the blind index; the
        log holds no numbers). The number travels in the body, never in the URL; the search is logged."""
        if not data.number.strip():
            message = _("Give the phone number whose events you want to see.")
            raise InvalidInput(message, fields={"number": message})
        query = AuditFilter(
            since=_utc(data.since, "since"), until=_utc(data.until, "until"), actor=data.actor, action=data.action, number=data.number,
            reference=data.reference,
        )
        return _events(list_events(
            db, request.scope["user"], query, now=now, page=data.page, per_page=data.per_page, staff_names=request.app.state.staff_names,
            request_subject=request.app.state.request_subject,
        ))

    @get("/api/v1/audit/verify", summary="Verify the whole log now")
    def audit_verify(self, request: Request[Any, Any, Any], db: Db, now: Now) -> AuditVerification:
        """Checks the log as it is (seals nothing): ``unsealed`` events wait for the scheduler;
        ``witnessed`` is how many checkpoints of the witness file were compared (null: none here)."""
        state = request.app.state
        result = verify_now(db, request.scope["user"], state.key_ring, now=now, witness_path=state.settings.audit_witness_file)
        return AuditVerification(
            ok=result.ok,
            events=result.events,
            unsealed=result.unsealed,
            witnessed=result.witnessed,
            checkpoints=result.checkpoints,
            first_bad_seq=result.first_bad_seq,
            problems=result.problems,
            pruned_to=result.anchor_seq,
            anchor_signed_at=result.anchor_signed_at,
        )


ROUTES = [AuditApi]
