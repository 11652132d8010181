"""The operator's pages of sending: the price list and the accounts' virtual numbers."""

from __future__ import annotations

from typing import Any

from babel import Locale
from litestar import Request, get, post
from litestar.response import Redirect, Template

from govsms.auth import Permission
from govsms.errors import GovsmsError, InvalidInput
from govsms.i18n import N_, _, current_language
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
    context.setdefault("form", {})
    context["country_names"] = Locale.parse(current_language.get()).territories  # "SE" -> Sverige / Sweden
    return page(
        request, "sending/operator_prices.html", status_code=status_code, prices=sorted(pricing.price_table(db).values(), key=lambda p: p.country),
        numbers=pricing.list_virtual_numbers(db, actor), accounts=pricing.assignable_accounts(db, actor), **context,
    )


class PriceOperatorPages(PageController):
    """The operator's price list and virtual numbers."""

    guards = (users_only, requires(Permission.PLATFORM))

    @get("/operator/prices")
    def prices_page(self, request: Request[Any, Any, Any], db: Db) -> Template:
        saved = request.query_params.get("saved", "")
        return _page(request, db, notice=N_("The price was saved.") if saved in pricing.sms_countries() else None)

    @post("/operator/prices")
    def prices_set(self, request: Request[Any, Any, Any], db: Db, data: Form, now: Now) -> Template | Redirect:
        """A price in kronor with a decimal comma (``0,45``) for a country's ISO code; a refusal
        names each field wrong and keeps what was typed."""
        form = {"country": form_text(data, "country"), "price": form_text(data, "price")}
        errors: dict[str, str] = {}
        country, minor = "", 0
        try:
            country = pricing.checked_country(form["country"])
        except InvalidInput as refused:
            errors.update(refused.fields)
        try:
            minor = pricing.kronor_to_minor(form["price"])
        except InvalidInput as refused:
            errors.update(refused.fields)
        try:
            if errors:
                raise InvalidInput(_("The price was not saved."), fields=errors)
            pricing.set_price(db, request.scope["user"], country=country, per_part_minor=minor, now=now)
        except GovsmsError as refused:
            return _page(request, db, form=form, **refused_form(refused, db, shown=(422,)))
        return Redirect(f"/operator/prices?saved={country}", status_code=303)

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
