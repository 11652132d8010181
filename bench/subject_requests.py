"""Data-subject requests (issue 13) on an account with 1,000,000 sent SMS over 100,000 people and
100,000 contacts, on SQLite and PostgreSQL. Targets: the search of one number <= 50 ms (median of
15 and the worst shown); the erasure of a person with 10,000 sent SMS <= 1 s; the access export
of the same person <= 3 s.

The data set: 100,000 contacts imported (``run_import``: real keys and blind indexes), 990,000
SMS to them in 990 dispatches of 1,000, written straight into their tables (``copy_rows``, as
bench/purge_sent.py does; one part each); and the person: a contact in two groups, blocked, with
10,000 SMS of their own (10,000 one-recipient dispatches, each text sealed, the recipient sealed
under the person's key, so the export decrypts every one and the erasure drops every text).

Measured as the DPO's pages call them: ``search_subject`` (the heavy person, then 15 other
contacts: cold key cache each time), ``create_export`` (ZIP with JSON and PDF), then
``erase_subject`` (every holding, the key shredded, the log sealed, the receipt signed); and, for
comparison, the registry's holdings' ``find``s called directly. ``--small`` builds 1/50 of it
(tests/test_bench_subject_requests.py runs that); SUBJECT_BENCH_BACKENDS=sqlite limits the backends.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, select, text  # noqa: E402

from bench._common import Timer, bench_account, databases, session_factory  # noqa: E402
from bench.purge_sent import StatementProfile  # noqa: E402
from govsms.auth import Actor, Role  # noqa: E402
from govsms.contacts import importing  # noqa: E402
from govsms.contacts.groups import create_group  # noqa: E402
from govsms.contacts.models import Contact  # noqa: E402
from govsms.contacts.service import create_contact  # noqa: E402
from govsms.db import copy_rows, session_scope, table_of  # noqa: E402
from govsms.keys.crypto import seal_field  # noqa: E402
from govsms.keys.store import DATA_PURPOSE, vault_of  # noqa: E402
from govsms.lifecycle import lifecycle_holdings  # noqa: E402
from govsms.sending.blocklist import block_number  # noqa: E402
from govsms.sending.models import DISPATCH_TEXT, MESSAGE_RECIPIENT, Dispatch, MessagePart, OutboundMessage  # noqa: E402
from govsms.subjects.erasure import Sealer, erase_subject  # noqa: E402
from govsms.subjects.export import create_export  # noqa: E402
from govsms.subjects.person import person_for  # noqa: E402
from govsms.subjects.search import search_subject  # noqa: E402

PERSON, TYPED = "+46701234567", "070-123 45 67"
TEXT = "Hej! Din tid hos vårdcentralen är bokad. Välkommen!"
PER_DISPATCH = 1_000
BATCH = 100_000
PROBES = 15


class Sizes:
    def __init__(self, scale: int, person_sms: int | None = None) -> None:
        self.messages = 1_000_000 // scale
        self.contacts = 100_000 // scale
        self.person_sms = min(person_sms or 10_000 // scale, self.messages)
        self.others = self.messages - self.person_sms


def _contacts(factory, actor: Actor, sizes: Sizes, now: datetime) -> list[int]:  # type: ignore[no-untyped-def]
    """The contacts (imported in batches, in a group per batch); their subject ids."""
    for start in range(0, sizes.contacts, BATCH):
        count = min(BATCH, sizes.contacts - start)
        plan = importing.ImportPlan("bench", "xlsx", "n", None, count)
        plan.valid = [importing.ImportRow(i, f"+4672{start + i:07d}", f"Namn {start + i}") for i in range(count)]
        with session_scope(factory) as session:
            importing.run_import(session, actor, plan, group_name=f"Bench {start // BATCH}", now=now)
    with session_scope(factory) as session:
        return list(session.execute(select(Contact.subject_id).where(Contact.account_id == actor.account_id).order_by(Contact.id)).scalars())


def _person(factory, actor: Actor, now: datetime) -> int:  # type: ignore[no-untyped-def]
    """The person: a contact in two groups, blocked; their subject id."""
    with session_scope(factory) as session:
        groups = [create_group(session, actor, name=name, now=now).id for name in ("Styrelsen", "Föräldrar 4B")]
        create_contact(session, actor, number=PERSON, name="Åsa Öberg", group_ids=groups, now=now)  # type: ignore[arg-type]
        block_number(session, actor, PERSON, source="manual", now=now)
        return vault_of(session).find_subjects(session, actor.account_id, [PERSON], now=now)[PERSON].id  # type: ignore[return-value]


def _messages(factory, account_id: int, sizes: Sizes, subjects: list[int], person: int, at: datetime) -> None:  # type: ignore[no-untyped-def]
    """The others' SMS in dispatches of 1,000, then the person's, one per dispatch; one part each."""
    with session_scope(factory) as session:
        vault = vault_of(session)
        key = vault.account_key(session, account_id, DATA_PURPOSE, now=at)
        sealed = vault.subjects_by_id(session, account_id, [person])[person].seal(MESSAGE_RECIPIENT, PERSON)
    bulk = sizes.others // PER_DISPATCH
    dispatches = bulk + sizes.person_sms

    def dispatch_of(number: int) -> int:
        """Message ``number`` (0-based) belongs to this dispatch id."""
        return number // PER_DISPATCH + 1 if number < sizes.others else bulk + (number - sizes.others) + 1

    for start in range(0, dispatches, BATCH):
        ids = range(start + 1, min(start + BATCH, dispatches) + 1)
        with session_scope(factory) as session:
            copy_rows(session, table_of(Dispatch), [
                "id", "account_id", "created_by", "channel", "sender", "text_ct", "encoding", "parts", "accepted", "blocked", "invalid",
                "cost_minor", "currency", "status", "send_at", "created_at",
            ], ((id_, account_id, "bench", "api", "Bench", seal_field(key, DISPATCH_TEXT, account_id, id_, TEXT), "gsm7", 1,
                 PER_DISPATCH if id_ <= bulk else 1, 0, 0, 45 * (PER_DISPATCH if id_ <= bulk else 1), "SEK", "queued",
                 at + timedelta(seconds=id_), at + timedelta(seconds=id_)) for id_ in ids))
    for start in range(0, sizes.messages, BATCH):
        numbers = range(start, min(start + BATCH, sizes.messages))
        with session_scope(factory) as session:
            copy_rows(session, table_of(OutboundMessage), [
                "id", "dispatch_id", "account_id", "subject_id", "recipient_ct", "sender", "sender_kind", "country", "parts", "cost_minor",
                "status", "attempts", "due_at", "submitted_at", "done_at", "created_at",
            ], ((number + 1, dispatch_of(number), account_id,
                 person if number >= sizes.others else subjects[number % len(subjects)],
                 sealed if number >= sizes.others else b"x" * 60, "Bench", "alphanumeric", "SE", 1, 45, "delivered", 1,
                 at + timedelta(seconds=dispatch_of(number)), at + timedelta(seconds=dispatch_of(number) + 1),
                 at + timedelta(seconds=dispatch_of(number) + 5), at + timedelta(seconds=dispatch_of(number)))
                for number in numbers))
            copy_rows(session, table_of(MessagePart), ["provider_id", "message_id", "part", "status"], (
                (f"smsc-{number + 1}-0", number + 1, 0, "delivered") for number in numbers))
    with session_scope(factory) as session:
        if session.get_bind().dialect.name == "postgresql":  # ids given: move the sequences past them
            for table in ("dispatch", "outbound_message"):
                session.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"))
            session.execute(text("ANALYZE"))  # autovacuum would, a minute later
        elif os.environ.get("SUBJECT_BENCH_SQLITE_ANALYZE"):
            # SQLite has no statistics unless someone runs ANALYZE (govsms does not): without them
            # it takes an account's index for "account_id = ? AND id IN (...)" and reads every row.
            session.execute(text("ANALYZE"))


def _ms(seconds: float) -> float:
    return seconds * 1000


def bench(url: str, sizes: Sizes) -> dict[str, Any]:
    data_dir = Path(tempfile.mkdtemp())
    engine, factory, keys = session_factory(url, data_dir)
    now = datetime.now(UTC)
    account, system = bench_account(factory, now - timedelta(days=60))
    dpo = Actor(kind="user", id=1, account_id=account.id, account_name=account.name, roles=frozenset({Role.DPO}))
    holdings = lifecycle_holdings()
    figures: dict[str, Any] = {}
    with Timer() as loading:
        subjects = _contacts(factory, system, sizes, now - timedelta(days=50))
        person = _person(factory, system, now - timedelta(days=50))
        _messages(factory, account.id, sizes, subjects, person, now - timedelta(days=40))
    figures["load"] = loading.seconds

    def cold() -> None:
        with session_scope(factory) as session:
            vault_of(session).cache.clear()

    # The search: the person, then other contacts picked at random.
    found: dict[str, int] = {}
    heavy: list[float] = []
    for _ in range(PROBES):
        cold()
        with session_scope(factory) as session:
            started = time.perf_counter()
            result = search_subject(session, dpo, holdings, TYPED, now=now)
            heavy.append(time.perf_counter() - started)
        found = {item.table: item.count for category in result.categories for item in category.found}
    assert found.get("outbound_message") == sizes.person_sms and found.get("contact") == 1, found
    assert found.get("block_entry") == 1 and found.get("group_member") == 2, found
    rng = random.Random(1)
    other: list[float] = []
    for _ in range(PROBES):
        number = f"+4672{rng.randrange(sizes.contacts):07d}"
        cold()
        with session_scope(factory) as session:
            started = time.perf_counter()
            result = search_subject(session, dpo, holdings, number, now=now)
            other.append(time.perf_counter() - started)
        assert result.rows >= 1, number
    # For comparison: every holding's find called directly (no request, no access history, no event).
    raw: list[float] = []
    each: dict[str, list[float]] = {}
    for _ in range(PROBES):
        cold()
        with session_scope(factory) as session:
            started = time.perf_counter()
            who = person_for(session, dpo, TYPED, now=now)
            for holding in holdings:
                if holding.find is not None:
                    begun = time.perf_counter()
                    holding.find(session, who)
                    each.setdefault(holding.table, []).append(time.perf_counter() - begun)
            raw.append(time.perf_counter() - started)
    figures.update(search=heavy, search_other=other, finds=raw)
    if os.environ.get("SUBJECT_BENCH_PROFILE"):
        for table, seconds in sorted(each.items(), key=lambda item: -statistics.median(item[1])):
            print(f"    find {table}: median {_ms(statistics.median(seconds)):.2f} ms, worst {_ms(max(seconds)):.2f} ms")

    # The first export in a process loads WeasyPrint's fonts: timed apart, on another contact.
    cold()
    with Timer() as first, session_scope(factory) as session:
        create_export(session, dpo, holdings, person_for(session, dpo, "+46720000001", now=now), None, language="sv", now=now)
    figures["first_export"] = first.seconds
    cold()
    with Timer() as exporting, session_scope(factory) as session:
        export = create_export(session, dpo, holdings, person_for(session, dpo, TYPED, now=now), None, language="sv", now=now)
    figures["export"], figures["export_sha"] = exporting.seconds, export.sha256[:12]

    cold()
    sealer = Sealer(keys=keys, witness_path=data_dir / "witness.jsonl")
    profile = StatementProfile(engine, threading.get_ident()) if os.environ.get("SUBJECT_BENCH_PROFILE") else None
    with Timer() as erasing:
        erase_subject(factory, dpo, holdings, TYPED, sealer=sealer, now=now)
    figures["erasure"] = erasing.seconds
    if profile is not None:
        print("    the erasure's statements:")
        profile.report()
    with session_scope(factory) as session:
        left = session.execute(select(func.count()).select_from(OutboundMessage).where(OutboundMessage.subject_id == person)).scalar_one()
        after = search_subject(session, dpo, holdings, TYPED, now=now)
        figures["left"] = left
        figures["found_after"] = {item.table: item.count for category in after.categories for item in category.found}
        figures["messages"] = session.execute(select(func.count()).select_from(OutboundMessage)).scalar_one()
    assert left == 0, left
    engine.dispose()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", action="store_true", help="1/50 of the data set (a quick check that the script works)")
    parser.add_argument("--scale", type=int, default=1, help="1/SCALE of the data set (--small is 50)")
    parser.add_argument("--person-sms", type=int, default=None, help="the person's SMS (10,000 / SCALE unless given)")
    arguments = parser.parse_args()
    sizes = Sizes(50 if arguments.small else max(arguments.scale, 1), arguments.person_sms)
    print(
        f"data-subject requests: {sizes.messages:,} sent SMS, {sizes.contacts:,} contacts; a person in two groups, "
        f"blocked, with {sizes.person_sms:,} SMS:"
    )
    with databases() as backends:
        for backend, url in backends:
            if backend not in os.environ.get("SUBJECT_BENCH_BACKENDS", "sqlite,postgresql"):
                continue
            f = bench(url, sizes)
            print(
                f"  {backend:<10} search of the person median {_ms(statistics.median(f['search'])):.1f} ms, worst {_ms(max(f['search'])):.1f} ms; "
                f"of another contact median {_ms(statistics.median(f['search_other'])):.1f} ms, worst {_ms(max(f['search_other'])):.1f} ms "
                f"(target <= 50 ms; the holdings' finds alone median {_ms(statistics.median(f['finds'])):.1f} ms)"
            )
            print(
                f"  {backend:<10} export {f['export']:.2f} s (target <= 3 s; the process's first export, of a contact "
                f"with one SMS, {f['first_export']:.2f} s); erasure {f['erasure']:.2f} s (target <= 1 s; "
                f"{f['left']} of the person's SMS left, {f['messages']:,} SMS in all afterwards, a search then finds {f['found_after'] or 'nothing'}); "
                f"loading took {f['load']:.0f} s"
            )


if __name__ == "__main__":
    main()
