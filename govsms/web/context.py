"""ASGI middleware: a request id and an access line per request, and who is acting.

``RequestContext`` sets the request id (echoed as ``X-Request-ID``) and writes one
access line with the route template, never the raw path or query (they may hold tokens).
``ActorMiddleware`` resolves the session cookie (UI) or the ``Authorization: Bearer`` key to an
``Actor`` in ``scope["user"]`` (None when anonymous) and sets the UI language; under ``/api/``
only a key counts.

``PageContext`` wraps the whole application (the router and the app-level error handling too):
it resolves the session cookie of a page request once, before routing, and sets the language
for the whole request. So an error raised before a route's middleware runs (an unknown path,
a wrong method) or after it has returned (a CSRF refusal, which the app-level handler answers)
is rendered in the user's language, with the user's navigation (``page_actor``).
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from litestar.concurrency import sync_to_thread
from litestar.datastructures import Cookie, MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from sqlmodel import Session

from govsms.auth import Actor
from govsms.i18n import LANGUAGES, current_language, pick_language
from govsms.log import redact, request_id

SESSION_COOKIE = "govsms_session"
LANGUAGE_COOKIE = "govsms_lang"
_INCOMING_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
_DIGIT_RUN = re.compile(r"\d(?:[._-]?\d){6,}")
"""Seven digits or more in a row (as a number is written): a client's request id holding one is
replaced, since request ids are kept in the access log, which is never erased."""

access_log = logging.getLogger("govsms.access")
log = logging.getLogger(__name__)


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


def _safe_request_id(value: str) -> bool:
    return bool(_INCOMING_ID.fullmatch(value)) and not _DIGIT_RUN.search(value) and redact(value) == value


class _Activity:
    """When this process last began a request (background work that can wait waits for a lull)."""

    last_request = 0.0

    def wait_for_lull(self, quiet: float = 2.0) -> None:
        while (idle := time.monotonic() - self.last_request) < quiet:
            time.sleep(quiet - idle)


activity = _Activity()


class RequestContext:
    """Wraps the whole application, so even a 404 for an unknown path carries a request id."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        activity.last_request = time.monotonic()
        incoming = _header(scope, b"x-request-id")
        rid = incoming if incoming and _safe_request_id(incoming) else uuid.uuid4().hex
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


PAGE_ACTOR = "govsms.page_actor"
"""The scope key of the session's actor as ``PageContext`` resolved it before routing (absent: not
resolved, as for an ``/api/`` path). Only pages read it (``page_actor``); who may do what is
decided by ``scope["user"]``, which ``ActorMiddleware`` sets by the route matched."""


def _language_of(actor: Actor | None, cookies: dict[str, str], scope: Scope) -> str:
    wanted = actor.language if actor and actor.kind == "user" else cookies.get(LANGUAGE_COOKIE)
    if wanted is None:
        # API clients and first visits: the first language the client asks for that we have.
        wanted = _accepted_language(_header(scope, b"accept-language") or "")
    return pick_language(wanted)


class PageContext:
    """Around the whole application (inside ``RequestContext``): the session cookie of a request
    to a page is resolved once, before routing (``ActorMiddleware`` reuses it), and the language
    is set for the whole request, the app-level error handling included."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        cookies = _cookies(scope)
        actor: Actor | None = None
        if not str(scope["path"]).startswith("/api/"):
            try:
                if session_token := cookies.get(SESSION_COOKIE):
                    app = scope["litestar_app"]
                    actor = await sync_to_thread(app.state.resolve_actor, app.state, None, session_token)
                scope[PAGE_ACTOR] = actor  # type: ignore[literal-required]
            except Exception as error:  # a busy database: ActorMiddleware tries again, inside the error handling
                log.warning("session not resolved before routing: %s", type(error).__name__, extra={"event": "session.unresolved"})
        token = current_language.set(_language_of(actor, cookies, scope))
        try:
            await self.app(scope, receive, send)
        finally:
            current_language.reset(token)


def page_actor(scope: Scope) -> Actor | None:
    """Who a page (an error page too) is shown to: the route's actor once ``ActorMiddleware`` ran,
    else the session's as ``PageContext`` resolved it (an unknown path: the router refused it
    before any route's middleware ran)."""
    if "user" in scope:
        actor: Actor | None = scope["user"]
        return actor
    resolved: Actor | None = scope.get(PAGE_ACTOR)
    return resolved


class ActorMiddleware(ASGIMiddleware):
    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        app = scope["litestar_app"]
        cookies = _cookies(scope)
        authorization = _header(scope, b"authorization") or ""
        bearer = authorization[7:].strip() if authorization[:7].lower() == "bearer " else None
        # The API takes API keys only: a browser sends the session cookie along with any request,
        # even one a page of another site (or another port of this host) makes it send.
        session_token = None if is_api(scope) else cookies.get(SESSION_COOKIE)
        actor: Actor | None = None
        if session_token and not bearer and PAGE_ACTOR in scope:
            actor = scope[PAGE_ACTOR]  # type: ignore[literal-required]  # resolved by PageContext already
        elif bearer:
            # API clients send many requests each: their keys are cached (see ActorCache).
            cache: ActorCache = app.state.actor_cache
            key = cache.key(bearer)
            actor = cache.get(key)
            if actor is None:
                actor = await sync_to_thread(app.state.resolve_actor, app.state, bearer, None)
                if actor is not None:
                    cache.put(key, actor)
        elif session_token:
            actor = await sync_to_thread(app.state.resolve_actor, app.state, None, session_token)
        scope["user"] = actor
        scope["auth"] = "api_key" if actor and actor.kind == "api_key" else ("session" if actor else None)
        token = current_language.set(_language_of(actor, cookies, scope))
        try:
            await next_app(scope, receive, send)
        finally:
            current_language.reset(token)


def is_api(scope: Scope) -> bool:
    """A request the API answers: by the route it was matched to (as the router read the path),
    else by its path."""
    return str(scope.get("path_template") or scope["path"]).startswith("/api/")


def _accepted_language(header: str) -> str | None:
    for part in header.split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LANGUAGES:
            return code
    return None


class ActorCache:
    """Who stands behind an API key, as resolved in the last ``ttl`` seconds: a burst of requests
    with one key costs one lookup. Staleness is bounded: a revoked key or an account switched off
    stops working within ``ttl`` in every process, and at once in the process that did it
    (``clear``). Entries are keyed by the key's SHA-256, never the key."""

    def __init__(self, ttl: float = 5.0, size: int = 10_000) -> None:
        self.ttl = ttl
        self.size = size
        self._entries: dict[str, tuple[float, Actor]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def key(bearer: str) -> str:
        return hashlib.sha256(bearer.encode()).hexdigest()

    def get(self, key: str) -> Actor | None:
        entry = self._entries.get(key)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def put(self, key: str, actor: Actor) -> None:
        with self._lock:
            if len(self._entries) >= self.size:
                now = time.monotonic()
                self._entries = {k: v for k, v in self._entries.items() if v[0] >= now}
                if len(self._entries) >= self.size:
                    self._entries.clear()
            self._entries[key] = (time.monotonic() + self.ttl, actor)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


@contextmanager
def separate_reader(state: Any) -> Iterator[Session | None]:
    """A reading session where reads and writes are separate (SQLite), for slow work that must not
    hold the write turn; None where the request's own session reads as well."""
    if state.read_factory is state.session_factory:
        yield None
        return
    with state.read_factory() as reader:
        yield reader


def session_cookie(token: str, *, secure: bool) -> Cookie:
    return Cookie(key=SESSION_COOKIE, value=token, httponly=True, secure=secure, samesite="lax", path="/")


def expired_session_cookie(*, secure: bool) -> Cookie:
    return Cookie(key=SESSION_COOKIE, value="", httponly=True, secure=secure, samesite="lax", path="/", max_age=0)
