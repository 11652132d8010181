"""Two ``govsms worker`` processes started together on one database run the nightly job once:
both start with the night just past due (catch-up at start), one takes the lease, the other
skips; one ``job_run`` row for the night, one report, one clean-up event."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import func, select

from govsms.audit.actions import Action
from govsms.auth import Actor
from govsms.accounts.service import create_account
from govsms.contacts.groups import add_members, create_group
from govsms.contacts.service import create_contact
from govsms.db import make_engine, make_session_factory, session_scope
from govsms.jobs import DONE, NIGHTLY, JobRun
from govsms.keys.ring import load_key_ring, write_key_file
from govsms.keys.store import Vault
from govsms.sending.blocklist import block_number
from govsms.settings import Settings
from tests.factories import audit_events, now

GOVSMS = Path(sys.executable).parent / "govsms"
BLOCKED = "+46701119999"



def test_two_workers_started_together_run_the_nightly_job_once(own_database_url: str, tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    data_dir.mkdir()
    settings = Settings(data_dir=data_dir, database_url=own_database_url)
    write_key_file(settings.key_file)
    engine = make_engine(own_database_url)
    factory = make_session_factory(engine, vault=Vault(load_key_ring(settings)))
    with session_scope(factory) as session:
        account = create_account(session, name="Natt AB", now=now(), actor=Actor.platform())
        assert account.id is not None
        actor = Actor.system(account.id, account.name)
        contact = create_contact(session, actor, number=BLOCKED, name="Åsa", now=now())
        for name in ("Skolan", "Klubben"):
            add_members(session, actor, create_group(session, actor, name=name, now=now()).id, [contact.id], now=now())
        block_number(session, actor, BLOCKED, source="manual", now=now())
    period = NIGHTLY.period_due(now())
    env = {key: value for key, value in os.environ.items() if not key.startswith("GOVSMS_")}
    env.update(GOVSMS_DATA_DIR=str(data_dir), GOVSMS_DATABASE_URL=own_database_url, GOVSMS_LOG_LEVEL="INFO")
    logs = [tmp_path / f"worker-{n}.log" for n in (1, 2)]
    handles = [log.open("wb") for log in logs]
    workers = [subprocess.Popen([str(GOVSMS), "worker"], env=env, stdout=handle, stderr=subprocess.STDOUT) for handle in handles]
    try:
        # Each worker logs its attempt: "done" for the one that held the lease, "skipped" for the other.
        deadline = time.monotonic() + 60
        while not all(f"job nightly {period}" in log.read_text() for log in logs):
            assert time.monotonic() < deadline and all(worker.poll() is None for worker in workers), [log.read_text()[-2000:] for log in logs]
            time.sleep(0.1)
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            worker.wait(timeout=30)
        for handle in handles:
            handle.close()
    texts = [log.read_text() for log in logs]
    assert sorted("done" if f"job nightly {period} done" in text else "skipped" for text in texts) == ["done", "skipped"], texts
    with session_scope(factory) as session:
        runs = session.execute(select(JobRun).where(JobRun.job == "nightly")).scalars().all()
        assert [(run.period, run.status) for run in runs] == [(period, DONE)]
        assert runs[0].report["blocklist_cleanup"] == {"accounts": 1, "numbers": 1, "memberships": 2, "ms": runs[0].report["blocklist_cleanup"]["ms"]}
        assert runs[0].holder.split(":")[-1] in {str(worker.pid) for worker in workers}
        assert len(audit_events(session, Action.BLOCKLIST_CLEANED, account.id)) == 1  # one clean-up, one report
        # Besides the night's row, at most the access log prune's lease (one row, whoever pruned).
        others = session.execute(select(JobRun.job, func.count()).where(JobRun.job != "nightly").group_by(JobRun.job)).all()
        assert session.execute(select(func.count()).select_from(JobRun).where(JobRun.job == "nightly")).scalar_one() == 1
        assert all(job == "audit.prune" and rows == 1 for job, rows in others), others
    engine.dispose()
