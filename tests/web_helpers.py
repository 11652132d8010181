"""Logging in through the real form, CSRF token included, as a browser would."""

from __future__ import annotations

import re
import socket

from litestar.testing import TestClient

CSRF_INPUT = re.compile(r'name="_csrf_token" value="([^"]+)"')


def csrf_token(client: TestClient, path: str = "/login") -> str:
    response = client.get(path)
    match = CSRF_INPUT.search(response.text)
    assert match, f"no CSRF field on {path}"
    return match.group(1)


def post_form(client: TestClient, path: str, data: dict[str, object], *, token_from: str | None = None, **kwargs: object):  # type: ignore[no-untyped-def]
    token = csrf_token(client, token_from or "/login")
    return client.post(path, data={**data, "_csrf_token": token}, follow_redirects=False, **kwargs)  # type: ignore[arg-type]


def login(client: TestClient, email: str, password: str):  # type: ignore[no-untyped-def]
    response = post_form(client, "/login", {"email": email, "password": password})
    assert response.status_code == 303, response.text[:500]
    return response


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # type: ignore[no-any-return]
