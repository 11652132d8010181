"""The table of data-subject erasures: one row per erasure, its progress (counts per table,
updated in the same transaction as each batch, so an interrupted erasure resumes) and, once done,
its signed receipt."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Column, Index, Integer, LargeBinary, Text
from sqlmodel import Field

from govsms.db import UTCDateTime
from govsms.tenancy import AccountOwned

RUNNING, DONE = "running", "done"


class SubjectErasure(AccountOwned, table=True):
    """An erasure of one person's data in one account (GDPR Art. 17). No number: the person is
    named by the blind index of their number under the account's index key (and their subject
    id, whose key the erasure shreds)."""

    __tablename__ = "subject_erasure"
    __table_args__ = (Index("ix_subject_erasure_account_status", "account_id", "status"),)

    id: int | None = Field(default=None, primary_key=True)
    request_id: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    """The data-subject request (``subject_request.id``) the erasure answers."""
    subject_id: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    """The subject whose key the erasure shreds; None when the account held no key for the number."""
    blind_index: bytes = Field(sa_column=Column(LargeBinary(16), nullable=False))
    unblock: bool = Field(default=False, sa_column=Column(Boolean, nullable=False, default=False))
    """The person asked to be unblocked too: the blocklist entry goes as well."""
    status: str = Field(default=RUNNING, max_length=10)
    counts: str = Field(default="{}", sa_column=Column(Text, nullable=False, default="{}"))
    """JSON: table -> rows erased so far."""
    actor: str = Field(max_length=40)
    started_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    finished_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    receipt: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    """The receipt's canonical JSON (``govsms.subjects.receipt``), once done."""
    signature: bytes | None = Field(default=None, sa_column=Column(LargeBinary(64), nullable=True))
    """Ed25519 under the audit signing key, over ``receipt``."""
