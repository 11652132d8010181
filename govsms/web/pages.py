"""Pages that belong to no domain: the health check and the error pages. (The dashboard shows
sending's figures, so it is a page of sending: ``sending/statistics_ui.py``.)"""

from __future__ import annotations

import logging
from typing import Any

from litestar import MediaType, Request, Response, get
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
    ValidationException,
)
from litestar.response import Redirect, Template
from litestar.types import ControllerRouterHandler, ExceptionHandlersMap
from msgspec import UNSET
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from govsms import __version__
from govsms.db import DatabaseBusy, is_busy, ping
from govsms.errors import GovsmsError
from govsms.i18n import N_, _, language
from govsms.log import request_id
from govsms.web.api import ErrorBody
from govsms.web.render import page

log = logging.getLogger(__name__)

JSON_PREFIXES = ("/api/", "/hooks/", "/health")


@get("/health", sync_to_thread=True, tags=["service"], summary="Liveness and database check")
def health(request: Request[Any, Any, Any]) -> Response[dict[str, str]]:
    try:
        with request.app.state.read_factory() as session:  # a read: never waits for a writer
            ping(session)
        database = "ok"
    except Exception:  # the probe reports, it does not crash
        log.exception("health check: database unreachable")
        database = "unreachable"
    status = "ok" if database == "ok" else "degraded"
    return Response(
        {"status": status, "database": database, "version": __version__},
        status_code=200 if status == "ok" else 503,
    )


def _wants_json(request: Request[Any, Any, Any]) -> bool:
    return request.url.path.startswith(JSON_PREFIXES)


def _json_error(status: int, code: str, message: str, fields: dict[str, str] | None = None) -> Response[ErrorBody]:
    body = ErrorBody(error=code, message=message, request_id=request_id.get(), fields=fields or UNSET)
    return Response(body, status_code=status, media_type=MediaType.JSON)


PUBLIC_PAGES = ("/u/",)
"""Pages for people who are not users of the service: the opt-out link's page (sending). Their
errors never link into the service (no navigation, no "log in"), in Swedish and English like
the page itself."""

PUBLIC_ERRORS = {
    404: (N_("This link does not work"), N_("Open the link from the SMS again, the whole of it. If it still does not work, reply STOP to the SMS.")),
    403: (N_("The page had expired"), N_("Open the link from the SMS again and press the button once more.")),
    429: (N_("Too many requests"), N_("Too many requests came from your address. Wait a minute and open the link from the SMS again.")),
}
PUBLIC_ERRORS[400] = PUBLIC_ERRORS[405] = PUBLIC_ERRORS[404]
PUBLIC_ERROR = (N_("Something went wrong"), N_("The page could not be shown just now. Open the link from the SMS again in a while."))


def _public_error_page(status: int) -> Response[Any]:
    title, message = PUBLIC_ERRORS.get(status, PUBLIC_ERROR)
    texts = {}
    for code in ("sv", "en"):
        with language(code):
            texts[code] = {"title": _(title), "message": _(message), "reference": _("Reference: %(ref)s") % {"ref": request_id.get()}}
    return Template(template_name="web/public_error.html", status_code=status, context={"texts": texts})


def _error_page(request: Request[Any, Any, Any], status: int, title: str, message: str) -> Response[Any]:
    """The error page in the user's language (``web.context.PageContext`` set it for the whole
    request), with the navigation of the user logged in, if one is (``render.page``)."""
    if request.url.path.startswith(PUBLIC_PAGES):
        return _public_error_page(status)
    return page(request, "web/error.html", status_code=status, title=title, message=message, request_id=request_id.get())


def handle_govsms_error(request: Request[Any, Any, Any], exc: GovsmsError) -> Response[Any]:
    if _wants_json(request):
        return _json_error(exc.status_code, exc.code, exc.message, exc.fields)
    titles = {404: _("Not found"), 403: _("Not allowed"), 409: _("Cannot do that now"), 422: _("Please check your input")}
    return _error_page(request, exc.status_code, titles.get(exc.status_code, _("Error")), exc.message)


def handle_http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    status = exc.status_code
    if isinstance(exc, NotAuthorizedException) or status == 401:
        if _wants_json(request):
            return _json_error(401, "unauthorized", _("Send a valid API key as 'Authorization: Bearer <key>'."))
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return Redirect(f"/login?next={target}" if target != "/" else "/login", status_code=303)
    if isinstance(exc, PermissionDeniedException) or status == 403:
        if "CSRF" in (exc.detail or ""):
            message = _("The form had expired or came from another site. Go back, reload the page and send it again.")
        else:
            message = _("Your role does not give access to this page. Ask an administrator of your account if you need it.")
        if _wants_json(request):
            return _json_error(403, "forbidden", message)
        return _error_page(request, 403, _("Not allowed"), message)
    if isinstance(exc, NotFoundException) or status == 404:
        message = _("There is nothing at this address, or it belongs to another account.")
        if _wants_json(request):
            return _json_error(404, "not_found", message)
        return _error_page(request, 404, _("Not found"), message)
    if status == 413:
        # A body over the upload limit, refused before it was read to the end: the same answer
        # as a file just over the limit (422 naming the limit).
        message = _("The file is larger than %(size)d MB. Split it into smaller files.") % {"size": request.app.state.settings.upload_max_mb}
        if _wants_json(request):
            return _json_error(422, "invalid_input", message, {"file": message})
        return _error_page(request, 422, _("Please check your input"), message)
    if isinstance(exc, ValidationException):
        fields = {str(item.get("key", "")): str(item.get("message", "")) for item in (exc.extra or []) if isinstance(item, dict)}
        if _wants_json(request):
            return _json_error(422, "invalid_input", _("The request is not valid; see the fields for what is wrong."), fields)
        message = _("The address or the form has a value that is not valid: %(fields)s. Go back and check it.") % {
            "fields": ", ".join(fields) or "-"
        }
        return _error_page(request, 400, _("Please check your input"), message)
    if _wants_json(request):
        response = _json_error(status, ERROR_CODES.get(status, "error"), exc.detail)
    elif status == 405:
        message = _("This address cannot be used that way. Go back and use the links and buttons of the page.")
        response = _error_page(request, 405, _("Not possible here"), message)
    else:
        titles = {400: _("Please check your input"), 415: _("Please check your input"), 429: _("Too many requests")}
        response = _error_page(request, status, titles.get(status, _("Error")), exc.detail)
    if status == 429 and exc.headers and "Retry-After" in exc.headers:
        response.headers["Retry-After"] = exc.headers["Retry-After"]
    return response


ERROR_CODES = {400: "bad_request", 405: "method_not_allowed", 415: "unsupported_media_type", 429: "too_many_requests"}


RETRY_AFTER_SECONDS = 2


def handle_database_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """A busy database (lock, statement or pool timeout, SQLite's write lock) is 503 with
    ``Retry-After``: the transaction was rolled back, so trying again is safe. Any other
    database error is unexpected."""
    if not is_busy(exc):
        return handle_unexpected(request, exc)
    log.warning("database busy: %s", type(exc).__name__, extra={"event": "db.busy"})
    message = _("The service is busy. Nothing was saved. Try again in a few seconds.")
    if _wants_json(request):
        response = _json_error(503, "busy", message)
    else:
        response = _error_page(request, 503, _("Busy"), message)
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def handle_recursion(request: Request[Any, Any, Any], exc: RecursionError) -> Response[Any]:
    """msgspec gives up on a JSON body nested deeper than the interpreter's recursion limit
    (about 1000 levels) while Litestar reads it, before any handler runs: the client's input."""
    if "deserializing" not in str(exc):
        return handle_unexpected(request, exc)
    message = _("The JSON body is nested too deeply to read.")
    if _wants_json(request):
        return _json_error(400, "invalid_json", message)
    return _error_page(request, 400, _("Please check your input"), message)


def handle_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.error("unhandled %s", type(exc).__name__, exc_info=exc)
    message = _("Something went wrong on our side. Nothing was saved. Try again; if it keeps happening, give support this reference: %(ref)s") % {
        "ref": request_id.get()
    }
    if _wants_json(request):
        return _json_error(500, "internal", message)
    return _error_page(request, 500, _("Something went wrong"), message)


ROUTES: list[ControllerRouterHandler] = [health]
EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    GovsmsError: handle_govsms_error,
    SQLAlchemyError: handle_database_error,
    PoolTimeout: handle_database_error,
    DatabaseBusy: handle_database_error,
    HTTPException: handle_http_exception,
    RecursionError: handle_recursion,
    Exception: handle_unexpected,
}
