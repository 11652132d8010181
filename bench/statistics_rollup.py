"""Statistics (issue 12 item 4). Targets: the roll-up of one day of 1,000,000 messages <= 10 s;
``/statistics`` over 2 years of an account, in a database of 50 accounts' roll-up (~30 countries
a day), <= 200 ms. Both backends.

The messages and roll-up rows are written straight into their tables (``copy_rows``): what is
measured is ``roll_up`` and the page, not the sending that would make them.
"""

from __future__ import annotations

import random
import re
import secrets
import sys
import tempfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from litestar.testing import TestClient  # noqa: E402

from bench._common import Timer, bench_account, databases, session_factory, settings  # noqa: E402
from govsms.accounts.service import create_account, create_user  # noqa: E402
from govsms.app import create_app  # noqa: E402
from govsms.auth import Actor, Role  # noqa: E402
from govsms.db import copy_rows, session_scope, table_of  # noqa: E402
from govsms.sending.models import Dispatch, OutboundMessage, StatisticsDay  # noqa: E402
from govsms.sending.statistics import day_start, roll_up  # noqa: E402
from govsms.clock import zone  # noqa: E402

MESSAGES = 1_000_000
BATCH = 100_000
ACCOUNTS = 50
DAYS = 730
COUNTRIES = ["SE", "NO", "DK", "FI", "DE", "GB", "FR", "ES", "IT", "NL", "BE", "PL", "EE", "LV", "LT", "IS", "AT", "CH", "IE", "PT",
             "GR", "CZ", "SK", "HU", "RO", "BG", "HR", "SI", "LU", "US"]
STATUSES = ["delivered"] * 8 + ["failed", "expired", "unknown", "blocked"]
KINDS = ["alphanumeric", "alphanumeric", "number", "short_code"]
PAGE_PROBES = 15
STOCKHOLM = zone("Europe/Stockholm")


def load_day(factory, account_id: int, day: date, now: datetime) -> None:  # type: ignore[no-untyped-def]
    start = day_start(day, STOCKHOLM)
    seconds = int((day_start(day + timedelta(days=1), STOCKHOLM) - start).total_seconds())
    rng = random.Random(1)
    dispatches = MESSAGES // 1000
    with session_scope(factory) as session:
        copy_rows(session, table_of(Dispatch), [
            "id", "account_id", "created_by", "channel", "sender", "text_ct", "encoding", "parts", "accepted", "blocked", "invalid",
            "cost_minor", "currency", "status", "send_at", "created_at",
        ], ((number + 1, account_id, "bench", "api", "Bench", b"x", "gsm7", 1, 1000, 3, 0, 0, "SEK", "queued",
             start + timedelta(seconds=number * seconds // dispatches), start + timedelta(seconds=number * seconds // dispatches))
            for number in range(dispatches)))
    for batch in range(MESSAGES // BATCH):
        with session_scope(factory) as session:
            copy_rows(session, table_of(OutboundMessage), [
                "dispatch_id", "account_id", "subject_id", "recipient_ct", "sender", "sender_kind", "country", "parts", "cost_minor",
                "status", "attempts", "due_at", "created_at",
            ], ((number // 1000 + 1, account_id, number, b"x", "Bench", rng.choice(KINDS), rng.choice(COUNTRIES), rng.choice((1, 1, 1, 2)),
                 rng.choice((45, 45, 90)), rng.choice(STATUSES), 1, start + timedelta(seconds=number * seconds // MESSAGES),
                 start + timedelta(seconds=number * seconds // MESSAGES))
                for number in range(batch * BATCH, (batch + 1) * BATCH)))


def bench_roll_up(url: str) -> tuple[float, float, int]:
    _engine, factory, _keys = session_factory(url, Path(tempfile.mkdtemp()))
    day = date(2026, 11, 2)
    now = day_start(day + timedelta(days=1), STOCKHOLM) + timedelta(hours=12)
    account, _actor = bench_account(factory, now)
    load_day(factory, account.id, day, now)
    with Timer() as first, session_scope(factory) as session:
        rows = roll_up(session, now=now, account_id=account.id)
    with Timer() as again, session_scope(factory) as session:
        roll_up(session, now=now, account_id=account.id)
    return first.seconds, again.seconds, rows


def load_roll_up(factory, today: date, now: datetime) -> int:  # type: ignore[no-untyped-def]
    rng = random.Random(2)
    with session_scope(factory) as session:
        ids = [create_account(session, name=f"Bench {number} AB", now=now, actor=Actor.platform()).id for number in range(ACCOUNTS)]
    for account_id in ids:
        with session_scope(factory) as session:
            copy_rows(session, table_of(StatisticsDay), [
                "account_id", "day", "country", "sender_kind", "status", "messages", "parts", "cost_minor", "delivered", "failed", "blocked",
            ], ((account_id, today - timedelta(days=offset), country, "alphanumeric", status, count, count, count * 45,
                 count if status == "delivered" else 0, count if status == "failed" else 0, 0)
                for offset in range(DAYS) for country in COUNTRIES for status in ("delivered", "failed")
                for count in (rng.randint(1, 500),)))
    return ids[ACCOUNTS // 2]  # type: ignore[return-value]


def bench_page(url: str) -> tuple[float, float, int]:
    data_dir = Path(tempfile.mkdtemp())
    _engine, factory, _keys = session_factory(url, data_dir)
    now = datetime.now(UTC)
    today = now.astimezone(STOCKHOLM).date()
    account_id = load_roll_up(factory, today, now)
    app_settings = settings(data_dir).model_copy(update={"database_url": url})
    password = "Q7!" + secrets.token_urlsafe(18)
    with session_scope(factory) as session:
        user = create_user(session, Actor.system(account_id, "Bench"), email="statistik@example.se", display_name="Statistik", password=password,
                           roles={Role.SENDER}, now=now)
        email = user.email
    timings = []
    with TestClient(create_app(app_settings)) as client:
        token = re.search(r'name="_csrf_token" value="([^"]+)"', client.get("/login").text).group(1)  # type: ignore[union-attr]
        client.post("/login", data={"email": email, "password": password, "_csrf_token": token}, follow_redirects=False)
        params = {"from": (today - timedelta(days=DAYS - 1)).isoformat(), "to": today.isoformat()}
        size = 0
        for _probe in range(PAGE_PROBES):
            with Timer() as timer:
                response = client.get("/statistics", params=params)
            assert response.status_code == 200, response.status_code
            size = len(response.content)
            timings.append(timer.seconds)
    timings.sort()  # (the standard library's statistics module is this file's name here)
    return timings[len(timings) // 2], timings[-1], size


def main() -> None:
    print(f"roll-up of one day of {MESSAGES:,} messages (one account, ~30 countries); /statistics over {DAYS} days of one of "
          f"{ACCOUNTS} accounts' roll-up ({len(COUNTRIES)} countries a day):")
    with databases() as backends:
        for backend, url in backends:
            first, again, rows = bench_roll_up(url)
            print(f"  {backend}: roll-up {first:.2f} s ({rows} rows), again (replacing the day) {again:.2f} s (target <= 10 s)")
            median, worst, size = bench_page(url)
            print(f"  {backend}: /statistics, 2 years: median {median * 1000:.0f} ms, worst {worst * 1000:.0f} ms of {PAGE_PROBES} "
                  f"({size // 1024} KiB) (target <= 200 ms)")


if __name__ == "__main__":
    main()
