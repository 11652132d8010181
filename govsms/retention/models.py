"""The provider's storage-time limits, where the operator changed a category's default."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Column, Field, SQLModel

from govsms.db import UTCDateTime


class RetentionLimit(SQLModel, table=True):
    """The operator's maximum storage time of one data category (see ``categories``)."""

    __tablename__ = "retention_limit"

    category: str = Field(primary_key=True, max_length=40)
    days: int | None = Field(default=None)
    """``None``: until the customer deletes the data (where the category allows it)."""
    updated_by: str = Field(max_length=40)
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
