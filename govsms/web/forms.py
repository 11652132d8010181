"""Handler parameters: the request's database session, and url-encoded forms read as asked."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.params import Body
from sqlmodel import Session

Db = NamedDependency[Session]
"""The request's session; committed after the handler, rolled back if it raised."""

Now = NamedDependency[datetime]
"""The request's time, aware UTC, from the app's clock (``app.state.clock``); handlers take it
instead of reading the system clock, so a test can fix it."""

Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]


def form_text(data: dict[str, Any], name: str) -> str:
    value = data.get(name, "")
    if isinstance(value, list):
        value = value[-1] if value else ""
    return str(value)


def form_list(data: dict[str, Any], name: str) -> list[str]:
    value = data.get(name)
    if value is None or value == "":
        return []
    return [str(item) for item in value] if isinstance(value, list) else [str(value)]


def safe_next(target: str | None) -> str:
    """A local path to go to after login; anything else (another site) becomes the dashboard."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"
