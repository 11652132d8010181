"""Service-wide HTTP behaviour: health, OpenAPI, request ids, error pages, logs (both backends)."""

from __future__ import annotations

import inspect
import logging
from typing import Any
from unittest.mock import Mock

import pytest
from litestar.testing import TestClient
from sqlmodel import Session

from govsms.auth import Role
from govsms.errors import Conflict, InvalidInput, NotFound
from govsms.log import redact
from govsms.web.controller import HandlerGroup, PageController
from govsms.web.forms import EVERY_REFUSAL, refused_form
from tests import sensitive
from tests.conftest import leaked
from tests.factories import make_account, make_api_key, make_user
from tests.web_helpers import login, post_form


def test_health_reports_database(client: TestClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok" and response.json()["database"] == "ok"


def test_openapi_schema_lists_the_api_only(client: TestClient) -> None:
    schema = client.get("/api/schema/openapi.json").json()
    assert "/api/v1/me" in schema["paths"] and "/health" in schema["paths"]
    assert "/login" not in schema["paths"] and "/settings/users" not in schema["paths"]


def test_every_response_carries_a_request_id(client: TestClient) -> None:
    for path in ("/login", "/health", "/no/such/page", "/api/v1/me"):
        assert len(client.get(path).headers["x-request-id"]) >= 16, path
    # A client's own id comes back when it is safe; one holding a number (here eight digits, a
    # Norwegian number's length) never does (tests/test_log_masking.py).
    assert client.get("/health", headers={"X-Request-ID": "trace-1234abcd"}).headers["x-request-id"] == "trace-1234abcd"
    assert client.get("/health", headers={"X-Request-ID": "trace-12345678"}).headers["x-request-id"] != "trace-12345678"


def test_unknown_page_is_a_helpful_404(client: TestClient) -> None:
    page = client.get("/no/such/page")
    assert page.status_code == 404 and "<h1>" in page.text
    api = client.get("/api/v1/nothing")
    assert api.status_code == 404 and api.json()["error"] == "not_found"


def test_redact_masks_numbers_and_credentials() -> None:
    assert "0701234567" not in redact("sent to 0701234567")
    assert "+46701234567" not in redact("to +46701234567 ok")
    assert "hemligt" not in redact("password=hemligt")
    assert "gsk_abc" not in redact("Authorization: Bearer gsk_abc")
    assert "070-123 45 67" not in redact("typed 070-123 45 67.")
    assert redact("GET /settings/users 200") == "GET /settings/users 200"
    assert redact("next run at: 2026-11-27 01:42:45 CET") == "next run at: 2026-11-27 01:42:45 CET"


def test_log_guard_catches_a_leak() -> None:
    """The autouse log check is real: a line holding a registered secret is reported."""
    secret = sensitive.register("Mitt-hemliga-lösen-99")
    record = logging.LogRecord("govsms.x", logging.INFO, __file__, 1, "user typed %s", (secret,), None)
    assert leaked([record], sensitive.values())
    number = logging.LogRecord("govsms.x", logging.INFO, __file__, 1, "to +46701234567", None, None)
    assert leaked([number], frozenset())


def test_log_guard_takes_a_sealed_word_as_a_word() -> None:
    """A sealed reply "stopp" is found as a word, not inside "stopped"; digits anywhere."""
    said = logging.LogRecord("govsms.x", logging.INFO, __file__, 1, "text was %s", ("Stopp",), None)
    assert leaked([said], frozenset({"Stopp"}))
    stopped = logging.LogRecord("govsms.x", logging.INFO, __file__, 1, "outbox worker vm:1:2 stopped", None, None)
    assert not leaked([stopped], frozenset({"stopp"}))
    digits = logging.LogRecord("govsms.x", logging.INFO, __file__, 1, "id 46701234567x", None, None)
    assert leaked([digits], frozenset({"46701234567"}))
    client = logging.LogRecord("httpx", logging.INFO, __file__, 1, "GET /inbox?number=%2B46701234567", None, None)
    assert not leaked([client], frozenset({"46701234567"}))


def test_login_and_api_use_log_no_secrets(client: TestClient, session: Session, no_secrets_in_logs) -> None:  # type: ignore[no-untyped-def]
    account = make_account(session)
    user, password = make_user(session, account, roles={Role.ADMIN})
    _, key = make_api_key(session, account)
    client.post("/login", data={"email": user.email, "password": password})  # refused: no CSRF token
    post_form(client, "/login", {"email": user.email, "password": "wrong-" + password})
    login(client, user.email, password)
    client.get("/api/v1/me", headers={"Authorization": f"Bearer {key}"})
    client.get("/api/v1/me", headers={"Authorization": f"Bearer {key}x"})
    assert any(r.name == "govsms.access" for r in no_secrets_in_logs.records), "access lines are logged"
    assert not leaked(no_secrets_in_logs.records, sensitive.values())


@pytest.mark.parametrize("path", ["/", "/settings/users", "/settings/api-keys", "/settings/profile"])
def test_pages_render_for_admin(client: TestClient, session: Session, path: str) -> None:
    user, password = make_user(session, make_account(session), roles={Role.ADMIN})
    login(client, user.email, password)
    page = client.get(path)
    assert page.status_code == 200 and "<main" in page.text


def test_api_clients_get_the_language_they_ask_for(client: TestClient, session: Session) -> None:
    _, key = make_api_key(session, make_account(session))
    headers = {"Authorization": f"Bearer {key}"}
    english = client.post("/api/v1/contacts", json={"number": "abc"}, headers={**headers, "Accept-Language": "en-GB,en;q=0.9"})
    swedish = client.post("/api/v1/contacts", json={"number": "abc"}, headers={**headers, "Accept-Language": "sv-SE"})
    default = client.post("/api/v1/contacts", json={"number": "abc"}, headers=headers)
    assert "letters" in english.json()["fields"]["number"]
    assert "bokstäver" in swedish.json()["fields"]["number"] and "bokstäver" in default.json()["fields"]["number"]


def _group_of(handler: Any) -> object:
    """The controller a handler was declared in (its function is a bound method of it), under the
    wrappers that run it in a thread (``.func``) and in a transaction (``__wrapped__``)."""
    function = handler.fn
    while hasattr(function, "func"):
        function = function.func
    return getattr(inspect.unwrap(function), "__self__", None)


def test_every_page_and_api_handler_belongs_to_a_handler_group(client: TestClient) -> None:
    """Pages and API operations are declared in groups (``web/controller.py``) that give each
    handler its guards and sync_to_thread once; pages stay out of the API schema."""
    loose = []
    for route in client.app.routes:
        if route.path.startswith(("/static", "/api/schema")) or route.path == "/health":
            continue
        for handler in getattr(route, "route_handlers", []):
            if "OPTIONS" in handler.http_methods and len(handler.http_methods) == 1:
                continue  # Litestar's own answer to OPTIONS
            group = _group_of(handler)
            if not isinstance(group, HandlerGroup):
                loose.append(f"{route.path} {sorted(handler.http_methods)}")
            elif isinstance(group, PageController):
                assert handler.resolve_include_in_schema() is False, route.path
                assert not route.path.startswith("/api/"), route.path
    assert not loose, "handlers outside a handler group:\n" + "\n".join(loose)


def test_a_refused_form_is_shown_again_with_its_reasons() -> None:
    db = Mock()
    invalid = InvalidInput("Check the form.", fields={"name": "Give a name."})
    assert refused_form(invalid, db) == {"status_code": 422, "errors": {"name": "Give a name."}, "error": "Check the form."}
    assert db.rollback.call_count == 1  # what the request wrote before it was refused
    assert refused_form(Conflict("Exists.", recorded=True), db)["status_code"] == 409
    assert db.rollback.call_count == 1  # a refusal recorded in the access log keeps its event
    with pytest.raises(NotFound):
        refused_form(NotFound("No such thing."), db)  # to the error page
    assert refused_form(NotFound("No such thing."), shown=EVERY_REFUSAL)["status_code"] == 404
    with pytest.raises(Conflict):
        refused_form(Conflict("Exists."), shown=(422,))


def test_web_adapters_run_no_queries() -> None:
    """Handlers call a domain's service; no page or API module builds or runs a query itself
    (the tenancy scoping, the audit events and the types live in the services)."""
    import ast
    from pathlib import Path

    import govsms

    root = Path(govsms.__file__).parent
    adapters = [*root.glob("*/ui.py"), *root.glob("*/*_ui.py"), *root.glob("*/api.py"), *root.glob("*/operator.py"), *root.glob("web/*.py")]
    assert len(adapters) >= 15, adapters
    found = []
    for path in adapters:
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module in ("sqlalchemy", "sqlmodel", "sqlalchemy.sql"):
                names = {alias.name for alias in node.names} & {"select", "insert", "update", "delete", "text"}
                if names:
                    found.append(f"{path.relative_to(root)}:{node.lineno} imports {sorted(names)}")
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("exec", "execute", "scalar", "scalars"):
                found.append(f"{path.relative_to(root)}:{node.lineno} calls .{node.func.attr}()")
    assert not found, "queries in web adapters:\n" + "\n".join(found)
