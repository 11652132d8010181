"""Guards: tiny functions that refuse a request before the handler runs.

An anonymous request gets 401 (the UI turns that into the login page); an actor without the
permission gets 403. Handlers then take the actor from ``request.user``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from litestar.connection import ASGIConnection
from litestar.enums import RequestEncodingType
from litestar.exceptions import ClientException, NotAuthorizedException, PermissionDeniedException, TooManyRequestsException
from litestar.handlers.base import BaseRouteHandler

from govsms.auth import Permission
from govsms.i18n import _
from govsms.settings import Settings
from govsms.web.context import is_api

Guard = Callable[[ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], None]


def logged_in(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    if connection.scope.get("user") is None:
        raise NotAuthorizedException("Log in to continue.")


class PermissionGuard:
    """Refuses an actor without ``permission`` (which the route-walking tests read)."""

    def __init__(self, permission: Permission) -> None:
        self.permission = permission
        self.__name__ = f"requires_{permission.name.lower()}"

    def __call__(self, connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
        logged_in(connection, handler)
        if not connection.scope["user"].can(self.permission):
            raise PermissionDeniedException(f"missing permission {self.permission.value}")


def requires(permission: Permission) -> PermissionGuard:
    return PermissionGuard(permission)


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
    data = handler.parsed_fn_signature.parameters.get("data")
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


UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_DEFAULT_PORTS = {"http": "80", "https": "443"}
_DEFAULT_PUBLIC_URL = Settings.model_fields["public_url"].default


def origin_of(url: str) -> str | None:
    """``scheme://host[:port]`` of a URL, lower-case, without the scheme's default port; None
    for anything that is not an http(s) URL with a host (``null``, ``about:blank``, garbage)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}" + (f":{port}" if port is not None and str(port) != _DEFAULT_PORTS[scheme] else "")


def own_origin(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    """The service's origin: that of ``GOVSMS_PUBLIC_URL``, or, while that is the default, the
    one the request itself was sent to (its scheme and ``Host``)."""
    public_url = connection.app.state.settings.public_url
    if public_url != _DEFAULT_PUBLIC_URL:
        return origin_of(public_url)
    host = connection.headers.get("host", "")
    return origin_of(f"{connection.scope.get('scheme', 'http')}://{host}") if host else None


def same_origin(connection: ASGIConnection[Any, Any, Any, Any], _handler: BaseRouteHandler) -> None:
    """Every unsafe request to the UI (app-level guard, after the CSRF token check) must come
    from the service's own pages, else 403. The CSRF cookie alone is not enough: a page on
    another port of the same host can set it (cookies do not keep ports apart), with a token pair
    of its own.

    A browser says where a request comes from: ``Sec-Fetch-Site`` (must be ``same-origin``; it
    says ``same-site`` for another port of this host) and ``Origin`` (must be ours). Our pages
    send ``Referrer-Policy: no-referrer``, under which a browser sends ``Origin: null`` even to
    the same origin: that passes only with ``Sec-Fetch-Site: same-origin`` (a browser too old to
    send it is refused). Without ``Origin``, a ``Referer`` of another origin is refused. A client
    that sends none of them (not a browser) is judged by the CSRF token alone. The API takes
    bearer keys only, which no other site's page can make a browser send."""
    if connection.scope.get("method") not in UNSAFE_METHODS or is_api(connection.scope) or connection.scope["path"].startswith("/hooks/"):
        return  # the API and the SMSC's delivery reports: no browser forms
    fetch_site = connection.headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site.strip().lower() not in ("same-origin", "none"):
        raise PermissionDeniedException("CSRF: the request came from another origin")
    origin = connection.headers.get("origin")
    if origin is not None and origin.strip().lower() == "null" and fetch_site is not None:
        return  # our own page under no-referrer, vouched for by Sec-Fetch-Site above
    if origin is None:
        referer = connection.headers.get("referer")
        if referer is None:
            return
        sent_from = origin_of(referer)
    else:
        sent_from = origin_of(origin)
    own = own_origin(connection)
    if sent_from is None or own is None or sent_from != own:
        raise PermissionDeniedException("CSRF: the request came from another origin")
