"""Sending through HTTP (API and pages), on both backends: field-by-field 422s, dry runs,
idempotency, the opt-out page (GET never blocks), masked history with an audited reveal."""

from __future__ import annotations

import re

from litestar.testing import TestClient
from sqlalchemy import select
from sqlmodel import Session

from govsms.auth import Role
from govsms.audit.models import AuditEvent
from govsms.sending.models import OutboundMessage
from govsms.sending.pricing import seed_default_prices
from tests.factories import make_account, make_api_key, make_user
from tests.web_helpers import csrf_token, login, post_form


def api(session: Session) -> dict[str, str]:
    seed_default_prices(session, now=__import__("tests.factories", fromlist=["now"]).now())
    account = make_account(session)
    _, key = make_api_key(session, account, roles={Role.SENDER})
    return {"Authorization": f"Bearer {key}"}


def test_bad_input_gets_422_with_a_reason_per_field(client: TestClient, session: Session) -> None:
    headers = api(session)
    response = client.post("/api/v1/messages", json={"from": "Förskolan", "to": ["0701234567"], "text": "x" * 751}, headers=headers)
    assert response.status_code == 422
    fields = response.json()["fields"]
    assert "å, ä, ö" in fields["from"] and "751" in fields["text"]
    shape = client.post("/api/v1/messages", json={"to": "0701234567", "send_at": "i morgon", "dry_run": "ja"}, headers=headers)
    assert shape.status_code == 422 and {"from", "text", "send_at", "dry_run"} <= set(shape.json()["fields"])
    nobody = client.post("/api/v1/messages", json={"from": "Skolan", "to": ["nej"], "text": "Hej"}, headers=headers)
    assert nobody.status_code == 422 and "to" in nobody.json()["fields"]
    not_json = client.post("/api/v1/messages", content=b"{", headers={**headers, "Content-Type": "application/json"})
    assert not_json.status_code in (400, 422)


def test_dry_run_returns_the_cost_and_sends_nothing(client: TestClient, session: Session) -> None:
    headers = api(session)
    response = client.post(
        "/api/v1/messages", json={"from": "Skolan", "to": ["0701234567", "+4741234567", "fel"], "text": "€" * 100, "dry_run": True}, headers=headers
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["dispatch_id"] is None and body["accepted"] == 2 and body["parts"] == 2 and body["encoding"] == "gsm7"
    assert body["cost"] == {"amount": 2 * 45 + 2 * 55, "currency": "SEK", "unit": "minor"}
    assert body["invalid"][0]["input"] == "fel"
    assert client.get("/api/v1/messages", headers=headers).json()["total"] == 0


def test_same_idempotency_key_same_dispatch(client: TestClient, session: Session) -> None:
    headers = {**api(session), "Idempotency-Key": "order-4711"}
    body = {"from": "72323", "to": ["0701234567"], "text": "Din tid är bokad."}
    first = client.post("/api/v1/messages", json=body, headers=headers).json()
    again = client.post("/api/v1/messages", json=body, headers=headers).json()
    assert first["dispatch_id"] and again["dispatch_id"] == first["dispatch_id"]
    other = client.post("/api/v1/messages", json={**body, "text": "Annat"}, headers=headers)
    assert other.status_code == 409
    dispatch = client.get(f"/api/v1/dispatches/{first['dispatch_id']}", headers=headers).json()
    assert dispatch["accepted"] == 1 and dispatch["messages"] == {"queued": 1}


def test_optout_page_get_blocks_nothing_post_blocks(client: TestClient, session: Session) -> None:
    headers = api(session)
    sent = client.post(
        "/api/v1/messages", json={"from": "Butiken", "to": ["0701234567"], "text": "Rea! Stopp: _BLOCKSMSLINK_"}, headers=headers
    ).json()
    token = session.execute(select(OutboundMessage.optout_token).where(OutboundMessage.dispatch_id == sent["dispatch_id"])).scalar_one()
    page = client.get(f"/u/{token}")
    assert page.status_code == 200 and "Stoppa sms" in page.text and "Stop SMS" in page.text
    for _ in range(3):
        client.get(f"/u/{token}")  # a link scanner
    check = client.post("/api/v1/blocklist/search", json={"number": "0701234567"}, headers=headers).json()
    assert check["blocked"] is False
    confirmed = post_form(client, f"/u/{token}", {}, token_from=f"/u/{token}")
    assert confirmed.status_code == 200 and "Du får inga fler sms" in confirmed.text
    assert client.post("/api/v1/blocklist/search", json={"number": "+46701234567"}, headers=headers).json()["source"] == "link"
    again = client.post("/api/v1/messages", json={"from": "Butiken", "to": ["0701234567", "0702345678"], "text": "Hej"}, headers=headers).json()
    assert again["blocked"] == 1 and again["accepted"] == 1 and again["cost"]["amount"] == 45
    assert client.get("/u/okand-token").status_code == 404


def test_send_page_summary_then_send(client: TestClient, session: Session) -> None:
    seed_default_prices(session, now=__import__("tests.factories", fromlist=["now"]).now())
    account = make_account(session)
    user, password = make_user(session, account, roles={Role.SENDER})
    login(client, user.email, password)
    token = csrf_token(client, "/send")
    analysed = client.post("/send/analyse", json={"text": "Hej 😀", "sender": "Skolan"}, headers={"x-csrftoken": token})
    assert analysed.json()["encoding"] == "ucs2" and analysed.json()["can_reply"] is False
    summary = client.post(
        "/send", data={"_csrf_token": token, "sender": "72323", "to": "0701234567\n+4741234567\nfel", "text": "Möte kl 18."},
        files={"file": ("", b"", "application/octet-stream")},
    )
    assert summary.status_code == 200, summary.text[:500]
    assert 'id="accepted">2<' in summary.text and 'id="invalid">1<' in summary.text and "1,00" in summary.text
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', summary.text))
    sent = post_form(
        client, "/send/confirm", {key: fields.get(key, "") for key in ("sender", "to", "text", "send_at", "idempotency_key", "upload")}, token_from="/send"
    )
    assert sent.status_code == 303
    dispatch = client.get(sent.headers["location"])
    assert "+46 70 *** ** 67" in dispatch.text and "+46701234567" not in dispatch.text
    revealed = post_form(client, sent.headers["location"].split("?")[0] + "/reveal", {}, token_from="/send")
    assert "+46 70 123 45 67" in revealed.text  # in clear, readable
    shown = session.execute(select(AuditEvent).where(AuditEvent.action == "message.number_shown")).scalars().all()
    assert shown and shown[-1].actor == f"user:{user.id}"


def test_auditor_and_dpo_cannot_send(client: TestClient, session: Session) -> None:
    account = make_account(session)
    _, key = make_api_key(session, account, roles={Role.AUDITOR})
    response = client.post("/api/v1/messages", json={"from": "x", "to": ["0701234567"], "text": "x"}, headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 403


def test_operator_edits_prices_and_assigns_a_virtual_number(client: TestClient, session: Session) -> None:
    provider = make_account(session, is_provider=True)
    customer = make_account(session, name="Kund med nummer AB")
    operator, password = make_user(session, provider, roles={Role.OPERATOR})
    login(client, operator.email, password)
    assert post_form(client, "/operator/prices", {"country": "is", "price": "0,80"}, token_from="/operator/prices").status_code == 303
    bad = post_form(client, "/operator/prices", {"country": "Sverige", "price": "x"}, token_from="/operator/prices")
    assert bad.status_code == 422
    assigned = post_form(client, "/operator/numbers", {"number": "+46 76 600 00 01", "account_id": str(customer.id)}, token_from="/operator/prices")
    assert assigned.status_code == 303
    listing = client.get("/operator/prices").text
    assert "IS" in listing and "0,80" in listing and "+46766000001" in listing and "Kund med nummer AB" in listing
    _, key = make_api_key(session, customer, roles={Role.SENDER})
    sent = client.post(
        "/api/v1/messages", json={"from": "076-600 00 01", "to": ["+3546111234"], "text": "Hej", "dry_run": True},
        headers={"Authorization": f"Bearer {key}"},
    ).json()
    assert sent["accepted"] == 1 and sent["cost"]["amount"] == 80 and sent["replies_possible"] is True


def test_http_transport_and_its_delivery_webhook(client: TestClient, session: Session, connection, vault, settings) -> None:  # type: ignore[no-untyped-def]
    import httpx

    from govsms.db import make_session_factory
    from govsms.sending.outbox import Outbox
    from govsms.sending.transports.http import HttpTransport

    headers = api(session)
    sent = client.post("/api/v1/messages", json={"from": "Skolan", "to": ["0701234567", "0702345678"], "text": "Hej då"}, headers=headers).json()
    seen: list[dict] = []

    def provider(request: httpx.Request) -> httpx.Response:
        body = __import__("json").loads(request.content)
        seen.append(body)
        if body["to"] == "+46702345678":
            return httpx.Response(400, json={"error": "bad number"})
        return httpx.Response(200, json={"id": f"prov-{len(seen)}"})

    transport = HttpTransport("https://provider.example/send", "hemlig-token", client=httpx.Client(transport=httpx.MockTransport(provider)))
    Outbox(make_session_factory(connection, vault=vault), transport, public_url="http://x").run_once()
    assert {body["text"] for body in seen} == {"Hej då"}
    settings.http_token = "hemlig-token"
    refused = client.post("/hooks/http/dlr", json={"id": "prov-1", "status": "delivered"}, headers={"Authorization": "Bearer fel"})
    assert refused.status_code == 401
    ok = client.post("/hooks/http/dlr", json={"id": "prov-1", "status": "delivered"}, headers={"Authorization": "Bearer hemlig-token"})
    assert ok.status_code == 200 and ok.json() == {"applied": 1}
    counts = client.get(f"/api/v1/dispatches/{sent['dispatch_id']}", headers=headers).json()["messages"]
    assert counts == {"delivered": 1, "failed": 1}
