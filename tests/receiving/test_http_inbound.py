"""The HTTP provider's inbound SMS: ``POST /hooks/http/inbound`` with the token of its delivery
reports; 200 once committed (stored once by the provider's id), 503 with Retry-After when the
database cannot take it, 400/401/422 for what is wrong, never a 500."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session

from govsms.receiving import hooks_api
from govsms.receiving.models import InboundMessage
from govsms.settings import Settings
from tests import sensitive
from tests.factories import make_account

TOKEN = "hemlig-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SENDER = sensitive.register("+46701234567")


def sms(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"from": SENDER, "to": "72323", "text": sensitive.register("Jag kommer på tisdag"), "id": "prov-1"}
    body.update(overrides)
    return body


@pytest.fixture
def hook(client: TestClient, session: Session, settings: Settings) -> TestClient:
    settings.http_token = TOKEN
    make_account(session, name="Operatören", is_provider=True)
    session.commit()
    return client


def stored(session: Session) -> list[tuple[str | None, str]]:
    session.expire_all()
    return [tuple(row) for row in session.execute(  # type: ignore[misc]
        select(InboundMessage.provider_ref, InboundMessage.destination).where(InboundMessage.transport == "http")
    ).all()]


def test_an_inbound_sms_is_stored_once_and_answered_after_the_commit(hook: TestClient, session: Session) -> None:
    first = hook.post("/hooks/http/inbound", json=sms(), headers=AUTH)
    assert first.status_code == 200 and first.json() == {"stored": 1}
    assert stored(session) == [("prov-1", "72323")]
    again = hook.post("/hooks/http/inbound", json=sms(), headers=AUTH)  # the provider lost our answer
    assert again.status_code == 200
    assert stored(session) == [("prov-1", "72323")]


def test_a_list_and_the_parts_of_a_concatenated_sms(hook: TestClient, session: Session) -> None:
    parts = [
        sms(id=f"p-{n}", text=text, concat={"reference": 7, "total": 2, "sequence": n})
        for n, text in ((2, sensitive.register(" på tisdag")), (1, sensitive.register("Jag kommer")))
    ]
    response = hook.post("/hooks/http/inbound", json=[sms(id="single"), *parts], headers=AUTH)
    assert response.status_code == 200 and response.json() == {"stored": 3}
    assert session.execute(select(func.count()).select_from(InboundMessage)).scalar_one() == 2  # the single one and the joined one


@pytest.mark.parametrize("authorization", [None, "Bearer fel", "Basic aGVq", "Bearer "])
def test_without_the_token_nothing_is_stored(hook: TestClient, session: Session, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization is not None else {}
    response = hook.post("/hooks/http/inbound", json=sms(), headers=headers)
    assert response.status_code == 401 and set(response.json()) == {"error", "message", "request_id"}
    assert stored(session) == []


def test_no_configured_token_accepts_nothing(client: TestClient, settings: Settings) -> None:
    settings.http_token = ""
    assert client.post("/hooks/http/inbound", json=sms(), headers={"Authorization": "Bearer "}).status_code == 401


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (sms(**{"from": 46701234567}), "from"),
        (sms(**{"from": "Kalle\u0000Anka"}), "from"),
        (sms(**{"from": "  "}), "from"),
        (sms(**{"from": "+4670" + "1" * 30}), "from"),
        (sms(to="72323; DROP TABLE"), "to"),
        (sms(to=""), "to"),
        (sms(text=["a"]), "text"),
        (sms(text="x" * 40_001), "text"),
        (sms(text="a\x00b"), "text"),
        (sms(id=""), "id"),
        (sms(id="x" * 65), "id"),
        (sms(id="a\nb"), "id"),
        (sms(id=True), "id"),
        (sms(id=None), "id"),
        (sms(concat={"reference": 1, "total": 1, "sequence": 1}), "concat"),
        (sms(concat={"reference": 1, "total": 3, "sequence": 4}), "concat"),
        (sms(concat={"reference": 70000, "total": 3, "sequence": 1}), "concat"),
        (sms(concat={"reference": 1, "total": True, "sequence": 1}), "concat"),
        (sms(concat="1/3"), "concat"),
        ([], "body"),
        ([sms(id=f"p-{n}") for n in range(1001)], "body"),
    ],
)
def test_invalid_input_is_422_naming_the_field(hook: TestClient, session: Session, body: Any, field: str) -> None:
    response = hook.post("/hooks/http/inbound", json=body, headers=AUTH)
    assert response.status_code == 422, response.text
    assert field in response.json()["fields"]
    assert stored(session) == []


@pytest.mark.parametrize("content", [b"{x", b"", b"[1, 2]", b'"text"', b"[" * 5000 + b"]" * 5000])
def test_unreadable_bodies_are_400_or_422(hook: TestClient, session: Session, content: bytes) -> None:
    response = hook.post("/hooks/http/inbound", content=content, headers={**AUTH, "content-type": "application/json"})
    assert response.status_code in (400, 422), response.text
    assert {"error", "message"} <= set(response.json())
    assert stored(session) == []


@pytest.mark.parametrize("error", [
    OperationalError("INSERT", {}, ConnectionRefusedError("database down")),
    IntegrityError("INSERT", {}, Exception("the same id posted twice at once")),
])
def test_a_database_that_cannot_take_it_answers_503_with_retry_after(
    hook: TestClient, session: Session, monkeypatch: pytest.MonkeyPatch, error: Exception,
) -> None:
    def down(*_args: Any, **_kwargs: Any) -> None:
        raise error

    monkeypatch.setattr(hooks_api, "accept_upstream", down)
    response = hook.post("/hooks/http/inbound", json=sms(), headers=AUTH)
    assert response.status_code == 503 and int(response.headers["Retry-After"]) > 0
    assert response.json()["error"] == "busy"


def test_the_schema_declares_the_hook_with_its_error_body(client: TestClient) -> None:
    schema = client.get("/api/schema/openapi.json").json()
    responses = schema["paths"]["/hooks/http/inbound"]["post"]["responses"]
    assert {"200", "400", "401", "422", "503"} <= set(responses)
    assert "GOVSMS_HTTP_TOKEN" in responses["401"]["description"]
