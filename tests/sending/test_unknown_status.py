"""Nothing stays 'sent' forever: a message with no delivery report for ``message_unknown_hours``
becomes ``unknown`` (final), and the dispatch's API counts and pages show it. Both backends."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

from litestar.testing import TestClient
from sqlalchemy import select, update
from sqlalchemy.engine import Connection
from sqlmodel import Session

from govsms.auth import Role
from govsms.db import make_session_factory
from govsms.keys.ring import KeyRing
from govsms.keys.store import Vault
from govsms.sending.models import MessagePart, OutboundMessage
from govsms.sending.history import STATUS_LABELS, STATUSES
from govsms.sending.outbox import FINAL, Outbox, apply_delivery_reports
from govsms.sending.reports import mark_unknown
from govsms.sending.transports.base import DeliveryReport, ReportStatus
from govsms.sending.transports.loopback import LoopbackTransport
from govsms.sending.pricing import seed_default_prices
from govsms.worker import Worker
from tests.conftest import make_settings
from tests.factories import make_account, make_api_key, make_user, now
from tests.sending.test_api import api
from tests.web_helpers import login

LIMIT = timedelta(hours=72)


def age(session: Session, message_id: int, status: str, submitted: timedelta) -> None:
    at = now() - submitted
    session.execute(
        update(OutboundMessage).where(OutboundMessage.id == message_id)  # type: ignore[arg-type]
        .values(status=status, due_at=at - timedelta(seconds=1), submitted_at=at)
    )


def test_sent_without_a_report_past_the_limit_becomes_unknown(client: TestClient, session: Session, connection: Connection, vault: Vault) -> None:
    headers = api(session)
    dispatch_id = client.post(
        "/api/v1/messages", json={"from": "Skolan", "to": ["0701234567", "0702345678", "0703456789"], "text": "Hej"}, headers=headers
    ).json()["dispatch_id"]
    old, recent, delivered = session.execute(
        select(OutboundMessage.id).where(OutboundMessage.dispatch_id == dispatch_id).order_by(OutboundMessage.id)  # type: ignore[arg-type]
    ).scalars().all()
    age(session, old, "sent", LIMIT + timedelta(minutes=5))
    age(session, recent, "sent", LIMIT - timedelta(minutes=5))
    age(session, delivered, "delivered", LIMIT + timedelta(hours=1))
    session.flush()
    factory = make_session_factory(connection, vault=vault)
    assert mark_unknown(factory, now=now(), after=LIMIT) == 1
    assert mark_unknown(factory, now=now(), after=LIMIT) == 0
    rows = dict(session.execute(select(OutboundMessage.id, OutboundMessage.status).where(OutboundMessage.dispatch_id == dispatch_id)).all())  # type: ignore[arg-type]
    assert rows == {old: "unknown", recent: "sent", delivered: "delivered"}
    counts = client.get(f"/api/v1/dispatches/{dispatch_id}", headers=headers).json()["messages"]
    assert counts == {"unknown": 1, "sent": 1, "delivered": 1}
    listed = client.get("/api/v1/messages", params={"dispatch_id": dispatch_id, "status": "unknown"}, headers=headers).json()
    assert listed["total"] == 1 and listed["items"][0]["status"] == "unknown"
    # A report that comes after all still tells the truth.
    session.add(MessagePart(provider_id="late-1", message_id=old, part=None))
    session.flush()
    apply_delivery_reports(factory, [DeliveryReport(provider_id="late-1", status=ReportStatus.DELIVERED)])
    assert session.get(OutboundMessage, old, populate_existing=True).status == "delivered"  # type: ignore[union-attr]


def test_the_dispatch_page_shows_unknown(client: TestClient, session: Session, connection: Connection, vault: Vault) -> None:
    account = make_account(session)
    headers = {"Authorization": f"Bearer {make_api_key(session, account, roles={Role.SENDER})[1]}"}
    seed_default_prices(session, now=now())
    dispatch_id = client.post("/api/v1/messages", json={"from": "Skolan", "to": ["0701234567"], "text": "Hej"}, headers=headers).json()["dispatch_id"]
    message_id = session.execute(select(OutboundMessage.id).where(OutboundMessage.dispatch_id == dispatch_id)).scalar_one()  # type: ignore[arg-type]
    age(session, message_id, "sent", LIMIT + timedelta(hours=1))
    session.flush()
    mark_unknown(make_session_factory(connection, vault=vault), now=now(), after=LIMIT)
    user, password = make_user(session, account, roles={Role.SENDER})
    login(client, user.email, password)
    page = client.get(f"/messages/{dispatch_id}")
    assert page.status_code == 200 and "okänt: 1" in page.text
    filtered = client.get(f"/messages/{dispatch_id}", params={"status": "unknown"})
    assert filtered.status_code == 200 and '<option value="unknown" selected>okänt</option>' in filtered.text


def test_unknown_is_a_final_status_everywhere_statuses_are_listed() -> None:
    assert "unknown" in FINAL and "unknown" in STATUSES and STATUS_LABELS["unknown"] == "unknown"
    assert set(STATUS_LABELS) == set(STATUSES)


def test_the_worker_loop_marks_unknown(client: TestClient, session: Session, connection: Connection, vault: Vault, keys: KeyRing, tmp_path: Path) -> None:
    """``Outbox.run`` sweeps when it starts and then once a minute; the worker gives it the setting."""
    headers = api(session)
    dispatch_id = client.post("/api/v1/messages", json={"from": "Skolan", "to": ["0701234567"], "text": "Hej"}, headers=headers).json()["dispatch_id"]
    message_id = session.execute(select(OutboundMessage.id).where(OutboundMessage.dispatch_id == dispatch_id)).scalar_one()  # type: ignore[arg-type]
    age(session, message_id, "sent", timedelta(hours=2))
    session.flush()
    outbox = Outbox(make_session_factory(connection, vault=vault), LoopbackTransport(), public_url="http://x", unknown_after=timedelta(hours=1))
    stop = threading.Event()
    threading.Timer(0.3, stop.set).start()
    outbox.run(stop, idle_sleep=0.05)  # in this thread: the test's connection is not shared
    assert session.get(OutboundMessage, message_id, populate_existing=True).status == "unknown"  # type: ignore[union-attr]
    worker = Worker(make_settings(tmp_path, message_unknown_hours=5), make_session_factory(connection, vault=vault), keys, transport=LoopbackTransport())
    assert worker.outbox.unknown_after == timedelta(hours=5)
