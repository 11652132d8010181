"""HTTP API of the register of data-subject requests (DPO keys): ``GET|POST /api/v1/subjects/requests``,
``GET|PATCH /api/v1/subjects/requests/{id}``; and of the access export: ``POST /api/v1/subjects/exports``
(the number in the body), ``GET /api/v1/subjects/exports/{id}`` (the ZIP)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any

from litestar import Request, Response, get, patch, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, FromQuery, JSONBody, KwargDefinition
from msgspec import Struct

from govsms.auth import Permission
from govsms.paging import Page as ResultPage
from govsms.personal_data import Holding
from govsms.subjects.export import create_export, download_export, processor_name
from govsms.subjects.models import SubjectExport
from govsms.subjects.person import person_for
from govsms.subjects.requests import RequestView, find_request, get_request, list_requests, register_request, request_view, update_request
from govsms.web.api import ApiController, Timestamp, errors
from govsms.web.forms import Db, Now
from govsms.web.guards import requires
from govsms.web.params import Id, IdValue, Page, PerPage

ZIP = "application/zip"


class SubjectRequestBody(Struct):
    id: int
    reference: str
    """``DSR-<year>-<number>``, unique in the account; the access log's events of the request name it."""
    kind: str
    """access, erasure, rectification or objection."""
    status: str
    """open, extended, done or refused."""
    received_on: date
    due_on: date
    """One calendar month after ``received_on``."""
    extended_until: date | None
    extension_reason: str | None
    deadline: date
    """``extended_until`` if extended, else ``due_on``."""
    overdue: bool
    export_id: str | None
    erasure_id: int | None
    created_at: Timestamp
    updated_at: Timestamp
    closed_at: Timestamp | None
    notes: str | None = None
    """The DPO's notes in clear: only in the answer of ``GET /{id}`` (an audited read); null elsewhere."""


class SubjectRequestPage(Struct):
    items: list[SubjectRequestBody]
    total: int
    page: int
    per_page: int


@dataclass
class NewSubjectRequest:
    kind: Annotated[str, KwargDefinition(description="access, erasure, rectification or objection.")]
    received_on: Annotated[date | None, KwargDefinition(description="The day the request arrived (YYYY-MM-DD, not in the future); absent: today.")] = None
    notes: Annotated[str | None, KwargDefinition(description="Notes, kept encrypted (at most 4,000 characters). Not the person's number.")] = None


@dataclass
class SubjectRequestChange:
    notes: Annotated[str | None, KwargDefinition(description="New notes (\"\": none); absent or null: unchanged.")] = None
    status: Annotated[str | None, KwargDefinition(description="open, done or refused; absent or null: unchanged.")] = None
    extension_reason: Annotated[str | None, KwargDefinition(
        description="Extend the deadline by two months, once, for this reason (at most 200 characters).",
    )] = None


def _body(view: RequestView, *, notes: bool = False) -> SubjectRequestBody:
    request = view.request
    assert request.id is not None
    return SubjectRequestBody(
        id=request.id, reference=request.reference, kind=request.kind, status=request.status, received_on=request.received_on,
        due_on=request.due_on, extended_until=request.extended_until, extension_reason=request.extension_reason,
        deadline=view.deadline, overdue=view.overdue, export_id=request.export_id, erasure_id=request.erasure_id,
        created_at=request.created_at.isoformat(), updated_at=request.updated_at.isoformat(),
        closed_at=request.closed_at.isoformat() if request.closed_at else None, notes=view.notes if notes else None,
    )


def _page(result: ResultPage[RequestView]) -> SubjectRequestPage:
    return SubjectRequestPage(items=[_body(view) for view in result.items], total=result.total, page=result.page, per_page=result.per_page)


class SubjectRequestApi(ApiController):
    guards = (requires(Permission.SUBJECTS),)
    tags = ("subjects",)

    @get("/api/v1/subjects/requests", summary="The account's data-subject requests, newest received first (DPO keys)", responses=errors(400, 422))
    def requests_list(
        self, request: Request[Any, Any, Any], db: Db, now: Now, status: FromQuery[str | None] = None, page: Page = 1, per_page: PerPage = 50,
    ) -> SubjectRequestPage:
        """``status``: open (with extended), extended, done, refused or overdue. No notes in the list."""
        return _page(list_requests(db, request.scope["user"], status=status or None, page=page, per_page=per_page, now=now))

    @post("/api/v1/subjects/requests", summary="Register a data-subject request (DPO keys)", responses=errors(400, 415, 422))
    def request_register(self, request: Request[Any, Any, Any], db: Db, data: JSONBody[NewSubjectRequest], now: Now) -> SubjectRequestBody:
        """The deadline is one calendar month after ``received_on``. Recorded in the access log."""
        actor = request.scope["user"]
        registered = register_request(db, actor, kind=data.kind, received_on=data.received_on, notes=data.notes, now=now)
        assert registered.id is not None
        return _body(request_view(db, actor, registered.id, now=now))

    @get("/api/v1/subjects/requests/{request_id:int}", summary="One data-subject request with its notes (DPO keys)", responses=errors(400, 404, 422))
    def request_show(self, request: Request[Any, Any, Any], db: Db, now: Now, request_id: Id) -> SubjectRequestBody:
        """The notes are read in clear: recorded in the access log."""
        return _body(get_request(db, request.scope["user"], request_id, now=now), notes=True)

    @patch(
        "/api/v1/subjects/requests/{request_id:int}", summary="Change a request's notes or status, or extend its deadline (DPO keys)",
        responses=errors(400, 404, 415, 422),
    )
    def request_change(
        self, request: Request[Any, Any, Any], db: Db, data: JSONBody[SubjectRequestChange], now: Now, request_id: Id,
    ) -> SubjectRequestBody:
        """Nothing is changed when any part is refused. Recorded in the access log."""
        actor = request.scope["user"]
        update_request(db, actor, request_id, notes=data.notes, status=data.status, extension_reason=data.extension_reason, now=now)
        return _body(request_view(db, actor, request_id, now=now))


class ExportCreated(Struct):
    id: str
    """The export's token: its download is ``GET /api/v1/subjects/exports/{id}``."""
    request_id: int
    reference: str
    """The request the export answers (registered as an access request when none was given)."""
    sha256: str
    """The ZIP's SHA-256 (also in the access log)."""
    expires_at: Timestamp
    """The ZIP is kept for download until then (30 days), then deleted."""
    download: str


@dataclass
class NewExport:
    number: Annotated[str, KwargDefinition(description="The person's number, in any format (read in the account's region).")]
    request_id: Annotated[IdValue | None, KwargDefinition(description="The request it answers; absent: a new access request, received today.")] = None
    language: Annotated[str, KwargDefinition(description="The report's language: sv or en.")] = "sv"


def _created(export: SubjectExport, reference: str) -> ExportCreated:
    return ExportCreated(
        id=export.id, request_id=export.request_id, reference=reference, sha256=export.sha256, expires_at=export.expires_at.isoformat(),
        download=f"/api/v1/subjects/exports/{export.id}",
    )


class SubjectExportApi(ApiController):
    guards = (requires(Permission.SUBJECTS),)
    tags = ("subjects",)

    @post(
        "/api/v1/subjects/exports", summary="Export one person's data (Art. 15/20): a ZIP of data.json and report.pdf (DPO keys)",
        status_code=201, responses=errors(400, 404, 409, 415, 422),
    )
    def export_create(self, request: Request[Any, Any, Any], db: Db, data: JSONBody[NewExport], now: Now) -> ExportCreated:
        """The number travels in the body only. Recorded in the access log with the ZIP's SHA-256."""
        actor = request.scope["user"]
        holdings: tuple[Holding, ...] = request.app.state.holdings
        person = person_for(db, actor, data.number, now=now)
        export = create_export(
            db, actor, holdings, person, data.request_id, language=data.language, now=now,
            processor=processor_name(db, request.app.state.settings),
        )
        return _created(export, find_request(db, actor, export.request_id).reference)

    @get(
        "/api/v1/subjects/exports/{export_id:str}", summary="Download an access export (the ZIP; DPO keys)", media_type=ZIP,
        responses={200: ResponseSpec(bytes, description="The ZIP: data.json and report.pdf", media_type=ZIP, generate_examples=False), **errors(400, 404, 422)},
    )
    def export_download(self, request: Request[Any, Any, Any], db: Db, now: Now, export_id: FromPath[str]) -> Response[bytes]:
        """Recorded in the access log. 404 after 30 days, when purged, or for another account's export."""
        exported = download_export(db, request.scope["user"], export_id, now=now)
        return Response(
            exported.content, media_type=ZIP,
            headers={"Content-Disposition": f'attachment; filename="{exported.filename}"', "Cache-Control": "no-store"},
        )


ROUTES = [SubjectRequestApi, SubjectExportApi]
