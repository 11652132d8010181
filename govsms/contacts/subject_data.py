"""What the contacts domain holds about one person, for a data-subject request (``govsms.subjects``):
their contact and its group memberships, and pending import files that list their number. Each
function follows ``govsms.personal_data``'s ``Find``, ``Export`` or ``Erase``; the caller audits.

The person's contact is found by their subject id (one per account, a unique index); a pending
import file holds numbers only inside its sealed content, so it is opened and read (an account has
few, for an hour each) and its numbers compared by blind index, which works without the number in
clear (an erasure that resumes has only the blind index)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlmodel import Session, col

from govsms.accounts.models import Account
from govsms.audit.unreadable import CANNOT_BE_READ
from govsms.clock import SYSTEM_CLOCK
from govsms.contacts.filereader import ReaderBusy, read_contact_file
from govsms.contacts.importing import unseal_upload
from govsms.contacts.models import GROUP_NAME, Contact, ContactGroup, GroupMember, ImportUpload
from govsms.contacts.service import decrypt
from govsms.db import rowcount
from govsms.errors import Conflict, InvalidInput
from govsms.i18n import N_, _
from govsms.keys.crypto import DecryptionError, unseal_field
from govsms.keys.store import DATA_PURPOSE, vault_of
from govsms.personal_data import Found, Person
from govsms.phone import calling_code, parse_number
from govsms.tenancy import owned_by

ZIP_MAGIC = b"PK\x03\x04"
"""An Excel workbook (compressed: its digits cannot be looked at without reading it)."""
NOT_DIGITS = re.compile(rb"[^0-9]")


def _contacts(session: Session, person: Person) -> list[Contact]:
    if person.subject_id is None:
        return []
    return list(session.execute(
        select(Contact).where(owned_by(Contact, person.account_id), col(Contact.subject_id) == person.subject_id)
    ).scalars())


def _group_names(session: Session, account_id: int, contact_ids: list[int]) -> list[tuple[int, str]]:
    """(contact id, group name) of each membership of these contacts, names opened with the
    account's data key (a group named before sealing: its clear name)."""
    if not contact_ids:
        return []
    rows = session.execute(
        select(col(GroupMember.contact_id), col(ContactGroup.id), col(ContactGroup.name_ct), col(ContactGroup.clear_name))
        .join(ContactGroup, col(ContactGroup.id) == col(GroupMember.group_id))
        .where(col(GroupMember.contact_id).in_(contact_ids), owned_by(ContactGroup, account_id))
        .order_by(col(ContactGroup.id))
    ).all()
    if not rows:
        return []
    key = vault_of(session).account_key(session, account_id, DATA_PURPOSE, now=SYSTEM_CLOCK.now())
    names = []
    for contact_id, group_id, name_ct, clear_name in rows:
        if name_ct is None:
            name = clear_name or ""
        else:
            try:
                name = unseal_field(key, GROUP_NAME, account_id, group_id, name_ct).decode()
            except (DecryptionError, UnicodeDecodeError):
                name = _(CANNOT_BE_READ)
        names.append((contact_id, name))
    return names


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


# -- contact -----------------------------------------------------------------------------------


def find_contact(session: Session, person: Person) -> Found | None:
    """The person's contact: when it was made and changed, and the groups it is in."""
    contacts = _contacts(session, person)
    if not contacts:
        return None
    groups = _group_names(session, person.account_id, [contact.id for contact in contacts if contact.id is not None])
    return Found(
        table="contact", count=len(contacts),
        first_at=min(contact.created_at for contact in contacts), last_at=max(contact.updated_at for contact in contacts),
        lines=tuple(_("Group: %(name)s") % {"name": name} for _contact, name in groups),
    )


def export_contact(session: Session, person: Person) -> list[dict[str, object]]:
    """The contact in clear: number, name, note, times and the names of its groups."""
    contacts = _contacts(session, person)
    groups = _group_names(session, person.account_id, [contact.id for contact in contacts if contact.id is not None])
    records: list[dict[str, object]] = []
    for contact in contacts:
        view = decrypt(contact, person.subject)
        records.append({
            "id": view.id, "number": view.number, "name": view.name, "note": view.note, "unreadable": view.unreadable,
            "created_at": _iso(contact.created_at), "updated_at": _iso(contact.updated_at),
            "groups": [name for contact_id, name in groups if contact_id == contact.id],
        })
    return records


def _contact_ids(session: Session, person: Person, limit: int) -> list[int]:
    if person.subject_id is None:
        return []
    return list(session.execute(
        select(col(Contact.id)).where(owned_by(Contact, person.account_id), col(Contact.subject_id) == person.subject_id).limit(limit)
    ).scalars())


def erase_contact(session: Session, person: Person, *, limit: int, now: datetime) -> int:
    """Delete the person's contact and its group memberships; the contacts deleted."""
    ids = _contact_ids(session, person, limit)
    if not ids:
        return 0
    session.execute(delete(GroupMember).where(col(GroupMember.contact_id).in_(ids)))
    return rowcount(session.execute(delete(Contact).where(owned_by(Contact, person.account_id), col(Contact.id).in_(ids))))


# -- group_member ------------------------------------------------------------------------------


def find_memberships(session: Session, person: Person) -> Found | None:
    """How many groups the person's contact is in (the groups' names are the contact's lines)."""
    ids = _contact_ids(session, person, 1000)
    if not ids:
        return None
    count, first, last = session.execute(
        select(func.count(), func.min(GroupMember.added_at), func.max(GroupMember.added_at)).where(col(GroupMember.contact_id).in_(ids))
    ).one()
    return Found(table="group_member", count=int(count or 0), first_at=first, last_at=last)


def erase_memberships(session: Session, person: Person, *, limit: int, now: datetime) -> int:
    """Delete the person's contact's memberships (the contact's own erasure does too); how many went."""
    ids = _contact_ids(session, person, 1000)
    if not ids:
        return 0
    # A contact is in a few groups: all of them at once (more than ``limit`` only ends the loop later).
    return rowcount(session.execute(delete(GroupMember).where(col(GroupMember.contact_id).in_(ids))))


# -- import_upload -----------------------------------------------------------------------------


class UploadsNotChecked(Conflict):
    """A pending import file could not be read now (the file reader busy, or reading timed out):
    whether it lists the number is not known yet. Asking again later may succeed."""


NOT_CHECKED_NOW = N_(
    "%(files)d pending import file(s) could not be checked for the number now: the file reader is busy. "
    "Search again in a minute."
)
CANNOT_BE_CHECKED = N_(
    "%(files)d pending import file(s) cannot be read (changed or not a table), so they could not be checked for "
    "the number; they are deleted when they expire, within the hour."
)
ERASURE_WAITS = N_(
    "A pending import file could not be checked for the number now: the file reader is busy. The erasure stopped "
    "where it was and is kept as begun: start it again in a minute (or run `govsms dsr resume`) to finish it."
)
EXPORT_WAITS = N_(
    "A pending import file could not be checked for the number now: the file reader is busy. Nothing was "
    "exported: try again in a minute."
)


@dataclass
class Uploads:
    """What the account's uploaded files hold about the person."""

    found: list[tuple[ImportUpload, str, list[dict[str, Any]]]] = field(default_factory=list)
    """(upload, file name, the rows with the number) of each file that lists it."""
    busy: int = 0
    """Files not read this time (the reader busy or too slow): they may list the number."""
    unreadable: int = 0
    """Files that cannot be read at all (not decryptable, not a table)."""


def _matching_uploads(session: Session, person: Person) -> Uploads:
    """The account's uploaded files (pending, or expired and not yet purged) whose rows hold the
    person's number, and how many could not be checked: now (``busy``) or at all (``unreadable``:
    nothing of them can be found; the purge removes them within the hour)."""
    result = Uploads()
    uploads = list(session.execute(select(ImportUpload).where(owned_by(ImportUpload, person.account_id))).scalars())
    if not uploads:
        return result
    now = SYSTEM_CLOCK.now()
    vault = vault_of(session)
    key = vault.account_key(session, person.account_id, DATA_PURPOSE, now=now)
    account = session.get(Account, person.account_id)
    region = account.default_region if account is not None else "SE"
    # With the number in clear, a CSV file whose digits do not hold the number's national digits
    # (written in any format: separators, a country code or a leading 0 aside) is not read: the
    # reading process costs a search some 200 ms a file.
    national = person.e164[1 + len(str(calling_code(person.e164))):].encode() if person.e164 else b""
    for upload in uploads:
        try:
            filename, content = unseal_upload(key, upload)
            if national and not content.startswith(ZIP_MAGIC) and national not in NOT_DIGITS.sub(b"", content):
                continue
            parsed = read_contact_file(filename, content)
        except ReaderBusy:
            result.busy += 1
            continue
        except (DecryptionError, UnicodeDecodeError, InvalidInput):
            result.unreadable += 1
            continue
        numbers: dict[str, list[dict[str, Any]]] = {}
        for row in parsed.rows:
            e164 = parse_number(row.number, region).e164
            if e164 is not None:
                numbers.setdefault(e164, []).append({"row": row.row_number, "number": e164, "name": row.name})
        indexes = vault.blind_indexes(session, person.account_id, list(numbers), now=now)
        rows = [item for e164, index in indexes.items() if index == person.blind_index for item in numbers[e164]]
        if rows:
            result.found.append((upload, filename, rows))
    return result


def find_uploads(session: Session, person: Person) -> Found | None:
    """How many of the account's uploaded files, waiting to be imported, list the person's number,
    or may (the ones the reader could not check now count: "nothing" is not known); the lines say
    how many could not be checked, now or at all."""
    uploads = _matching_uploads(session, person)
    found = uploads.found
    lines = []
    if uploads.busy:
        lines.append(_(NOT_CHECKED_NOW) % {"files": uploads.busy})
    if uploads.unreadable:
        lines.append(_(CANNOT_BE_CHECKED) % {"files": uploads.unreadable})
    if not found and not lines:
        return None
    return Found(
        table="import_upload", count=len(found) + uploads.busy,
        first_at=min((upload.created_at for upload, _name, _rows in found), default=None),
        last_at=max((upload.created_at for upload, _name, _rows in found), default=None),
        lines=tuple(lines),
    )


def export_uploads(session: Session, person: Person) -> list[dict[str, object]]:
    """Each such file: its name, when it was uploaded and expires, and its rows with the number.
    UploadsNotChecked while a file cannot be read now (the export would miss it)."""
    uploads = _matching_uploads(session, person)
    if uploads.busy:
        raise UploadsNotChecked(_(EXPORT_WAITS))
    return [
        {"filename": filename, "created_at": _iso(upload.created_at), "expires_at": _iso(upload.expires_at), "rows": rows}
        for upload, filename, rows in uploads.found
    ]


def erase_uploads(session: Session, person: Person, *, limit: int, now: datetime) -> int:
    """Delete the uploaded files that list the person's number (the user uploads theirs again).
    UploadsNotChecked while a file cannot be read now: the erasure stops there, resumable."""
    uploads = _matching_uploads(session, person)
    if uploads.busy:
        raise UploadsNotChecked(_(ERASURE_WAITS))
    ids = [upload.id for upload, _name, _rows in uploads.found][:limit]
    if not ids:
        return 0
    return rowcount(session.execute(
        delete(ImportUpload).where(owned_by(ImportUpload, person.account_id), col(ImportUpload.id).in_(ids))
    ))
