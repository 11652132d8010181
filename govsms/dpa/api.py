"""HTTP API of the DPA: its versions, and the current agreement as a PDF."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Request, get, post
from litestar.datastructures import ResponseHeader
from litestar.openapi import ResponseSpec
from litestar.params import FromQuery, JSONBody
from litestar.response import Response
from msgspec import Struct

from govsms.auth import Permission
from govsms.dpa import service
from govsms.dpa.models import DpaVersion
from govsms.errors import NotFound
from govsms.i18n import _
from govsms.web.api import ApiController, Timestamp, errors
from govsms.web.context import separate_reader
from govsms.web.forms import Db, Now
from govsms.web.guards import requires
from govsms.web.params import Id

PDF = "application/pdf"
PDF_HEADERS = [  # documentation only (the value gives the schema its type): _pdf sets them
    ResponseHeader(name="Content-Disposition", value="", description="attachment, with the agreement's file name", documentation_only=True),
    ResponseHeader(name="X-DPA-Version", value="", description="The version's number", documentation_only=True),
    ResponseHeader(name="X-Document-SHA256", value="", description="SHA-256 of the PDF, as kept with the version", documentation_only=True),
]


class AgreementVersion(Struct):
    id: int
    number: int
    language: str
    template_version: str
    created_at: Timestamp
    pdf_sha256: str
    content_sha256: str
    accepted_at: Timestamp | None
    pdf_url: str
    unreadable: bool
    """The stored document cannot be read: its download answers 409."""


class GeneratedVersion(AgreementVersion):
    created: bool
    """False: nothing changed since the newest version, which is given again (200, not 201)."""


class AgreementChange(Struct):
    kind: str
    """``template``, ``party``, ``storage_time``, ``measure``, ``subprocessor_added``, ``subprocessor_removed``,
    ``subprocessor_changed``, ``transfers`` or ``terms``."""
    subject: str
    before: Any
    after: Any


class AgreementStatus(Struct):
    versions: list[AgreementVersion]
    accepted_version: int | None
    new_version_available: bool
    changes: list[AgreementChange]


def _version_fields(version: DpaVersion, *, unreadable: bool = False) -> dict[str, Any]:
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


def _pdf(name: str, pdf: bytes, version: DpaVersion) -> Response[bytes]:
    return Response(
        pdf, media_type=PDF,
        headers={
            "Content-Disposition": f'attachment; filename="{name}"', "X-DPA-Version": str(version.number),
            "X-Document-SHA256": version.pdf_sha256, "Cache-Control": "no-store",
        },
    )


@dataclass
class GenerateRequest:
    lang: str = "sv"


class DpaApi(ApiController):
    guards = (requires(Permission.DPA_READ),)
    tags = ("dpa",)

    @get("/api/v1/dpa", summary="The account's DPA: versions and what changed since the newest")
    def dpa_status(self, request: Request[Any, Any, Any], db: Db, now: Now) -> AgreementStatus:
        state = request.app.state
        actor = request.scope["user"]
        status = service.dpa_status(db, state.settings, state.key_ring, actor, holdings=state.holdings)
        unreadable = service.unreadable_versions(db, actor, status.versions, now=now)
        return AgreementStatus(
            versions=[AgreementVersion(**_version_fields(version, unreadable=version.id in unreadable)) for version in status.versions],
            accepted_version=status.accepted.number if status.accepted else None,
            new_version_available=status.new_version_available,
            changes=[AgreementChange(kind=change.kind, subject=change.subject, before=change.before, after=change.after) for change in status.changes],
        )

    @get(
        "/api/v1/dpa/pdf", summary="The newest DPA in a language, as a PDF", media_type=PDF, response_headers=PDF_HEADERS,
        responses=errors(400, 404, 409, 422),
    )
    def dpa_current_pdf(self, request: Request[Any, Any, Any], db: Db, now: Now, lang: FromQuery[str] = "sv") -> Response[bytes]:
        """The newest generated version in ``lang``; ``GET /api/v1/dpa`` tells whether a newer one is
        due (``new_version_available``), and an admin key makes it with ``POST /api/v1/dpa/versions``."""
        actor = request.scope["user"]
        version = service.newest_version(db, actor, lang=lang)
        if version is None:
            raise NotFound(_("No agreement has been generated in this language yet; an administrator generates it at /dpa."))
        assert version.id is not None  # a stored version
        name, pdf = service.download(db, actor, version.id, now=now)
        return _pdf(name, pdf, version)

    @post(
        "/api/v1/dpa/versions", guards=[requires(Permission.DPA_ACCEPT)],
        summary="Generate today's DPA (admin keys); the newest version again when nothing changed",
        responses={
            200: ResponseSpec(GeneratedVersion, description="Nothing changed: the newest version again", generate_examples=False),
            **errors(400, 409, 415, 422),
        },
    )
    def dpa_generate(self, request: Request[Any, Any, Any], db: Db, data: JSONBody[GenerateRequest], now: Now) -> Response[GeneratedVersion]:
        state = request.app.state
        with separate_reader(state) as reader:
            version, created = service.generate(
                db, state.settings, state.key_ring, request.scope["user"], lang=data.lang, now=now, reader=reader,
                holdings=state.holdings,
            )
        return Response(GeneratedVersion(**_version_fields(version), created=created), status_code=201 if created else 200)

    @get(
        "/api/v1/dpa/versions/{version_id:int}/pdf", summary="One version of the DPA as generated", media_type=PDF,
        response_headers=PDF_HEADERS, responses=errors(400, 404, 409, 422),
    )
    def dpa_version_pdf(self, request: Request[Any, Any, Any], db: Db, version_id: Id, now: Now) -> Response[bytes]:
        actor = request.scope["user"]
        version = service.get_version(db, actor, version_id)
        name, pdf = service.download(db, actor, version_id, now=now)
        return _pdf(name, pdf, version)


ROUTES = [DpaApi]
