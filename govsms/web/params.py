"""Bounded integers of requests: ids, page numbers and page sizes in paths, queries, forms and JSON.

Every id is 1..2^31-1, the range of PostgreSQL's ``integer`` (SQLite's is wider). A number outside
it names nothing, so it is refused as input, naming the parameter (API 422, UI 400), before the
database sees it; a well-formed id that names nothing is still a 404.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar.params import KwargDefinition, PathParameter, QueryParameter
from msgspec import Meta

from govsms.errors import InvalidInput
from govsms.i18n import _
from govsms.web.forms import form_list, form_text

MAX_ID = 2**31 - 1

IdValue = Annotated[int, Meta(ge=1, le=MAX_ID), KwargDefinition(ge=1, le=MAX_ID)]
"""An id inside a JSON body (``list[IdValue]``): checked by msgspec, bounded in the OpenAPI schema."""

Id = Annotated[int, PathParameter(ge=1, le=MAX_ID)]
"""An id in the path (``/contacts/{contact_id:int}`` with ``contact_id: Id``)."""

IdFilter = Annotated[int | None, QueryParameter(ge=1, le=MAX_ID)]
"""An optional id in the query that narrows a list (``?group_id=3``)."""

IdList = Annotated[list[IdValue], QueryParameter()]
"""Ids repeated in the query (``?contact_ids=1&contact_ids=2``)."""

Page = Annotated[int, QueryParameter(ge=1, le=MAX_ID)]
"""``?page=N`` of an API list (from 1)."""

PerPage = Annotated[int, QueryParameter(ge=1, le=MAX_ID)]
"""``?per_page=N`` of an API list; the service clamps it to its own maximum."""

PageNumber = Annotated[int, QueryParameter(name="page", ge=1, le=MAX_ID)]
"""``?page=N`` of a UI list, read into a parameter called ``page_number``."""

Count = Annotated[int, QueryParameter(ge=0, le=MAX_ID)]
"""A count carried in a redirect's query (``?created=12``)."""


def parse_id(value: str, field: str) -> int:
    """A form's id text as a number: ASCII digits only (``²`` and ``١`` are digits to
    ``str.isdigit()``, but not ids), 1..2^31-1; anything else is refused naming the field."""
    value = value.strip()
    if not (value.isascii() and value.isdigit() and len(value) <= len(str(MAX_ID))) or not 1 <= int(value) <= MAX_ID:
        raise InvalidInput(
            _("The form had a value that is not valid."),
            fields={field: _("Give an id: a whole number from 1 to %(max)d.") % {"max": MAX_ID}},
        )
    return int(value)


def form_id(data: dict[str, Any], name: str) -> int | None:
    """The id in the form field ``name``; ``None`` when it is empty or absent."""
    value = form_text(data, name).strip()
    return parse_id(value, name) if value else None


def form_ids(data: dict[str, Any], name: str) -> list[int]:
    """The ids of a repeated form field (check boxes); empty values are skipped."""
    return [parse_id(value, name) for value in form_list(data, name) if value.strip()]

