"""Importing a CSV or XLSX file of numbers and names: a preview that lists every bad row and
duplicate before anything is written, then the import into a group in one transaction."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlmodel import Session, col

from govsms.auth import Actor, Permission, require
from govsms.audit.actions import Action
from govsms.audit.record import record_event
from govsms.contacts.filereader import read_contact_file
from govsms.contacts.groups import _insert_members, create_group, get_group
from govsms.contacts.limits import UploadLimits
from govsms.contacts.models import CONTACT_NAME, CONTACT_NUMBER, UPLOAD_CONTENT, UPLOAD_FILENAME, Contact, ImportUpload
from govsms.contacts.service import MAX_NAME
from govsms.accounts.service import account_region
from govsms.keys.crypto import DecryptionError, SealedField, seal, unseal
from govsms.db import bulk_insert, one_of, rowcount, table_of
from govsms.errors import InvalidInput, NotFound
from govsms.i18n import _
from govsms.keys.store import DATA_PURPOSE, vault_of
from govsms.phone import parse_recipient
from govsms.tenancy import delete_scoped, owned_by, scoped
from govsms.textfield import printable
from govsms.audit.unreadable import ALTERED, UnreadableRow, record_unreadable

CHUNK = 5000
UPLOAD_LIFETIME = timedelta(hours=1)
UPLOAD_TOKEN = re.compile(r"[0-9a-f]{32}")  # secrets.token_hex(16)


@dataclass(frozen=True, slots=True)
class ImportRow:
    row_number: int
    number: str
    name: str


@dataclass(frozen=True, slots=True)
class RefusedRow:
    row_number: int
    input: str
    reason: str


@dataclass(frozen=True, slots=True)
class DuplicateRow:
    row_number: int
    input: str
    first_row: int


@dataclass
class ImportPlan:
    """What an import would do; computed without writing anything."""

    filename: str
    file_format: str
    number_column: str
    name_column: str | None
    rows_total: int
    valid: list[ImportRow] = field(default_factory=list)
    invalid: list[RefusedRow] = field(default_factory=list)
    duplicates: list[DuplicateRow] = field(default_factory=list)
    warnings: list[RefusedRow] = field(default_factory=list)
    """Valid rows whose number may not get SMS (landline and mobile alike in its country, VoIP...):
    imported, with the reason shown."""
    existing: int = 0
    existing_subjects: list[int] = field(default_factory=list)
    """The people among the valid rows who are contacts already (named in the access log)."""


@dataclass(frozen=True)
class ImportResult:
    group_id: int
    created: int
    existing: int
    in_group: int
    invalid: int
    duplicates: int


def plan_import(
    session: Session, actor: Actor, filename: str, content: bytes, *, now: datetime, limits: UploadLimits | None = None
) -> ImportPlan:
    require(actor, Permission.CONTACTS)
    parsed = read_contact_file(filename, content, limits)
    region = account_region(session, actor)
    plan = ImportPlan(
        filename=filename, file_format=parsed.format, number_column=parsed.number_column,
        name_column=parsed.name_column, rows_total=len(parsed.rows),
    )
    first_row: dict[str, int] = {}
    for row in parsed.rows:
        number = parse_recipient(row.number, region)  # landlines and the like are refused with a reason
        if number.e164 is None:
            plan.invalid.append(RefusedRow(row.row_number, row.number, number.reason or ""))
        elif number.e164 in first_row:
            plan.duplicates.append(DuplicateRow(row.row_number, row.number, first_row[number.e164]))
        else:
            first_row[number.e164] = row.row_number
            plan.valid.append(ImportRow(row.row_number, number.e164, printable(row.name)[:MAX_NAME]))
            if number.warning:
                plan.warnings.append(RefusedRow(row.row_number, row.number, number.warning))
    known = vault_of(session).find_subjects(session, actor.account_id, list(first_row), now=now)
    subject_ids = [subject.id for subject in known.values()]
    for start in range(0, len(subject_ids), CHUNK):
        plan.existing_subjects.extend(
            session.execute(
                select(col(Contact.subject_id)).where(
                    owned_by(Contact, actor),
                    one_of(col(Contact.subject_id), subject_ids[start : start + CHUNK], session.get_bind().dialect.name),
                )
            ).scalars().all()
        )
    plan.existing = len(plan.existing_subjects)
    record_checked(session, actor, plan, now=now)
    return plan


def record_checked(session: Session, actor: Actor, plan: ImportPlan, *, now: datetime) -> None:
    """The plan's count of numbers that are contacts already tells which people the account
    knows: showing it is a read, naming those people in the access log."""
    record_event(
        session, actor, Action.CONTACTS_IMPORT_CHECKED, now=now, subjects=plan.existing_subjects,
        details={"rows": plan.rows_total, "valid": len(plan.valid), "existing": plan.existing},
    )


def run_import(
    session: Session, actor: Actor, plan: ImportPlan, *, now: datetime, group_id: int | None = None, group_name: str | None = None
) -> ImportResult:
    """Write the plan: new contacts, all valid rows into the group; one transaction, Core in chunks."""
    require(actor, Permission.CONTACTS)
    if not plan.valid:
        raise InvalidInput(_("The file has no valid numbers to import."))
    if group_id is not None:
        group = get_group(session, actor, group_id)
    elif group_name and group_name.strip():
        group = create_group(session, actor, name=group_name, now=now)
    else:
        raise InvalidInput(_("Choose a group to import into, or name a new one."), fields={"group": _("Choose a group.")})
    subjects = vault_of(session).subjects(session, actor.account_id, [row.number for row in plan.valid], now=now)
    table = table_of(Contact)
    dialect = session.get_bind().dialect.name
    contact_of: dict[int, int] = {}
    subject_ids = [subject.id for subject in subjects.values()]
    for start in range(0, len(subject_ids), CHUNK):
        contact_of.update(
            session.execute(
                select(table.c.subject_id, table.c.id).where(
                    owned_by(table, actor),
                    one_of(table.c.subject_id, subject_ids[start : start + CHUNK], dialect),
                )
            ).tuples().all()
        )
    existing = len(contact_of)
    new_rows = []
    for row in plan.valid:
        subject = subjects[row.number]
        if subject.id in contact_of:
            continue
        new_rows.append(
            {
                "account_id": actor.account_id,
                "subject_id": subject.id,
                "number_ct": subject.seal(CONTACT_NUMBER, row.number),
                "name_ct": subject.seal(CONTACT_NAME, row.name) if row.name else None,
                "note_ct": None,
                "created_at": now,
                "updated_at": now,
            }
        )
    new_subjects = [row["subject_id"] for row in new_rows]
    for start in range(0, len(new_rows), CHUNK):
        # COPY (or executemany) and one select back: several times faster than INSERT ... RETURNING.
        # Conflict-free: a contact another import creates meanwhile is skipped, never refused by
        # the database (whose log would quote the row).
        bulk_insert(session, table, new_rows[start : start + CHUNK], ignore_conflicts=True)
        contact_of.update(
            session.execute(
                select(table.c.subject_id, table.c.id).where(
                    owned_by(table, actor), one_of(table.c.subject_id, new_subjects[start : start + CHUNK], dialect)
                )
            ).tuples().all()
        )
    _insert_members(session, [{"group_id": group.id, "contact_id": contact_id, "added_at": now} for contact_id in contact_of.values()])
    record_event(
        session, actor, Action.CONTACTS_IMPORTED, now=now, target=("group", group.id), subjects=subject_ids,
        details={"created": len(new_rows), "existing": existing, "invalid": len(plan.invalid), "duplicates": len(plan.duplicates)},
    )
    return ImportResult(
        group_id=group.id,
        created=len(new_rows),
        existing=existing,
        in_group=len(contact_of),
        invalid=len(plan.invalid),
        duplicates=len(plan.duplicates),
    )


# -- the uploaded file between preview and confirmation ------------------------------------------


def _upload_context(field: SealedField, account_id: int, token: str) -> bytes:
    # An upload's id is a token, not a number: bound to owner 0, then the token.
    return field.context(account_id, 0) + token.encode()


def store_upload(session: Session, actor: Actor, filename: str, content: bytes, *, now: datetime) -> str:
    """Keep the file (encrypted under the account key) until the user confirms; returns a token."""
    require(actor, Permission.CONTACTS)
    key = vault_of(session).account_key(session, actor.account_id, DATA_PURPOSE, now=now)
    token = secrets.token_hex(16)
    session.add(
        ImportUpload(
            id=token,
            account_id=actor.account_id,
            created_by=actor.label,
            filename_ct=seal(key, filename.encode(), _upload_context(UPLOAD_FILENAME, actor.account_id, token)),
            content_ct=seal(key, content, _upload_context(UPLOAD_CONTENT, actor.account_id, token)),
            created_at=now,
            expires_at=now + UPLOAD_LIFETIME,
        )
    )
    session.flush()
    return token


class UploadUnreadable(InvalidInput):
    """The kept file does not decrypt (altered in the database): the user uploads it again."""

    def __init__(self) -> None:
        message = _("The uploaded file cannot be read any more; upload it again.")
        super().__init__(message, fields={"file": message}, recorded=True)


def unseal_upload(key: bytes, upload: ImportUpload) -> tuple[str, bytes]:
    """An upload's file name and content, opened with its account's data key (``key``). Raises
    DecryptionError (altered) or UnicodeDecodeError (a name that is not text)."""
    filename = unseal(key, upload.filename_ct, _upload_context(UPLOAD_FILENAME, upload.account_id, upload.id)).decode()
    return filename, unseal(key, upload.content_ct, _upload_context(UPLOAD_CONTENT, upload.account_id, upload.id))


def load_upload(session: Session, actor: Actor, token: str, *, now: datetime, writer: Session | None = None) -> tuple[str, bytes]:
    """The file and its name. ``writer``: where the ``data.unreadable`` event of a file that
    cannot be read is written when ``session`` only reads (then ``UploadUnreadable``, 422)."""
    require(actor, Permission.CONTACTS)
    if not UPLOAD_TOKEN.fullmatch(token):  # never one of ours; and PostgreSQL refuses a NUL in a query
        raise NotFound(_("This upload has expired or does not exist. Upload the file again."))
    upload = session.execute(
        scoped(ImportUpload, actor).where(col(ImportUpload.id) == token)
    ).scalars().first()
    if upload is None or upload.expires_at <= now:
        raise NotFound(_("This upload has expired or does not exist. Upload the file again."))
    key = vault_of(session).account_key(session, actor.account_id, DATA_PURPOSE, now=now)
    try:
        return unseal_upload(key, upload)
    except (DecryptionError, UnicodeDecodeError):
        # The event names the upload by its token (no file name, no content).
        row = UnreadableRow("import_upload", token, None, ALTERED)
        record_unreadable(writer or session, actor, [row], now=now)
        raise UploadUnreadable() from None


def discard_upload(session: Session, actor: Actor, token: str) -> None:
    session.execute(delete_scoped(ImportUpload, actor).where(col(ImportUpload.id) == token))


def purge_expired_uploads(session: Session, *, now: datetime) -> int:
    return rowcount(session.execute(delete(ImportUpload).where(col(ImportUpload.expires_at) <= now)))
