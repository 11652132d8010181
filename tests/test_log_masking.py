"""The log mask (``govsms.log``) and the request id: a number in any spelling is masked wherever it
stands in a line, and what makes logs useful (times, ids, durations, addresses) is left alone.
A client's ``X-Request-ID`` is kept only in a safe format that holds no number."""

from __future__ import annotations

import io
import logging
import re

import pytest
from litestar.testing import TestClient
from sqlmodel import Session, select

from govsms.auth import Role
from govsms.audit.models import AuditEvent
from govsms.log import JsonFormatter, RedactFilter, TEXT_FORMAT, redact, request_id
from tests.factories import make_account, make_api_key

# (line, what must not survive in it)
MASKED = [
    ("sent to 0701234567", "1234567"),
    ("to +46701234567 ok", "1234567"),
    ("typed 070-123 45 67.", "123 45 67"),
    ("typed 070.123.45.99 in the form", "123.45.99"),
    ("typed 070.123.45.67", "123.45.67"),
    ("GET /contacts?to=%2B46701234567 200", "46701234567"),
    ("to=%2b46701234567&x=1", "46701234567"),
    ("to=%2B46%20701%2023%2045%2067", "701%2023%2045"),
    ("to=070+123+45+67", "123+45+67"),
    ("GET /contacts/+46701234567 404", "46701234567"),
    ("GET /contacts/0701234567/edit 404", "0701234567"),
    ("GET /u/46701234567 404", "46701234567"),
    ("GET /api/v1/blocklist/+46701234567 404", "46701234567"),
    ("tel:+46701234567", "46701234567"),
    ("call +46 (0)70-123 45 67 now", "123 45 67"),
    ("call (070) 123 45 67 now", "123 45 67"),
    ("bare 46701234567", "46701234567"),
    ("international 0046701234567", "46701234567"),
    ("Norway +47 412 34 567", "412 34 567"),
    ("Norway 41234567", "41234567"),
    ("number=46701234567&page=2", "46701234567"),
    ("id:x0701234567", "0701234567"),
    ("trace-46701234567", "46701234567"),
    ("nbsp 070\u00a0123\u00a045\u00a067", "123\u00a045\u00a067"),
    ("dashes +46-70-123-45-67", "123-45-67"),
    ('{"to": ["+46701234567", "0739876543"]}', "9876543"),
    ('{"to": ["+46701234567", "0739876543"]}', "1234567"),
    ("KeyError: '+46701234567'", "46701234567"),
    ("a long run 12345678901234567890", "12345678901234567890"),
]

# Lines that hold no number: left exactly as they are.
KEPT = [
    "GET /settings/users 200",
    "next run at: 2026-11-27 01:42:45 CET",
    "send_at 2026-11-30T12:34:56.789+00:00 accepted",
    "2026-11-30 12:34:56,789 INFO started",
    "on 2026-11-30 at 12:00:00Z",
    "request 3f2a9c1e41234567ab5d6a7f8e9d0c1b",
    "trace 123e4567-e89b-12d3-a456-426614174000",
    "dispatch 4711 sent 3 parts",
    "contact id=123456 updated",
    "took 1234.5 ms",
    "duration_ms=98765.4",
    "slow: 1234567.8 ms",
    "listening on http://127.0.0.1:8000",
    "client 192.168.100.200 refused",
    "litestar 2.25.1 on Python 3.11.9",
    "head e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "batch of 5000 rows in 250 ms",
    "upgrade a10b0c0d0e03 -> a10b0c0d0e04",
    "page 1 of 40000",
    "GET /groups/12 200",
]


@pytest.mark.parametrize(("line", "hidden"), MASKED)
def test_a_number_is_masked_wherever_it_stands(line: str, hidden: str) -> None:
    cleaned = redact(line)
    assert hidden not in cleaned, cleaned
    assert "[number]" in cleaned, cleaned


@pytest.mark.parametrize("line", KEPT)
def test_times_ids_durations_and_addresses_stay(line: str) -> None:
    assert redact(line) == line


def test_credentials_are_still_redacted() -> None:
    assert "hemligt" not in redact("password=hemligt")
    assert "gsk_abc" not in redact("Authorization: Bearer gsk_abc")


def _formatted(formatter: logging.Formatter, message: str) -> str:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactFilter())
    handler.setFormatter(formatter)
    handler.handle(logging.LogRecord("govsms.test", logging.INFO, __file__, 1, message, None, None))
    return stream.getvalue()


@pytest.mark.parametrize("formatter", [logging.Formatter(TEXT_FORMAT), JsonFormatter()], ids=["text", "json"])
def test_the_request_id_of_a_line_is_masked_too(formatter: logging.Formatter) -> None:
    token = request_id.set("0701234567")
    try:
        line = _formatted(formatter, "something happened")
    finally:
        request_id.reset(token)
    assert "0701234567" not in line and "1234567" not in line, line


REFUSED_IDS = [
    "46701234567", "0701234567", "41234567", "070-123.45.67", "070.123.45.67", "trace-0701234567", "req_46701234567_x",
    "+46701234567", "%2B46701234567", "070 123 45 67", "short", "x" * 65, "bad/slash", "åäö-trace-1",
]


@pytest.mark.parametrize("incoming", REFUSED_IDS)
def test_a_request_id_that_is_unsafe_or_holds_a_number_is_replaced(client: TestClient, incoming: str) -> None:
    answered = client.get("/health", headers={"X-Request-ID": incoming.encode()}).headers["x-request-id"]
    assert answered != incoming
    assert re.fullmatch(r"[0-9a-f]{32}", answered)


@pytest.mark.parametrize("incoming", ["trace-abcdef01", "3f2a9c1e-4b5d-4a7f-8e9d-0c1b2a3948ab", "job.42.retry_3"])
def test_a_safe_request_id_is_kept(client: TestClient, incoming: str) -> None:
    assert client.get("/health", headers={"X-Request-ID": incoming}).headers["x-request-id"] == incoming


def test_a_number_sent_as_request_id_reaches_neither_the_access_log_nor_the_log_lines(client: TestClient, session: Session) -> None:
    account = make_account(session)
    _key, secret = make_api_key(session, account, roles={Role.SENDER})
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactFilter())
    handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        response = client.get("/api/v1/contacts", headers={"Authorization": f"Bearer {secret}", "X-Request-ID": "46701234567"})
    finally:
        root.removeHandler(handler)
    assert response.status_code == 200
    rid = response.headers["x-request-id"]
    assert rid != "46701234567"
    events = session.exec(select(AuditEvent).where(AuditEvent.account_id == account.id)).all()
    assert events and all(event.request_id == rid for event in events if event.request_id != "-")
    assert any(event.request_id == rid for event in events)
    assert "1234567" not in stream.getvalue() and rid in stream.getvalue()
