"""Exact lookup of a number among 1,000,000 contacts, through the blind index. Target: <= 10 ms.

Measures the raw lookup (normalise, blind index, subject, contact, decrypt) and the whole
service call the UI and API make (which also writes the audit event).
"""

from __future__ import annotations

import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import select  # noqa: E402

from bench._common import Timer, bench_account, databases, session_factory  # noqa: E402
from govsms.contacts import importing, service  # noqa: E402
from govsms.contacts.models import Contact  # noqa: E402
from govsms.db import session_scope  # noqa: E402
from govsms.keys.store import vault_of  # noqa: E402
from govsms.phone import parse_number  # noqa: E402

CONTACTS = 1_000_000
BATCH = 100_000
PROBES = 300


def numbers(batch: int) -> list[str]:
    return [f"+4670{batch:01d}{n:06d}" for n in range(BATCH)]


def main() -> None:
    print(f"exact lookup of a number among {CONTACTS:,} contacts:")
    with databases() as backends:
        for backend, url in backends:
            engine, factory, _ = session_factory(url, Path(tempfile.mkdtemp()))
            now = datetime.now(UTC)
            account, actor = bench_account(factory, now)
            with Timer() as loading:
                for batch in range(CONTACTS // BATCH):
                    plan = importing.ImportPlan("bench", "xlsx", "n", None, BATCH)
                    plan.valid = [importing.ImportRow(i, number, f"Namn {i}") for i, number in enumerate(numbers(batch))]
                    with session_scope(factory) as session:
                        importing.run_import(session, actor, plan, group_name=f"Bench {batch}", now=now)
            rng = random.Random(1)
            raw, full = [], []
            for _ in range(PROBES):
                wanted = rng.choice(numbers(rng.randrange(CONTACTS // BATCH)))
                typed = "0" + wanted[3:5] + "-" + wanted[5:]
                vault_of(session).cache.clear()  # cold keys: every probe unwraps its subject key
                with session_scope(factory) as session:
                    started = time.perf_counter()
                    e164 = parse_number(typed).e164
                    subject = vault_of(session).find_subjects(session, account.id, [e164], now=now)[e164]  # type: ignore[index,list-item]
                    contact = session.execute(
                        select(Contact).where(Contact.account_id == account.id, Contact.subject_id == subject.id)
                    ).scalar_one()
                    assert service.decrypt(contact, subject).number == wanted
                    raw.append(time.perf_counter() - started)
                vault_of(session).cache.clear()
                with session_scope(factory) as session:
                    started = time.perf_counter()
                    page = service.list_contacts(session, actor, number=typed, now=now)
                    full.append(time.perf_counter() - started)
                    assert page.total == 1
            def ms(values: list[float], q: float) -> float:
                return sorted(values)[int(len(values) * q)] * 1000
            print(
                f"  {backend:<10} lookup median {statistics.median(raw) * 1000:.2f} ms, p95 {ms(raw, 0.95):.2f} ms; "
                f"service call with audit event median {statistics.median(full) * 1000:.2f} ms, p95 {ms(full, 0.95):.2f} ms "
                f"(loading {CONTACTS:,} took {loading.seconds:.0f} s)"
            )
            engine.dispose()


if __name__ == "__main__":
    main()
