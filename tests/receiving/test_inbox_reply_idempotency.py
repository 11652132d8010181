"""POST /api/v1/inbound/{id}/reply honours an Idempotency-Key as POST /api/v1/messages does
(review of issue 14, item 13): a retry with the same key returns the same dispatch, sent and
billed once; the key with another text is 409; another account's same key is its own; an
overlong key is refused with a reason. Both backends."""

from __future__ import annotations

from typing import Any

from litestar.testing import TestClient
from sqlalchemy import func, select
from sqlmodel import Session

from govsms.auth import Role
from govsms.sending.models import Dispatch, OutboundMessage
from tests.factories import audit_events, make_account, make_api_key
from tests.receiving.inbox_helpers import stored_inbound
from tests.receiving.test_inbox_web import ANNA, sender  # noqa: F401


def _dispatches(session: Session, account_id: int) -> int:
    return int(session.execute(select(func.count()).select_from(Dispatch).where(Dispatch.account_id == account_id)).scalar_one())


def test_a_retried_reply_with_the_same_key_is_sent_and_billed_once(client: TestClient, session: Session, sender: dict[str, Any]) -> None:  # noqa: F811
    account = sender["account"]
    row = stored_inbound(session, account, ANNA, "Kan ni ringa?")
    headers = {**sender["headers"], "Idempotency-Key": "svar-1"}
    first = client.post(f"/api/v1/inbound/{row.id}/reply", json={"text": "Vi ringer i eftermiddag"}, headers=headers)
    again = client.post(f"/api/v1/inbound/{row.id}/reply", json={"text": "Vi ringer i eftermiddag"}, headers=headers)
    assert first.status_code == 201 and again.status_code == 201, (first.text, again.text)
    assert again.json()["dispatch_id"] == first.json()["dispatch_id"]
    assert _dispatches(session, account.id) == 1
    messages = session.execute(select(func.count()).select_from(OutboundMessage).where(OutboundMessage.account_id == account.id)).scalar_one()
    assert messages == 1  # one SMS to send, one to bill
    assert len(audit_events(session, "dispatch.replayed", account.id)) == 1
    other_text = client.post(f"/api/v1/inbound/{row.id}/reply", json={"text": "Något annat"}, headers=headers)
    assert other_text.status_code == 409 and "Idempotency-Key" in other_text.text
    without = client.post(f"/api/v1/inbound/{row.id}/reply", json={"text": "Vi ringer i eftermiddag"}, headers=sender["headers"])
    assert without.status_code == 201 and without.json()["dispatch_id"] != first.json()["dispatch_id"]  # no key: a new reply
    assert _dispatches(session, account.id) == 2


def test_another_accounts_same_key_is_its_own(client: TestClient, session: Session, sender: dict[str, Any]) -> None:  # noqa: F811
    row = stored_inbound(session, sender["account"], ANNA, "Hej")
    other = make_account(session)
    _, key = make_api_key(session, other, roles={Role.SENDER})
    theirs = stored_inbound(session, other, ANNA, "Hej")
    mine = client.post(f"/api/v1/inbound/{row.id}/reply", json={"text": "Svar"}, headers={**sender["headers"], "Idempotency-Key": "k"})
    their = client.post(f"/api/v1/inbound/{theirs.id}/reply", json={"text": "Svar"},
                        headers={"Authorization": f"Bearer {key}", "Idempotency-Key": "k"})
    assert mine.status_code == their.status_code == 201
    assert mine.json()["dispatch_id"] != their.json()["dispatch_id"]
    assert _dispatches(session, other.id) == 1


def test_an_overlong_or_control_key_is_refused_with_a_reason(client: TestClient, session: Session, sender: dict[str, Any]) -> None:  # noqa: F811
    row = stored_inbound(session, sender["account"], ANNA, "Hej")
    long = client.post(f"/api/v1/inbound/{row.id}/reply", json={"text": "Svar"}, headers={**sender["headers"], "Idempotency-Key": "k" * 101})
    assert long.status_code == 422 and "idempotency_key" in long.json()["fields"]
    assert _dispatches(session, sender["account"].id) == 0
