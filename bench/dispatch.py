"""A 100,000-recipient dispatch (10% duplicates, 2% invalid, a 5,000-entry blocklist hitting 1%,
_BLOCKSMSLINK_ in the text) accepted and persisted, on SQLite and PostgreSQL. Target: <= 3 s."""

from __future__ import annotations

import random
import statistics
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import Timer, databases, session_factory  # noqa: E402
from govsms.auth import Actor  # noqa: E402
from govsms.accounts.service import create_account  # noqa: E402
from govsms.db import session_scope  # noqa: E402
from govsms.keys.store import vault_of  # noqa: E402
from govsms.sending.blocklist import block_index  # noqa: E402
from govsms.sending.dispatch import DispatchRequest, create_dispatch  # noqa: E402
from govsms.sending.pricing import seed_default_prices  # noqa: E402

RECIPIENTS = 100_000
ROUNDS = 5
TEXT = "Hej! Vi har rea hela helgen i alla butiker. Välkommen in! Vill du inte ha fler sms: _BLOCKSMSLINK_"


def recipients() -> tuple[list[str], list[str]]:
    rng = random.Random(3)
    unique = [f"+4670{n:07d}" for n in rng.sample(range(10_000_000), 88_000)]
    numbers = list(unique)
    numbers += [rng.choice(unique) for _ in range(10_000)]  # 10% duplicates
    numbers += [f"07{n:03d}" for n in range(2_000)]  # 2% invalid
    rng.shuffle(numbers)
    blocked = rng.sample(unique, 1_000) + [f"+4673{n:07d}" for n in range(4_000)]  # 5,000 entries, 1% of recipients
    return numbers, blocked


def main() -> None:
    numbers, blocked = recipients()
    print(f"dispatch to {len(numbers):,} recipients (10% duplicates, 2% invalid, 5,000-entry blocklist):")
    with databases() as backends:
        for backend, url in backends:
            engine, factory, _ = session_factory(url, Path(tempfile.mkdtemp()))
            now = datetime.now(UTC)
            with session_scope(factory) as session:
                seed_default_prices(session, now=now)
            times = []
            for round_ in range(ROUNDS):
                # A new account each round: every number is new to it, as in a first dispatch.
                with session_scope(factory) as session:
                    account = create_account(session, name=f"Bench {round_} AB", now=now, actor=Actor.platform())
                    indexes = vault_of(session).blind_indexes(session, account.id, blocked, now=now)  # type: ignore[arg-type]
                    for index in indexes.values():
                        block_index(session, account.id, index, source="manual", now=now)  # type: ignore[arg-type]
                actor = Actor.system(account.id, account.name)  # type: ignore[arg-type]
                request = DispatchRequest(sender="Butiken", text=TEXT, numbers=numbers)
                with Timer() as total, session_scope(factory) as session:
                    summary = create_dispatch(session, actor, request, public_url="https://sms.example.se", now=now)
                times.append(total.seconds)
            print(
                f"  {backend:<10} median {statistics.median(times):5.2f} s, best {min(times):5.2f} s of {ROUNDS} "
                f"({', '.join(f'{t:.2f}' for t in times)}); {summary.accepted:,} accepted, {summary.blocked:,} blocked, "
                f"{len(summary.invalid):,} invalid, {summary.parts} part(s) each"
            )
            engine.dispose()

if __name__ == "__main__":
    main()
