"""The APScheduler instance of ``govsms worker`` (and ``govsms demo``) with every domain's jobs.

Jobs are thin: open a session, call one service with the current time, commit.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from govsms.accounts.login import purge_expired_sessions
from govsms.audit.chain import seal_and_witness
from govsms.clock import DEFAULT_TIMEZONE, SYSTEM_CLOCK, Clock
from govsms.contacts.importing import purge_expired_uploads
from govsms.db import session_scope
from govsms.keys.ring import KeyRing
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
    ]
    for name, service, every_seconds in jobs:
        scheduler.add_job(
            _job(session_factory, name, service, clock), "interval", seconds=every_seconds, id=name, name=name,
            next_run_time=clock.now(),
        )
    return scheduler
