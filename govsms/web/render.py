"""Pages: the Jinja2 environment (gettext, filters), the navigation, and ``page()`` to render."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jinja2 import Environment, pass_context
from jinja2.runtime import Context
from litestar import Request
from litestar.response import Template
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from govsms.clock import localtime
from govsms.auth import Actor, Permission, ROLE_DESCRIPTIONS, ROLE_LABELS, Role
from govsms.i18n import LANGUAGES, N_, _, current_language
from govsms.phone import readable
from govsms.templating import base_environment
from govsms.web.banners import banners_for
from govsms.web.context import page_actor

log = logging.getLogger(__name__)

NavCount = Callable[[Session, Actor], int]
"""What a navigation item counts for an actor (the inbox's unread SMS): a domain's function the
app hands down in ``app.state.nav_counts`` by the item's ``count`` key, so this module imports no
domain. It must be cheap: one indexed count; it runs on every page."""


@dataclass(frozen=True)
class NavItem:
    label: str
    """Marked with ``N_()``; translated when the page renders."""
    path: str
    permission: Permission | None = None
    users_only: bool = True
    count: str | None = None
    """The key of its count in ``app.state.nav_counts`` ("Inkorg (3)"); None: no count."""

    def visible_to(self, actor: Actor | None) -> bool:
        if actor is None:
            return False
        return self.permission is None or actor.can(self.permission)


def role_label(role: Role | str) -> str:
    return _(ROLE_LABELS[Role(role)])


def role_description(role: Role | str) -> str:
    return _(ROLE_DESCRIPTIONS[Role(role)])


SOURCE_LABELS = {"link": N_("opt-out link"), "manual": N_("added by hand"), "api": N_("API"), "stop": N_("STOP reply")}


def money(minor: int, currency: str = "SEK") -> str:
    """Öre as kronor, the Swedish way: 1 234,50 kr."""
    sign = "-" if minor < 0 else ""
    kronor, ore = divmod(abs(minor), 100)
    return f"{sign}{kronor:,}".replace(",", "\u00a0") + f",{ore:02d}\u00a0kr" if currency == "SEK" else f"{minor / 100:.2f} {currency}"


def source_label(source: str) -> str:
    """How a blocked number came to be blocked, in the page's language."""
    return _(SOURCE_LABELS.get(source, source))


@pass_context
def actor_localtime(context: Context, value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """The ``localtime`` filter: ``value`` in the time zone of the account of the page's actor
    (Europe/Stockholm when the page has no actor, or its account names no zone known here)."""
    actor: Actor | None = context.get("actor")
    return localtime(value, fmt, actor.timezone if actor is not None else None)


def make_environment(filters: dict[str, Any] | None = None) -> Environment:
    """The pages' environment; ``filters``: what domains add (the app passes, e.g., the labels of
    message statuses, kept with sending), so this module imports no domain."""
    env = base_environment()
    env.filters["localtime"] = actor_localtime
    env.filters["role_label"] = role_label
    env.filters["role_description"] = role_description
    env.filters["t"] = _
    env.filters["money"] = money
    env.filters["readable_number"] = readable
    env.filters["source_label"] = source_label
    env.globals["languages"] = LANGUAGES
    env.filters.update(filters or {})
    return env


def page(request: Request[Any, Any, Any], template: str, *, status_code: int = 200, **context: Any) -> Template:
    """Render a UI page with what every page needs: the actor, its navigation, the language."""
    actor = page_actor(request.scope)  # also on an error page the router or the CSRF check answered
    nav = [item for item in request.app.state.nav if item.visible_to(actor)]
    return Template(
        template_name=template,
        status_code=status_code,
        context={
            "actor": actor,
            "nav": nav,
            "nav_counts": nav_counts(request, actor, nav),
            "banners": banners_for(request, actor),  # domains' notices for this actor (app.state.banners)
            "path": request.url.path,
            "lang": current_language.get(),
            **context,
        },
    )


def nav_counts(request: Request[Any, Any, Any], actor: Actor | None, nav: list[NavItem]) -> dict[str, int]:
    """The counts of the visible items that have one (item path -> count): in the request's own
    transaction while the handler has one (no second connection), else in a reading session of
    their own (an error page, a page without a database). A database that does not answer
    leaves the counts out: the page (an error page, say) still renders."""
    counters: dict[str, NavCount] = getattr(request.app.state, "nav_counts", None) or {}
    wanted = [item for item in nav if item.count is not None and item.count in counters]
    if actor is None or not wanted:
        return {}
    counts: dict[str, int] = {}
    try:
        own = request.state.get("db")
        if isinstance(own, Session) and own.in_transaction():
            _count(own, actor, wanted, counters, counts)
        else:
            with request.app.state.read_factory() as session:
                _count(session, actor, wanted, counters, counts)
    except SQLAlchemyError:
        log.warning("navigation counts left out: the database did not answer", exc_info=True)
    return counts


def _count(session: Session, actor: Actor, items: list[NavItem], counters: dict[str, NavCount], counts: dict[str, int]) -> None:
    for item in items:
        assert item.count is not None
        counts[item.path] = counters[item.count](session, actor)
