"""`kill -9` of `govsms worker` mid-dispatch, on SQLite (a file) and PostgreSQL, against the
independent npm SMSC: a new worker finishes the dispatch, every message reaches the SMSC, at most
the one batch in flight at the kill reaches it twice, and once the unknown limit has passed no
message is left 'sent'. The SMSC crashes with the worker, so the receipts it still owed for the
first worker's messages never come: without the unknown step those would stay 'sent' forever."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from govsms.auth import Actor
from govsms.accounts.service import create_account
from govsms.db import make_engine, make_session_factory, session_scope
from govsms.keys.ring import load_key_ring, write_key_file
from govsms.keys.store import Vault
from govsms.sending.dispatch import DispatchRequest, create_dispatch
from govsms.sending.models import OutboundMessage
from govsms.sending.pricing import seed_default_prices
from govsms.sending.reports import mark_unknown
from govsms.settings import Settings
from tests.factories import now
from tests.smsc.fixture import smsc  # noqa: F401

GOVSMS = Path(sys.executable).parent / "govsms"
TOTAL = 3000
BATCH = 200



def statuses(factory: sessionmaker[Session]) -> dict[str, int]:
    with session_scope(factory) as session:
        return dict(session.execute(select(OutboundMessage.status, func.count()).group_by(OutboundMessage.status)).all())  # type: ignore[arg-type]


def test_kill_9_mid_dispatch_then_a_new_worker_finishes_it(smsc, own_database_url: str, tmp_path: Path) -> None:  # noqa: F811
    data_dir = tmp_path / "var"
    data_dir.mkdir()
    settings = Settings(data_dir=data_dir, database_url=own_database_url)
    write_key_file(settings.key_file)
    engine = make_engine(own_database_url)
    factory = make_session_factory(engine, vault=Vault(load_key_ring(settings)))
    with session_scope(factory) as session:
        seed_default_prices(session, now=now())
        account = create_account(session, name="Krasch AB", now=now(), actor=Actor.platform())
        create_dispatch(
            session, Actor.system(account.id, account.name), DispatchRequest(  # type: ignore[arg-type]
                sender="Kommunen", text="Vattnet är avstängt i morgon 8-12.", numbers=[f"+4673{n:07d}" for n in range(TOTAL)]
            ), public_url="http://x", now=now(),
        )
    smsc.restart(receipt_delay_ms=60_000)  # no receipt comes before the crash
    env = {key: value for key, value in os.environ.items() if not key.startswith("GOVSMS_")}
    env.update(
        GOVSMS_DATA_DIR=str(data_dir), GOVSMS_DATABASE_URL=own_database_url, GOVSMS_TRANSPORT="smpp", GOVSMS_SMPP_HOST=smsc.host,
        GOVSMS_SMPP_PORT=str(smsc.port), GOVSMS_SMPP_SYSTEM_ID=smsc.system_id, GOVSMS_SMPP_PASSWORD=smsc.password,
        GOVSMS_SEND_BATCH=str(BATCH), GOVSMS_CLAIM_SECONDS="2",
    )
    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as log:
        worker = subprocess.Popen([str(GOVSMS), "worker"], env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while len(smsc.received()) < TOTAL * 0.3:
            assert time.monotonic() < deadline and worker.poll() is None, log_path.read_text()[-2000:]
            time.sleep(0.02)
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
        smsc.restart(kill=True, receipt_delay_ms=20)
        at_kill = len(smsc.received())
        assert at_kill < TOTAL, "the dispatch finished before the kill: nothing was tested"
        in_flight = statuses(factory).get("sending", 0)
        restarted = subprocess.Popen([str(GOVSMS), "worker"], env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while (counts := statuses(factory)).get("delivered", 0) + counts.get("sent", 0) < TOTAL:
                assert time.monotonic() < deadline and restarted.poll() is None, counts
                time.sleep(0.05)
            time.sleep(1.5)  # the receipts of the last batches
        finally:
            restarted.send_signal(signal.SIGTERM)
            restarted.wait(timeout=30)
    per_number = Counter(pdu["destination_addr"] for pdu in smsc.received())
    assert len(per_number) == TOTAL, "every message reached the SMSC"
    duplicates = sum(count - 1 for count in per_number.values())
    # Only the batch the killed worker had claimed and submitted but not recorded can go twice.
    assert duplicates <= in_flight <= BATCH, f"{duplicates} duplicates, {in_flight} claimed at the kill, batch {BATCH}"
    before = statuses(factory)
    assert set(before) <= {"sent", "delivered"}, before
    # Past the limit, what never got a report (it went to the dead worker's session) is unknown.
    unknown = mark_unknown(factory, now=now() + timedelta(hours=73), after=timedelta(hours=72))
    after = statuses(factory)
    assert "sent" not in after and after.get("delivered", 0) + after.get("unknown", 0) == TOTAL
    assert unknown == before.get("sent", 0) > 0
    print(
        f"\n{engine.dialect.name}: kill -9 after {at_kill} of {TOTAL} submit_sm ({in_flight} messages claimed at the kill); "
        f"{duplicates} duplicates at the SMSC (bound {BATCH}); {unknown} without a receipt became unknown"
    )
    engine.dispose()
