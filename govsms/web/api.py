"""What every API group shares: its controller, the error body it answers with, and the error responses it declares.

An API group is an ``ApiController``: it declares once, for all its handlers, what each handler
declared before: the tags (a Litestar layer), the guards, ``sync_to_thread`` (a synchronous
handler runs on the handler threads, in a transaction of its own when it takes ``db``: see
``app.py``) and the errors every operation of the group can answer (``common_errors``). Litestar
2.25 takes ``sync_to_thread`` and the error responses only per handler, and a layer's guards would
also guard the OPTIONS answer of each path, so the controller gives those three to each handler.
A handler adds its own errors with ``responses=errors(404, 422)``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Annotated, ClassVar

from litestar import Controller
from litestar.exceptions import LitestarWarning
from litestar.handlers import BaseRouteHandler, HTTPRouteHandler
from litestar.openapi import ResponseSpec
from litestar.openapi.spec import OpenAPIFormat
from litestar.params import KwargDefinition
from litestar.utils.predicates import is_async_callable
from msgspec import UNSET, Struct, UnsetType

# A handler of an ApiController leaves sync_to_thread to its controller, and Litestar warns, when
# it is declared, about every synchronous handler that does not say: not for these modules.
warnings.filterwarnings("ignore", message="Use of a synchronous callable", category=LitestarWarning, module=r"govsms\.\w+\.api\Z")

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
    fields: Annotated[dict[str, str] | UnsetType, KwargDefinition(description="Only when the input had problems: each field and what is wrong with it.")] = UNSET


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


def errors(*codes: int) -> dict[int, ResponseSpec]:
    """The error responses of these status codes, each with the error body."""
    return {code: ResponseSpec(ErrorBody, description=ERRORS[code], generate_examples=False) for code in sorted(codes)}


class ApiController(Controller):
    """One API group: a subclass declares its ``guards`` and ``tags`` (and ``common_errors`` when
    they differ) once for all its handlers. Handlers keep their whole paths (``/api/v1/...``):
    the access log names a request's route by its handler's path."""

    sync_to_thread: ClassVar[bool] = True
    """Synchronous handlers run on the handler threads (their database work would block the loop)."""
    common_errors: ClassVar[Sequence[int]] = (401, 403, 503)
    """The errors every operation of the group can answer: no key, a role without the permission, a busy database."""

    def get_route_handlers(self) -> list[BaseRouteHandler]:
        # In the order they are declared (Litestar sorts them by name): the first handler of a path
        # decides the Allow header of the path's OPTIONS answer (Litestar 2.25).
        declared = [name for cls in reversed(type(self).__mro__) for name in vars(cls)]
        handlers = sorted(super().get_route_handlers(), key=lambda handler: declared.index(handler.fn.__name__))
        for handler in handlers:
            if not isinstance(handler, HTTPRouteHandler):
                continue
            if handler.sync_to_thread is None and not is_async_callable(handler.fn):
                handler.sync_to_thread = self.sync_to_thread
            handler.responses = dict(sorted({**errors(*self.common_errors), **(handler.responses or {})}.items()))
            # The group's guards go to each handler, ahead of its own, instead of staying a layer:
            # as a layer they would also guard the OPTIONS answer Litestar adds to every path
            # (204 with Allow, which needs no key).
            handler.guards = [*(self.guards or ()), *(handler.guards or ())]
        self.guards = None
        return handlers
