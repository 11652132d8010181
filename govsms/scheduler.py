"""The APScheduler instance of ``govsms worker`` (and ``govsms demo``) with every domain's jobs.

Jobs are thin: open a session, call one service with the current time, commit. The nightly job
(03:00 Europe/Stockholm) runs once across all workers: each run takes its night's lease in
``job_run`` (``govsms.jobs``) and renews it at each step. Every worker attempts the night due at
start and every 15 minutes (03:00 included): once the night is done an attempt is one query; a
night not done (the workers were down, its run failed, or its worker died and its heartbeat went
stale) runs then.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from govsms.accounts.login import purge_expired_sessions
from govsms.audit.chain import seal_and_witness
from govsms.clock import DEFAULT_TIMEZONE, SYSTEM_CLOCK, Clock
from govsms.contacts.importing import purge_expired_uploads
from govsms.subjects.export_store import purge_expired_exports
from govsms.db import session_scope
from govsms.jobs import NIGHTLY, Beat, JobRun, run_once
from govsms.keys.ring import KeyRing
from govsms.lifecycle import run_retention, step_counts
from govsms.receiving.forwarding import run_forwards
from govsms.receiving.service import run_receiving_job
from govsms.sending.statistics import roll_up_each
from govsms.sending.blocklist import clean_up_blocked
from govsms.settings import Settings

log = logging.getLogger(__name__)

LOCAL_TIMEZONE = DEFAULT_TIMEZONE


def _job(session_factory: sessionmaker[Session], name: str, service: Callable[..., int], clock: Clock) -> Callable[[], None]:
    def run() -> None:
        with session_scope(session_factory) as session:
            count = service(session, now=clock.now())
        log.info("job %s done: %d rows", name, count, extra={"event": "job.done"})

    run.__name__ = name
    return run


StepReport = dict[str, int]
"""What one step of a job did: counts only (the run adds ``ms``, its duration)."""


@dataclass(frozen=True)
class Step:
    """One step of the nightly job: a name in the report and the work, which commits its own
    transactions and returns its counts."""

    name: str
    run: Callable[[], StepReport]


def nightly_steps(settings: Settings, session_factory: sessionmaker[Session], keys: KeyRing, clock: Clock) -> list[Step]:
    """The nightly job's steps, in order: the clean-up, the statistics roll-up (also every 15
    minutes; here it completes yesterday before anything is purged), then the purge (issue 12
    item 3: its place is after the roll-up, as a purge never removes a day not rolled up), and
    the audit checkpoint last (it seals the events of the steps before it)."""

    def statistics() -> StepReport:
        # A transaction per account; a concurrent roll-up of the same account (the 15-minute job,
        # another worker) waits on the account's progress row, so none is refused.
        return {"rows": roll_up_each(session_factory, now=clock.now())}

    def checkpoint() -> StepReport:
        result = seal_and_witness(session_factory, keys.audit_signing_seed, settings.audit_witness_file, now=clock.now())
        return {"sealed": result.sealed if result else 0}

    return [
        Step("blocklist_cleanup", lambda: clean_up_blocked(session_factory, now=clock.now())),
        Step("statistics_roll_up", statistics),
        Step("purge", lambda: step_counts(run_retention(session_factory, keys.audit_signing_seed, now=clock.now()))),
        Step("audit_checkpoint", checkpoint),
    ]


NIGHTLY_ATTEMPTS = CronTrigger(minute="*/15", timezone=LOCAL_TIMEZONE)
"""When every worker attempts the night due: at 03:00 and every quarter hour (a retry)."""


def run_steps(steps: list[Step], beat: Beat | None = None) -> dict[str, object]:
    """Run the steps in order, renewing the lease (``beat``) before each; the report holds each
    step's counts and duration."""
    report: dict[str, object] = {}
    for step in steps:
        if beat is not None:
            beat()
        started = time.monotonic()
        counts = step.run()
        report[step.name] = {**counts, "ms": round((time.monotonic() - started) * 1000)}
    return report


def run_nightly(
    settings: Settings, session_factory: sessionmaker[Session], keys: KeyRing, clock: Clock = SYSTEM_CLOCK, *, period: str | None = None,
) -> JobRun | None:
    """The nightly job of ``period`` (default: the latest night due), unless another worker has it
    or it is done: the finished run, or None when skipped. A failed run (or a dead one, whose
    heartbeat is stale) is taken again."""
    steps = nightly_steps(settings, session_factory, keys, clock)
    return run_once(
        session_factory, NIGHTLY.job, period or NIGHTLY.period_due(clock.now()), lambda beat: run_steps(steps, beat), now=clock.now,
    )


def build_scheduler(settings: Settings, session_factory: sessionmaker[Session], keys: KeyRing, clock: Clock = SYSTEM_CLOCK) -> BackgroundScheduler:
    scheduler = BackgroundScheduler(timezone=LOCAL_TIMEZONE, job_defaults={"coalesce": True, "max_instances": 1})

    def seal() -> None:
        # Another worker may seal the same events at the same moment; its chain stands. The new
        # checkpoint goes to the witness once it is committed.
        result = seal_and_witness(session_factory, keys.audit_signing_seed, settings.audit_witness_file, now=clock.now())
        log.info("job audit.seal done: %d rows", result.sealed if result else 0, extra={"event": "job.done"})

    seal.__name__ = "audit.seal"
    scheduler.add_job(seal, "interval", seconds=30, id="audit.seal", name="audit.seal", next_run_time=clock.now())
    jobs: list[tuple[str, Callable[..., int], int]] = [
        ("contacts.purge_expired_uploads", purge_expired_uploads, 15 * 60),
        ("accounts.purge_expired_sessions", purge_expired_sessions, 15 * 60),
        ("subjects.purge_expired_exports", purge_expired_exports, 15 * 60),  # access exports past their 30 days
        ("receiving.fragments_and_routes", run_receiving_job, 60),  # timed-out concatenations, expired reply routes
    ]

    def nightly() -> None:
        run_nightly(settings, session_factory, keys, clock)

    nightly.__name__ = NIGHTLY.job
    # At start, at 03:00 and every quarter hour: a night not done (the workers were down, its run
    # failed or its worker died) is run by the next attempt; a done night costs one query.
    scheduler.add_job(
        nightly, NIGHTLY_ATTEMPTS, id=NIGHTLY.job,
        name=NIGHTLY.job, next_run_time=clock.now(), misfire_grace_time=None,
    )
    for name, service, every_seconds in jobs:
        scheduler.add_job(
            _job(session_factory, name, service, clock), "interval", seconds=every_seconds, id=name, name=name,
            next_run_time=clock.now(),
        )

    def roll_up_statistics() -> None:
        # Yesterday and today (and any day not complete), a transaction per account.
        log.info("job sending.roll_up_statistics done: %d rows", roll_up_each(session_factory, now=clock.now()), extra={"event": "job.done"})

    def forwards() -> None:
        # Forwards of inbound SMS to e-mail and mobile that are due (new ones, and retries after their backoff).
        log.info("job receiving.forwards done: %d rows", run_forwards(session_factory, settings, now=clock.now(), clock=clock), extra={"event": "job.done"})

    forwards.__name__ = "receiving.forwards"
    scheduler.add_job(forwards, "interval", seconds=30, id="receiving.forwards", name="receiving.forwards", next_run_time=clock.now())

    roll_up_statistics.__name__ = "sending.roll_up_statistics"
    scheduler.add_job(
        roll_up_statistics, "interval", seconds=15 * 60, id="sending.roll_up_statistics", name="sending.roll_up_statistics",
        next_run_time=clock.now(),
    )
    return scheduler
