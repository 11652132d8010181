"""The request register's and the access exports' tables (the erasures' are in ``erasure``)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, Index, LargeBinary, UniqueConstraint
from sqlmodel import Column, Field

from govsms.db import UTCDateTime
from govsms.keys.crypto import SealedField
from govsms.tenancy import AccountOwned


class SubjectRequest(AccountOwned, table=True):
    """One data-subject request (GDPR Art. 15-21) as the DPO registered it: its reference
    (``DSR-<year>-<seq>``, unique in the account), kind, dates, status and what answered it."""

    __tablename__ = "subject_request"
    __table_args__ = (
        UniqueConstraint("account_id", "reference"),
        Index("ix_subject_request_account_status_due", "account_id", "status", "due_on"),
    )

    id: int | None = Field(default=None, primary_key=True)
    reference: str = Field(max_length=20)
    kind: str = Field(max_length=20)
    """access, erasure, rectification or objection."""
    status: str = Field(max_length=20)
    """open, extended, done or refused."""
    received_on: date = Field(sa_column=Column(Date(), nullable=False))
    due_on: date = Field(sa_column=Column(Date(), nullable=False))
    """One calendar month after ``received_on`` (the last day of a shorter month)."""
    extended_until: date | None = Field(default=None, sa_column=Column(Date(), nullable=True))
    """Two more months from ``due_on``, once, with a reason (Art. 12(3))."""
    extension_reason: str | None = Field(default=None, max_length=200)
    subject_id: int | None = Field(default=None, index=True)
    """The person's data subject, once a search, export or erasure found them (none: no key)."""
    export_id: str | None = Field(default=None, max_length=43)
    erasure_id: int | None = Field(default=None)
    notes_ct: bytes | None = Field(default=None, sa_column=Column(LargeBinary(), nullable=True))
    """The DPO's notes, sealed under the account's data key (``REQUEST_NOTES``)."""
    created_by: str = Field(max_length=40)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    closed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))


class SubjectExport(AccountOwned, table=True):
    """One access export (the ZIP handed to the person), sealed under the account's data key and
    kept for download until ``expires_at`` (30 days), then purged."""

    __tablename__ = "subject_export"
    __table_args__ = (Index("ix_subject_export_account_blind_index", "account_id", "blind_index"),)

    id: str = Field(primary_key=True, max_length=43)
    """A random URL-safe token (the download's address)."""
    request_id: int = Field(foreign_key="subject_request.id", index=True)
    subject_id: int | None = Field(default=None, index=True)
    blind_index: bytes | None = Field(default=None, sa_column=Column(LargeBinary(16), nullable=True))
    """The blind index of the person's number under the account's index key: an erasure finds the
    export by it when the account held no key for the number (None: made before it was stored)."""
    sha256: str = Field(max_length=64)
    content_ct: bytes = Field(sa_column=Column(LargeBinary(), nullable=False))
    language: str = Field(max_length=5)
    created_by: str = Field(max_length=40)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))


# Sealed columns: the table and column names are part of every stored value's associated data.
REQUEST_NOTES = SealedField("subject_request", "notes")
"""``SubjectRequest.notes_ct``: under the account's data key, bound to the request."""
EXPORT_CONTENT = SealedField("subject_export", "content")
"""``SubjectExport.content_ct``: under the account's data key, bound to the export's request (the
row's ``sha256`` binds it to the row: a ZIP moved from another export of the request is refused)."""
