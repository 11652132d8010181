"""Jobs that run once across any number of workers: their schedule and their lease in ``job_run``.

A run is claimed by inserting its (job, period) row: the worker whose insert succeeds runs the
job, the others skip it. The holder renews its lease (``heartbeat_at``) at each step; a run still
``running`` whose heartbeat is older than ``LEASE`` (its worker died), or a failed run, is taken
over by one claimer (a compare-and-set on the row). The report holds counts only."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import JSON, Column, UniqueConstraint, func, update
from sqlalchemy import select as core_select
from sqlalchemy.orm import sessionmaker
from sqlmodel import Field, Session, SQLModel, col, select

from govsms.clock import LOCAL_TIME
from govsms.db import UTCDateTime, insert_unless_taken, rowcount, session_scope, table_of
from govsms.paging import Page

log = logging.getLogger(__name__)

RUNNING, DONE, FAILED = "running", "done", "failed"
LEASE = timedelta(minutes=20)
"""How long a run's heartbeat stays fresh: a running run not renewed for longer is taken over as
dead. The holder renews it at each step, so a step must take less than this."""


class LeaseLost(Exception):
    """The run's lease was taken over (its heartbeat went stale): the run stops."""


class JobRun(SQLModel, table=True):
    """One run of a job for one period (a nightly job's local date): its lease and its report."""

    __tablename__ = "job_run"
    __table_args__ = (UniqueConstraint("job", "period"),)

    id: int | None = Field(default=None, primary_key=True)
    job: str = Field(max_length=40)
    period: str = Field(max_length=20)
    """The period the run covers: ``2026-11-30`` for the nightly job of that local date."""
    status: str = Field(max_length=10)
    """``running``, ``done`` or ``failed``."""
    holder: str = Field(max_length=80)
    """The process that holds (or held) the lease: ``host:pid``."""
    started_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    finished_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    heartbeat_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    """When the holder last renewed its lease (at each step); a running run whose heartbeat is
    older than ``LEASE`` is dead and may be taken over."""
    report: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON(), nullable=False))
    """Counts per step (and the error's kind when it failed): never personal data."""

    @property
    def duration(self) -> timedelta | None:
        return None if self.finished_at is None else self.finished_at - self.started_at


RUNS = table_of(JobRun)


@dataclass(frozen=True)
class DailySchedule:
    """A job that runs once a day at a local time (Europe/Stockholm)."""

    job: str
    at: time

    def period_due(self, now: datetime) -> str:
        """The period of the latest run time at or before ``now``: today's local date after the
        run time, yesterday's before it (so a worker that starts at 02:00 catches up last night)."""
        local = now.astimezone(LOCAL_TIME)
        day = local.date() if local.time() >= self.at else local.date() - timedelta(days=1)
        return day.isoformat()

    def next_run(self, now: datetime) -> datetime:
        """The next run time after ``now``, aware, in Europe/Stockholm."""
        local = now.astimezone(LOCAL_TIME)
        candidate = datetime.combine(local.date(), self.at, tzinfo=LOCAL_TIME)
        if candidate <= local:
            candidate = datetime.combine(local.date() + timedelta(days=1), self.at, tzinfo=LOCAL_TIME)
        return candidate


NIGHTLY = DailySchedule("nightly", time(3, 0))
SCHEDULES: dict[str, DailySchedule] = {NIGHTLY.job: NIGHTLY}


def holder_name() -> str:
    return f"{socket.gethostname()[:60]}:{os.getpid()}"


def valid_period(period: str) -> str:
    """A period typed by a person (``2026-11-30``), checked; ValueError otherwise."""
    return date.fromisoformat(period).isoformat()


def claim(
    session: Session, job: str, period: str, *, now: datetime, holder: str, lease: timedelta = LEASE, again: bool = False,
) -> int | None:
    """Take the lease of (job, period): the run's id, or None when another holds it (its heartbeat
    is fresh) or it is done. ``again``: a done run may be claimed again (a job whose one row is
    its lease, such as ``audit.prune``). Commit at once, so the other workers see the row. When
    the run is done or held, this is one query."""
    where = (RUNS.c.job == job, RUNS.c.period == period)
    row = session.execute(core_select(RUNS).where(*where)).first()
    if row is None:
        run_id = insert_unless_taken(
            session, RUNS,
            {"job": job, "period": period, "status": RUNNING, "holder": holder, "started_at": now, "heartbeat_at": now, "report": {}},
        )
        if run_id is not None:
            return int(run_id)
        row = session.execute(core_select(RUNS).where(*where)).first()
    if row is None or (row.status == DONE and not again):
        return None
    if row.status == RUNNING and (row.heartbeat_at or row.started_at) >= now - lease:
        return None  # alive
    # Dead, failed (or done, with ``again``): taken over by the one claimer whose update still finds the row as read.
    beat = RUNS.c.heartbeat_at.is_(None) if row.heartbeat_at is None else RUNS.c.heartbeat_at == row.heartbeat_at
    taken = session.execute(
        update(RUNS)
        .where(RUNS.c.id == row.id, RUNS.c.status == row.status, RUNS.c.started_at == row.started_at, RUNS.c.holder == row.holder, beat)
        .values(status=RUNNING, holder=holder, started_at=now, heartbeat_at=now, finished_at=None, report={})
    )
    return int(row.id) if rowcount(taken) == 1 else None


def heartbeat(session: Session, run_id: int, *, holder: str, now: datetime) -> bool:
    """Renew the lease: False when this holder no longer holds it (it was taken over)."""
    query = update(RUNS).where(RUNS.c.id == run_id, RUNS.c.holder == holder, RUNS.c.status == RUNNING)
    return rowcount(session.execute(query.values(heartbeat_at=now))) == 1


def finish(session: Session, run_id: int, *, status: str, report: dict[str, Any], now: datetime, holder: str | None = None) -> bool:
    """Close the run with its result; with ``holder``, only while that process still holds the
    lease (a run that overran it and was taken over leaves the new holder's row alone)."""
    query = update(RUNS).where(RUNS.c.id == run_id)
    if holder is not None:
        query = query.where(RUNS.c.holder == holder, RUNS.c.status == RUNNING)
    return rowcount(session.execute(query.values(status=status, report=report, finished_at=now))) == 1


Beat = Callable[[], None]
"""Renews the running job's lease; raises ``LeaseLost`` when another worker has taken it over."""


def run_once(
    session_factory: sessionmaker[Session], job: str, period: str, work: Callable[[Beat], dict[str, Any]], *,
    now: Callable[[], datetime], holder: str | None = None, lease: timedelta = LEASE,
) -> JobRun | None:
    """Run ``work`` for (job, period) unless another worker has it or it is done: the finished
    run, or None when skipped. ``work`` gets the lease's heartbeat (to call at each step) and
    returns the report; when it raises, the run is marked failed (with the error's kind, no
    message: it could quote data) and the error goes on. A failed run is taken again by the next
    attempt."""
    holder = holder or holder_name()
    with session_scope(session_factory) as session:
        run_id = claim(session, job, period, now=now(), holder=holder, lease=lease)
    if run_id is None:
        log.info("job %s %s: skipped (another worker has it, or it is done)", job, period, extra={"event": "job.skipped"})
        return None
    claimed = run_id

    def beat() -> None:
        with session_scope(session_factory) as session:
            if not heartbeat(session, claimed, holder=holder, now=now()):
                raise LeaseLost(f"job {job} {period}: the lease was taken over")

    try:
        report = work(beat)
    except Exception as error:
        with session_scope(session_factory) as session:
            finish(session, run_id, status=FAILED, report={"error": type(error).__name__}, now=now(), holder=holder)
        raise
    with session_scope(session_factory) as session:
        if not finish(session, run_id, status=DONE, report=report, now=now(), holder=holder):
            log.warning("job %s %s: finished after another worker took its lease over", job, period, extra={"event": "job.overran"})
        stored = session.get(JobRun, run_id)
    log.info("job %s %s done", job, period, extra={"event": "job.done"})
    return stored


def last_runs(session: Session) -> dict[str, JobRun]:
    """Each job's latest run (by start)."""
    latest = select(col(JobRun.job), func.max(col(JobRun.started_at)).label("started_at")).group_by(col(JobRun.job)).subquery()
    rows = session.exec(
        select(JobRun).join(latest, (col(JobRun.job) == latest.c.job) & (col(JobRun.started_at) == latest.c.started_at))
    ).all()
    return {row.job: row for row in rows}


def run_history(session: Session, *, page: int, per_page: int, job: str | None = None) -> Page[JobRun]:
    query = select(JobRun)
    counted = select(func.count()).select_from(JobRun)
    if job is not None:
        query = query.where(col(JobRun.job) == job)
        counted = counted.where(col(JobRun.job) == job)
    total = session.execute(counted).scalar_one()
    rows = session.exec(query.order_by(col(JobRun.started_at).desc(), col(JobRun.id).desc()).offset((page - 1) * per_page).limit(per_page)).all()
    return Page(items=list(rows), total=total, page=page, per_page=per_page)


def run_of(session: Session, job: str, period: str) -> JobRun | None:
    return session.exec(select(JobRun).where(col(JobRun.job) == job, col(JobRun.period) == period)).first()
