"""The account's blocklist: blind indexes only, so it holds no readable number. A block applies
at once: dispatches filter it, and the worker checks again just before each submit."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlmodel import Session, col

from govsms.accounts.service import account_region
from govsms.auth import Actor, Permission, require
from govsms.audit.actions import Action
from govsms.audit.record import record_event
from govsms.db import bulk_insert, rowcount, rows_in, table_of
from govsms.errors import InvalidInput
from govsms.keys.store import vault_of
from govsms.phone import parse_number
from govsms.sending.models import BlockEntry
from govsms.tenancy import delete_scoped, owned_by, scoped

CHUNK = 2000
SOURCES = ("link", "manual", "api", "stop")


@dataclass(frozen=True)
class BlockStatus:
    blocked: bool
    source: str | None
    since: datetime | None


def _listed(session: Session, account_id: int, indexes: list[bytes]) -> set[bytes]:
    """Which of these blind indexes are on the account's list (one query per chunk)."""
    if len(indexes) > CHUNK:
        # A big dispatch: reading the account's whole list (16 bytes an entry) once is cheaper
        # than many lookups, which PostgreSQL plans as scans on a small table.
        wanted = set(indexes)
        listed = session.execute(select(col(BlockEntry.blind_index)).where(owned_by(BlockEntry, account_id))).scalars()
        return {index for index in listed if index in wanted}
    if not indexes:
        return set()
    return {bytes(row[0]) for row in rows_in(session, "SELECT blind_index FROM block_entry WHERE account_id = {p} AND blind_index {in}", [account_id], indexes)}


def blocked_numbers(
    session: Session, account_id: int, numbers: Iterable[str], *, now: datetime, indexes: dict[str, bytes] | None = None
) -> set[str]:
    """Which of these E.164 numbers the account has blocked."""
    if indexes is None:
        indexes = vault_of(session).blind_indexes(session, account_id, set(numbers), now=now)
    by_index = {index: number for number, index in indexes.items()}
    return {by_index[index] for index in _listed(session, account_id, list(by_index))}


def blocked_subjects(session: Session, account_id: int, subject_ids: list[int]) -> set[int]:
    """Which of these subjects are blocked: their blind index is in their subject row."""
    by_index = {index: subject_id for subject_id, index in vault_of(session).indexes_of(session, account_id, subject_ids).items()}
    return {by_index[index] for index in _listed(session, account_id, list(by_index))}


def _index_of(session: Session, actor: Actor, number: str, now: datetime) -> tuple[str, bytes]:
    parsed = parse_number(number, account_region(session, actor))  # typed as the account's people write it
    e164 = parsed.e164
    if e164 is None:
        raise InvalidInput(parsed.reason or "", fields={"number": parsed.reason or ""})
    return e164, vault_of(session).blind_indexes(session, actor.account_id, [e164], now=now)[e164]


def _subject_ids(session: Session, actor: Actor, e164: str, now: datetime) -> list[int]:
    found = vault_of(session).find_subjects(session, actor.account_id, [e164], now=now)
    return [subject.id for subject in found.values()]


def block_index(session: Session, account_id: int, index: bytes, *, source: str, now: datetime) -> None:
    bulk_insert(
        session, table_of(BlockEntry), [{"account_id": account_id, "blind_index": index, "source": source, "created_at": now}],
        ignore_conflicts=True,
    )


def block_number(session: Session, actor: Actor, number: str, *, source: str, now: datetime) -> None:
    require(actor, Permission.BLOCKLIST)
    e164, index = _index_of(session, actor, number, now)
    block_index(session, actor.account_id, index, source=source, now=now)
    record_event(session, actor, Action.BLOCKLIST_ADDED, now=now, subjects=_subject_ids(session, actor, e164, now), details={"source": source})


def unblock_number(session: Session, actor: Actor, number: str, *, now: datetime) -> bool:
    require(actor, Permission.BLOCKLIST)
    e164, index = _index_of(session, actor, number, now)
    removed = rowcount(session.execute(delete_scoped(BlockEntry, actor).where(col(BlockEntry.blind_index) == index)))
    record_event(session, actor, Action.BLOCKLIST_REMOVED, now=now, subjects=_subject_ids(session, actor, e164, now), details={"removed": bool(removed)})
    return bool(removed)


def check_number(session: Session, actor: Actor, number: str, *, now: datetime) -> BlockStatus:
    """Whether the account has blocked this number. The answer tells something about the
    person (they opted out, or someone blocked them), so it is a read in the access log."""
    require(actor, Permission.BLOCKLIST)
    e164, index = _index_of(session, actor, number, now)
    entry = session.execute(scoped(BlockEntry, actor).where(BlockEntry.blind_index == index)).scalars().first()
    record_event(session, actor, Action.BLOCKLIST_CHECKED, now=now, subjects=_subject_ids(session, actor, e164, now))
    return BlockStatus(blocked=entry is not None, source=entry.source if entry else None, since=entry.created_at if entry else None)


def counts_by_source(session: Session, actor: Actor) -> dict[str, int]:
    require(actor, Permission.BLOCKLIST)
    rows = session.execute(
        select(col(BlockEntry.source), func.count()).where(owned_by(BlockEntry, actor)).group_by(col(BlockEntry.source))
    ).all()
    counts = {source: 0 for source in SOURCES}
    counts.update({source: count for source, count in rows})
    return counts
