"""`kill -9` of `govsms worker` while the npm SMSC sends 5,000 inbound SMS, on SQLite (a file)
and PostgreSQL: after a restart every one is stored exactly once. The worker commits before it
answers a deliver_sm; the SMSC sends again whatever was not answered when the connection died
(among them SMS committed whose answer never left): the unique (transport, provider_ref) keeps
those to one row."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from govsms.accounts.service import create_account
from govsms.auth import Actor
from govsms.db import make_engine, make_session_factory, session_scope
from govsms.keys.ring import load_key_ring, write_key_file
from govsms.keys.store import Vault
from govsms.receiving.models import InboundMessage
from govsms.settings import Settings
from tests.factories import now
from tests.smsc.fixture import Smsc, smsc  # noqa: F401

GOVSMS = Path(sys.executable).parent / "govsms"
TOTAL = 5000
FIRST = 46_700_000_000


def stored(factory: sessionmaker[Session]) -> tuple[int, int]:
    """(rows, distinct provider refs) of the SMSC's inbound SMS."""
    with session_scope(factory) as session:
        rows, refs = session.execute(
            select(func.count(), func.count(InboundMessage.provider_ref.distinct())).where(InboundMessage.transport == "smpp")  # type: ignore[union-attr]
        ).one()
    return rows, refs


def test_kill_9_while_the_smsc_sends_5000_inbound_sms_stores_each_once(smsc: Smsc, own_database_url: str, tmp_path: Path) -> None:  # noqa: F811
    data_dir = tmp_path / "var"
    data_dir.mkdir()
    settings = Settings(data_dir=data_dir, database_url=own_database_url)
    write_key_file(settings.key_file)
    engine = make_engine(own_database_url)
    factory = make_session_factory(engine, vault=Vault(load_key_ring(settings)))
    with session_scope(factory) as session:
        create_account(session, name="Operatören", is_provider=True, now=now(), actor=Actor.platform())
    env = {key: value for key, value in os.environ.items() if not key.startswith("GOVSMS_")}
    env.update(
        GOVSMS_DATA_DIR=str(data_dir), GOVSMS_DATABASE_URL=own_database_url, GOVSMS_TRANSPORT="smpp", GOVSMS_SMPP_HOST=smsc.host,
        GOVSMS_SMPP_PORT=str(smsc.port), GOVSMS_SMPP_SYSTEM_ID=smsc.system_id, GOVSMS_SMPP_PASSWORD=smsc.password,
    )
    smsc.restart(window=50)  # as SMSCs do: at most 50 deliver_sm unanswered, so the SMS arrive over many commits
    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as log:
        worker = subprocess.Popen([str(GOVSMS), "worker"], env=env, stdout=log, stderr=subprocess.STDOUT)
        smsc.deliver_bulk(TOTAL, source_start=FIRST, destination="72323", text="Svar")
        deadline = time.monotonic() + 120
        while stored(factory)[0] < TOTAL * 0.2:
            assert time.monotonic() < deadline and worker.poll() is None, log_path.read_text()[-3000:]
            time.sleep(0.01)
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
        at_kill = stored(factory)[0]
        acknowledged_at_kill = len(smsc.mo_acknowledged())
        assert at_kill < TOTAL, "every SMS was stored before the kill: nothing was tested"
        assert acknowledged_at_kill <= at_kill, "an SMS was acknowledged before it was committed"
        restarted = subprocess.Popen([str(GOVSMS), "worker"], env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 120
            while len(smsc.mo_acknowledged()) < TOTAL:
                assert time.monotonic() < deadline and restarted.poll() is None, (stored(factory), log_path.read_text()[-3000:])
                time.sleep(0.05)
        finally:
            restarted.send_signal(signal.SIGTERM)
            restarted.wait(timeout=30)
    rows, refs = stored(factory)
    assert rows == refs == TOTAL, f"{rows} rows, {refs} distinct ids, {TOTAL} sent"
    assert set(smsc.mo_queued()) == smsc.mo_acknowledged()
    print(
        f"\n{engine.dialect.name}: kill -9 with {at_kill} of {TOTAL} inbound SMS committed and {acknowledged_at_kill} acknowledged "
        f"({at_kill - acknowledged_at_kill} committed but unanswered: sent again); after the restart {rows} stored, once each"
    )
    engine.dispose()
