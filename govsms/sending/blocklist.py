"""The account's blocklist: blind indexes only, so it holds no readable number. A block applies
at once: dispatches filter it, and the worker checks again just before each submit."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session, col

from govsms.accounts.service import account_region
from govsms.auth import Actor, Permission, require
from govsms.audit.actions import Action
from govsms.audit.models import AuditEvent
from govsms.audit.record import record_event
from govsms.contacts.groups import list_groups
from govsms.contacts.models import Contact, GroupMember
from govsms.db import bulk_insert, rowcount, rows_in, session_scope, table_of
from govsms.errors import InvalidInput
from govsms.keys.store import SubjectKey, vault_of
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


GROUP_DETAIL = "group."
"""The clean-up event's details name each group it touched as ``group.<id>``: members removed."""


@dataclass(frozen=True)
class CleanUp:
    """What the nightly clean-up removed from one account: counts and group ids, no numbers."""

    account_id: int
    numbers: int
    """Blocked numbers found among the contacts: each contact removed, with its memberships."""
    groups: dict[int, int] = field(default_factory=dict)
    """Group id: members removed from it."""
    at: datetime | None = None


def clean_up_account(session: Session, account_id: int, *, now: datetime) -> CleanUp:
    """Remove the account's blocked numbers from its groups and its contacts (blind index match:
    the contact's subject row against the blocklist), in bulk, with one audit event of counts."""
    found = session.execute(
        select(col(Contact.id), col(Contact.subject_id))
        .join(SubjectKey, col(SubjectKey.id) == col(Contact.subject_id))
        .join(BlockEntry, col(BlockEntry.blind_index) == col(SubjectKey.blind_index))
        .where(owned_by(Contact, account_id), owned_by(SubjectKey, account_id), owned_by(BlockEntry, account_id))
    ).all()
    if not found:
        return CleanUp(account_id, 0)
    groups: dict[int, int] = {}
    contact_ids = sorted({contact_id for contact_id, _subject in found})
    for start in range(0, len(contact_ids), CHUNK):
        chunk = contact_ids[start : start + CHUNK]
        members = session.execute(
            select(col(GroupMember.group_id), func.count()).where(col(GroupMember.contact_id).in_(chunk)).group_by(col(GroupMember.group_id))
        ).all()
        for group_id, count in members:
            groups[group_id] = groups.get(group_id, 0) + count
        session.execute(delete(GroupMember).where(col(GroupMember.contact_id).in_(chunk)))
        session.execute(delete(Contact).where(owned_by(Contact, account_id), col(Contact.id).in_(chunk)))
    details: dict[str, object] = {"numbers": len(contact_ids), "groups": len(groups)}
    details.update({f"{GROUP_DETAIL}{group_id}": count for group_id, count in sorted(groups.items())})
    record_event(
        session, None, Action.BLOCKLIST_CLEANED, now=now, account_id=account_id, subjects=[subject for _contact, subject in found], details=details
    )
    return CleanUp(account_id, len(contact_ids), groups, now)


def clean_up_blocked(session_factory: sessionmaker[Session], *, now: datetime) -> dict[str, int]:
    """The nightly step: every account with a blocklist cleaned in a transaction of its own.
    Returns the counts for the job's report (accounts, numbers, group memberships)."""
    with session_scope(session_factory) as session:
        account_ids = list(session.execute(select(col(BlockEntry.account_id)).distinct().order_by(col(BlockEntry.account_id))).scalars())
    report = {"accounts": 0, "numbers": 0, "memberships": 0}
    for account_id in account_ids:
        with session_scope(session_factory) as session:
            result = clean_up_account(session, account_id, now=now)
        if result.numbers:
            report["accounts"] += 1
            report["numbers"] += result.numbers
            report["memberships"] += sum(result.groups.values())
    return report


@dataclass(frozen=True)
class LastCleanUp:
    """The latest clean-up that removed something from an account, as its admin sees it."""

    at: datetime
    numbers: int
    groups: list[tuple[int, str | None]]
    """Each group it touched: its id and its name now (None when the group is gone since, or the
    reader may not see groups: a DPO)."""


def last_clean_up(session: Session, actor: Actor) -> LastCleanUp | None:
    """The latest clean-up that removed something from the actor's account (read from its
    event), with the groups' names resolved now: the event holds ids only."""
    require(actor, Permission.BLOCKLIST)
    event = session.execute(
        select(AuditEvent)
        .where(owned_by(AuditEvent, actor), col(AuditEvent.action) == Action.BLOCKLIST_CLEANED.value)
        .order_by(col(AuditEvent.seq).desc())
        .limit(1)
    ).scalars().first()
    if event is None:
        return None
    details = json.loads(event.details)
    group_ids = sorted(int(name.removeprefix(GROUP_DETAIL)) for name in details if name.startswith(GROUP_DETAIL))
    names = {summary.group.id: summary.group.name for summary in list_groups(session, actor)} if actor.can(Permission.CONTACTS) else {}
    return LastCleanUp(event.occurred_at, int(details.get("numbers", 0)), [(group_id, names.get(group_id)) for group_id in group_ids])
