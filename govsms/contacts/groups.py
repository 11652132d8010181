"""Groups of contacts: create, rename, delete, and membership."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlmodel import Session

from govsms.accounts.actor import Actor
from govsms.accounts.roles import Permission
from govsms.accounts.service import require
from govsms.audit.actions import Action
from govsms.audit.record import record_event
from govsms.contacts.models import Contact, ContactGroup, GroupMember
from govsms.db import bulk_insert
from govsms.errors import Conflict, InvalidInput, NotFound
from govsms.i18n import _
from govsms.textfield import single_line

CHUNK = 5000


@dataclass(frozen=True)
class GroupSummary:
    group: ContactGroup
    members: int


def _name(name: str) -> str:
    name = single_line(name, "name")
    if not 1 <= len(name) <= 100:
        raise InvalidInput(_("The group was not saved."), fields={"name": _("Give the group a name (at most 100 characters).")})
    return name


def _unique(session: Session, actor: Actor, name: str, except_id: int | None = None) -> None:
    query = select(ContactGroup.id).where(ContactGroup.account_id == actor.account_id, ContactGroup.name == name)
    if except_id is not None:
        query = query.where(ContactGroup.id != except_id)
    if session.execute(query).first():
        raise Conflict(_("A group with this name exists already."), fields={"name": _("Choose another name.")})


def list_groups(session: Session, actor: Actor) -> list[GroupSummary]:
    """The account's groups with their member counts (one query)."""
    require(actor, Permission.CONTACTS)
    counts = select(GroupMember.group_id, func.count().label("members")).group_by(GroupMember.group_id).subquery()
    rows = session.execute(
        select(ContactGroup, func.coalesce(counts.c.members, 0))
        .outerjoin(counts, counts.c.group_id == ContactGroup.id)
        .where(ContactGroup.account_id == actor.account_id)
        .order_by(ContactGroup.name)
    ).all()
    return [GroupSummary(group=group, members=members) for group, members in rows]


def get_group(session: Session, actor: Actor, group_id: int) -> ContactGroup:
    require(actor, Permission.CONTACTS)
    group = session.execute(
        select(ContactGroup).where(ContactGroup.id == group_id, ContactGroup.account_id == actor.account_id)
    ).scalars().first()
    if group is None:
        raise NotFound(_("No such group in your account."))
    return group


def create_group(session: Session, actor: Actor, *, name: str, description: str = "", now: datetime) -> ContactGroup:
    require(actor, Permission.CONTACTS)
    name = _name(name)
    description = single_line(description, "description")[:500]
    _unique(session, actor, name)
    group = ContactGroup(account_id=actor.account_id, name=name, description=description, created_at=now)
    session.add(group)
    session.flush()
    record_event(session, actor, Action.GROUP_CREATED, now=now, target=("group", group.id))
    return group


def update_group(session: Session, actor: Actor, group_id: int, *, name: str, description: str | None = None, now: datetime) -> ContactGroup:
    group = get_group(session, actor, group_id)
    name = _name(name)
    description = None if description is None else single_line(description, "description")[:500]
    # Checked before the group changes: the check's query would flush a duplicate name first.
    _unique(session, actor, name, except_id=group.id)
    group.name = name
    if description is not None:
        group.description = description
    session.add(group)
    session.flush()
    record_event(session, actor, Action.GROUP_UPDATED, now=now, target=("group", group.id))
    return group


def delete_group(session: Session, actor: Actor, group_id: int, *, now: datetime) -> None:
    """The group goes; its contacts stay in the register."""
    group = get_group(session, actor, group_id)
    session.execute(delete(GroupMember).where(GroupMember.group_id == group.id))
    session.delete(group)
    session.flush()
    record_event(session, actor, Action.GROUP_DELETED, now=now, target=("group", group_id))


def _insert_members(session: Session, rows: list[dict[str, object]]) -> None:
    for start in range(0, len(rows), CHUNK):
        bulk_insert(session, GroupMember.__table__, rows[start : start + CHUNK], ignore_conflicts=True)


def add_members(session: Session, actor: Actor, group_id: int, contact_ids: Sequence[int], *, now: datetime) -> int:
    """Add contacts of the account to the group (already members stay); returns how many were asked."""
    group = get_group(session, actor, group_id)
    wanted = sorted(set(contact_ids))
    rows = []
    subject_ids = []
    for start in range(0, len(wanted), CHUNK):
        found = session.execute(
            select(Contact.id, Contact.subject_id).where(
                Contact.account_id == actor.account_id, Contact.id.in_(wanted[start : start + CHUNK])
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
    group = get_group(session, actor, group_id)
    wanted = sorted(set(contact_ids))
    subject_ids = session.execute(
        select(Contact.subject_id).where(Contact.account_id == actor.account_id, Contact.id.in_(wanted))
    ).scalars().all()
    result = session.execute(delete(GroupMember).where(GroupMember.group_id == group.id, GroupMember.contact_id.in_(wanted)))
    record_event(
        session, actor, Action.GROUP_MEMBERS_REMOVED, now=now, target=("group", group.id), subjects=subject_ids,
        details={"contacts": result.rowcount or 0},
    )
    return result.rowcount or 0
