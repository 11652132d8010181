"""The /dpa page: the admin fills in Annex I, previews, generates, downloads and accepts; the
other roles of the account read and download. Also the operator's registry and storage times."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from litestar import Request, get, post
from litestar.background_tasks import BackgroundTask
from litestar.params import FromQuery
from litestar.response import Redirect, Response, Template
from sqlmodel import Session

from govsms.auth import Actor, Permission
from govsms.clock import localtime
from govsms.dpa import notice, registry, service
from govsms.dpa.annexes import ProviderNotConfigured, provider_of
from govsms.errors import GovsmsError
from govsms.i18n import LANGUAGES, N_, _, current_language
from govsms.retention.categories import describe_days
from govsms.retention.service import set_storage_time, storage_times
from govsms.audit.unreadable import CANNOT_BE_READ
from govsms.web.controller import PageController
from govsms.web.context import separate_reader
from govsms.web.forms import EVERY_REFUSAL, Db, Now, Form, form_text, refused_form
from govsms.web.guards import requires, users_only
from govsms.web.banners import Banner
from govsms.web.params import Id, form_id
from govsms.web.render import NavItem, page

NAV = [
    NavItem(N_("Data processing agreement"), "/dpa", Permission.DPA_READ),
    NavItem(N_("Sub-processors and storage times"), "/operator/dpa", Permission.PLATFORM),
]
ACCEPT_REFUSALS = frozenset(EVERY_REFUSAL) - {404}
"""The acceptance form shows every refusal but a version of another account (404)."""

NOTICES = {
    "saved": N_("The details are saved. Preview the agreement, then generate the PDF."),
    "generated": N_("A new version is generated. Download it, read it, and accept it below."),
    "unchanged": N_("Nothing has changed since the newest version in this language, so that version still applies."),
    "accepted": N_("The agreement is accepted. The acceptance is recorded in the access log."),
}


def _dpa_page(
    request: Request[Any, Any, Any], db: Db, *, status_code: int = 200, form: dict[str, str] | None = None, now: datetime, **context: Any
) -> Template:
    actor = request.scope["user"]
    state = request.app.state
    status = service.dpa_status(db, state.settings, state.key_ring, actor, holdings=state.holdings)
    stored, details_unreadable = service.read_details(db, actor, now=now)  # audited: the page shows people's names
    details = form if form is not None else stored
    acceptance = service.acceptance_of(db, actor, status.accepted, now=now) if status.accepted else None
    unreadable_versions = service.unreadable_versions(db, actor, status.versions, now=now)
    context.setdefault("errors", {})
    return page(
        request, "dpa/page.html", status_code=status_code, status=status, details=details, acceptance=acceptance,
        details_unreadable=details_unreadable, unreadable_versions=unreadable_versions, cannot_be_read=CANNOT_BE_READ,
        can_accept=actor.can(Permission.DPA_ACCEPT), languages=LANGUAGES, chosen_lang=current_language.get(),
        change_text=change_text, **context,
    )


def subprocessor_banners(session: Session, actor: Actor, now: datetime) -> list[Banner]:
    """For those who accept the account's agreement: each sub-processor added but not in effect
    yet (its notice under clause 6.2), until the day it takes effect."""
    if not actor.can(Permission.DPA_ACCEPT) or actor.can(Permission.PLATFORM):
        return []
    return [
        Banner(
            text=_("New sub-processor: %(name)s (%(purpose)s, %(country)s) takes effect on %(date)s. If you object to it, tell your provider before then.") % {
                "name": entry.name, "purpose": entry.purpose, "country": registry.country_name(entry.country, current_language.get()),
                "date": localtime(entry.effective_at, "%Y-%m-%d", actor.timezone),
            },
            link="/dpa/preview#annex-4", link_text=_("Annex IV of the agreement"),
        )
        for entry in registry.pending_subprocessors(session, now=now)
    ]


def change_text(change: Any) -> str:
    """One line of "what changed" for the page."""
    from govsms.retention.categories import BY_KEY

    if change.kind == "storage_time":
        category = BY_KEY.get(change.subject)
        label = _(category.label) if category else change.subject
        return _("Annex II: storage time of %(category)s changed from %(before)s to %(after)s.") % {
            "category": label, "before": describe_days(change.before), "after": describe_days(change.after),
        }
    if change.kind == "processing":
        category = BY_KEY.get(change.subject)
        return _("Annex II: what the service holds in %(category)s changed.") % {"category": _(category.label) if category else change.subject}
    if change.kind == "subprocessor_added":
        if isinstance(change.after, dict) and change.after.get("effective_from"):
            return _("Annex IV: new sub-processor %(name)s, from %(date)s.") % {"name": change.subject, "date": change.after["effective_from"]}
        return _("Annex IV: new sub-processor %(name)s.") % {"name": change.subject}
    if change.kind == "subprocessor_removed":
        return _("Annex IV: sub-processor %(name)s removed.") % {"name": change.subject}
    if change.kind == "subprocessor_changed":
        return _("Annex IV: details of sub-processor %(name)s changed.") % {"name": change.subject}
    if change.kind == "measure":
        return _("Annex III: the security measures changed (%(measure)s).") % {"measure": change.subject.replace("_", " ")}
    if change.kind == "party":
        return _("Annex I: the parties' details changed.")
    if change.kind == "template":
        return _("The clause text has a new version (%(version)s).") % {"version": change.after}
    if change.kind == "transfers":
        return _("Transfers outside the EU/EEA changed.")
    return _("The agreement's terms changed.")


class DpaPages(PageController):
    """The agreement as every role of the account reads it: the page, the preview, the PDFs."""

    guards = (users_only, requires(Permission.DPA_READ))

    @get("/dpa")
    def dpa_page(self, request: Request[Any, Any, Any], db: Db, now: Now, done: FromQuery[str] = "") -> Template:
        return _dpa_page(request, db, notice=NOTICES.get(done), now=now)

    @get("/dpa/preview")
    def dpa_preview(self, request: Request[Any, Any, Any], db: Db, now: Now, lang: FromQuery[str] = "sv") -> Response[str]:
        state = request.app.state
        html = service.preview(db, state.settings, state.key_ring, request.scope["user"], lang=lang, now=now, holdings=state.holdings)
        return Response(html, media_type="text/html; charset=utf-8", headers={"Cache-Control": "no-store"})

    @get("/dpa/versions/{version_id:int}/pdf")
    def dpa_download(self, request: Request[Any, Any, Any], db: Db, version_id: Id, now: Now) -> Response[bytes]:
        name, pdf = service.download(db, request.scope["user"], version_id, now=now)
        return Response(
            pdf, media_type="application/pdf",
            headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
        )


class DpaAcceptPages(PageController):
    """What only those who may accept the agreement do: fill in Annex I, generate, accept."""

    guards = (users_only, requires(Permission.DPA_ACCEPT))

    @post("/dpa/details")
    def dpa_details(self, request: Request[Any, Any, Any], db: Db, data: Form, now: Now) -> Template | Redirect:
        values = {field: form_text(data, field) for field in service.DETAIL_FIELDS}
        try:
            service.save_details(db, request.scope["user"], values, now=now)
        except GovsmsError as refused:
            return _dpa_page(request, db, form=values, now=now, **refused_form(refused, db, shown=EVERY_REFUSAL))
        return Redirect("/dpa?done=saved", status_code=303)

    @post("/dpa/generate")
    def dpa_generate(self, request: Request[Any, Any, Any], db: Db, data: Form, now: Now) -> Template | Redirect:
        state = request.app.state
        try:
            with separate_reader(state) as reader:
                _version, created = service.generate(
                    db, state.settings, state.key_ring, request.scope["user"], lang=form_text(data, "lang"), now=now, reader=reader,
                    holdings=state.holdings,
                )
        except GovsmsError as refused:
            return _dpa_page(request, db, now=now, **refused_form(refused, db, shown=EVERY_REFUSAL))
        return Redirect(f"/dpa?done={'generated' if created else 'unchanged'}", status_code=303)

    @post("/dpa/versions/{version_id:int}/accept")
    def dpa_accept(self, request: Request[Any, Any, Any], db: Db, version_id: Id, data: Form, now: Now) -> Template | Redirect:
        try:
            service.accept(
                db, request.scope["user"], version_id, name=form_text(data, "name"), title=form_text(data, "title"),
                confirmed=form_text(data, "confirm") == "yes", now=now,
            )
        except GovsmsError as refused:
            return _dpa_page(
                request, db, accept_form={"name": form_text(data, "name"), "title": form_text(data, "title")}, now=now,
                **refused_form(refused, db, shown=ACCEPT_REFUSALS),
            )
        return Redirect("/dpa?done=accepted", status_code=303)


# -- the operator: sub-processors and storage times ------------------------------------------------


def _operator_page(request: Request[Any, Any, Any], db: Db, *, status_code: int = 200, **context: Any) -> Template:
    try:
        provider = provider_of(db, request.app.state.settings)
        provider_error = None
    except ProviderNotConfigured as missing:
        provider, provider_error = None, f"{missing.message} ({missing.fields['provider']})"
    context.setdefault("errors", {})
    return page(
        request, "dpa/operator.html", status_code=status_code, subprocessors=registry.active_subprocessors(db),
        times=storage_times(db), describe_days=describe_days, provider=provider, provider_error=provider_error,
        country_name=registry.country_name, lang=current_language.get(), **context,
    )


class DpaOperatorPages(PageController):
    """The operator's sub-processors and storage times."""

    guards = (users_only, requires(Permission.PLATFORM))

    @get("/operator/dpa")
    def operator_page(self, request: Request[Any, Any, Any], db: Db, done: FromQuery[str] = "") -> Template:
        notices = {"saved": N_(
            "Saved. Customers' DPA pages now say that a new version is available. A new sub-processor takes effect after 30 days' notice: "
            "customers' admins see it at the top of their pages until then, and those with an administrative e-mail address are mailed."
        )}
        return _operator_page(request, db, notice=notices.get(done))

    @post("/operator/subprocessors")
    def subprocessor_save(self, request: Request[Any, Any, Any], db: Db, data: Form, now: Now) -> Template | Redirect:
        actor = request.scope["user"]
        values = {field: form_text(data, field) for field in ("name", "org_number", "country", "city", "purpose", "safeguard")}
        mails = []
        try:
            if (remove := form_id(data, "remove")) is not None:
                registry.remove_subprocessor(db, actor, remove, now=now)
            elif (entry_id := form_id(data, "id")) is not None:
                changed = registry.change_subprocessor(db, actor, entry_id, **values, now=now)
                if changed.renewed_notice:  # another company or country: notice as for a new one
                    mails = notice.notice_mails(db, request.app.state.settings, changed.entry)
            else:
                entry = registry.add_subprocessor(
                    db, actor, name=values["name"], org_number=values["org_number"], country=values["country"], city=values["city"],
                    purpose=values["purpose"], safeguard=values["safeguard"], now=now,
                )
                mails = notice.notice_mails(db, request.app.state.settings, entry)
        except GovsmsError as refused:
            return _operator_page(request, db, form=values, **refused_form(refused, db, shown=EVERY_REFUSAL))
        # The customers' admins are told once the entry is saved (after the response: a slow mail
        # server holds no page).
        background = BackgroundTask(notice.send_notices, request.app.state.settings, mails) if mails else None
        return Redirect("/operator/dpa?done=saved", status_code=303, background=background)

    @post("/operator/retention")
    def retention_save(self, request: Request[Any, Any, Any], db: Db, data: Form, now: Now) -> Template | Redirect:
        raw = form_text(data, "days").strip()
        key = form_text(data, "category")
        # ASCII digits only: int() also reads "١" (an Arabic-Indic one) and "1_000".
        if raw not in ("", "-") and not (raw.isascii() and raw.isdigit() and len(raw) <= 9):
            return _operator_page(request, db, status_code=422, errors={f"days-{key}": _("Give a whole number of days.")}, error=None)
        days = None if raw in ("", "-") else int(raw)
        try:
            set_storage_time(db, request.scope["user"], key, days, now=now)
        except GovsmsError as refused:
            reasons = refused_form(refused, db, shown=EVERY_REFUSAL)
            reasons["errors"] = {f"days-{key}": message for message in reasons["errors"].values()}
            return _operator_page(request, db, **reasons)
        return Redirect("/operator/dpa?done=saved", status_code=303)


ROUTES = [DpaPages, DpaAcceptPages, DpaOperatorPages]
