"""Jobs that run once across workers: the lease in ``job_run`` (one claimer wins, a dead run is
taken over once its heartbeat is stale and not before, a live one never, a failed one at the next
attempt, a done one never), the nightly schedule (03:00 Europe/Stockholm, catch-up of the
night just past) and the nightly job's report; on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from govsms.clock import LOCAL_TIME, FixedClock
from govsms.db import make_session_factory
from govsms.jobs import (
    DONE, FAILED, LEASE, NIGHTLY, RUNNING, Beat, JobRun, LeaseLost, claim, finish, heartbeat, last_runs, run_history, run_of, run_once,
)
from govsms.keys.ring import KeyRing
from govsms.scheduler import build_scheduler, run_nightly
from govsms.settings import Settings

T0 = datetime(2026, 11, 30, 2, 30, tzinfo=UTC)


def _factory(session: Session) -> sessionmaker[Session]:
    """Sessions on the test's connection (each commit a savepoint of the test's transaction)."""
    return make_session_factory(session.connection(), vault=session.info["vault"])


def _runs(session: Session, job: str = "nightly") -> int:
    return session.execute(select(func.count()).select_from(JobRun).where(JobRun.job == job)).scalar_one()


def test_of_two_claimers_one_wins(session: Session) -> None:
    first = claim(session, "nightly", "2026-11-29", now=T0, holder="a:1")
    second = claim(session, "nightly", "2026-11-29", now=T0, holder="b:2")
    assert first is not None and second is None
    assert claim(session, "nightly", "2026-11-30", now=T0, holder="b:2") not in (None, first)  # another night: its own lease


def test_a_dead_lease_is_taken_over_once_and_a_done_run_never(session: Session) -> None:
    run_id = claim(session, "nightly", "2026-11-29", now=T0, holder="a:1")
    assert claim(session, "nightly", "2026-11-29", now=T0 + LEASE - timedelta(minutes=1), holder="b:2") is None  # alive
    later = T0 + LEASE + timedelta(minutes=1)
    assert claim(session, "nightly", "2026-11-29", now=later, holder="b:2") == run_id  # dead: taken over
    assert claim(session, "nightly", "2026-11-29", now=later, holder="c:3") is None  # by one claimer only
    run = run_of(session, "nightly", "2026-11-29")
    assert run is not None and run.holder == "b:2" and run.status == RUNNING
    assert run_id is not None
    assert not finish(session, run_id, status=DONE, report={"x": 0}, now=later, holder="a:1")  # the dead holder's late finish
    assert finish(session, run_id, status=DONE, report={"x": 1}, now=later, holder="b:2")
    assert claim(session, "nightly", "2026-11-29", now=later + 10 * LEASE, holder="c:3") is None
    assert _runs(session) == 1


def test_a_failed_run_is_marked_and_taken_again(session: Session) -> None:
    def broken(beat: Beat) -> dict[str, object]:
        raise RuntimeError("the database went away")

    with pytest.raises(RuntimeError):
        run_once(_factory(session), "nightly", "2026-11-29", broken, now=lambda: T0, holder="a:1")
    run = run_of(session, "nightly", "2026-11-29")
    assert run is not None and run.status == FAILED and run.report == {"error": "RuntimeError"}  # the kind, no message
    done = run_once(_factory(session), "nightly", "2026-11-29", lambda beat: {"steps": 1}, now=lambda: T0, holder="b:2")
    assert done is not None and done.status == DONE and done.report == {"steps": 1} and _runs(session) == 1


def test_the_schedule_is_3_am_in_stockholm_and_the_night_due_follows_it() -> None:
    before = datetime(2026, 11, 30, 2, 59, tzinfo=LOCAL_TIME)
    after = datetime(2026, 11, 30, 3, 0, tzinfo=LOCAL_TIME)
    assert NIGHTLY.period_due(before) == "2026-11-29" and NIGHTLY.period_due(after) == "2026-11-30"
    assert NIGHTLY.next_run(before) == after
    assert NIGHTLY.next_run(after) == datetime(2026, 12, 1, 3, 0, tzinfo=LOCAL_TIME)
    # Across the change to summer time (2027-03-28 02:00 -> 03:00): still 03:00 local, 01:00 UTC.
    assert NIGHTLY.next_run(datetime(2027, 3, 27, 12, 0, tzinfo=UTC)).astimezone(UTC) == datetime(2027, 3, 28, 1, 0, tzinfo=UTC)


def test_catch_up_runs_a_missed_night_once(session: Session, settings: Settings, keys: KeyRing) -> None:
    # The workers were down at 03:00; one starts at 09:00 that day, then another, then a restart.
    clock = FixedClock(datetime(2026, 11, 30, 9, 0, tzinfo=LOCAL_TIME))
    run = run_nightly(settings, _factory(session), keys, clock)
    assert run is not None and run.period == "2026-11-30" and run.status == DONE
    assert list(run.report) == ["blocklist_cleanup", "statistics_roll_up", "purge", "audit_checkpoint"]
    assert run.report["blocklist_cleanup"]["numbers"] == 0 and "ms" in run.report["audit_checkpoint"]
    assert run_nightly(settings, _factory(session), keys, clock) is None
    clock.step(timedelta(hours=12))  # 21:00: the next night is not due yet
    assert run_nightly(settings, _factory(session), keys, clock) is None
    assert _runs(session) == 1
    assert last_runs(session)["nightly"].period == "2026-11-30"
    clock.step(timedelta(hours=6, minutes=1))  # 03:01 the next day
    assert run_nightly(settings, _factory(session), keys, clock) is not None
    history = run_history(session, page=1, per_page=1, job="nightly")  # (the purge's prune keeps a lease row of its own)
    assert history.total == 2 and history.items[0].period == "2026-12-01"


def test_the_worker_schedules_the_nightly_job_at_3_and_at_start(session: Session, settings: Settings, keys: KeyRing) -> None:
    clock = FixedClock(datetime(2026, 11, 30, 9, 0, tzinfo=LOCAL_TIME))
    built = build_scheduler(settings, _factory(session), keys, clock)
    job = built.get_job("nightly")
    assert job is not None
    assert job.next_run_time == clock.now()  # catch-up at start
    # Then every quarter hour (a retry of a night not done; one query once it is), 03:00 included.
    following = job.trigger.get_next_fire_time(clock.now(), clock.now() + timedelta(seconds=1))
    assert following == datetime(2026, 11, 30, 9, 15, tzinfo=LOCAL_TIME)
    assert job.trigger.get_next_fire_time(None, datetime(2026, 12, 1, 2, 50, tzinfo=LOCAL_TIME)) == datetime(2026, 12, 1, 3, 0, tzinfo=LOCAL_TIME)


def test_a_killed_run_is_taken_over_after_the_heartbeat_timeout_not_before(session: Session) -> None:
    # The worker took the night at 03:00, renewed its lease at 03:04 and was killed at 03:05.
    run_id = claim(session, "nightly", "2026-11-29", now=T0, holder="a:1")
    assert run_id is not None and heartbeat(session, run_id, holder="a:1", now=T0 + timedelta(minutes=4))
    beat = T0 + timedelta(minutes=4)
    # A worker restarted at once, and the quarter-hour attempts while the heartbeat is fresh: skipped.
    for minutes in (5, 15, 4 + 19):
        assert claim(session, "nightly", "2026-11-29", now=T0 + timedelta(minutes=minutes), holder="b:2") is None
    assert claim(session, "nightly", "2026-11-29", now=beat + LEASE, holder="b:2") is None  # exactly the timeout: not yet
    assert claim(session, "nightly", "2026-11-29", now=beat + LEASE + timedelta(seconds=1), holder="b:2") == run_id
    assert LEASE <= timedelta(minutes=20)  # so the night is run again within the half hour, not after 05:05
    run = run_of(session, "nightly", "2026-11-29")
    assert run is not None and run.holder == "b:2" and run.heartbeat_at == beat + LEASE + timedelta(seconds=1)
    assert not heartbeat(session, run_id, holder="a:1", now=beat + LEASE + timedelta(minutes=1))  # the old holder lost it


def test_a_live_run_with_fresh_heartbeats_is_never_taken_over(session: Session) -> None:
    # A run of three hours, renewing its lease every ten minutes; others attempt every quarter hour.
    run_id = claim(session, "nightly", "2026-11-29", now=T0, holder="a:1")
    assert run_id is not None
    for minutes in range(0, 180, 5):
        at = T0 + timedelta(minutes=minutes)
        if minutes % 10 == 0:
            assert heartbeat(session, run_id, holder="a:1", now=at)
        if minutes % 15 == 0:
            assert claim(session, "nightly", "2026-11-29", now=at, holder="b:2") is None
    assert finish(session, run_id, status=DONE, report={}, now=T0 + timedelta(hours=3), holder="a:1")
    assert claim(session, "nightly", "2026-11-29", now=T0 + timedelta(hours=9), holder="b:2") is None
    assert _runs(session) == 1


def test_a_run_that_lost_its_lease_stops_at_its_next_step(session: Session) -> None:
    moments = iter([T0, T0 + timedelta(minutes=1)])
    seen: list[str] = []

    def work(beat: Beat) -> dict[str, object]:
        beat()
        seen.append("first step")
        # Stalled past the timeout; another worker takes the night over meanwhile.
        assert claim(session, "nightly", "2026-11-29", now=T0 + LEASE + timedelta(minutes=2), holder="b:2") is not None
        beat()
        seen.append("second step")
        return {}

    with pytest.raises(LeaseLost):
        run_once(_factory(session), "nightly", "2026-11-29", work, now=lambda: next(moments, T0 + LEASE + timedelta(minutes=3)), holder="a:1")
    run = run_of(session, "nightly", "2026-11-29")
    assert seen == ["first step"] and run is not None and run.holder == "b:2" and run.status == RUNNING  # the new holder's row untouched


def test_a_failed_nightly_run_is_retried_at_the_next_attempt(session: Session, settings: Settings, keys: KeyRing, monkeypatch: pytest.MonkeyPatch) -> None:
    import govsms.scheduler as scheduler

    clock = FixedClock(datetime(2026, 11, 30, 3, 0, tzinfo=LOCAL_TIME))
    real = scheduler.clean_up_blocked

    def down(*args: object, **kwargs: object) -> dict[str, int]:
        raise ConnectionError("the database went away")

    monkeypatch.setattr(scheduler, "clean_up_blocked", down)
    with pytest.raises(ConnectionError):
        run_nightly(settings, _factory(session), keys, clock)
    run = run_of(session, "nightly", "2026-11-30")
    assert run is not None and run.status == FAILED and run.report == {"error": "ConnectionError"}
    monkeypatch.setattr(scheduler, "clean_up_blocked", real)
    clock.step(timedelta(minutes=15))  # the next attempt
    again = run_nightly(settings, _factory(session), keys, clock)
    assert again is not None and again.status == DONE and again.period == "2026-11-30" and "purge" in again.report
    assert run_nightly(settings, _factory(session), keys, clock) is None and _runs(session) == 1


