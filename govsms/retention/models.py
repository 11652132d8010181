"""The provider's storage-time limits, where the operator changed a category's default, and each
account's own shorter choices."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, LargeBinary, UniqueConstraint
from sqlmodel import Column, Field, SQLModel

from govsms.db import UTCDateTime
from govsms.tenancy import AccountOwned


class RetentionLimit(SQLModel, table=True):
    """The operator's maximum storage time of one data category (see ``categories``)."""

    __tablename__ = "retention_limit"

    category: str = Field(primary_key=True, max_length=40)
    days: int | None = Field(default=None)
    """``None``: until the customer deletes the data (where the category allows it)."""
    updated_by: str = Field(max_length=40)
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class RetentionChoice(AccountOwned, table=True):
    """An account's own storage time of one data category, chosen by its admin or DPO: shorter
    than the provider's maximum or equal to it. The time in force is this capped by the maximum
    (``service.storage_time_in_force``), so a later, lower maximum wins without touching it."""

    __tablename__ = "retention_choice"
    __table_args__ = (UniqueConstraint("account_id", "category"),)

    id: int | None = Field(default=None, primary_key=True)
    category: str = Field(max_length=40)
    days: int
    """Whole days from the moment the category counts from."""
    updated_by: str = Field(max_length=40)
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class LegalHold(AccountOwned, table=True):
    """A legal hold placed by the account's DPO: until ``until`` (inclusive) the purge deletes
    nothing of the account (``blind_index`` empty) or nothing of one number (its blind index under
    the account's index key; the number itself is not stored)."""

    __tablename__ = "legal_hold"

    id: int | None = Field(default=None, primary_key=True)
    blind_index: bytes | None = Field(default=None, sa_column=Column(LargeBinary(16), nullable=True))
    reason: str = Field(max_length=200)
    until: date = Field(sa_column=Column(Date(), nullable=False))
    created_by: str = Field(max_length=40)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
