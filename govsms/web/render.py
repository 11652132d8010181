"""Pages: the Jinja2 environment (gettext, filters), the navigation, and ``page()`` to render."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, select_autoescape
from litestar import Request
from litestar.response import Template

from govsms.accounts.actor import Actor
from govsms.accounts.roles import ROLE_DESCRIPTIONS, ROLE_LABELS, Permission, Role
from govsms.i18n import LANGUAGES, _, current_language, ngettext

TEMPLATE_DIR = Path(__file__).parent.parent / "templates"
LOCAL_TIME = ZoneInfo("Europe/Stockholm")


@dataclass(frozen=True)
class NavItem:
    label: str
    """Marked with ``N_()``; translated when the page renders."""
    path: str
    permission: Permission | None = None
    users_only: bool = True

    def visible_to(self, actor: Actor | None) -> bool:
        if actor is None:
            return False
        return self.permission is None or actor.can(self.permission)


def localtime(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return "" if value is None else value.astimezone(LOCAL_TIME).strftime(fmt)


def role_label(role: Role | str) -> str:
    return _(ROLE_LABELS[Role(role)])


def role_description(role: Role | str) -> str:
    return _(ROLE_DESCRIPTIONS[Role(role)])


def make_environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        autoescape=select_autoescape(default=True, default_for_string=True),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_callables(gettext=_, ngettext=ngettext, newstyle=True)  # type: ignore[attr-defined]
    env.filters["localtime"] = localtime
    env.filters["role_label"] = role_label
    env.filters["role_description"] = role_description
    env.filters["t"] = _
    env.globals["languages"] = LANGUAGES
    return env


def page(request: Request[Any, Any, Any], template: str, *, status_code: int = 200, **context: Any) -> Template:
    """Render a UI page with what every page needs: the actor, its navigation, the language."""
    actor: Actor | None = request.scope.get("user")
    nav = [item for item in request.app.state.nav if item.visible_to(actor)]
    return Template(
        template_name=template,
        status_code=status_code,
        context={
            "actor": actor,
            "nav": nav,
            "path": request.url.path,
            "lang": current_language.get(),
            **context,
        },
    )
