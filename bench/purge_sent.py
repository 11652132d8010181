"""The purge of 1,000,000 expired sent SMS with their parts (issue 12), on SQLite and PostgreSQL,
run as the nightly job runs it (``govsms.lifecycle.run_retention``: purge, access-log prune,
destruction of unused subject keys). Targets: <= 60 s in all; no transaction of the purge longer
than 1 s; a dispatch of 1,000 recipients made (``create_dispatch``) in another thread during the
purge accepted in <= 1 s.

The messages are written straight into their tables (``copy_rows``): 1,000 delivered dispatches
of 1,000 messages, each message with one part (every tenth with two) and every hundredth part
with a delivery report waiting; 40 days old, the account's storage time 30 days, the days rolled
up. Transactions are timed with the engine's ``begin`` and ``commit``/``rollback`` events, those
of the purge's thread only.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import event, text  # noqa: E402

from bench._common import Timer, bench_account, databases, session_factory  # noqa: E402
from govsms.auth import Actor, Role  # noqa: E402
from govsms.db import copy_rows, session_scope, table_of  # noqa: E402
from govsms.lifecycle import run_retention, step_counts  # noqa: E402
from govsms.retention.service import set_storage_times_for  # noqa: E402
from govsms.sending.dispatch import DispatchRequest, create_dispatch  # noqa: E402
from govsms.sending.models import Dispatch, MessagePart, OutboundMessage, PendingReport, StatisticsProgress  # noqa: E402

MESSAGES = int(os.environ.get("PURGE_BENCH_MESSAGES", "1000000"))
PER_DISPATCH = 1_000
BATCH = 100_000
DISPATCH_RECIPIENTS = 1_000
DISPATCH_AFTER = 3.0
"""Seconds into the purge when the concurrent dispatch is made."""
TEXT = "Hej! Din tid hos vårdcentralen är bokad. Välkommen!"


def load(factory, account_id: int, at: datetime) -> None:  # type: ignore[no-untyped-def]
    dispatches = MESSAGES // PER_DISPATCH
    with session_scope(factory) as session:
        copy_rows(session, table_of(Dispatch), [
            "id", "account_id", "created_by", "channel", "sender", "text_ct", "encoding", "parts", "accepted", "blocked", "invalid",
            "cost_minor", "currency", "status", "send_at", "created_at",
        ], ((number + 1, account_id, "bench", "api", "Bench", b"x" * 80, "gsm7", 1, PER_DISPATCH, 0, 0, PER_DISPATCH * 45, "SEK", "done",
             at + timedelta(seconds=number), at + timedelta(seconds=number)) for number in range(dispatches)))
    for batch in range(MESSAGES // BATCH):
        numbers = range(batch * BATCH, (batch + 1) * BATCH)
        with session_scope(factory) as session:
            copy_rows(session, table_of(OutboundMessage), [
                "id", "dispatch_id", "account_id", "subject_id", "recipient_ct", "sender", "sender_kind", "country", "parts", "cost_minor",
                "status", "attempts", "due_at", "submitted_at", "done_at", "created_at",
            ], ((number + 1, number // PER_DISPATCH + 1, account_id, number + 1, b"x" * 60, "Bench", "alphanumeric", "SE",
                 2 if number % 10 == 0 else 1, 90 if number % 10 == 0 else 45, "delivered", 1,
                 at + timedelta(seconds=number // PER_DISPATCH), at + timedelta(seconds=number // PER_DISPATCH + 1),
                 at + timedelta(seconds=number // PER_DISPATCH + 5), at + timedelta(seconds=number // PER_DISPATCH))
                for number in numbers))
            copy_rows(session, table_of(MessagePart), ["provider_id", "message_id", "part", "status"], (
                (f"smsc-{number + 1}-{part}", number + 1, part, "delivered")
                for number in numbers for part in range(2 if number % 10 == 0 else 1)))
            copy_rows(session, table_of(PendingReport), ["provider_id", "status", "received_at"], (
                (f"smsc-{number + 1}-0", "delivered", at + timedelta(seconds=number // PER_DISPATCH + 5))
                for number in numbers if number % 100 == 0))
    with session_scope(factory) as session:
        if session.get_bind().dialect.name == "postgresql":  # ids given: move the sequences past them
            for table in ("dispatch", "outbound_message"):
                session.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"))


class StatementProfile:
    """Seconds per statement shape of one thread (``PURGE_BENCH_PROFILE=1``): where the time goes."""

    def __init__(self, engine: Any, thread: int) -> None:
        self.thread, self.seconds, self.calls, self.worst = thread, {}, {}, {}  # type: ignore[var-annotated]
        event.listen(engine, "before_cursor_execute", self.before)
        event.listen(engine, "after_cursor_execute", self.after)

    def before(self, connection: Any, cursor: Any, statement: str, *args: Any) -> None:
        connection.info["purge_bench_started"] = time.perf_counter()

    def after(self, connection: Any, cursor: Any, statement: str, *args: Any) -> None:
        if threading.get_ident() != self.thread:
            return
        took = time.perf_counter() - connection.info.pop("purge_bench_started")
        shape = " ".join(statement.split())[:110]
        self.seconds[shape] = self.seconds.get(shape, 0.0) + took
        self.calls[shape] = self.calls.get(shape, 0) + 1
        self.worst[shape] = max(self.worst.get(shape, 0.0), took)

    def report(self) -> None:
        for shape, seconds in sorted(self.seconds.items(), key=lambda item: -item[1])[:8]:
            print(f"    {seconds:6.2f} s, {self.calls[shape]:4} calls, worst {self.worst[shape]:.2f} s: {shape}")


class TransactionClock:
    """The longest transaction of one thread, from the engine's events."""

    def __init__(self, engine: Any, thread: int) -> None:
        self.thread, self.longest, self.count = thread, 0.0, 0
        self.started: dict[int, float] = {}
        event.listen(engine, "begin", self.begin)
        event.listen(engine, "commit", self.end)
        event.listen(engine, "rollback", self.end)

    def begin(self, connection: Any) -> None:
        if threading.get_ident() == self.thread:
            self.started[id(connection)] = time.perf_counter()

    def end(self, connection: Any) -> None:
        started = self.started.pop(id(connection), None)
        if started is not None:
            self.longest = max(self.longest, time.perf_counter() - started)
            self.count += 1


def bench(url: str) -> dict[str, Any]:
    engine, factory, keys = session_factory(url, Path(tempfile.mkdtemp()))
    now = datetime.now(UTC)
    at = now - timedelta(days=40)
    account, actor = bench_account(factory, at - timedelta(days=1))
    admin = Actor(kind="user", id=1, account_id=account.id, account_name=account.name, roles=frozenset({Role.ADMIN}))
    with session_scope(factory) as session:
        set_storage_times_for(session, admin, {"outbound_messages": 30}, now=at - timedelta(days=1))
        session.add(StatisticsProgress(account_id=account.id, complete_through=(now - timedelta(days=2)).date(), checked_at=now))
    with Timer() as loading:
        load(factory, account.id, at)
    clock = TransactionClock(engine, threading.get_ident())
    profile = StatementProfile(engine, threading.get_ident()) if os.environ.get("PURGE_BENCH_PROFILE") else None
    figures: dict[str, Any] = {"load": loading.seconds}

    def dispatch() -> None:
        time.sleep(DISPATCH_AFTER)
        request = DispatchRequest(sender="Bench", text=TEXT, numbers=[f"+4670{n:07d}" for n in range(5_000_000, 5_000_000 + DISPATCH_RECIPIENTS)])
        with Timer() as timer, session_scope(factory) as session:
            summary = create_dispatch(session, actor, request, public_url="https://sms.example.se", now=datetime.now(UTC))
        figures["dispatch"], figures["dispatch_accepted"] = timer.seconds, summary.accepted
        figures["dispatch_during"] = "purge" not in figures

    thread = threading.Thread(target=dispatch)
    thread.start()
    with Timer() as purge:
        run = run_retention(factory, keys.audit_signing_seed, now=now)
    figures["purge"] = purge.seconds
    thread.join()
    with session_scope(factory) as session:
        left = {table: session.execute(text(f"SELECT count(*) FROM {table}")).scalar() for table in ("outbound_message", "message_part", "pending_report")}
    parts = MESSAGES + MESSAGES // 10  # loaded (the dispatch's messages have none: not sent)
    counts = step_counts(run)
    figures.update(
        longest=clock.longest, transactions=clock.count, messages=counts["outbound_message_deleted"], parts=parts - int(left["message_part"] or 0), left=left,
        dispatches=counts.get("dispatch_deleted", 0),
    )
    if profile is not None:
        profile.report()
    engine.dispose()
    return figures


def main() -> None:
    print(f"purge of {MESSAGES:,} expired sent SMS with their parts (run_retention), a {DISPATCH_RECIPIENTS:,}-recipient dispatch "
          f"made {DISPATCH_AFTER:.0f} s into it:")
    with databases() as backends:
        for backend, url in backends:
            if backend not in os.environ.get("PURGE_BENCH_BACKENDS", "sqlite,postgresql"):
                continue
            f = bench(url)
            print(
                f"  {backend:<10} purge {f['purge']:5.1f} s (target <= 60 s; {f['messages']:,} messages, {f['parts']:,} parts, "
                f"{f['dispatches']:,} dispatches deleted; left: {f['left']}), longest transaction {f['longest']:.2f} s of {f['transactions']:,} "
                f"(target <= 1 s), dispatch {f['dispatch']:.2f} s ({f['dispatch_accepted']:,} accepted"
                f"{'' if f['dispatch_during'] else ', AFTER the purge ended'}) (target <= 1 s); loading took {f['load']:.0f} s"
            )


if __name__ == "__main__":
    main()
