"""Guards: tiny functions that refuse a request before the handler runs.

An anonymous request gets 401 (the UI turns that into the login page); an actor without the
permission gets 403. Handlers then take the actor from ``request.user``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from litestar.connection import ASGIConnection
from litestar.enums import RequestEncodingType
from litestar.exceptions import ClientException, NotAuthorizedException, PermissionDeniedException, TooManyRequestsException
from litestar.handlers.base import BaseRouteHandler

from govsms.accounts.roles import Permission
from govsms.i18n import _
from govsms.web.context import is_api

Guard = Callable[[ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], None]


def logged_in(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    if connection.scope.get("user") is None:
        raise NotAuthorizedException("Log in to continue.")


def requires(permission: Permission) -> Guard:
    def guard(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
        logged_in(connection, handler)
        if not connection.scope["user"].can(permission):
            raise PermissionDeniedException(f"missing permission {permission.value}")

    guard.__name__ = f"requires_{permission.name.lower()}"
    guard.permission = permission  # type: ignore[attr-defined]  (read by the route-walking tests)
    return guard


def users_only(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """UI pages for people: an API key has no business there."""
    logged_in(connection, handler)
    if connection.scope["user"].kind != "user":
        raise PermissionDeniedException("API keys cannot use the admin UI")


def _media_type(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    return connection.headers.get("content-type", "").partition(";")[0].strip().lower()


def json_only(connection: ASGIConnection[Any, Any, Any, Any], _handler: BaseRouteHandler) -> None:
    """A JSON endpoint behind the CSRF check refuses any other body (415) before Litestar reads
    it: the check has read a multipart body already, without keeping it, and reading it again
    would wait for the client until it hangs up (Litestar 2.25)."""
    if _media_type(connection) != RequestEncodingType.JSON.value:
        raise ClientException(_("Send this request as JSON (Content-Type: application/json)."), status_code=415)


def api_bodies(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """Every handler of ``/api/`` that reads a body (app-level guard): only an API key may send
    one, and only of the type the handler reads, JSON but for an upload (multipart), refused
    before anything reads it. A page of another site can send a simple request (text/plain,
    a form) with the user's cookies but never an ``Authorization`` header or a JSON body."""
    if not is_api(connection.scope):
        return
    data = handler.parsed_fn_signature.parameters.get("data")  # type: ignore[attr-defined]
    if data is None:
        return
    logged_in(connection, handler)  # the API has no anonymous writes: 401 before 415
    expected = getattr(data.kwarg_definition, "media_type", None) or RequestEncodingType.JSON
    if _media_type(connection) == expected.value:
        return
    if expected == RequestEncodingType.MULTI_PART:
        raise ClientException(_("Send this request as multipart/form-data, with the file in the field 'file'."), status_code=415)
    raise ClientException(_("Send this request as JSON (Content-Type: application/json)."), status_code=415)


def optout_limit(connection: ASGIConnection[Any, Any, Any, Any], _handler: BaseRouteHandler) -> None:
    """The public opt-out page (GET and POST): at most ``optout_lookups_per_minute`` requests per
    client address (429 with Retry-After), before any token is looked up."""
    address = connection.client.host if connection.client else "-"
    wait = connection.app.state.optout_limiter.hit(address)
    if wait is not None:
        raise TooManyRequestsException(
            _("Too many requests from your address. Wait %(seconds)d seconds and try again.") % {"seconds": wait},
            headers={"Retry-After": str(wait)},
        )
