"""Sealing speed (target >= 20,000 events/s) and `audit verify` of 1,000,000 events (target
<= 30 s), on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import Timer, databases, session_factory  # noqa: E402
from types import SimpleNamespace  # noqa: E402

from govsms.audit.chain import seal_events, verify_database  # noqa: E402
from govsms.audit.record import event_mac, mac_key  # noqa: E402
from govsms.audit.models import AuditEvent, AuditEventSubject  # noqa: E402
from sqlalchemy import func, select  # noqa: E402
from govsms.audit.service import public_key  # noqa: E402
from govsms.db import bulk_insert, session_scope  # noqa: E402

EVENTS = 1_000_000
CHUNK = 50_000


def main() -> None:
    print(f"audit log with {EVENTS:,} events:")
    with databases() as backends:
        for backend, url in backends:
            engine, factory, keys = session_factory(url, Path(tempfile.mkdtemp()))
            now = datetime.now(UTC)
            key = mac_key(keys.audit_signing_seed)  # events carry their MAC, as record_event writes them
            with Timer() as writing:
                for start in range(0, EVENTS, CHUNK):
                    rows = [
                        {
                            "occurred_at": now, "account_id": 1 + n % 7, "actor": f"user:{n % 50}", "action": "contact.viewed",
                            "target_type": "contact", "target_id": str(n), "request_id": f"{n:032x}",
                            "subject_ids": json.dumps([n]), "details": '{"shown":1}',
                        }
                        for n in range(start, start + CHUNK)
                    ]
                    for row in rows:
                        row["mac"] = event_mac(key, SimpleNamespace(**row))
                    with session_scope(factory) as session:
                        bulk_insert(session, AuditEvent.__table__, rows)
                        first = session.execute(select(func.min(AuditEvent.__table__.c.seq)).where(
                            AuditEvent.__table__.c.target_id == str(start))).scalar_one()
                        bulk_insert(
                            session, AuditEventSubject.__table__,
                            [{"seq": first + offset, "subject_id": start + offset} for offset in range(CHUNK)],
                        )
            with Timer() as sealing, session_scope(factory) as session:
                sealed = seal_events(session, keys.audit_signing_seed, now=now).sealed
            with Timer() as verifying, session_scope(factory) as session:
                result = verify_database(session, public_key(keys), mac_key=key)
            assert result.ok and result.events == EVENTS and sealed == EVENTS, result.problems
            print(
                f"  {backend:<10} sealing {sealed / sealing.seconds:,.0f} events/s ({sealing.seconds:.1f} s); "
                f"verify {verifying.seconds:.1f} s; (writing the events took {writing.seconds:.0f} s)"
            )
            engine.dispose()


if __name__ == "__main__":
    main()
