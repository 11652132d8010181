"""The register of data-subject requests for the DPO: /subjects/requests (the list, overdue ones
marked), /subjects/requests/new, /subjects/requests/{id} (notes, status, extension, the linked
export and erasure), and the access export: POST /subjects/export (the number in the body only)
and GET /subjects/exports/{id}.zip (an audited download)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from litestar import Request, Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from govsms.auth import Permission
from govsms.errors import GovsmsError, InvalidInput
from govsms.i18n import N_, _, current_language
from govsms.subjects.export import LANGUAGES, create_export, download_export, exports_of, processor_name
from govsms.subjects.person import person_for
from govsms.subjects.requests import KINDS, STATUSES, get_request, list_requests, register_request, update_request
from govsms.web.controller import PageController
from govsms.web.forms import EVERY_REFUSAL, Db, Form, Now, form_text, refused_form
from govsms.web.guards import requires, users_only
from govsms.web.params import Id, PageNumber, form_id
from govsms.web.render import NavItem, page

NAV = [NavItem(N_("Requests"), "/subjects/requests", Permission.SUBJECTS)]

NOTICES = {
    "registered": N_("The request is registered. Its deadline is one month from the day it was received."),
    "saved": N_("The request is saved."),
    "extended": N_("The deadline is extended by two months."),
    "exported": N_("The export is ready: download it below and hand it to the person. It is kept for 30 days."),
}
FILTERS = ("open", "overdue", "done", "refused")
EDITABLE_STATUSES = ("open", "done", "refused")


def parse_day(raw: str, field: str) -> date | None:
    """A typed date (YYYY-MM-DD); None for an empty field; InvalidInput naming ``field`` otherwise."""
    raw = raw.strip()
    if not raw:
        return None
    try:
        if not (raw.isascii() and len(raw) == 10):
            raise ValueError(raw)
        return date.fromisoformat(raw)
    except ValueError:
        message = _("Give the date as YYYY-MM-DD.")
        raise InvalidInput(message, fields={field: message}) from None


def _new_page(request: Request[Any, Any, Any], *, now: datetime, status_code: int = 200, **context: Any) -> Template:
    context.setdefault("errors", {})
    context.setdefault("form", {})
    return page(request, "subjects/requests_new.html", status_code=status_code, kinds=KINDS, today=now.date(), **context)


def _request_page(request: Request[Any, Any, Any], db: Db, request_id: int, *, now: datetime, status_code: int = 200, **context: Any) -> Template:
    context.setdefault("errors", {})
    context.setdefault("form", {})
    actor = request.scope["user"]
    view = get_request(db, actor, request_id, now=now)
    return page(
        request, "subjects/request.html", status_code=status_code, view=view, kinds=KINDS, statuses=STATUSES,
        editable_statuses=EDITABLE_STATUSES, exports=exports_of(db, actor, request_id, now=now), languages=LANGUAGES,
        can_audit=actor.can(Permission.AUDIT_READ), **context,
    )


def _export_page(request: Request[Any, Any, Any], *, status_code: int = 200, **context: Any) -> Template:
    context.setdefault("errors", {})
    context.setdefault("form", {})
    return page(request, "subjects/export.html", status_code=status_code, languages=LANGUAGES, **context)


class RequestPages(PageController):
    """The DPO's register of data-subject requests."""

    guards = (users_only, requires(Permission.SUBJECTS))

    @get("/subjects/requests")
    def requests_list(
        self, request: Request[Any, Any, Any], db: Db, now: Now, status: FromQuery[str] = "", page_number: PageNumber = 1,
    ) -> Template:
        chosen = status if status in FILTERS else ""
        requests = list_requests(db, request.scope["user"], status=chosen or None, page=page_number, now=now)
        return page(
            request, "subjects/requests.html", requests=requests, kinds=KINDS, statuses=STATUSES, filters=FILTERS, status=chosen,
        )

    @get("/subjects/requests/new")
    def request_new(self, request: Request[Any, Any, Any], now: Now) -> Template:
        return _new_page(request, now=now)

    @post("/subjects/requests")
    def request_register(self, request: Request[Any, Any, Any], db: Db, data: Form, now: Now) -> Template | Redirect:
        form = {name: form_text(data, name) for name in ("kind", "received_on", "notes")}
        try:
            received = parse_day(form["received_on"], "received_on")
            registered = register_request(db, request.scope["user"], kind=form["kind"], received_on=received, notes=form["notes"], now=now)
        except GovsmsError as refused:
            return _new_page(request, now=now, form=form, **refused_form(refused, db))
        return Redirect(f"/subjects/requests/{registered.id}?done=registered", status_code=303)

    @get("/subjects/requests/{request_id:int}")
    def request_show(self, request: Request[Any, Any, Any], db: Db, now: Now, request_id: Id, done: FromQuery[str] = "") -> Template:
        """The request with its notes in clear: an audited read."""
        return _request_page(request, db, request_id, now=now, notice=NOTICES.get(done))

    @post("/subjects/requests/{request_id:int}")
    def request_save(self, request: Request[Any, Any, Any], db: Db, data: Form, now: Now, request_id: Id) -> Template | Redirect:
        form = {name: form_text(data, name) for name in ("notes", "status")}
        try:
            update_request(db, request.scope["user"], request_id, notes=form["notes"], status=form["status"] or None, now=now)
        except GovsmsError as refused:
            return _request_page(request, db, request_id, now=now, form=form, **refused_form(refused, db))
        return Redirect(f"/subjects/requests/{request_id}?done=saved", status_code=303)

    @post("/subjects/requests/{request_id:int}/extend")
    def request_extend(self, request: Request[Any, Any, Any], db: Db, data: Form, now: Now, request_id: Id) -> Template | Redirect:
        form = {"extension_reason": form_text(data, "extension_reason")}
        try:
            if not form["extension_reason"].strip():
                message = _("Give the reason for the extension.")
                raise InvalidInput(message, fields={"extension_reason": message})
            update_request(db, request.scope["user"], request_id, extension_reason=form["extension_reason"], now=now)
        except GovsmsError as refused:
            return _request_page(request, db, request_id, now=now, form=form, **refused_form(refused, db))
        return Redirect(f"/subjects/requests/{request_id}?done=extended", status_code=303)


class ExportPages(PageController):
    """The access export: made from a number posted in a form, downloaded by its token."""

    guards = (users_only, requires(Permission.SUBJECTS))

    @get("/subjects/export")
    def export_form(self, request: Request[Any, Any, Any]) -> Template:
        return _export_page(request, form={"language": current_language.get()})

    @post("/subjects/export")
    def export_create(self, request: Request[Any, Any, Any], db: Db, data: Form, now: Now) -> Template | Redirect:
        """The number comes in the POST body only (a hidden field of the search result, or typed)."""
        actor = request.scope["user"]
        form = {"request_id": form_text(data, "request_id"), "language": form_text(data, "language") or current_language.get()}
        request_id: int | None = None
        try:
            request_id = form_id(data, "request_id")
            person = person_for(db, actor, form_text(data, "number"), now=now)
            export = create_export(
                db, actor, request.app.state.holdings, person, request_id, language=form["language"], now=now,
                processor=processor_name(db, request.app.state.settings),
            )
        except GovsmsError as refused:
            reasons = refused_form(refused, db, shown=EVERY_REFUSAL if request_id is None else (409, 422))
            if request_id is not None:
                return _request_page(request, db, request_id, now=now, form=form, **reasons)
            return _export_page(request, form=form, **reasons)
        return Redirect(f"/subjects/requests/{export.request_id}?done=exported#export", status_code=303)

    @get("/subjects/exports/{export_id:str}")
    def export_download(self, request: Request[Any, Any, Any], db: Db, now: Now, export_id: FromPath[str]) -> Response[bytes]:
        """The ZIP (``/subjects/exports/<token>.zip``): an audited read; 404 after 30 days."""
        exported = download_export(db, request.scope["user"], export_id.removesuffix(".zip"), now=now)
        return Response(
            exported.content, media_type="application/zip",
            headers={"Content-Disposition": f'attachment; filename="{exported.filename}"', "Cache-Control": "no-store"},
        )


ROUTES = [RequestPages, ExportPages]
