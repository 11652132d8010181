"""Handler parameters: the request's database session, url-encoded forms read as asked, and a
refused form's reasons to show it again with."""

from __future__ import annotations

from collections.abc import Container
from datetime import datetime
from typing import Annotated, Any, TypedDict

from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.params import Body
from sqlmodel import Session

from govsms.errors import GovsmsError

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


class Reasons(TypedDict):
    """What a refused form is shown again with: the answer's status, each field's problem, and
    the message above the form."""

    status_code: int
    errors: dict[str, str]
    error: str


FORM_REFUSALS = (409, 422)
"""What a form is shown again for: input that is not valid, or that conflicts with what exists."""
EVERY_REFUSAL = range(400, 600)
"""For pages that show every refusal of their service on the form (a 404 of a named row too)."""


def refused_form(refused: GovsmsError, db: Session | None = None, *, shown: Container[int] = FORM_REFUSALS) -> Reasons:
    """The reasons to show a refused form again with, as a page renders them:
    ``return _page(request, db, form=form, **refused_form(refused, db))`` in the handler's
    ``except GovsmsError as refused``. A refusal of another status (``shown``) is raised on, to the
    error pages. With ``db``, what the request wrote before it was refused is rolled back, unless
    the refusal is itself recorded in the access log ("already a contact"): that event stays."""
    if refused.status_code not in shown:
        raise refused
    if db is not None and not refused.recorded:
        db.rollback()
    return Reasons(status_code=refused.status_code, errors=refused.fields, error=refused.message)
