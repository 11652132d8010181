"""HTTP API of the DPA: its versions, and the current agreement as a PDF."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from litestar import Request, get, post
from litestar.params import FromQuery, JSONBody
from litestar.response import Response

from govsms.auth import Permission
from govsms.dpa import service
from govsms.dpa.models import DpaVersion
from govsms.errors import NotFound
from govsms.i18n import _
from govsms.web.context import separate_reader
from govsms.web.forms import Db
from govsms.web.guards import requires
from govsms.web.params import Id

READ = [requires(Permission.DPA_READ)]

def _version_json(version: DpaVersion, *, unreadable: bool = False) -> dict[str, Any]:
    return {
        "id": version.id,
        "number": version.number,
        "language": version.language,
        "template_version": version.template_version,
        "created_at": version.created_at.isoformat(),
        "pdf_sha256": version.pdf_sha256,
        "content_sha256": version.content_sha256,
        "accepted_at": version.accepted_at.isoformat() if version.accepted_at else None,
        "pdf_url": f"/api/v1/dpa/versions/{version.id}/pdf",
        "unreadable": unreadable,  # the stored document cannot be read: its download answers 409
    }

@get("/api/v1/dpa", guards=READ, sync_to_thread=True, tags=["dpa"], summary="The account's DPA: versions and what changed since the newest")
def dpa_status(request: Request[Any, Any, Any], db: Db) -> dict[str, Any]:
    state = request.app.state
    actor = request.scope["user"]
    status = service.dpa_status(db, state.settings, state.key_ring, actor)
    unreadable = service.unreadable_versions(db, actor, status.versions, now=datetime.now(UTC))
    return {
        "versions": [_version_json(version, unreadable=version.id in unreadable) for version in status.versions],
        "accepted_version": status.accepted.number if status.accepted else None,
        "new_version_available": status.new_version_available,
        "changes": [{"kind": change.kind, "subject": change.subject, "before": change.before, "after": change.after} for change in status.changes],
    }

def _pdf(name: str, pdf: bytes, version: DpaVersion) -> Response[bytes]:
    return Response(
        pdf, media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"', "X-DPA-Version": str(version.number),
            "X-Document-SHA256": version.pdf_sha256, "Cache-Control": "no-store",
        },
    )

@get("/api/v1/dpa/pdf", guards=READ, sync_to_thread=True, tags=["dpa"], summary="The newest DPA in a language, as a PDF")
def dpa_current_pdf(request: Request[Any, Any, Any], db: Db, lang: FromQuery[str] = "sv") -> Response[bytes]:
    """The newest generated version in ``lang``; ``GET /api/v1/dpa`` tells whether a newer one is
    due (``new_version_available``), and an admin key makes it with ``POST /api/v1/dpa/versions``."""
    actor = request.scope["user"]
    version = service.newest_version(db, actor, lang=lang)
    if version is None:
        raise NotFound(_("No agreement has been generated in this language yet; an administrator generates it at /dpa."))
    name, pdf = service.download(db, actor, version.id, now=datetime.now(UTC))  # type: ignore[arg-type]
    return _pdf(name, pdf, version)

@dataclass
class GenerateRequest:
    lang: str = "sv"

@post("/api/v1/dpa/versions", guards=[requires(Permission.DPA_ACCEPT)], sync_to_thread=True, tags=["dpa"],
      summary="Generate today's DPA (admin keys); the newest version again when nothing changed")
def dpa_generate(request: Request[Any, Any, Any], db: Db, data: JSONBody[GenerateRequest]) -> Response[dict[str, Any]]:
    state = request.app.state
    with separate_reader(state) as reader:
        version, created = service.generate(
            db, state.settings, state.key_ring, request.scope["user"], lang=data.lang, now=datetime.now(UTC), reader=reader
        )
    return Response({**_version_json(version), "created": created}, status_code=201 if created else 200)

@get("/api/v1/dpa/versions/{version_id:int}/pdf", guards=READ, sync_to_thread=True, tags=["dpa"], summary="One version of the DPA as generated")
def dpa_version_pdf(request: Request[Any, Any, Any], db: Db, version_id: Id) -> Response[bytes]:
    actor = request.scope["user"]
    version = service.get_version(db, actor, version_id)
    name, pdf = service.download(db, actor, version_id, now=datetime.now(UTC))
    return _pdf(name, pdf, version)

ROUTES = [dpa_status, dpa_current_pdf, dpa_generate, dpa_version_pdf]
