"""The /settings/retention page: the account's admin or DPO sees each data category with the
provider's maximum and chooses the account's own, shorter storage time."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from litestar import Request, get, post
from litestar.params import FromQuery
from litestar.response import Redirect, Template

from govsms.auth import Permission
from govsms.errors import GovsmsError
from govsms.i18n import N_, _
from govsms.retention.categories import describe_days
from govsms.retention.holds import end_legal_hold, legal_hold, legal_holds, place_hold
from govsms.retention.purge import preview_purge, purge_history
from govsms.retention.service import set_storage_times_for, storage_times_for
from govsms.web.controller import PageController
from govsms.web.forms import Db, Form, Now, form_text, refused_form
from govsms.web.guards import requires, users_only
from govsms.web.params import Id
from govsms.web.render import NavItem, page

NAV = [NavItem(N_("Storage times"), "/settings/retention", Permission.STORAGE_TIMES)]

NOTICES = {
    "saved": N_("The storage times are saved. Annex II of the data processing agreement now states them: "
                "an administrator generates and accepts the new version on the page Data processing agreement."),
    "placed": N_("The legal hold is placed. The purge deletes nothing it covers until its end date."),
    "ended": N_("The legal hold is ended. The next purge deletes what it kept, if its storage time has passed."),
}

FIELD = "days-"
"""The form's field of a category: ``days-<category key>``."""


def parse_days(raw: str) -> int | None | str:
    """A typed number of days: the number, ``None`` for an empty field (the maximum applies), or
    what is wrong with it. ASCII digits only: int() also reads "١" (an Arabic-Indic one) and "1_000"."""
    raw = raw.strip()
    if not raw:
        return None
    if not (raw.isascii() and raw.isdigit()):
        return _("Give a whole number of days.")
    return int(raw) if len(raw) <= 9 else 10**9  # longer than any storage time: the service names the range


def _retention_page(request: Request[Any, Any, Any], db: Db, *, now: datetime, status_code: int = 200, **context: Any) -> Template:
    context.setdefault("errors", {})
    context.setdefault("form", {})
    actor = request.scope["user"]
    times = storage_times_for(db, actor)
    # The next run's preview for this account: counts only (a dry run of the purge).
    preview = preview_purge(db, request.app.state.holdings, actor.account_id, now=now)
    return page(
        request, "retention/settings.html", status_code=status_code, times=times, preview=preview,
        history=purge_history(db, actor.account_id), can_hold=actor.can(Permission.RETENTION),
        describe_days=describe_days, field=FIELD, **context,
    )


class RetentionPages(PageController):
    """The account's own storage times, for its admin and its DPO."""

    guards = (users_only, requires(Permission.STORAGE_TIMES))

    @get("/settings/retention")
    def retention_page(self, request: Request[Any, Any, Any], db: Db, now: Now, done: FromQuery[str] = "") -> Template:
        return _retention_page(request, db, now=now, notice=NOTICES.get(done))

    @post("/settings/retention")
    def retention_save(self, request: Request[Any, Any, Any], db: Db, data: Form, now: Now) -> Template | Redirect:
        form = {name: form_text(data, name) for name in data if name.startswith(FIELD)}
        choices: dict[str, int | None] = {}
        errors: dict[str, str] = {}
        for name, raw in form.items():
            days = parse_days(raw)
            if isinstance(days, str):
                errors[name] = days
            else:
                choices[name.removeprefix(FIELD)] = days
        if errors:
            return _retention_page(request, db, now=now, status_code=422, form=form, errors=errors, error=_("The storage times were not saved."))
        try:
            set_storage_times_for(db, request.scope["user"], choices, now=now)
        except GovsmsError as refused:
            reasons = refused_form(refused, db)
            reasons["errors"] = {FIELD + key: message for key, message in reasons["errors"].items()}
            return _retention_page(request, db, now=now, form=form, **reasons)
        return Redirect("/settings/retention?done=saved", status_code=303)


def parse_until(raw: str) -> date | str:
    """A typed end date (YYYY-MM-DD), or what is wrong with it."""
    raw = raw.strip()
    if not raw:
        return _("Give the end date of the hold.")
    try:
        if not (raw.isascii() and len(raw) == 10):
            raise ValueError(raw)
        return date.fromisoformat(raw)
    except ValueError:
        return _("Give the end date as YYYY-MM-DD.")


def _holds_page(request: Request[Any, Any, Any], db: Db, *, now: datetime, status_code: int = 200, **context: Any) -> Template:
    context.setdefault("errors", {})
    context.setdefault("form", {})
    holds = legal_holds(db, request.scope["user"], today=now.date())
    return page(request, "retention/holds.html", status_code=status_code, holds=holds, today=now.date(), **context)


class LegalHoldPages(PageController):
    """The account's legal holds: only its DPO (the permission RETENTION) sees, places and ends them;
    an admin chooses storage times but has no way to the holds (403)."""

    guards = (users_only, requires(Permission.RETENTION))

    @get("/settings/retention/holds")
    def holds_page(self, request: Request[Any, Any, Any], db: Db, now: Now, done: FromQuery[str] = "") -> Template:
        return _holds_page(request, db, now=now, notice=NOTICES.get(done))

    @post("/settings/retention/holds")
    def hold_place(self, request: Request[Any, Any, Any], db: Db, data: Form, now: Now) -> Template | Redirect:
        # The number comes in the POST body only: it is never in a URL, and never shown again.
        form = {name: form_text(data, name) for name in ("on", "reason", "until")}
        number = form_text(data, "number")
        until = parse_until(form["until"])
        if isinstance(until, str):
            return _holds_page(request, db, now=now, status_code=422, form=form, errors={"until": until}, error=until)
        on_number = form["on"] == "number"
        if on_number and not number.strip():
            message = _("Type the number to hold, or choose the whole account.")
            return _holds_page(request, db, now=now, status_code=422, form=form, errors={"number": message}, error=message)
        try:
            place_hold(db, request.scope["user"], number=number if on_number else None, reason=form["reason"], until=until, now=now)
        except GovsmsError as refused:
            return _holds_page(request, db, now=now, form=form, **refused_form(refused, db))
        return Redirect("/settings/retention/holds?done=placed", status_code=303)

    @get("/settings/retention/holds/{hold_id:int}/end")
    def hold_end_confirm(self, request: Request[Any, Any, Any], db: Db, now: Now, hold_id: Id) -> Template:
        hold = legal_hold(db, request.scope["user"], hold_id, today=now.date())
        return page(request, "retention/hold_end.html", hold=hold)

    @post("/settings/retention/holds/{hold_id:int}/end")
    def hold_end(self, request: Request[Any, Any, Any], db: Db, now: Now, hold_id: Id) -> Redirect:
        end_legal_hold(db, request.scope["user"], hold_id, now=now)
        return Redirect("/settings/retention/holds?done=ended", status_code=303)


ROUTES = [RetentionPages, LegalHoldPages]
