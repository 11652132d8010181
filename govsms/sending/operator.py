"""The operator's pages of sending: the price list and the accounts' virtual numbers."""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.response import Redirect, Template

from govsms.auth import Permission
from govsms.errors import GovsmsError
from govsms.i18n import N_
from govsms.sending import pricing
from govsms.web.controller import PageController
from govsms.web.forms import EVERY_REFUSAL, Db, Now, Form, form_text, refused_form
from govsms.web.guards import requires, users_only
from govsms.web.params import form_id
from govsms.web.render import NavItem, page

NAV = [NavItem(N_("Prices and numbers"), "/operator/prices", Permission.PLATFORM)]

def _page(request: Request[Any, Any, Any], db: Db, *, status_code: int = 200, **context: Any) -> Template:
    actor = request.scope["user"]
    context.setdefault("errors", {})
    return page(
        request, "sending/operator_prices.html", status_code=status_code, prices=sorted(pricing.price_table(db).values(), key=lambda p: p.country),
        numbers=pricing.list_virtual_numbers(db, actor), accounts=pricing.assignable_accounts(db, actor), **context,
    )


def _price_minor(typed: str) -> int:
    """A price typed in kronor (``0,45``) in öre; -1 when none is typed. ValueError for anything
    else: float() also reads "1e400" (infinity), "nan" and non-ASCII digits, which no price is."""
    price = typed.strip().replace(",", ".")
    if price and not price.isascii():
        raise ValueError(price)
    return int(round(float(price) * 100)) if price else -1


class PriceOperatorPages(PageController):
    """The operator's price list and virtual numbers."""

    guards = (users_only, requires(Permission.PLATFORM))

    @get("/operator/prices")
    def prices_page(self, request: Request[Any, Any, Any], db: Db) -> Template:
        return _page(request, db)

    @post("/operator/prices")
    def prices_set(self, request: Request[Any, Any, Any], db: Db, data: Form, now: Now) -> Template | Redirect:
        try:
            minor = _price_minor(form_text(data, "price"))
        except (ValueError, OverflowError):
            return _page(request, db, status_code=422, errors={"price": "0,45"}, error=None)  # how a price is written
        try:
            pricing.set_price(db, request.scope["user"], country=form_text(data, "country"), per_part_minor=minor, now=now)
        except GovsmsError as refused:
            return _page(request, db, **refused_form(refused, db, shown=(422,)))
        return Redirect("/operator/prices", status_code=303)

    @post("/operator/numbers")
    def numbers_assign(self, request: Request[Any, Any, Any], db: Db, data: Form, now: Now) -> Template | Redirect:
        actor = request.scope["user"]
        try:
            if form_text(data, "remove"):
                pricing.remove_virtual_number(db, actor, form_text(data, "remove"))
            else:
                pricing.assign_virtual_number(
                    db, actor, account_id=form_id(data, "account_id") or 0, number=form_text(data, "number"), now=now
                )
        except GovsmsError as refused:
            return _page(request, db, **refused_form(refused, db, shown=EVERY_REFUSAL))
        return Redirect("/operator/prices", status_code=303)


ROUTES = [PriceOperatorPages]
