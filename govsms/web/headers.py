"""Security headers on every response: pages, API, static files, errors, the opt-out page.

The policy allows scripts, styles, images and fonts from this origin only: no inline script,
no ``style`` attribute or element, no event handler attribute (templates keep theirs in
``govsms/static/``), and no page of another site may frame ours (clickjacking the opt-out button
or a send form).

Every answer but a static file also says ``Cache-Control: no-store``: pages and API answers show
personal data, which no browser cache or proxy may keep. Logging in (a new session cookie)
deletes the CSRF cookie, so the session's forms get a token made after the login, not one
somebody obtained (or planted) before it.

Answers outside the application are not covered: uvicorn answers malformed HTTP (400) itself,
before any of this runs.
"""

from __future__ import annotations

from litestar.datastructures import MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY = "default-src 'self'; frame-ancestors 'none'"
HSTS_SECONDS = 365 * 24 * 3600
SESSION_COOKIE = b"govsms_session="
CSRF_COOKIE = "govsms_csrf"


class SecurityHeaders:
    """Wraps the whole application, so even a 404 for an unknown path or a 500 carries them.
    HSTS only when the public URL is https: a browser that saw it over plain http would refuse
    the site (on that name) until it expires."""

    def __init__(self, app: ASGIApp, *, https: bool, secure_cookies: bool = False) -> None:
        self.app = app
        self.headers = {
            "content-security-policy": CONTENT_SECURITY_POLICY,
            "x-content-type-options": "nosniff",
            "referrer-policy": "no-referrer",
        }
        if https:
            self.headers["strict-transport-security"] = f"max-age={HSTS_SECONDS}"
        self.forget_csrf = f"{CSRF_COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=lax" + ("; Secure" if secure_cookies else "")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        static = scope["path"].startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableScopeHeaders.from_message(message)
                for name, value in self.headers.items():
                    headers[name] = value
                if not static:
                    headers["cache-control"] = "no-store"
                if any(key == b"set-cookie" and value.startswith(SESSION_COOKIE) and not value.startswith(SESSION_COOKIE + b";")
                       for key, value in message.get("headers", ())):
                    headers.add("set-cookie", self.forget_csrf)  # a login: see the module's note
            await send(message)

        await self.app(scope, receive, send_with_headers)
