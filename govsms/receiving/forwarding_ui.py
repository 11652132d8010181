"""The /inbox/forwarding page: the account's admin keeps the rules that forward inbound SMS to
e-mail addresses and a mobile number, and sees each rule's last error and next try."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from litestar import Request, get, post
from litestar.params import FromQuery
from litestar.response import Redirect, Template

from govsms.auth import Permission
from govsms.errors import GovsmsError
from govsms.i18n import N_
from govsms.receiving.forwarding import (
    Mode, Trigger, error_text, create_rule, forwarding_rules, remove_rule, set_rule_enabled, trigger_choices,
)
from govsms.web.controller import PageController
from govsms.web.forms import Db, Form, Now, form_text, refused_form
from govsms.web.guards import requires, users_only
from govsms.web.params import Id
from govsms.web.render import NavItem, page

NAV = [NavItem(N_("Forwarding"), "/inbox/forwarding", Permission.ACCOUNT_SETTINGS)]

NOTICES = {
    "added": N_("The forwarding rule is saved. The next SMS it covers is forwarded."),
    "removed": N_("The forwarding rule is removed."),
    "enabled": N_("The forwarding rule is on."),
    "disabled": N_("The forwarding rule is off: SMS it covers are not forwarded."),
}

FIELDS = ("trigger", "emails", "mode", "mobile")


def _forwarding_page(request: Request[Any, Any, Any], db: Db, *, now: datetime, status_code: int = 200, **context: Any) -> Template:
    context.setdefault("errors", {})
    context.setdefault("form", {})
    actor = request.scope["user"]
    return page(
        request, "receiving/forwarding.html", status_code=status_code, rules=forwarding_rules(db, actor, now=now),
        choices=trigger_choices(db, actor), error_text=error_text, Trigger=Trigger, Mode=Mode, **context,
    )


class ForwardingPages(PageController):
    """Forwarding rules, for the account's administrators."""

    guards = (users_only, requires(Permission.ACCOUNT_SETTINGS))

    @get("/inbox/forwarding")
    def forwarding_page(self, request: Request[Any, Any, Any], db: Db, now: Now, done: FromQuery[str] = "") -> Template:
        return _forwarding_page(request, db, now=now, notice=NOTICES.get(done))

    @post("/inbox/forwarding")
    def forwarding_add(self, request: Request[Any, Any, Any], db: Db, data: Form, now: Now) -> Template | Redirect:
        form = {name: form_text(data, name) for name in FIELDS}
        try:
            create_rule(
                db, request.scope["user"], trigger=form["trigger"], emails=form["emails"], mode=form["mode"] or Mode.FULL.value,
                mobile=form["mobile"], now=now,
            )
        except GovsmsError as refused:
            return _forwarding_page(request, db, now=now, form=form, **refused_form(refused, db))
        return Redirect("/inbox/forwarding?done=added", status_code=303)

    @post("/inbox/forwarding/{rule_id:int}/enable")
    def forwarding_enable(self, request: Request[Any, Any, Any], db: Db, now: Now, rule_id: Id) -> Redirect:
        set_rule_enabled(db, request.scope["user"], rule_id, True, now=now)
        return Redirect("/inbox/forwarding?done=enabled", status_code=303)

    @post("/inbox/forwarding/{rule_id:int}/disable")
    def forwarding_disable(self, request: Request[Any, Any, Any], db: Db, now: Now, rule_id: Id) -> Redirect:
        set_rule_enabled(db, request.scope["user"], rule_id, False, now=now)
        return Redirect("/inbox/forwarding?done=disabled", status_code=303)

    @post("/inbox/forwarding/{rule_id:int}/remove")
    def forwarding_remove(self, request: Request[Any, Any, Any], db: Db, now: Now, rule_id: Id) -> Redirect:
        remove_rule(db, request.scope["user"], rule_id, now=now)
        return Redirect("/inbox/forwarding?done=removed", status_code=303)


ROUTES = [ForwardingPages]
