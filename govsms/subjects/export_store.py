"""What the registry does with the request register's and the access exports' rows about one
person: find, export, erase, and the purge of exports past their 30 days. Light on imports
(no PDF renderer): ``personal_data`` declares these and the registry imports that."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, or_, update
from sqlalchemy.sql import ColumnElement
from sqlmodel import Session, col, select

from govsms.clock import SYSTEM_CLOCK
from govsms.db import rowcount
from govsms.i18n import _
from govsms.keys.crypto import DecryptionError, unseal_field
from govsms.keys.store import DATA_PURPOSE, vault_of
from govsms.personal_data import Found, Person
from govsms.subjects.erasure_models import SubjectErasure
from govsms.subjects.models import REQUEST_NOTES, SubjectExport, SubjectRequest
from govsms.tenancy import owned_by


def purge_expired_exports(session: Session, *, now: datetime) -> int:
    """Access exports past their 30 days go (any account's: the purge job runs it)."""
    return rowcount(session.execute(delete(SubjectExport).where(col(SubjectExport.expires_at) <= now)))


def _exports_of(person: Person) -> ColumnElement[bool]:
    """The person's exports: by their subject, or by their number's blind index (an export made
    while the account held no key for the number has no subject)."""
    by_index = col(SubjectExport.blind_index) == person.blind_index
    if person.subject_id is None:
        return by_index
    return or_(col(SubjectExport.subject_id) == person.subject_id, by_index)


def find_exports(session: Session, person: Person) -> Found | None:
    count, first, last = session.execute(
        select(func.count(), func.min(SubjectExport.created_at), func.max(SubjectExport.created_at)).where(
            owned_by(SubjectExport, person.account_id), _exports_of(person),
        )
    ).one()
    return Found("subject_export", count, first, last, (_("Access exports kept for download: %(n)d") % {"n": count},)) if count else None


def export_exports(session: Session, person: Person) -> list[dict[str, object]]:
    """Earlier exports are listed, not nested (each holds what this one holds)."""
    rows = session.execute(
        select(SubjectExport.id, SubjectExport.sha256, SubjectExport.created_at, SubjectExport.expires_at).where(
            owned_by(SubjectExport, person.account_id), _exports_of(person),
        ).order_by(col(SubjectExport.created_at))
    ).all()
    return [
        {"sha256": row.sha256, "created_at": row.created_at.isoformat(), "expires_at": row.expires_at.isoformat()}
        for row in rows
    ]


def erase_exports(session: Session, person: Person, *, limit: int, now: datetime) -> int:
    """An erasure deletes the person's exports kept for download (by subject or by blind index)."""
    ids = session.execute(
        select(SubjectExport.id).where(owned_by(SubjectExport, person.account_id), _exports_of(person)).limit(limit)
    ).scalars().all()
    if not ids:
        return 0
    return rowcount(session.execute(delete(SubjectExport).where(col(SubjectExport.id).in_(ids))))


def _requests_of(person: Person, *, erasures: bool = True) -> ColumnElement[bool]:
    """The person's requests: linked to their subject, or answered by an export (or, with
    ``erasures``, an erasure) of their number's blind index: a person without a key has no subject
    to link. (Once erased, the person's search shows no request: the register keeps the erasure's
    request, with nothing written about them, as proof.)"""
    linked: list[ColumnElement[bool]] = [
        col(SubjectRequest.id).in_(select(SubjectExport.request_id).where(
            owned_by(SubjectExport, person.account_id), col(SubjectExport.blind_index) == person.blind_index,
        )),
    ]
    if erasures:
        linked.append(col(SubjectRequest.id).in_(select(SubjectErasure.request_id).where(
            owned_by(SubjectErasure, person.account_id), col(SubjectErasure.blind_index) == person.blind_index,
        )))
    if person.subject_id is not None:
        linked.append(col(SubjectRequest.subject_id) == person.subject_id)
    return or_(*linked)


def find_requests(session: Session, person: Person) -> Found | None:
    rows = session.execute(
        select(SubjectRequest.reference, SubjectRequest.created_at).where(
            owned_by(SubjectRequest, person.account_id), _requests_of(person, erasures=False),
        ).order_by(col(SubjectRequest.created_at))
    ).all()
    if not rows:
        return None
    return Found(
        "subject_request", len(rows), rows[0].created_at, rows[-1].created_at,
        tuple(_("Request %(reference)s") % {"reference": row.reference} for row in rows),
    )


def erase_requests(session: Session, person: Person, *, limit: int, now: datetime) -> int:
    """An erasure removes what the DPO wrote about the person from their requests: the notes and
    the extension's reason. The rest stays (reference, kind, dates, status, links): the register
    proves that the request was handled (GDPR Art. 5(2)). Returns how many requests lost text."""
    ids = session.execute(
        select(SubjectRequest.id).where(
            owned_by(SubjectRequest, person.account_id), _requests_of(person),
            col(SubjectRequest.notes_ct).is_not(None) | col(SubjectRequest.extension_reason).is_not(None),
        ).limit(limit)
    ).scalars().all()
    if not ids:
        return 0
    return rowcount(session.execute(
        update(SubjectRequest).where(col(SubjectRequest.id).in_(ids)).values(notes_ct=None, extension_reason=None, updated_at=now)
    ))


def export_requests(session: Session, person: Person) -> list[dict[str, object]]:
    """The person's requests in the register, with the DPO's notes decrypted."""
    rows = session.exec(
        select(SubjectRequest).where(owned_by(SubjectRequest, person.account_id), _requests_of(person, erasures=False)).order_by(col(SubjectRequest.id))
    ).all()
    key = vault_of(session).account_key(session, person.account_id, DATA_PURPOSE, now=SYSTEM_CLOCK.now()) if rows else b""
    records: list[dict[str, object]] = []
    for row in rows:
        notes: str | None = None
        if row.notes_ct:
            assert row.id is not None
            try:
                notes = unseal_field(key, REQUEST_NOTES, row.account_id, row.id, row.notes_ct).decode()
            except DecryptionError:
                notes = None
        records.append({
            "reference": row.reference, "kind": row.kind, "status": row.status,
            "received_on": row.received_on.isoformat(), "due_on": row.due_on.isoformat(),
            "extended_until": row.extended_until.isoformat() if row.extended_until else None,
            "extension_reason": row.extension_reason, "notes": notes,
        })
    return records
