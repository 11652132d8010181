"""Worker -> SMPP SMSC (the npm package `smpp`, tests/smsc) on loopback, with delivery receipts:
50,000 messages. Target: >= 2,000 messages/s sustained, all delivered, none twice."""

from __future__ import annotations

import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, select  # noqa: E402

from bench._common import databases, session_factory  # noqa: E402
from govsms.auth import Actor  # noqa: E402
from govsms.accounts.service import create_account  # noqa: E402
from govsms.db import session_scope  # noqa: E402
from govsms.sending.dispatch import DispatchRequest, create_dispatch  # noqa: E402
from govsms.sending.models import OutboundMessage  # noqa: E402
from govsms.sending.status import MessageStatus  # noqa: E402
from govsms.sending.outbox import Outbox  # noqa: E402
from govsms.sending.pricing import seed_default_prices  # noqa: E402
from govsms.sending.transports.smpp import SmppTransport  # noqa: E402
from tests.smsc.fixture import Smsc, _requirements  # noqa: E402

MESSAGES = 50_000


def main() -> None:
    node = _requirements()
    print(f"worker -> SMPP SMSC (npm smpp) on loopback, {MESSAGES:,} messages with receipts:")
    with databases() as backends:
        for backend, url in backends:
            smsc = Smsc(node, Path(tempfile.mkdtemp()))
            smsc.start()
            engine, factory, _ = session_factory(url, Path(tempfile.mkdtemp()))
            now = datetime.now(UTC)
            with session_scope(factory) as session:
                seed_default_prices(session, now=now)
                account = create_account(session, name="Bench AB", now=now, actor=Actor.platform())
                actor = Actor.system(account.id, account.name)  # type: ignore[arg-type]
                create_dispatch(
                    session, actor, DispatchRequest(sender="Bench", text="Mätning av genomströmning.", numbers=[f"+4670{n:07d}" for n in range(MESSAGES)]),
                    public_url="http://x", now=now,
                )
            transport = SmppTransport(smsc.host, smsc.port, smsc.system_id, smsc.password, window=64)
            outbox = Outbox(factory, transport, public_url="http://x", batch_size=1000)
            started = time.perf_counter()
            while outbox.run_once():
                pass
            submitted = time.perf_counter() - started
            deadline = time.monotonic() + 120
            while True:
                outbox.apply_reports()
                with session_scope(factory) as session:
                    delivered = session.execute(select(func.count()).where(OutboundMessage.status == MessageStatus.DELIVERED)).scalar_one()
                if delivered == MESSAGES or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            total = time.perf_counter() - started
            transport.close()
            per_number = Counter(pdu["destination_addr"] for pdu in smsc.received())
            twice = sum(count - 1 for count in per_number.values())
            print(
                f"  {backend:<10} submitted in {submitted:.1f} s ({MESSAGES / submitted:,.0f} msg/s); all receipts applied after "
                f"{total:.1f} s ({MESSAGES / total:,.0f} msg/s end to end); delivered {delivered:,}, at the SMSC {len(per_number):,}, twice {twice}"
            )
            smsc.stop()
            engine.dispose()


if __name__ == "__main__":
    main()
