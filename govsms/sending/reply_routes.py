"""Reply routes (issue 14): who sent last to a number from a shared reply number (72323, 1963,
4560991000). The outbox worker writes them when it records a submitted batch (it holds the
numbers in clear then); the receiving side reads one by primary key when a reply comes in.

A route is keyed by the provider's blind index of the number (vault account 0's index key: the
account is what the route finds, so it cannot be keyed by an account's own index) and the shared
number; it names the account and the message, and expires with the reply window."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, tuple_
from sqlmodel import Session

from govsms.db import rowcount, table_of
from govsms.keys.store import vault_of
from govsms.sending.models import ReplyRoute
from govsms.sending.senders import REPLY_NUMBERS

PROVIDER_KEYS = 0
"""The vault's account id of the provider-level keys (no account has id 0)."""
DEFAULT_WINDOW = timedelta(days=30)
CHUNK = 1000
"""Routes per statement (6 parameters each: well below SQLite's limit)."""
ROUTES = table_of(ReplyRoute)


def is_reply_number(sender: str | None) -> bool:
    """A shared number replies come back to (with or without '+')."""
    return sender is not None and sender.lstrip("+") in REPLY_NUMBERS.values()


def provider_indexes(session: Session, numbers: Iterable[str], *, now: datetime) -> dict[str, bytes]:
    """The provider's blind index of each E.164 number (with '+')."""
    return vault_of(session).blind_indexes(session, PROVIDER_KEYS, set(numbers), now=now)


def write_reply_routes(
    session: Session, routes: Iterable[tuple[bytes, str, int, int]], *, sent_at: datetime, window: timedelta = DEFAULT_WINDOW,
) -> int:
    """Upsert routes (number index, shared number, account id, message id) sent at ``sent_at``:
    one INSERT .. ON CONFLICT DO UPDATE per chunk on both backends. A route already written by
    a later send (another worker's batch recorded first) is kept. Returns how many were given."""
    latest: dict[tuple[bytes, str], tuple[int, int]] = {}
    for index, shared, account_id, message_id in routes:
        key = (bytes(index), shared.lstrip("+"))
        if key not in latest or latest[key][1] < message_id:  # one row per key and statement
            latest[key] = (account_id, message_id)
    if not latest:
        return 0
    rows = [
        {"number_index": index, "shared_number": shared, "account_id": account_id, "message_id": message_id,
         "sent_at": sent_at, "expires_at": sent_at + window}
        for (index, shared), (account_id, message_id) in sorted(latest.items())
    ]  # in key order: two workers' batches lock their common routes in the same order (no deadlock)
    dialect = session.get_bind().dialect.name
    insert: Any
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    connection = session.connection()
    for start in range(0, len(rows), CHUNK):
        statement = insert(ROUTES).values(rows[start:start + CHUNK])
        excluded = statement.excluded
        connection.execute(statement.on_conflict_do_update(
            index_elements=[ROUTES.c.number_index, ROUTES.c.shared_number],
            set_={"account_id": excluded.account_id, "message_id": excluded.message_id,
                  "sent_at": excluded.sent_at, "expires_at": excluded.expires_at},
            where=ROUTES.c.sent_at <= excluded.sent_at,
        ))
    return len(rows)


def find_reply_route(session: Session, number_index: bytes, shared_number: str, *, now: datetime) -> tuple[int, int] | None:
    """(account id, message id) of the latest send to this number from this shared number, if
    its reply window has not ended: one primary-key lookup."""
    row = session.execute(
        select(ROUTES.c.account_id, ROUTES.c.message_id, ROUTES.c.expires_at)
        .where(ROUTES.c.number_index == number_index, ROUTES.c.shared_number == shared_number.lstrip("+"))
    ).first()
    if row is None or row.expires_at <= now:
        return None
    return int(row.account_id), int(row.message_id)


def find_reply_routes(session: Session, indexes: list[bytes], *, now: datetime) -> dict[tuple[bytes, str], tuple[int, int]]:
    """``find_reply_route`` for many numbers at once: (index, shared number) -> (account id,
    message id) of the routes whose window has not ended (one query per chunk, by the primary
    key's first column)."""
    found: dict[tuple[bytes, str], tuple[int, int]] = {}
    for start in range(0, len(indexes), CHUNK):
        for index, shared, account_id, message_id, expires_at in session.execute(
            select(ROUTES.c.number_index, ROUTES.c.shared_number, ROUTES.c.account_id, ROUTES.c.message_id, ROUTES.c.expires_at)
            .where(ROUTES.c.number_index.in_(indexes[start:start + CHUNK]))
        ):
            if expires_at > now:
                found[(bytes(index), shared)] = (int(account_id), int(message_id))
    return found


def purge_expired_routes(session: Session, *, now: datetime, limit: int = 10_000) -> int:
    """Delete up to ``limit`` routes whose reply window has ended (by the index on
    ``expires_at``); returns how many went. The caller loops in short transactions."""
    expired = select(ROUTES.c.number_index, ROUTES.c.shared_number).where(ROUTES.c.expires_at <= now).limit(limit)
    return rowcount(session.execute(
        delete(ROUTES).where(tuple_(ROUTES.c.number_index, ROUTES.c.shared_number).in_(expired))
    ))
