"""The operator's pages of receiving: keywords on the shared numbers (``/operator/keywords``) and
the unrouted queue (``/operator/unrouted``: counts, and one SMS's text revealed on request, by
POST, audited)."""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.response import Redirect, Template

from govsms.auth import Permission
from govsms.errors import GovsmsError
from govsms.i18n import N_
from govsms.receiving import keywords
from govsms.receiving.routing import SHARED_NUMBERS
from govsms.web.controller import PageController
from govsms.web.forms import EVERY_REFUSAL, Db, Form, Now, form_text, refused_form
from govsms.web.guards import requires, users_only
from govsms.web.params import form_id
from govsms.web.render import NavItem, page

NAV = [
    NavItem(N_("Keywords"), "/operator/keywords", Permission.PLATFORM),
    NavItem(N_("Unrouted SMS"), "/operator/unrouted", Permission.PLATFORM),
]


def _keywords_page(request: Request[Any, Any, Any], db: Db, *, status_code: int = 200, **context: Any) -> Template:
    actor = request.scope["user"]
    context.setdefault("errors", {})
    context.setdefault("form", {})
    return page(
        request, "receiving/operator_keywords.html", status_code=status_code, keywords=keywords.list_keywords(db, actor),
        accounts=keywords.customer_accounts(db, actor), shared_numbers=sorted(SHARED_NUMBERS), **context,
    )


def _unrouted_page(request: Request[Any, Any, Any], db: Db, now: Any, *, status_code: int = 200, **context: Any) -> Template:
    actor = request.scope["user"]
    return page(
        request, "receiving/operator_unrouted.html", status_code=status_code, counts=keywords.unrouted_counts(db, actor, now=now),
        messages=keywords.unrouted_messages(db, actor), **context,
    )


class ReceivingOperatorPages(PageController):
    """Keywords and the unrouted queue."""

    guards = (users_only, requires(Permission.PLATFORM))

    @get("/operator/keywords")
    def keywords_page(self, request: Request[Any, Any, Any], db: Db) -> Template:
        return _keywords_page(request, db)

    @post("/operator/keywords")
    def keywords_change(self, request: Request[Any, Any, Any], db: Db, data: Form, now: Now) -> Template | Redirect:
        actor = request.scope["user"]
        try:
            if form_text(data, "remove"):
                keywords.remove_keyword(db, actor, form_id(data, "remove") or 0, now=now)
            else:
                keywords.add_keyword(
                    db, actor, shared_number=form_text(data, "shared_number"), keyword=form_text(data, "keyword"),
                    account_id=form_id(data, "account_id") or 0, now=now,
                )
        except GovsmsError as refused:
            form = {"keyword": form_text(data, "keyword")[:64], "shared_number": form_text(data, "shared_number")[:16]}
            return _keywords_page(request, db, form=form, **refused_form(refused, db, shown=EVERY_REFUSAL))
        return Redirect("/operator/keywords", status_code=303)

    @get("/operator/unrouted")
    def unrouted_page(self, request: Request[Any, Any, Any], db: Db, now: Now) -> Template:
        return _unrouted_page(request, db, now)

    @post("/operator/unrouted/reveal")
    def unrouted_reveal(self, request: Request[Any, Any, Any], db: Db, data: Form, now: Now) -> Template:
        try:
            revealed = keywords.reveal_unrouted(db, request.scope["user"], form_id(data, "message") or 0, now=now)
        except GovsmsError as refused:
            return _unrouted_page(request, db, now, **refused_form(refused, db, shown=EVERY_REFUSAL))
        return _unrouted_page(request, db, now, revealed=revealed)


ROUTES = [ReceivingOperatorPages]
