"""Inbound SMS: the npm SMSC (tests/smsc) originates N SMS to the SMPP transport, whose upstream
is the worker's (``accept_upstream``: committed, routed rows before each deliver_sm_resp), with
1,000,000 reply routes in place; every SMS is a reply matched among them. Targets: >= 1,000
inbound SMS/s to committed, routed rows; reply matching <= 5 ms per SMS.

    .venv/bin/python bench/inbound.py            # N = 20,000
    INBOUND_BENCH_N=2000 INBOUND_BENCH_ROUTES=50000 .venv/bin/python bench/inbound.py   # quick
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, select  # noqa: E402

from bench._common import databases, session_factory  # noqa: E402
from govsms.accounts.service import create_account  # noqa: E402
from govsms.auth import Actor  # noqa: E402
from govsms.clock import SYSTEM_CLOCK  # noqa: E402
from govsms.db import copy_rows, session_scope  # noqa: E402
from govsms.receiving.models import InboundMessage  # noqa: E402
from govsms.sending.models import ReplyRoute  # noqa: E402
from govsms.sending.reply_routes import find_reply_route, provider_indexes  # noqa: E402
from govsms.sending.transports.smpp import SmppTransport  # noqa: E402
from govsms.worker import store_upstream  # noqa: E402
from tests.smsc.fixture import Smsc, _requirements  # noqa: E402

SMS = int(os.environ.get("INBOUND_BENCH_N", "20000"))
ROUTES = int(os.environ.get("INBOUND_BENCH_ROUTES", "1000000"))
FIRST = 46_700_000_000
SHARED = "72323"
LOOKUPS = 1000
CHUNK = 50_000


def build_routes(factory, account_id: int, now: datetime) -> float:  # type: ignore[no-untyped-def]
    """``ROUTES`` reply routes from 72323 to +46700000000.. in bulk; seconds taken."""
    started = time.perf_counter()
    for start in range(0, ROUTES, CHUNK):
        with session_scope(factory) as session:
            numbers = [f"+{FIRST + n}" for n in range(start, min(ROUTES, start + CHUNK))]
            indexes = provider_indexes(session, numbers, now=now)
            copy_rows(
                session, ReplyRoute.__table__, ["number_index", "shared_number", "account_id", "message_id", "sent_at", "expires_at"],
                ((indexes[number], SHARED, account_id, start + i + 1, now, now + timedelta(days=30)) for i, number in enumerate(numbers)),
            )
    return time.perf_counter() - started


def lookup_ms(factory, now: datetime) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """Mean and 99th percentile of one reply match (the provider index of the number and the
    route's primary-key lookup), ``LOOKUPS`` random numbers, each in its own session."""
    timings = []
    for n in random.sample(range(ROUTES), LOOKUPS):
        started = time.perf_counter()
        with session_scope(factory) as session:
            number = f"+{FIRST + n}"
            found = find_reply_route(session, provider_indexes(session, [number], now=now)[number], SHARED, now=now)
        timings.append((time.perf_counter() - started) * 1000)
        assert found is not None and found[1] == n + 1, (n, found)
    return statistics.fmean(timings), statistics.quantiles(timings, n=100)[98]


def main() -> None:
    node = _requirements()
    print(f"inbound SMS: npm SMSC -> SMPP -> committed, routed rows; {SMS:,} replies matched among {ROUTES:,} reply routes:")
    with databases() as backends:
        for backend, url in backends:
            engine, factory, _ = session_factory(url, Path(tempfile.mkdtemp()))
            now = datetime.now(UTC)
            with session_scope(factory) as session:
                create_account(session, name="Operatören", is_provider=True, now=now, actor=Actor.platform())
                account = create_account(session, name="Bench AB", now=now, actor=Actor.platform())
            built = build_routes(factory, account.id, now)  # type: ignore[arg-type]
            mean_ms, p99_ms = lookup_ms(factory, now)
            smsc = Smsc(node, Path(tempfile.mkdtemp()))
            smsc.start()
            transport = SmppTransport(smsc.host, smsc.port, smsc.system_id, smsc.password)
            transport.set_upstream(store_upstream(factory, "smpp", SYSTEM_CLOCK))
            deadline = time.monotonic() + 10
            while not transport.bound and time.monotonic() < deadline:
                time.sleep(0.01)
            started = time.perf_counter()
            smsc.deliver_bulk(SMS, source_start=FIRST, destination=SHARED, text="Svar")
            deadline = time.monotonic() + 600
            while len(smsc.mo_acknowledged()) < SMS and time.monotonic() < deadline:
                time.sleep(0.05)
            seconds = time.perf_counter() - started
            transport.close()
            smsc.stop()
            with session_scope(factory) as session:
                routed = dict(session.execute(
                    select(InboundMessage.routed_by, func.count()).group_by(InboundMessage.routed_by)  # type: ignore[arg-type]
                ).all())
            print(
                f"  {backend:<10} {SMS:,} inbound SMS committed and routed in {seconds:.1f} s ({SMS / seconds:,.0f} SMS/s; "
                f"{seconds / SMS * 1000:.2f} ms each); rows {routed}; {transport.stats['upstream_failures']} upstream failures"
            )
            print(
                f"  {backend:<10} reply match among {ROUTES:,} routes: {mean_ms:.2f} ms mean, {p99_ms:.2f} ms p99 "
                f"({LOOKUPS:,} single lookups); the routes built in {built:.1f} s"
            )
            engine.dispose()


if __name__ == "__main__":
    main()
