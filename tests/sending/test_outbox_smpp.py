"""The outbox worker against the independent npm SMSC: UDH and data coding as they arrive,
receipts that set messages delivered, an SMSC restart mid-dispatch, and `kill -9` of the
worker process during a 10,000-message dispatch followed by a restart."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from sqlalchemy import func, select

from govsms.auth import Actor
from govsms.accounts.service import create_account
from govsms.db import make_engine, make_session_factory, session_scope
from govsms.keys.ring import load_key_ring, write_key_file
from govsms.keys.store import Vault
from govsms.migrate import upgrade
from govsms.sending.dispatch import DispatchRequest, create_dispatch
from govsms.sending.models import MessagePart, OutboundMessage
from govsms.sending.outbox import Outbox
from govsms.sending.pricing import seed_default_prices
from govsms.sending.text import decode_part
from govsms.sending.transports.smpp import SmppTransport
from govsms.settings import Settings
from tests.factories import now
from tests.smsc.fixture import smsc  # noqa: F401

GOVSMS = Path(sys.executable).parent / "govsms"
BATCH = 200


def setup_database(data_dir: Path):  # type: ignore[no-untyped-def]
    settings = Settings(data_dir=data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    write_key_file(settings.key_file)
    upgrade(settings.resolved_database_url)
    engine = make_engine(settings.resolved_database_url)
    factory = make_session_factory(engine, vault=Vault(load_key_ring(settings)))
    with session_scope(factory) as session:
        seed_default_prices(session, now=now())
        account = create_account(session, name="SMPP AB", now=now(), actor=Actor.platform())
    return engine, factory, Actor.system(account.id, account.name)  # type: ignore[arg-type]


def dispatch(factory, actor, numbers: list[str], text: str, sender: str = "Kommunen") -> int:  # type: ignore[no-untyped-def]
    with session_scope(factory) as session:
        return create_dispatch(
            session, actor, DispatchRequest(sender=sender, text=text, numbers=numbers), public_url="http://x", now=now()
        ).dispatch_id  # type: ignore[return-value]


def statuses(factory) -> dict[str, int]:  # type: ignore[no-untyped-def]
    with session_scope(factory) as session:
        return dict(session.execute(select(OutboundMessage.status, func.count()).group_by(OutboundMessage.status)).all())


def drain(outbox: Outbox, factory, total: int, seconds: float = 60) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        outbox.run_once()
        if statuses(factory).get("delivered", 0) == total:
            return
        time.sleep(0.05)
    raise AssertionError(f"not all delivered: {statuses(factory)}")


def test_multipart_and_ucs2_arrive_right_and_receipts_deliver(smsc, tmp_path: Path) -> None:  # noqa: F811
    engine, factory, actor = setup_database(tmp_path / "var")
    long_text = "Hej! Skolan är stängd i morgon på grund av snöoväder. " * 6  # 3 parts of GSM-7 (å ä ö are GSM-7)
    dispatch(factory, actor, ["0701234567"], long_text.strip())
    dispatch(factory, actor, ["0702345678"], "Välkommen 😀 till mötet", sender="72323")
    transport = SmppTransport(smsc.host, smsc.port, smsc.system_id, smsc.password)
    try:
        drain(Outbox(factory, transport, public_url="http://x"), factory, 2)
    finally:
        transport.close()
    received = smsc.received()
    multipart = [pdu for pdu in received if pdu["destination_addr"] == "46701234567"]
    assert len(multipart) == 3
    headers = [pdu["short_message"][:6] for pdu in multipart]
    assert all(pdu["esm_class"] & 0x40 and pdu["data_coding"] == 0 for pdu in multipart)
    assert {header[:3] for header in headers} == {b"\x05\x00\x03"} and len({header[3] for header in headers}) == 1
    assert sorted((header[4], header[5]) for header in headers) == [(3, 1), (3, 2), (3, 3)]
    joined = "".join(decode_part(0, pdu["short_message"], has_header=True) for pdu in sorted(multipart, key=lambda p: p["short_message"][5]))
    assert joined == long_text.strip()
    ucs2 = [pdu for pdu in received if pdu["destination_addr"] == "46702345678"]
    assert len(ucs2) == 1 and ucs2[0]["data_coding"] == 8 and ucs2[0]["esm_class"] & 0x40 == 0
    assert ucs2[0]["short_message"].decode("utf-16-be") == "Välkommen 😀 till mötet"
    assert ucs2[0]["source_addr"] == "72323" and ucs2[0]["source_addr_ton"] == 3
    assert statuses(factory) == {"delivered": 2}
    engine.dispose()


def test_throttled_multipart_retry_sends_only_the_missing_parts(smsc, tmp_path: Path) -> None:  # noqa: F811
    """Every second submit_sm is throttled: a 3-part message needs three attempts, and each part
    still reaches the SMSC once, so the phone gets no duplicate segment."""
    engine, factory, actor = setup_database(tmp_path / "var")
    smsc.restart(throttle_every=2)
    long_text = ("Påminnelse: skolan är stängd i morgon på grund av snöoväder. " * 6).strip()
    dispatch(factory, actor, ["0701234567"], long_text)
    transport = SmppTransport(smsc.host, smsc.port, smsc.system_id, smsc.password, throttle_backoff=(0.01, 0.1))
    try:
        drain(Outbox(factory, transport, public_url="http://x"), factory, 1, seconds=60)
    finally:
        transport.close()
    received = [pdu for pdu in smsc.received() if pdu["destination_addr"] == "46701234567"]
    accepted = [pdu for pdu in smsc.accepted() if pdu["destination_addr"] == "46701234567"]
    assert len(received) == 5  # 3 accepted + 2 throttled; the old whole-message retry sent 7
    assert sorted(pdu["short_message"][5] for pdu in accepted) == [1, 2, 3]
    assert len({pdu["short_message"][3] for pdu in accepted}) == 1  # one concatenation reference throughout
    joined = "".join(decode_part(0, pdu["short_message"], has_header=True) for pdu in sorted(accepted, key=lambda p: p["short_message"][5]))
    assert joined == long_text
    with session_scope(factory) as session:
        message = session.execute(select(OutboundMessage)).scalars().one()
        parts = session.execute(select(MessagePart.part, MessagePart.status).where(MessagePart.message_id == message.id)).all()
    assert message.status == "delivered" and message.attempts == 2
    assert sorted(parts) == [(0, "delivered"), (1, "delivered"), (2, "delivered")]
    engine.dispose()


def test_smsc_restart_mid_dispatch_loses_nothing(smsc, tmp_path: Path) -> None:  # noqa: F811
    engine, factory, actor = setup_database(tmp_path / "var")
    numbers = [f"+4670{n:07d}" for n in range(1500)]
    dispatch(factory, actor, numbers, "Påminnelse om tid i morgon.")
    transport = SmppTransport(smsc.host, smsc.port, smsc.system_id, smsc.password, reconnect_backoff=(0.1, 1.0), submit_timeout=3.0)
    outbox = Outbox(factory, transport, public_url="http://x", batch_size=100)
    try:
        for _ in range(5):
            outbox.run_once()
        smsc.restart()
        drain(outbox, factory, len(numbers), seconds=120)
    finally:
        transport.close()
    arrived = {pdu["destination_addr"] for pdu in smsc.received()}
    assert arrived == {number[1:] for number in numbers}
    engine.dispose()


def test_kill_9_of_the_worker_then_restart_sends_everything(smsc, tmp_path: Path) -> None:  # noqa: F811
    total = 10_000
    data_dir = tmp_path / "var"
    engine, factory, actor = setup_database(data_dir)
    dispatch(factory, actor, [f"+4672{n:07d}" for n in range(total)], "Viktigt meddelande från kommunen.")
    env = {key: value for key, value in os.environ.items() if not key.startswith("GOVSMS_")}
    env.update(
        GOVSMS_DATA_DIR=str(data_dir), GOVSMS_TRANSPORT="smpp", GOVSMS_SMPP_HOST=smsc.host, GOVSMS_SMPP_PORT=str(smsc.port),
        GOVSMS_SMPP_SYSTEM_ID=smsc.system_id, GOVSMS_SMPP_PASSWORD=smsc.password, GOVSMS_SEND_BATCH=str(BATCH),
        GOVSMS_CLAIM_SECONDS="3",
    )
    log = (tmp_path / "worker.log").open("wb")
    worker = subprocess.Popen([str(GOVSMS), "worker"], env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while len(smsc.received()) < total * 0.3:
        assert time.monotonic() < deadline and worker.poll() is None, (tmp_path / "worker.log").read_text()[-2000:]
        time.sleep(0.05)
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=10)
    at_kill = len(smsc.received())
    assert at_kill < total, "the dispatch finished before the kill: nothing was tested"
    restarted = subprocess.Popen([str(GOVSMS), "worker"], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 180
        while statuses(factory).get("delivered", 0) + statuses(factory).get("sent", 0) < total:
            assert time.monotonic() < deadline and restarted.poll() is None, statuses(factory)
            time.sleep(0.05)
    finally:
        restarted.send_signal(signal.SIGTERM)
        restarted.wait(timeout=30)
    per_number = Counter(pdu["destination_addr"] for pdu in smsc.received())
    assert len(per_number) == total, "every message reached the SMSC"
    duplicates = sum(count - 1 for count in per_number.values())
    # The only messages that can go twice are those of the batch the killed worker had claimed
    # and submitted but not yet recorded as sent: at most one batch.
    assert duplicates <= BATCH, f"{duplicates} duplicates, more than one batch of {BATCH}"
    print(f"kill -9 after {at_kill} of {total} submitted: {duplicates} duplicates (bound {BATCH})")
    engine.dispose()
