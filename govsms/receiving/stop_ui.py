"""The admin's page of STOP replies (``/inbox/stop``): what a STOP does, how many numbers it has
blocked, and the optional confirmation SMS."""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.params import FromQuery
from litestar.response import Redirect, Template

from govsms.auth import Permission
from govsms.errors import GovsmsError
from govsms.i18n import N_
from govsms.receiving import stop
from govsms.web.controller import PageController
from govsms.web.forms import Db, Form, Now, form_text, refused_form
from govsms.web.guards import requires, users_only
from govsms.web.render import NavItem, page

NAV = [NavItem(N_("STOP replies"), "/inbox/stop", Permission.ACCOUNT_SETTINGS)]


def _page(request: Request[Any, Any, Any], db: Db, *, status_code: int = 200, **context: Any) -> Template:
    actor = request.scope["user"]
    context.setdefault("errors", {})
    context.setdefault("text", stop.stop_confirmation(db, actor) or "")
    return page(request, "receiving/stop.html", status_code=status_code, blocked=stop.stop_blocks(db, actor),
                max_length=stop.MAX_CONFIRMATION, **context)


class StopPages(PageController):
    guards = (users_only, requires(Permission.ACCOUNT_SETTINGS))

    @get("/inbox/stop")
    def stop_page(self, request: Request[Any, Any, Any], db: Db, done: FromQuery[str] = "") -> Template:
        return _page(request, db, notice=N_("Saved.") if done == "saved" else None)

    @post("/inbox/stop")
    def stop_save(self, request: Request[Any, Any, Any], db: Db, data: Form, now: Now) -> Template | Redirect:
        typed = form_text(data, "text")
        try:
            stop.set_stop_confirmation(db, request.scope["user"], typed, now=now)
        except GovsmsError as refused:
            return _page(request, db, text=typed[:2000], **refused_form(refused, db))
        return Redirect("/inbox/stop?done=saved", status_code=303)


ROUTES = [StopPages]
