"""One clock: handlers read the request's time from the app's clock (the ``now`` dependency), the
worker from the clock it is given, and pages show times in the account's time zone. Both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from litestar.testing import TestClient
from sqlalchemy import select, update
from sqlalchemy.engine import Connection
from sqlmodel import Session

from govsms.auth import Role
from govsms.clock import LOCAL_TIME, FixedClock, SystemClock, is_timezone, localtime, zone
from govsms.db import make_session_factory
from govsms.keys.store import Vault
from govsms.sending.models import Dispatch, OutboundMessage
from govsms.sending.outbox import Outbox
from govsms.sending.pricing import seed_default_prices
from govsms.sending.transports.loopback import LoopbackTransport
from govsms.web.render import make_environment
from tests.factories import make_account, make_api_key, make_user, now
from tests.sending.test_api import api
from tests.web_helpers import login

STOCKHOLM = ZoneInfo("Europe/Stockholm")


def utc(value: datetime) -> datetime:
    """A stored time as aware UTC (SQLite hands back naive UTC)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def fixed_at() -> datetime:
    # Near the real time: logins and keys made by the factories stay valid at it.
    return (now() - timedelta(hours=3)).replace(second=0, microsecond=0)


def test_a_fixed_clock_in_the_app_state_is_the_time_handlers_use(client: TestClient, session: Session) -> None:
    headers = api(session)
    at = fixed_at()
    client.app.state.clock = FixedClock(at)
    response = client.post("/api/v1/messages", json={"from": "Skolan", "to": ["0701234567"], "text": "Hej"}, headers=headers)
    assert response.status_code == 201, response.text
    dispatch = session.get(Dispatch, response.json()["dispatch_id"], populate_existing=True)
    assert dispatch is not None and utc(dispatch.created_at) == at and utc(dispatch.send_at) == at


def test_the_worker_marks_unknown_by_its_clock_not_the_machines(client: TestClient, session: Session, connection: Connection, vault: Vault) -> None:
    headers = api(session)
    dispatch_id = client.post("/api/v1/messages", json={"from": "Skolan", "to": ["0701234567"], "text": "Hej"}, headers=headers).json()["dispatch_id"]
    message_id = session.execute(select(OutboundMessage.id).where(OutboundMessage.dispatch_id == dispatch_id)).scalar_one()  # type: ignore[arg-type]
    submitted = now()
    session.execute(
        update(OutboundMessage).where(OutboundMessage.id == message_id)  # type: ignore[arg-type]
        .values(status="sent", due_at=submitted - timedelta(seconds=1), submitted_at=submitted)
    )
    session.flush()
    clock = FixedClock(submitted + timedelta(hours=71, minutes=59))
    outbox = Outbox(make_session_factory(connection, vault=vault), LoopbackTransport(), public_url="http://x", clock=clock)
    assert outbox.unknown_after == timedelta(hours=72)
    assert outbox.mark_unknown() == 0  # the machine's clock says minutes have passed; the worker's says almost 72 hours
    clock.step(timedelta(minutes=2))
    assert outbox.mark_unknown() == 1
    message = session.get(OutboundMessage, message_id, populate_existing=True)
    assert message is not None and message.status == "unknown" and utc(message.done_at) == clock.now()  # type: ignore[arg-type]


def test_pages_show_times_in_the_accounts_time_zone(client: TestClient, session: Session) -> None:
    seed_default_prices(session, now=now())
    at = fixed_at()
    client.app.state.clock = FixedClock(at)
    shown = {}
    for timezone in ("Europe/Stockholm", "Europe/Helsinki"):
        account = make_account(session)
        account.timezone = timezone
        session.add(account)
        session.flush()
        _, key = make_api_key(session, account, roles={Role.SENDER})
        sent = client.post("/api/v1/messages", json={"from": "Skolan", "to": ["0701234567"], "text": "Hej"}, headers={"Authorization": f"Bearer {key}"})
        assert sent.status_code == 201, sent.text
        user, password = make_user(session, account, roles={Role.SENDER})
        login(client, user.email, password)
        page = client.get(f"/messages/{sent.json()['dispatch_id']}")
        assert page.status_code == 200
        shown[timezone] = page.text
        client.cookies.clear()
    stockholm = at.astimezone(STOCKHOLM)
    helsinki = stockholm + timedelta(hours=1)  # Finland is an hour ahead, summer and winter alike
    assert stockholm.strftime("%Y-%m-%d %H:%M") in shown["Europe/Stockholm"]
    assert helsinki.strftime("%Y-%m-%d %H:%M") in shown["Europe/Helsinki"]
    assert helsinki.strftime("%Y-%m-%d %H:%M") not in shown["Europe/Stockholm"]
    assert stockholm.strftime("%Y-%m-%d %H:%M") not in shown["Europe/Helsinki"]


def test_an_unknown_or_missing_zone_falls_back_to_stockholm() -> None:
    assert zone("Europe/Helsinki") == ZoneInfo("Europe/Helsinki")
    for name in (None, "", "Europe", "../../etc/passwd", "Nowhere/Else", "a" * 300, "Europe/Stockholm\x00"):
        assert zone(name) is LOCAL_TIME
        assert name is None or not is_timezone(name)
    at = datetime(2026, 7, 1, 10, 0, tzinfo=UTC)
    assert localtime(at) == "2026-07-01 12:00" and localtime(at, timezone="Europe/Helsinki") == "2026-07-01 13:00"
    assert localtime(at, timezone="no such zone") == "2026-07-01 12:00" and localtime(None) == ""
    template = make_environment().from_string("{{ at | localtime }}")
    assert template.render(at=at) == "2026-07-01 12:00"  # a page without an actor


def test_the_clocks() -> None:
    system = SystemClock().now()
    assert system.tzinfo is UTC and abs(system - datetime.now(UTC)) < timedelta(seconds=5)
    clock = FixedClock(datetime(2026, 1, 1, 12, 0, tzinfo=STOCKHOLM))
    assert clock.now() == datetime(2026, 1, 1, 11, 0, tzinfo=UTC) and clock.now().tzinfo is UTC
    assert clock.step(timedelta(hours=72)) == datetime(2026, 1, 4, 11, 0, tzinfo=UTC) == clock.now()
