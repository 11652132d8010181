"""What every API group shares: its controller, the error body it answers with, and the error responses it declares.

An API group is an ``ApiController``: a handler group (``web/controller.py``: guards and
``sync_to_thread`` declared once and given to each handler) that also declares its tags (a
Litestar layer) and the errors every operation of the group can answer (``common_errors``).
Litestar 2.25 takes the error responses only per handler, so the controller gives them to each
handler. A handler adds its own errors with ``responses=errors(404, 422)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, ClassVar

from litestar.handlers import HTTPRouteHandler
from litestar.openapi import ResponseSpec
from litestar.openapi.spec import OpenAPIFormat
from litestar.params import KwargDefinition
from msgspec import UNSET, Struct, UnsetType

from govsms.web.controller import HandlerGroup

Timestamp = Annotated[str, KwargDefinition(format=OpenAPIFormat.DATE_TIME)]
"""A moment as the API gives it: ISO 8601 with the UTC offset (``2026-12-01T08:00:00+00:00``)."""


class ErrorBody(Struct):
    """An error as every API operation answers it (``web/pages.py`` builds it)."""

    error: Annotated[str, KwargDefinition(description=(
        "What went wrong, for programs: unauthorized, forbidden, not_found, conflict, invalid_input, bad_request, "
        "invalid_json, unsupported_media_type, busy, internal, outcome_unknown, ..."
    ))]
    message: Annotated[str, KwargDefinition(description="What went wrong and what to do, for people (in the request's language).")]
    request_id: Annotated[str, KwargDefinition(description="The request's reference in the service's logs (the X-Request-ID header).")]
    fields: Annotated[dict[str, str] | UnsetType, KwargDefinition(
        description="Only when the input had problems: each field and what is wrong with it.",
    )] = UNSET


ERRORS: dict[int, str] = {
    400: "The request cannot be read: a body that is not JSON, or a phone number in the URL (search with POST instead).",
    401: "No valid API key: send `Authorization: Bearer <key>`.",
    403: "The key's roles do not allow this.",
    404: "Nothing with this id in the key's account.",
    409: "It exists already, or it is in a state that does not allow this.",
    415: "The body is not of the type this operation reads: JSON (Content-Type: application/json), or multipart/form-data for an upload.",
    422: "The input is not valid: `fields` names each field and what is wrong with it.",
    500: "The database stopped answering while this was being saved (`outcome_unknown`): look before you try again, "
         "or repeat the request with the same Idempotency-Key.",
    503: "The service is busy (`busy`). Nothing was saved: try again after the seconds in the Retry-After header.",
}


def errors(*codes: int, described: Mapping[int, str] | None = None) -> dict[int, ResponseSpec]:
    """The error responses of these status codes, each with the error body; ``described`` words
    one differently from ``ERRORS`` (a webhook's 401 asks for its token, not an API key)."""
    descriptions = {**ERRORS, **(described or {})}
    return {code: ResponseSpec(ErrorBody, description=descriptions[code], generate_examples=False) for code in sorted(codes)}


class ApiController(HandlerGroup):
    """One API group: a subclass declares its ``guards`` and ``tags`` (and ``common_errors`` when
    they differ) once for all its handlers. Handlers keep their whole paths (``/api/v1/...``)."""

    common_errors: ClassVar[Sequence[int]] = (401, 403, 503)
    """The errors every operation of the group can answer: no key, a role without the permission, a busy database."""

    def declare(self, handler: HTTPRouteHandler) -> None:
        handler.responses = dict(sorted({**errors(*self.common_errors), **(handler.responses or {})}.items()))
