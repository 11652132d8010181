"""The published API schema (``/api/schema/openapi.json``) describes every ``/api/v1`` answer:
a typed body for each success (or a PDF), the error body for each error, and the limits."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from litestar.utils.sync import AsyncCallable

from govsms.app import create_app
from tests.conftest import make_settings

METHODS = ("get", "post", "put", "patch", "delete")
ERROR_BODY = {"$ref": "#/components/schemas/ErrorBody"}


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Litestar:
    return create_app(make_settings(tmp_path_factory.mktemp("schema")))


@pytest.fixture(scope="module")
def schema(app: Litestar) -> dict[str, Any]:
    with TestClient(app) as client:
        published: dict[str, Any] = client.get("/api/schema/openapi.json").json()
    return published


def operations(schema: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in schema["paths"].items():
        if path.startswith("/api/v1/"):
            for method in METHODS:
                if method in item:
                    yield method.upper(), path, item[method]


def resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in node:
        component: dict[str, Any] = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[-1]]
        return component
    return node


def is_typed(schema: dict[str, Any], node: dict[str, Any]) -> bool:
    """An object with named properties, or an array of them: not ``object`` with anything in it."""
    node = resolve(schema, node)
    if node.get("type") == "array":
        return is_typed(schema, node["items"])
    return node.get("type") == "object" and bool(node.get("properties"))


def test_every_operation_describes_its_success(schema: dict[str, Any]) -> None:
    seen, untyped = 0, []
    for method, path, operation in operations(schema):
        seen += 1
        successes = {code: response for code, response in operation["responses"].items() if code.startswith("2")}
        assert successes, f"{method} {path}: no 2xx response"
        for code, response in successes.items():
            content = response.get("content") or {}
            if code == "204":
                assert not content, f"{method} {path}: 204 with a body"
            elif "application/pdf" in content:
                assert content["application/pdf"]["schema"]["type"] == "string"
            elif "application/zip" in content:  # the access export
                assert content["application/zip"]["schema"]["type"] == "string"
            elif "application/json" not in content or not is_typed(schema, content["application/json"]["schema"]):
                untyped.append(f"{method} {path} {code}: {content}")
    assert seen >= 30  # contacts, groups, messages, dispatches, blocklist, audit, DPA, me
    assert not untyped, "responses without a typed body:\n" + "\n".join(untyped)


def test_every_operation_declares_its_errors_with_the_error_body(schema: dict[str, Any]) -> None:
    missing, wrong = [], []
    for method, path, operation in operations(schema):
        responses = operation["responses"]
        expected = {"401"}
        if path != "/api/v1/me":
            expected |= {"403", "503"}  # roles, and a busy database
        if "{" in path:
            expected |= {"400", "404", "422"}  # an id out of range (422) or of another account (404)
        if "requestBody" in operation:
            expected |= {"400", "415", "422"}  # not JSON, not the body's type, not valid
        if set(expected) - set(responses):
            missing.append(f"{method} {path}: {sorted(set(expected) - set(responses))}")
        for code, response in responses.items():
            if code[0] in "45" and (response.get("content") or {}).get("application/json", {}).get("schema") != ERROR_BODY:
                wrong.append(f"{method} {path} {code}: {response}")
    assert not missing, "errors not declared:\n" + "\n".join(missing)
    assert not wrong, "errors declared without the error body:\n" + "\n".join(wrong)


def test_the_error_body_is_as_the_api_answers(schema: dict[str, Any], app: Litestar) -> None:
    body = schema["components"]["schemas"]["ErrorBody"]
    assert set(body["properties"]) == {"error", "message", "request_id", "fields"}
    assert sorted(body["required"]) == ["error", "message", "request_id"]
    with TestClient(app) as client:
        refused = client.get("/api/v1/contacts")
    assert refused.status_code == 401 and set(refused.json()) == {"error", "message", "request_id"}


def test_the_delivery_report_hook_declares_the_error_body(schema: dict[str, Any], app: Litestar) -> None:
    """The HTTP provider's webhook answers errors as the API does, and says so (not Litestar's
    default ``{status_code, detail, extra}``)."""
    responses = schema["paths"]["/hooks/http/dlr"]["post"]["responses"]
    assert {"400", "401", "422", "503"} <= set(responses)
    for code, response in responses.items():
        if code[0] in "45":
            assert response["content"]["application/json"]["schema"] == ERROR_BODY, code
    assert "GOVSMS_HTTP_TOKEN" in responses["401"]["description"]
    assert is_typed(schema, responses["200"]["content"]["application/json"]["schema"])
    with TestClient(app) as client:
        unreadable = client.post("/hooks/http/dlr", content=b"{x", headers={"content-type": "application/json"})
        refused = client.post("/hooks/http/dlr", json={"id": "p-1", "status": "delivered"}, headers={"Authorization": "Bearer fel"})
    assert unreadable.status_code == 400 and set(unreadable.json()) == {"error", "message", "request_id"}
    assert refused.status_code == 401 and set(refused.json()) == {"error", "message", "request_id"}


def test_pdfs_are_declared_as_pdfs(schema: dict[str, Any]) -> None:
    for path in ("/api/v1/dpa/pdf", "/api/v1/dpa/versions/{version_id}/pdf"):
        content = schema["paths"][path]["get"]["responses"]["200"]["content"]
        assert list(content) == ["application/pdf"], path


def test_limits_are_in_the_schema(schema: dict[str, Any]) -> None:
    components = schema["components"]["schemas"]
    send = schema["paths"]["/api/v1/messages"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    send = resolve(schema, send)
    assert send["properties"]["text"]["maxLength"] == 750
    assert any(choice.get("maxLength") == 11 for choice in send["properties"]["from"]["anyOf"])
    assert components["ContactIn"]["properties"]["name"]["maxLength"] == 200
    assert components["ContactIn"]["properties"]["note"]["maxLength"] == 2000
    assert components["GroupIn"]["properties"]["name"]["maxLength"] == 100


def test_api_handlers_with_a_session_run_threaded_in_a_transaction(app: Litestar) -> None:
    """Declared once per controller: every API handler that takes ``db`` runs on a handler
    thread (sync_to_thread) inside ``in_transaction`` (app.py wraps them)."""
    checked = 0
    for route in app.routes:
        if not route.path.startswith("/api/v1/"):
            continue
        for handler in getattr(route, "route_handlers", ()):
            if "db" not in handler.parsed_fn_signature.parameters:
                continue
            assert handler.sync_to_thread is True, route.path
            assert isinstance(handler.fn, AsyncCallable) and getattr(handler.fn.func, "transactional", False), route.path
            checked += 1
    assert checked >= 30
