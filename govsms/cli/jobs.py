"""``govsms jobs run nightly [--period DATE]``: run a job now, under the same lease as the workers."""

from __future__ import annotations

import argparse
import json

from govsms.cli.command import CLOCK, Commands, add_command, add_group
from govsms.errors import InvalidInput
from govsms.settings import Settings


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    from govsms.cli.command import session_factory
    from govsms.jobs import NIGHTLY, valid_period
    from govsms.keys.ring import load_key_ring
    from govsms.scheduler import run_nightly

    due = NIGHTLY.period_due(CLOCK.now())
    try:
        period = valid_period(args.period) if args.period else due
    except ValueError:
        raise InvalidInput("A period is a date: YYYY-MM-DD.", fields={"period": "YYYY-MM-DD"}) from None
    if period > due:  # its lease would stop the real night's run
        raise InvalidInput(f"That night has not come yet: the latest night due is {due}.", fields={"period": due})
    run = run_nightly(settings, session_factory(settings), load_key_ring(settings), CLOCK, period=period)
    if run is None:
        print(f"{NIGHTLY.job} {period}: not run (done already, or another worker holds its lease).")
        return 1
    print(f"{NIGHTLY.job} {period}: {run.status}")
    print(json.dumps(run.report, indent=2, sort_keys=True))
    return 0


def register(commands: Commands) -> None:
    jobs = add_group(commands, "jobs", "Jobs that run once across workers (the nightly job).", dest="jobs_command")
    run = add_command(jobs, "run", cmd_run, "Run a job now under its lease: it runs once per period, whoever starts it.")
    run.add_argument("job", choices=["nightly"])
    run.add_argument("--period", help="the night to run, YYYY-MM-DD (default: the latest night due)")
