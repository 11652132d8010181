"""``govsms jobs run nightly [--period DATE]``: runs the night once under its lease; a second run
of the same night is refused (exit 1); a bad period, or a night to come, is refused (exit 2)."""

from __future__ import annotations

import json

from sqlalchemy import select

from govsms.jobs import DONE, JobRun
from tests.cli import cli_env, govsms, open_db  # noqa: F401  (fixture)


def test_jobs_run_nightly_once_per_period(cli_env: dict[str, str]) -> None:  # noqa: F811
    assert govsms(cli_env, "init").returncode == 0
    ran = govsms(cli_env, "jobs", "run", "nightly", "--period", "2026-11-29")
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.startswith("nightly 2026-11-29: done")
    report = json.loads(ran.stdout.split("\n", 1)[1])
    assert report["blocklist_cleanup"]["numbers"] == 0 and "audit_checkpoint" in report
    again = govsms(cli_env, "jobs", "run", "nightly", "--period", "2026-11-29")
    assert again.returncode == 1 and "not run" in again.stdout
    bad = govsms(cli_env, "jobs", "run", "nightly", "--period", "29/11")
    assert bad.returncode == 2 and "YYYY-MM-DD" in bad.stderr
    future = govsms(cli_env, "jobs", "run", "nightly", "--period", "2999-01-01")
    assert future.returncode == 2 and "has not come yet" in future.stderr
    engine, factory = open_db(cli_env)
    try:
        with factory() as session:
            runs = session.execute(select(JobRun.period, JobRun.status).where(JobRun.job == "nightly")).all()
            prunes = session.execute(select(JobRun.period, JobRun.status).where(JobRun.job == "audit.prune")).all()
        assert [tuple(run) for run in runs] == [("2026-11-29", DONE)]
        assert [tuple(run) for run in prunes] in ([], [("latest", DONE)])  # the purge's prune, under its own lease
    finally:
        engine.dispose()
