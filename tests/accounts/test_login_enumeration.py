"""No account enumeration through the login (issue 15 item 9): an address without a login gets the
same answers, wrong password after wrong password, as one with a login, the lockout message
included. Both backends."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from litestar.testing import TestClient
from sqlalchemy.engine import Connection
from sqlmodel import Session

from govsms.clock import FixedClock
from tests.conftest import app_on_connection, make_settings
from tests.factories import make_account, make_user
from tests.web_helpers import post_form

MOMENT = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


def _answers(client: TestClient, email: str, passwords: list[str]) -> list[tuple[int, str]]:
    answers = []
    for password in passwords:
        response = post_form(client, "/login", {"email": email, "password": password})
        match = re.search(r'id="login-error">([^<]+)<', response.text)
        answers.append((response.status_code, match.group(1) if match else response.headers.get("location", "")))
    return answers


def test_an_unknown_address_is_locked_out_like_a_known_one(connection: Connection, session: Session, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, login_attempts_per_minute=100, login_max_failures=5)  # the per-minute limit aside
    account = make_account(session)
    user, password = make_user(session, account, email="anna.known@example.se", language="sv")
    session.flush()
    wrong = ["fel-lösenord-1", "fel-lösenord-2", "fel-lösenord-3", "fel-lösenord-4", "fel-lösenord-5", "fel-lösenord-6"]
    with TestClient(app_on_connection(settings, connection)) as client:
        client.app.state.clock = FixedClock(MOMENT)
        known = _answers(client, user.email, [*wrong, password])  # the right password last: still locked
        unknown = _answers(client, "bo.unknown@example.se", [*wrong, password])
    assert known == unknown, (known, unknown)
    assert known[0] == (401, "Fel e-postadress eller lösenord. Kontrollera båda och försök igen.")
    assert known[4][0] == 401 and "låst" in known[4][1] and known[5] == known[4] and known[6] == known[4]
    assert all(status == 401 for status, _message in known)


def test_the_address_is_read_alike_however_written(connection: Connection, session: Session, tmp_path: Path) -> None:
    """An unknown address written in other case counts as the same address, like a known one."""
    settings = make_settings(tmp_path, login_attempts_per_minute=100, login_max_failures=2)
    with TestClient(app_on_connection(settings, connection)) as client:
        client.app.state.clock = FixedClock(MOMENT)
        first = _answers(client, "Cilla.Unknown@Example.se", ["fel-lösenord-1", "fel-lösenord-2"])
        later = _answers(client, "cilla.unknown@example.se", ["fel-lösenord-3"])
    assert "låst" in first[1][1] and later[0] == first[1]
