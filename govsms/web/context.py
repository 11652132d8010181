"""ASGI middleware: a request id and an access line per request, and who is acting.

``RequestContext`` sets the request id (echoed as ``X-Request-ID``) and writes one
access line with the route template, never the raw path or query (they may hold tokens).
``ActorMiddleware`` resolves the session cookie or the ``Authorization: Bearer`` key to an
``Actor`` in ``scope["user"]`` (None when anonymous) and sets the UI language.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import anyio
from litestar.datastructures import Cookie, MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from govsms.accounts.actor import Actor
from govsms.accounts.apikey import resolve_api_key
from govsms.accounts.login import resolve_login_session
from govsms.db import session_scope
from govsms.i18n import LANGUAGES, current_language, pick_language
from govsms.log import request_id

SESSION_COOKIE = "govsms_session"
LANGUAGE_COOKIE = "govsms_lang"
_INCOMING_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")

access_log = logging.getLogger("govsms.access")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None


def _cookies(scope: Scope) -> dict[str, str]:
    raw = _header(scope, b"cookie") or ""
    jar: dict[str, str] = {}
    for part in raw.split(";"):
        name, sep, value = part.strip().partition("=")
        if sep:
            jar[name] = value
    return jar


class RequestContext:
    """Wraps the whole application, so even a 404 for an unknown path carries a request id."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        incoming = _header(scope, b"x-request-id")
        rid = incoming if incoming and _INCOMING_ID.match(incoming) else uuid.uuid4().hex
        token = request_id.set(rid)
        started = time.perf_counter()
        status: dict[str, int] = {}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                MutableScopeHeaders.from_message(message)["x-request-id"] = rid
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            handler = scope.get("route_handler")
            route = handler.paths.copy().pop() if handler is not None and handler.paths else "-"
            access_log.info(
                "%s %s %s",
                scope["method"],
                route,
                status.get("code", 500),
                extra={
                    "event": "http.request",
                    "method": scope["method"],
                    "route": route,
                    "status": status.get("code", 500),
                    "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                },
            )
            request_id.reset(token)


class ActorMiddleware(ASGIMiddleware):
    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        app = scope["litestar_app"]
        cookies = _cookies(scope)
        authorization = _header(scope, b"authorization") or ""
        bearer = authorization[7:].strip() if authorization[:7].lower() == "bearer " else None
        session_token = cookies.get(SESSION_COOKIE)
        actor: Actor | None = None
        if bearer or session_token:
            actor = await anyio.to_thread.run_sync(_resolve, app.state, bearer, session_token)
        scope["user"] = actor
        scope["auth"] = "api_key" if actor and actor.kind == "api_key" else ("session" if actor else None)
        wanted = actor.language if actor and actor.kind == "user" else cookies.get(LANGUAGE_COOKIE)
        if wanted is None:
            # API clients and first visits: the first language the client asks for that we have.
            wanted = _accepted_language(_header(scope, b"accept-language") or "")
        token = current_language.set(pick_language(wanted))
        try:
            await next_app(scope, receive, send)
        finally:
            current_language.reset(token)


def _accepted_language(header: str) -> str | None:
    for part in header.split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LANGUAGES:
            return code
    return None


def _resolve(state: Any, bearer: str | None, session_token: str | None) -> Actor | None:
    now = datetime.now(UTC)
    with session_scope(state.session_factory) as session:
        if bearer:
            return resolve_api_key(session, bearer, now=now)
        assert session_token is not None
        return resolve_login_session(session, session_token, policy=state.login_policy, now=now)


def session_cookie(token: str, *, secure: bool) -> Cookie:
    return Cookie(key=SESSION_COOKIE, value=token, httponly=True, secure=secure, samesite="lax", path="/")


def expired_session_cookie(*, secure: bool) -> Cookie:
    return Cookie(key=SESSION_COOKIE, value="", httponly=True, secure=secure, samesite="lax", path="/", max_age=0)
