"""Contacts: create, read (every clear-text read is an audit event), change, delete, search by
number through the blind index, and export. Numbers, names and notes are stored encrypted
under the person's own key."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlmodel import Session, col

from govsms.accounts.service import account_region
from govsms.auth import Actor, Permission, require
from govsms.audit.actions import Action
from govsms.audit.record import record_event
from govsms.contacts.models import CONTACT_NAME, CONTACT_NOTE, CONTACT_NUMBER, Contact, ContactGroup, GroupMember
from govsms.keys.crypto import Subject
from govsms.errors import Conflict, InvalidInput, NotFound
from govsms.i18n import _
from govsms.db import add_unless_taken
from govsms.keys.store import vault_of
from govsms.paging import Page, clamp_page
from govsms.phone import parse_number, parse_recipient
from govsms.tenancy import get_scoped, owned_by, scoped
from govsms.textfield import multi_line, single_line
from govsms.audit.unreadable import ALTERED, CANNOT_BE_READ, NO_KEY, UnreadableRow, record_unreadable

TABLE = "contact"
MAX_NAME = 200
MAX_NOTE = 2000
CHUNK = 2000


@dataclass(frozen=True)
class ContactView:
    """A contact in clear, for one response. Built only by functions that audit the read."""

    id: int
    subject_id: int
    number: str
    name: str
    note: str
    created_at: datetime
    updated_at: datetime
    group_ids: tuple[int, ...] = ()
    unreadable: bool = False
    """Its values cannot be read (no key, or a value that does not decrypt): shown as "cannot be
    read", with number, name and note empty."""


def clean_text(value: str | None, limit: int, field: str, label: str) -> str:
    value = multi_line(value, field) if field == "note" else single_line(value, field)
    if len(value) > limit:
        raise InvalidInput(
            _("%(label)s is too long.") % {"label": label},
            fields={field: _("Use at most %(count)d characters.") % {"count": limit}},
        )
    return value


def _stored_id(contact: Contact) -> int:
    """The id of a contact read from the database or flushed (only a new object has none)."""
    assert contact.id is not None
    return contact.id


def decrypt(contact: Contact, subject: Subject | None, group_ids: Sequence[int] = ()) -> ContactView:
    """The contact in clear; without its person's key, or with a value that does not decrypt,
    an ``unreadable`` view holding nothing."""
    number: str | None = None
    name: str | None = None
    note: str | None = None
    if subject is not None:
        number = subject.unseal_or_none(CONTACT_NUMBER, contact.number_ct)
        name = subject.unseal_or_none(CONTACT_NAME, contact.name_ct) if contact.name_ct else ""
        note = subject.unseal_or_none(CONTACT_NOTE, contact.note_ct) if contact.note_ct else ""
    if number is None or name is None or note is None:
        number, name, note, unreadable = "", "", "", True
    else:
        unreadable = False
    return ContactView(
        id=_stored_id(contact),
        subject_id=contact.subject_id,
        number=number,
        name=name,
        note=note,
        created_at=contact.created_at,
        updated_at=contact.updated_at,
        group_ids=tuple(group_ids),
        unreadable=unreadable,
    )


def _decrypt_rows(session: Session, actor: Actor, contacts: Sequence[Contact]) -> tuple[list[ContactView], list[UnreadableRow]]:
    subjects = vault_of(session).subjects_by_id(session, actor.account_id, [contact.subject_id for contact in contacts])
    views = [decrypt(contact, subjects.get(contact.subject_id)) for contact in contacts]
    unreadable = [
        UnreadableRow(TABLE, view.id, contact.subject_id, ALTERED if contact.subject_id in subjects else NO_KEY)
        for contact, view in zip(contacts, views, strict=True) if view.unreadable
    ]
    return views, unreadable


def decrypt_many(session: Session, actor: Actor, contacts: Sequence[Contact], *, now: datetime) -> list[ContactView]:
    """The contacts in clear, in their order. One that cannot be read comes back ``unreadable``
    and is recorded as an error event; the others are unaffected."""
    views, unreadable = _decrypt_rows(session, actor, contacts)
    record_unreadable(session, actor, unreadable, now=now)
    return views


def _load(session: Session, actor: Actor, contact_id: int) -> Contact:
    return get_scoped(session, Contact, contact_id, actor, missing=_("No such contact in your account."))


def _check_groups(session: Session, actor: Actor, group_ids: Sequence[int]) -> list[int]:
    wanted = sorted(set(group_ids))
    if not wanted:
        return []
    found = session.execute(
        select(col(ContactGroup.id)).where(owned_by(ContactGroup, actor), col(ContactGroup.id).in_(wanted))
    ).scalars().all()
    if len(found) != len(wanted):
        raise NotFound(_("No such group in your account."))
    return wanted


def _group_ids(session: Session, contact_id: int) -> tuple[int, ...]:
    return tuple(session.execute(select(col(GroupMember.group_id)).where(col(GroupMember.contact_id) == contact_id)).scalars().all())


def list_contacts(
    session: Session,
    actor: Actor,
    *,
    now: datetime,
    page: int = 1,
    per_page: int = 50,
    number: str | None = None,
    group_id: int | None = None,
) -> Page[ContactView]:
    """One page of contacts in clear; the page's people are named in one audit event."""
    require(actor, Permission.CONTACTS)
    page, per_page = clamp_page(page, per_page)
    query = scoped(Contact, actor)
    action = Action.CONTACTS_LISTED
    if group_id is not None:
        _check_groups(session, actor, [group_id])
        query = query.join(GroupMember, col(GroupMember.contact_id) == col(Contact.id)).where(col(GroupMember.group_id) == group_id)
    if number:
        action = Action.CONTACTS_SEARCHED
        parsed = parse_number(number, account_region(session, actor))
        if parsed.e164 is None:
            raise InvalidInput(parsed.reason or "", fields={"number": parsed.reason or ""})
        found = vault_of(session).find_subjects(session, actor.account_id, [parsed.e164], now=now)
        subject = found.get(parsed.e164)
        query = query.where(col(Contact.subject_id) == (subject.id if subject else -1))
    total = session.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    rows = session.execute(query.order_by(col(Contact.id).desc()).offset((page - 1) * per_page).limit(per_page)).scalars().all()
    views = decrypt_many(session, actor, rows, now=now)
    shown = [view.subject_id for view in views if not view.unreadable]
    record_event(
        session, actor, action, now=now, target=("group", group_id) if group_id else None,
        subjects=shown, details={"shown": len(shown), "page": page},
    )
    return Page(items=views, total=total, page=page, per_page=per_page)


def get_contact(session: Session, actor: Actor, contact_id: int, *, now: datetime) -> ContactView:
    require(actor, Permission.CONTACTS)
    contact = _load(session, actor, contact_id)
    [view] = decrypt_many(session, actor, [contact], now=now)
    if not view.unreadable:
        record_event(session, actor, Action.CONTACT_VIEWED, now=now, target=("contact", contact.id), subjects=[contact.subject_id])
    return replace(view, group_ids=_group_ids(session, view.id))


def _parse_or_refuse(session: Session, actor: Actor, number: str) -> str:
    parsed = parse_recipient(number, account_region(session, actor))  # a contact is someone to send SMS to
    if parsed.e164 is None:
        raise InvalidInput(_("The contact was not saved."), fields={"number": parsed.reason or ""})
    return parsed.e164


def _refuse_a_contact(session: Session, actor: Actor, e164: str, message: str, *, now: datetime) -> None:
    """Refuse a number that is a contact already. The refusal tells that the account knows the
    number, so it is a read in the access log; it comes before anything is written, and the
    request commits the event alone (``recorded``)."""
    subject = vault_of(session).find_subjects(session, actor.account_id, [e164], now=now).get(e164)
    if subject is None:
        return
    existing = session.execute(select(col(Contact.id)).where(owned_by(Contact, actor), col(Contact.subject_id) == subject.id)).scalar()
    if existing is None:
        return
    record_event(session, actor, Action.CONTACT_ALREADY_EXISTS, now=now, target=("contact", existing), subjects=[subject.id])
    raise Conflict(message, fields={"number": _("Already in your contacts.")}, recorded=True)


def create_contact(
    session: Session, actor: Actor, *, number: str, name: str = "", note: str = "", group_ids: Sequence[int] = (), now: datetime
) -> ContactView:
    require(actor, Permission.CONTACTS)
    name = clean_text(name, MAX_NAME, "name", _("The name"))
    note = clean_text(note, MAX_NOTE, "note", _("The note"))
    e164 = _parse_or_refuse(session, actor, number)
    groups = _check_groups(session, actor, group_ids)
    _refuse_a_contact(session, actor, e164, _("This number is already a contact. Search for it to open it."), now=now)
    subject = vault_of(session).subject(session, actor.account_id, e164, now=now)
    contact = Contact(
        account_id=actor.account_id,
        subject_id=subject.id,
        number_ct=subject.seal(CONTACT_NUMBER, e164),
        name_ct=subject.seal(CONTACT_NAME, name) if name else None,
        note_ct=subject.seal(CONTACT_NOTE, note) if note else None,
        created_at=now,
        updated_at=now,
    )
    # A conflict-free insert: a create of the same number racing this one is refused here
    # (after it commits), never by the database.
    stored = add_unless_taken(session, contact)
    if stored is None:
        _refuse_a_contact(session, actor, e164, _("This number is already a contact. Search for it to open it."), now=now)
        raise Conflict(_("This number is already a contact. Search for it to open it."), fields={"number": _("Already in your contacts.")})
    contact = stored
    for group_id in groups:
        session.add(GroupMember(group_id=group_id, contact_id=contact.id, added_at=now))
    session.flush()
    record_event(session, actor, Action.CONTACT_CREATED, now=now, target=("contact", contact.id), subjects=[subject.id])
    return decrypt(contact, subject, groups)


def update_contact(
    session: Session,
    actor: Actor,
    contact_id: int,
    *,
    now: datetime,
    number: str | None = None,
    name: str | None = None,
    note: str | None = None,
    group_ids: Sequence[int] | None = None,
) -> ContactView:
    """Change what is given; a new number moves the contact to that person's key."""
    require(actor, Permission.CONTACTS)
    contact = _load(session, actor, contact_id)
    vault = vault_of(session)
    [current] = decrypt_many(session, actor, [contact], now=now)
    if current.unreadable:
        raise Conflict(
            _("This contact cannot be read, so it cannot be changed. Delete it and add the person again."), recorded=True
        )
    subject = vault.subjects_by_id(session, actor.account_id, [contact.subject_id])[contact.subject_id]
    new_name = current.name if name is None else clean_text(name, MAX_NAME, "name", _("The name"))
    new_note = current.note if note is None else clean_text(note, MAX_NOTE, "note", _("The note"))
    subjects = {contact.subject_id}
    if number is not None and number.strip():
        e164 = _parse_or_refuse(session, actor, number)
        if e164 != current.number:
            _refuse_a_contact(session, actor, e164, _("Another contact has this number."), now=now)
            subject = vault.subject(session, actor.account_id, e164, now=now)
            contact.subject_id = subject.id
            contact.number_ct = subject.seal(CONTACT_NUMBER, e164)
            subjects.add(subject.id)
    contact.name_ct = subject.seal(CONTACT_NAME, new_name) if new_name else None
    contact.note_ct = subject.seal(CONTACT_NOTE, new_note) if new_note else None
    contact.updated_at = now
    session.add(contact)
    if group_ids is not None:
        groups = _check_groups(session, actor, group_ids)
        session.execute(delete(GroupMember).where(col(GroupMember.contact_id) == contact.id))
        for group_id in groups:
            session.add(GroupMember(group_id=group_id, contact_id=_stored_id(contact), added_at=now))
    session.flush()
    record_event(session, actor, Action.CONTACT_UPDATED, now=now, target=("contact", contact.id), subjects=subjects)
    return decrypt(contact, subject, _group_ids(session, _stored_id(contact)))


def delete_contact(session: Session, actor: Actor, contact_id: int, *, now: datetime) -> None:
    require(actor, Permission.CONTACTS)
    contact = _load(session, actor, contact_id)
    session.execute(delete(GroupMember).where(col(GroupMember.contact_id) == contact.id))
    session.delete(contact)
    session.flush()
    record_event(session, actor, Action.CONTACT_DELETED, now=now, target=("contact", contact_id), subjects=[contact.subject_id])


def iter_contacts(session: Session, actor: Actor, *, group_id: int | None = None) -> Iterator[list[Contact]]:
    """All the account's contacts (or a group's) in chunks, oldest first, by keyset paging."""
    last = 0
    while True:
        query = scoped(Contact, actor).where(col(Contact.id) > last)
        if group_id is not None:
            query = query.join(GroupMember, col(GroupMember.contact_id) == col(Contact.id)).where(col(GroupMember.group_id) == group_id)
        rows = session.execute(query.order_by(col(Contact.id)).limit(CHUNK)).scalars().all()
        if not rows:
            return
        yield list(rows)
        last = _stored_id(rows[-1])


def export_contacts(
    session: Session, actor: Actor, *, file_format: str, now: datetime, group_id: int | None = None
) -> tuple[str, bytes]:
    """Every contact (or a group's) as CSV or XLSX; the export names all of them in the log."""
    from govsms.contacts.filereader import write_csv, write_xlsx

    require(actor, Permission.CONTACTS)
    if file_format not in ("csv", "xlsx"):
        raise InvalidInput(_("Choose CSV or Excel (.xlsx)."), fields={"format": _("Choose csv or xlsx.")})
    if group_id is not None:
        _check_groups(session, actor, [group_id])
    rows: list[tuple[str, str]] = []
    subject_ids: list[int] = []
    unreadable: list[UnreadableRow] = []
    for chunk in iter_contacts(session, actor, group_id=group_id):
        views, bad = _decrypt_rows(session, actor, chunk)
        unreadable.extend(bad)
        for view in views:
            if view.unreadable:  # the row stays, marked: the file is complete, not cut short
                rows.append((_(CANNOT_BE_READ), ""))
                continue
            rows.append((view.number, view.name))
            subject_ids.append(view.subject_id)
    header = (_("Number"), _("Name"))
    content = write_csv(rows, header) if file_format == "csv" else write_xlsx(rows, header)
    record_unreadable(session, actor, unreadable, now=now)
    record_event(
        session, actor, Action.CONTACTS_EXPORTED, now=now, target=("group", group_id) if group_id else None,
        subjects=subject_ids, details={"rows": len(rows), "unreadable": len(unreadable), "format": file_format},
    )
    stamp = now.strftime("%Y%m%d-%H%M")
    return f"contacts-{stamp}.{file_format}", content
