"""Groups of contacts: create, rename, delete, and membership.

A group's name and description are free text a customer may fill with people's names, so both
are sealed under the account's data key (bound to the group's row), like a dispatch's text; like
that text they are the account's own content, so showing them writes no audit event. One name
per account is kept by a keyed index of the normalised name (HMAC under the account's index key),
never by the name itself, and groups are sorted by name after decryption (an account has few).
A name is claimed before it is written, so two identical creates or renames never make the
database refuse a duplicate (which its log would quote).
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session, col

from govsms.auth import Actor, Permission, require
from govsms.clock import SYSTEM_CLOCK, Clock
from govsms.audit.actions import Action
from govsms.audit.record import record_event
from govsms.contacts.models import GROUP_DESCRIPTION, GROUP_NAME, Contact, ContactGroup, GroupMember
from govsms.keys.crypto import DecryptionError, blind_index, seal_field, unseal_field
from govsms.db import bulk_insert, insert_unless_taken, rowcount, session_scope, table_of, truncate_sqlite_wal
from govsms.errors import Conflict, InvalidInput, NotFound
from govsms.i18n import _
from govsms.keys.store import DATA_PURPOSE, INDEX_PURPOSE, vault_of
from govsms.tenancy import delete_scoped, owned_by, scoped
from govsms.textfield import single_line
from govsms.audit.unreadable import ALTERED, CANNOT_BE_READ, UnreadableRow, record_unreadable

CHUNK = 5000
SEAL_BATCH = 500
TABLE = "contact_group"
GROUPS = table_of(ContactGroup)
MAX_NAME, MAX_DESCRIPTION = 100, 500


@dataclass(frozen=True)
class GroupView:
    """A group as its account sees it: name and description in clear."""

    id: int
    name: str
    description: str
    created_at: datetime
    unreadable: bool = False
    """Its name does not decrypt (altered, or moved in from another row): shown as "cannot be
    read"; a new name mends it."""


@dataclass(frozen=True)
class GroupSummary:
    group: GroupView
    members: int


def _name(name: str) -> str:
    name = single_line(name, "name")
    if not 1 <= len(name) <= MAX_NAME:
        raise InvalidInput(_("The group was not saved."), fields={"name": _("Give the group a name (at most 100 characters).")})
    return name


def _description(description: str | None) -> str:
    return single_line(description, "description")[:MAX_DESCRIPTION]


def normalised_name(name: str) -> str:
    """What makes two names one name: Unicode composition, case and spacing aside."""
    return " ".join(unicodedata.normalize("NFC", name).split()).casefold()


@dataclass(frozen=True)
class _Keys:
    account_id: int
    data: bytes
    index: bytes

    def name_index(self, name: str, *, salt: str = "") -> bytes:
        # Prefixed, so a name's index never equals a number's blind index under the same key.
        return blind_index(self.index, f"{TABLE}.name|{normalised_name(name)}{salt}")

    def seal(self, group_id: int, name: str, description: str) -> dict[str, Any]:
        return {
            "name_ct": seal_field(self.data, GROUP_NAME, self.account_id, group_id, name),
            "description_ct": seal_field(self.data, GROUP_DESCRIPTION, self.account_id, group_id, description)
            if description else None,
            "clear_name": None,
            "clear_description": None,
        }

    def open(self, row: Any) -> GroupView:
        try:
            name = unseal_field(self.data, GROUP_NAME, self.account_id, row.id, row.name_ct).decode()
            description = "" if row.description_ct is None else unseal_field(
                self.data, GROUP_DESCRIPTION, self.account_id, row.id, row.description_ct
            ).decode()
        except DecryptionError:
            return GroupView(id=row.id, name=_(CANNOT_BE_READ), description="", created_at=row.created_at, unreadable=True)
        return GroupView(id=row.id, name=name, description=description, created_at=row.created_at)


def _keys(session: Session, account_id: int, now: datetime | None) -> _Keys:
    vault = vault_of(session)
    # ``now`` only stamps an account key made here (accounts made before keys came with them).
    when = now or SYSTEM_CLOCK.now()
    return _Keys(
        account_id, vault.account_key(session, account_id, DATA_PURPOSE, now=when), vault.account_key(session, account_id, INDEX_PURPOSE, now=when)
    )


def _claim(session: Session, account_id: int, indexes: Sequence[bytes]) -> None:
    """PostgreSQL: hold these names of the account until the transaction ends, so that a second
    transaction writing one waits for this one and then finds it taken. (SQLite has one writer
    at a time already.)"""
    if session.get_bind().dialect.name != "postgresql":
        return
    for index in sorted(set(indexes)):  # one order: two claimers never wait for each other
        digest = hashlib.sha256(f"{TABLE}|{account_id}|".encode() + index).digest()
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": int.from_bytes(digest[:8], "big", signed=True)})


def _taken(session: Session, account_id: int, index: bytes, except_id: int | None = None) -> bool:
    query = select(GROUPS.c.id).where(owned_by(GROUPS, account_id), GROUPS.c.name_index == index)
    if except_id is not None:
        query = query.where(GROUPS.c.id != except_id)
    return session.execute(query).first() is not None


def _refuse_taken() -> Conflict:
    return Conflict(_("A group with this name exists already."), fields={"name": _("Choose another name.")})


def _load(session: Session, actor: Actor, group_id: int) -> Any:
    require(actor, Permission.CONTACTS)
    row = session.execute(scoped(GROUPS, actor).where(GROUPS.c.id == group_id)).first()
    if row is None:
        raise NotFound(_("No such group in your account."))
    return row


def _views(session: Session, actor: Actor, rows: Sequence[Any], now: datetime | None) -> dict[int, GroupView]:
    """The rows in clear; one that does not decrypt is an error event, and a group still named
    in clear is sealed now (``seal_clear_groups``)."""
    if not rows:
        return {}
    keys = _keys(session, actor.account_id, now)
    views = {row.id: keys.open(row) for row in rows if row.name_ct is not None}
    unreadable = [UnreadableRow(TABLE, view.id, None, ALTERED) for view in views.values() if view.unreadable]
    if unreadable:
        record_unreadable(session, actor, unreadable, now=now or SYSTEM_CLOCK.now())
    waiting = [row for row in rows if row.name_ct is None]
    if waiting:
        _seal_rows(session, keys, waiting)
        views.update(
            (row.id, GroupView(id=row.id, name=row.clear_name or "", description=row.clear_description or "", created_at=row.created_at))
            for row in waiting
        )
    return views


def list_groups(session: Session, actor: Actor, *, now: datetime | None = None) -> list[GroupSummary]:
    """The account's groups with their member counts (one query), sorted by name."""
    require(actor, Permission.CONTACTS)
    counts = (
        select(col(GroupMember.group_id), func.count().label("members"))
        .where(col(GroupMember.group_id).in_(select(GROUPS.c.id).where(owned_by(GROUPS, actor))))  # this account's members only
        .group_by(col(GroupMember.group_id))
        .subquery()
    )
    rows = session.execute(
        select(GROUPS, func.coalesce(counts.c.members, 0).label("members"))
        .outerjoin(counts, counts.c.group_id == GROUPS.c.id)
        .where(owned_by(GROUPS, actor))
    ).all()
    views = _views(session, actor, rows, now)
    summaries = [GroupSummary(group=views[row.id], members=row.members) for row in rows]
    return sorted(summaries, key=lambda summary: (summary.group.name.casefold(), summary.group.name, summary.group.id))


def get_group(session: Session, actor: Actor, group_id: int, *, now: datetime | None = None) -> GroupView:
    row = _load(session, actor, group_id)
    return _views(session, actor, [row], now)[row.id]


def create_group(session: Session, actor: Actor, *, name: str, description: str = "", now: datetime) -> GroupView:
    require(actor, Permission.CONTACTS)
    name, description = _name(name), _description(description)
    keys = _keys(session, actor.account_id, now)
    index = keys.name_index(name)
    _claim(session, actor.account_id, [index])
    group_id = insert_unless_taken(session, GROUPS, {"account_id": actor.account_id, "name_index": index, "created_at": now})
    if group_id is None:
        raise _refuse_taken()
    # Sealed once the row has its id: the associated data binds each value to its group.
    session.execute(update(GROUPS).where(GROUPS.c.id == group_id, owned_by(GROUPS, actor)).values(**keys.seal(group_id, name, description)))
    record_event(session, actor, Action.GROUP_CREATED, now=now, target=("group", group_id))
    return GroupView(id=group_id, name=name, description=description, created_at=now)


def update_group(session: Session, actor: Actor, group_id: int, *, name: str, description: str | None = None, now: datetime) -> GroupView:
    row = _load(session, actor, group_id)
    name = _name(name)
    keys = _keys(session, actor.account_id, now)
    if description is None:
        description = _views(session, actor, [row], now)[row.id].description
    else:
        description = _description(description)
    index = keys.name_index(name)
    if index != row.name_index:
        _claim(session, actor.account_id, [index])
        if _taken(session, actor.account_id, index, except_id=group_id):
            raise _refuse_taken()
    session.execute(update(GROUPS).where(GROUPS.c.id == group_id, owned_by(GROUPS, actor)).values(name_index=index, **keys.seal(group_id, name, description)))
    record_event(session, actor, Action.GROUP_UPDATED, now=now, target=("group", group_id))
    return GroupView(id=group_id, name=name, description=description, created_at=row.created_at)


def delete_group(session: Session, actor: Actor, group_id: int, *, now: datetime) -> None:
    """The group goes; its contacts stay in the register."""
    row = _load(session, actor, group_id)
    session.execute(delete(GroupMember).where(col(GroupMember.group_id) == row.id))
    session.execute(delete_scoped(GROUPS, actor).where(GROUPS.c.id == row.id))
    record_event(session, actor, Action.GROUP_DELETED, now=now, target=("group", group_id))


# -- groups named in clear before names were sealed ------------------------------------------------


def _seal_rows(session: Session, keys: _Keys, rows: Sequence[Any]) -> None:
    """Seal groups of one account still named in clear. Two such names that differ only in case
    (allowed before) both stay: the later one's index is made unique with its id."""
    indexes = {row.id: keys.name_index(row.clear_name or "") for row in rows}
    _claim(session, keys.account_id, list(indexes.values()))
    taken = set(session.execute(
        select(GROUPS.c.name_index).where(owned_by(GROUPS, keys.account_id), GROUPS.c.name_index.is_not(None))
    ).scalars())
    for row in sorted(rows, key=lambda row: row.id):
        index = indexes[row.id]
        if index in taken:
            index = keys.name_index(row.clear_name or "", salt=f"\x00{row.id}")
        taken.add(index)
        session.execute(
            update(GROUPS).where(GROUPS.c.id == row.id, GROUPS.c.name_ct.is_(None))
            .values(name_index=index, **keys.seal(row.id, row.clear_name or "", row.clear_description or ""))
        )


def seal_clear_groups(session: Session, *, now: datetime, batch: int = SEAL_BATCH) -> int:
    """Seal up to ``batch`` groups named in clear (before names were sealed) and empty their
    clear columns; returns how many (0: nothing left). One batch of ``seal_all_clear_groups``:
    the caller commits each batch, so a stopped run resumes where it was."""
    rows = session.execute(select(GROUPS).where(GROUPS.c.name_ct.is_(None)).order_by(GROUPS.c.id).limit(batch)).all()
    by_account: dict[int, list[Any]] = {}
    for row in rows:
        by_account.setdefault(row.account_id, []).append(row)
    for account_id, waiting in by_account.items():
        _seal_rows(session, _keys(session, account_id, now), waiting)
    return len(rows)


def seal_all_clear_groups(factory: sessionmaker[Session], clock: Clock = SYSTEM_CLOCK) -> int:
    """The data step of ``govsms db upgrade`` for the group-names migration, which holds no keys:
    seal every group still named in clear, a batch per transaction (resumable); on SQLite the
    WAL is then checkpointed and truncated, so the clear names leave it too. Returns how many
    (0 once done)."""
    total = 0
    while True:
        with session_scope(factory) as session:
            done = seal_clear_groups(session, now=clock.now())
            bind = session.get_bind()
        if not done:
            break
        total += done
    if total:
        truncate_sqlite_wal(bind)
    return total


# -- membership -------------------------------------------------------------------------------------


def _insert_members(session: Session, rows: list[dict[str, object]]) -> None:
    for start in range(0, len(rows), CHUNK):
        bulk_insert(session, table_of(GroupMember), rows[start : start + CHUNK], ignore_conflicts=True)


def add_members(session: Session, actor: Actor, group_id: int, contact_ids: Sequence[int], *, now: datetime) -> int:
    """Add contacts of the account to the group (already members stay); returns how many were asked."""
    group = _load(session, actor, group_id)
    wanted = sorted(set(contact_ids))
    rows: list[dict[str, object]] = []
    subject_ids: list[int] = []
    for start in range(0, len(wanted), CHUNK):
        found = session.execute(
            select(col(Contact.id), col(Contact.subject_id)).where(
                owned_by(Contact, actor), col(Contact.id).in_(wanted[start : start + CHUNK])
            )
        ).all()
        rows.extend({"group_id": group.id, "contact_id": contact_id, "added_at": now} for contact_id, _subject in found)
        subject_ids.extend(subject for _contact, subject in found)
    if len(rows) != len(wanted):
        raise NotFound(_("No such contact in your account."))
    _insert_members(session, rows)
    record_event(
        session, actor, Action.GROUP_MEMBERS_ADDED, now=now, target=("group", group.id), subjects=subject_ids,
        details={"contacts": len(rows)},
    )
    return len(rows)


def remove_members(session: Session, actor: Actor, group_id: int, contact_ids: Sequence[int], *, now: datetime) -> int:
    group = _load(session, actor, group_id)
    wanted = sorted(set(contact_ids))
    found = session.execute(select(col(Contact.id), col(Contact.subject_id)).where(owned_by(Contact, actor), col(Contact.id).in_(wanted))).all()
    if len(found) != len(wanted):  # as adding: an id of no contact of the account is refused, not ignored
        raise NotFound(_("No such contact in your account."))
    subject_ids = [subject for _contact, subject in found]
    removed = rowcount(
        session.execute(delete(GroupMember).where(col(GroupMember.group_id) == group.id, col(GroupMember.contact_id).in_(wanted)))
    )
    record_event(
        session, actor, Action.GROUP_MEMBERS_REMOVED, now=now, target=("group", group.id), subjects=subject_ids,
        details={"contacts": removed},
    )
    return removed
