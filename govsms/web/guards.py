"""Guards: tiny functions that refuse a request before the handler runs.

An anonymous request gets 401 (the UI turns that into the login page); an actor without the
permission gets 403. Handlers then take the actor from ``request.user``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import ClientException, NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from govsms.accounts.roles import Permission
from govsms.i18n import _

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


def json_only(connection: ASGIConnection[Any, Any, Any, Any], _handler: BaseRouteHandler) -> None:
    """A JSON endpoint behind the CSRF check refuses any other body (415) before Litestar reads
    it: the check has read a multipart body already, without keeping it, and reading it again
    would wait for the client until it hangs up (Litestar 2.25)."""
    media_type = connection.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type != "application/json":
        raise ClientException(_("Send this request as JSON (Content-Type: application/json)."), status_code=415)
