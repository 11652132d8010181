"""Claims of forwarding jobs in a slow run (review of issue 14, item 10), both backends: each
claim is stamped with a fresh clock reading, so a job claimed late in a slow run is held its full
claim and another worker cannot take (and mail) it meanwhile; the backoff of a failed e-mail
counts from when it failed; a run claims no more once its time budget has passed."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import Session

from govsms.clock import FixedClock
from govsms.db import session_scope
from govsms.receiving import forwarding
from govsms.receiving.forwarding import BACKOFF, CLAIM, JobStatus, MailFailed, create_rule, due_forwards, run_forwards
from tests.factories import now
from tests.receiving.forwarding_helpers import make_inbound
from tests.receiving.test_forwarding import SENDER, VIRTUAL, _account, _jobs, _settings, factory  # noqa: F401
from tests.web_helpers import free_port

SLOW = timedelta(minutes=4)
"""What each e-mail takes here (a mail server that answers slowly, then refuses)."""


def _slow_server(monkeypatch: pytest.MonkeyPatch, clock: FixedClock, factory, seen: list[list[int]]) -> None:  # type: ignore[no-untyped-def]
    def send_mail(settings, mail) -> None:  # type: ignore[no-untyped-def]
        clock.step(SLOW)
        with session_scope(factory) as other_worker:  # what another worker finds due while this mail is on its way
            seen.append([job_id for job_id, _kind, _due in due_forwards(other_worker, now=clock.now())])
        raise MailFailed("smtp:connect")

    monkeypatch.setattr(forwarding, "send_mail", send_mail)


def _three_jobs(session: Session):  # type: ignore[no-untyped-def]
    account, actor = _account(session)
    create_rule(session, actor, trigger="all", emails="kansliet@example.se", mode="notice", mobile="", now=now())
    for text in ("Ett", "Två", "Tre"):
        make_inbound(session, account.id, e164=SENDER, text=text, destination=VIRTUAL.lstrip("+"), routed_by="virtual", now=now())
    return account


def test_a_job_claimed_late_in_a_slow_run_is_not_claimable_meanwhile(  # type: ignore[no-untyped-def]
    session: Session, factory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    account = _three_jobs(session)
    start = now()
    clock = FixedClock(start)
    seen: list[list[int]] = []
    _slow_server(monkeypatch, clock, factory, seen)
    assert run_forwards(factory, _settings(tmp_path, free_port()), now=start, clock=clock, budget=timedelta(hours=1)) == 3
    jobs = _jobs(session, account.id)
    # While the 2nd mail (claimed 4 minutes in) and the 3rd (8 minutes in) were on their way, no
    # other worker found them due: each held its claim from when it was claimed.
    assert jobs[1].id not in seen[1] and jobs[2].id not in seen[2], seen
    # Each failure's backoff counts from when it failed (after its slow try), not from the run's start.
    for position, job in enumerate(jobs):
        failed_at = start + SLOW * (position + 1)
        assert (job.status, job.attempts, job.next_at) == (JobStatus.PENDING, 1, failed_at + BACKOFF[0])
    assert CLAIM > BACKOFF[0]


def test_a_run_claims_no_more_once_its_budget_is_spent(  # type: ignore[no-untyped-def]
    session: Session, factory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    account = _three_jobs(session)
    start = now()
    clock = FixedClock(start)
    _slow_server(monkeypatch, clock, factory, [])
    assert run_forwards(factory, _settings(tmp_path, free_port()), now=start, clock=clock, budget=timedelta(minutes=5)) == 2
    jobs = _jobs(session, account.id)
    assert [job.attempts for job in jobs] == [1, 1, 0]  # the third waits for the next run, unclaimed
    assert jobs[2].status == JobStatus.PENDING and jobs[2].next_at <= start
