"""The DPO's pages for one person's data: /subjects (search one number, optionally for a request of
the register), the result (per category what the account holds, who accessed it), the erasure's
preview and the erasure itself, and the signed receipt (JSON and PDF). Numbers travel only in
POST bodies (hidden fields of the result and preview pages)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from litestar import Request, Response, get, post
from litestar.params import FromQuery
from litestar.response import Redirect, Template

from govsms.auth import Permission
from govsms.errors import GovsmsError
from govsms.i18n import N_, _, current_language
from govsms.subjects.erasure import Sealer, erase_subject, erasure_view, preview_erasure, receipt_of
from govsms.subjects.receipt import render_receipt_pdf
from govsms.subjects.requests import KINDS, list_requests
from govsms.subjects.search import search_subject
from govsms.web.controller import PageController
from govsms.web.forms import EVERY_REFUSAL, Db, Form, Now, form_text, refused_form
from govsms.web.guards import requires, users_only
from govsms.web.params import MAX_ID, Id, form_id
from govsms.web.render import NavItem, page

NAV = [NavItem(N_("People's data"), "/subjects", Permission.SUBJECTS)]

FIELDS = ("number", "request_id")


def sealer_of(request: Request[Any, Any, Any]) -> Sealer:
    state = request.app.state
    return Sealer(keys=state.key_ring, witness_path=state.settings.audit_witness_file)


def _search_page(request: Request[Any, Any, Any], db: Db, *, now: datetime, status_code: int = 200, **context: Any) -> Template:
    context.setdefault("errors", {})
    context.setdefault("form", {})
    requests = list_requests(db, request.scope["user"], status="open", per_page=100, now=now)
    return page(request, "subjects/search.html", status_code=status_code, requests=requests.items, kinds=KINDS, **context)


def _form(data: dict[str, Any]) -> dict[str, str]:
    return {name: form_text(data, name).strip() for name in FIELDS}


def _page_number(data: dict[str, Any]) -> int:
    raw = form_text(data, "page").strip()
    return min(int(raw), MAX_ID) if raw.isascii() and raw.isdigit() and 0 < len(raw) <= 10 and int(raw) > 0 else 1


class SubjectPages(PageController):
    """One person's data across the account, for its DPO (and admin)."""

    guards = (users_only, requires(Permission.SUBJECTS))

    @get("/subjects")
    def subjects_page(self, request: Request[Any, Any, Any], db: Db, now: Now) -> Template:
        return _search_page(request, db, now=now)

    @post("/subjects/search")
    def subjects_search(self, request: Request[Any, Any, Any], db: Db, data: Form, now: Now) -> Template:
        """The result: per category what is held, and who accessed it (an audited read)."""
        form = _form(data)
        try:
            result = search_subject(
                db, request.scope["user"], request.app.state.holdings, form["number"], request_id=form_id(data, "request_id"),
                now=now, staff_names=request.app.state.staff_names, page=_page_number(data),
            )
        except GovsmsError as refused:
            return _search_page(request, db, now=now, form=form, **refused_form(refused, db, shown=EVERY_REFUSAL))
        return page(request, "subjects/result.html", result=result, form=form, languages=(("sv", "Svenska"), ("en", "English")))

    @post("/subjects/erase/preview")
    def erase_preview(self, request: Request[Any, Any, Any], db: Db, data: Form, now: Now) -> Template:
        """What the erasure would erase and keep (and why), or the legal hold that refuses it."""
        form = _form(data)
        unblock = form_text(data, "unblock") == "1"
        try:
            preview = preview_erasure(
                db, request.scope["user"], request.app.state.holdings, form["number"], request_id=form_id(data, "request_id"),
                unblock=unblock, now=now,
            )
        except GovsmsError as refused:
            return _search_page(request, db, now=now, form=form, **refused_form(refused, db, shown=EVERY_REFUSAL))
        return page(request, "subjects/erase_preview.html", preview=preview, form=form, unblock=unblock)

    @post("/subjects/erase")
    def erase(self, request: Request[Any, Any, Any], data: Form, now: Now) -> Template | Redirect:
        """The erasure, in transactions of its own (no request transaction is open: it commits
        batch by batch and is resumable); then the done page."""
        form = _form(data)
        unblock = form_text(data, "unblock") == "1"
        if form_text(data, "confirm") != "1":
            message = _("Tick the box to confirm the erasure: it cannot be undone.")
            return page(request, "subjects/erase_preview.html", status_code=422, preview=None, form=form, unblock=unblock,
                        error=message, errors={"confirm": message})
        try:
            done = erase_subject(
                request.app.state.session_factory, request.scope["user"], request.app.state.holdings, form["number"],
                sealer=sealer_of(request), request_id=form_id(data, "request_id"), unblock=unblock, now=now,
            )
        except GovsmsError as refused:
            reasons = refused_form(refused, shown=EVERY_REFUSAL)
            return page(request, "subjects/erase_preview.html", preview=None, form=form, unblock=unblock, **reasons)
        return Redirect(f"/subjects/erasures/{done.erasure.id}", status_code=303)

    @get("/subjects/erasures/{erasure_id:int}")
    def erased(self, request: Request[Any, Any, Any], db: Db, erasure_id: Id) -> Template:
        """The done page: counts per table, the request, the receipt's links (no number)."""
        return page(request, "subjects/erased.html", view=erasure_view(db, request.scope["user"], erasure_id, request.app.state.holdings))

    @get("/subjects/erasures/{erasure_id:int}/receipt.json")
    def receipt_json(self, request: Request[Any, Any, Any], now: Now, erasure_id: Id) -> Response[bytes]:
        """The signed receipt, byte for byte as ``govsms dsr verify-receipt`` checks it (audited)."""
        done = receipt_of(
            request.app.state.session_factory, request.scope["user"], request.app.state.holdings, erasure_id,
            sealer=sealer_of(request), now=now,
        )
        return Response(done.file, media_type="application/json", headers={
            "Content-Disposition": f'attachment; filename="receipt-{done.request.reference}.json"', "Cache-Control": "no-store",
        })

    @get("/subjects/erasures/{erasure_id:int}/receipt.pdf")
    def receipt_pdf(self, request: Request[Any, Any, Any], now: Now, erasure_id: Id, lang: FromQuery[str] = "") -> Response[bytes]:
        """The receipt for the person, in Swedish or English (``?lang=sv|en``; else the page's language)."""
        actor = request.scope["user"]
        done = receipt_of(
            request.app.state.session_factory, actor, request.app.state.holdings, erasure_id, sealer=sealer_of(request), now=now,
        )
        pdf = render_receipt_pdf(done.receipt, done.signature, lang=lang if lang in ("sv", "en") else current_language.get(), timezone=actor.timezone)
        return Response(pdf, media_type="application/pdf", headers={
            "Content-Disposition": f'attachment; filename="receipt-{done.request.reference}.pdf"', "Cache-Control": "no-store",
        })


ROUTES = [SubjectPages]
