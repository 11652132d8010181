"""Import of a 100,000-row XLSX (5% invalid, 5% duplicate numbers) into a group, end to end
(read, check, subjects, encrypt, write, audit), on SQLite and PostgreSQL. Target: <= 10 s."""

from __future__ import annotations

import random
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import Timer, bench_account, databases, session_factory  # noqa: E402
from govsms.contacts import importing  # noqa: E402
from govsms.contacts.filereader import write_xlsx  # noqa: E402
from govsms.db import session_scope  # noqa: E402

ROWS = 100_000


def make_file() -> bytes:
    rng = random.Random(7)
    rows: list[tuple[str, str]] = []
    numbers = rng.sample(range(10_000_000), ROWS)
    valid: list[str] = []
    for index, value in enumerate(numbers):
        if index % 20 == 0:
            rows.append((f"07{value:07d}x", "Fel Felsson"))  # 5% invalid
        elif index % 20 == 1 and valid:
            rows.append(("+46" + rng.choice(valid)[1:].replace("-", ""), "Dubbel"))  # 5% duplicates, another format
        else:
            number = f"07{rng.choice('0236')}-{value:07d}"
            valid.append(number)
            rows.append((number, f"Förnamn{index} Efternamn"))
    return write_xlsx(rows, ("Mobilnummer", "Namn"))


def main() -> None:
    content = make_file()
    print(f"import of a {ROWS:,}-row XLSX ({len(content) / 1e6:.1f} MB) into a group:")
    with databases() as backends:
        for backend, url in backends:
            engine, factory, _ = session_factory(url, Path(tempfile.mkdtemp()))
            now = datetime.now(UTC)
            account, actor = bench_account(factory, now)
            with Timer() as total, session_scope(factory) as session:
                with Timer() as planning:
                    plan = importing.plan_import(session, actor, "bench.xlsx", content, now=now)
                with Timer() as writing:
                    result = importing.run_import(session, actor, plan, group_name="Bench", now=now)
            print(
                f"  {backend:<10} {total.seconds:5.2f} s  (preview {planning.seconds:.2f} s, import {writing.seconds:.2f} s; "
                f"{result.created:,} created, {len(plan.invalid):,} invalid, {len(plan.duplicates):,} duplicates)"
            )
            engine.dispose()


if __name__ == "__main__":
    main()
