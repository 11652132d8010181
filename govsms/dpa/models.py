"""Tables of the DPA domain: the sub-processor registry, each account's signatory details, and
every generated version of its agreement."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, LargeBinary, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from govsms.db import UTCDateTime
from govsms.keys.crypto import SealedField
from govsms.tenancy import AccountOwned


class SubProcessor(SQLModel, table=True):
    """A company the provider engages to process customers' personal data (Annex IV). Edited by
    the operator; removed ones are kept with ``removed_at`` so old versions stay explainable."""

    __tablename__ = "subprocessor"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    org_number: str = Field(default="", max_length=40)
    country: str = Field(max_length=2)
    """ISO 3166 code of where it processes the data (the EU/EEA test is made on it)."""
    city: str = Field(default="", max_length=100)
    purpose: str = Field(max_length=500)
    """What it does with the data, in the provider's words (printed as given)."""
    safeguard: str = Field(default="", max_length=300)
    """Outside the EU/EEA: the Chapter V safeguard of the transfer (an adequacy decision, the
    Commission's standard contractual clauses ...); required there, empty inside."""
    added_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    effective_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    """When it takes effect: a new one 30 days after it was added (DPA clause 6.2, the notice that
    lets customers object); until then Annex IV names it "from" that date and admins see a banner."""
    removed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))


class DpaDetails(SQLModel, table=True):
    """What the customer's admin filled in for Annex I: signatory, contact person and DPO. Names
    and contact details of people, so sealed under the account's data key."""

    __tablename__ = "dpa_details"

    account_id: int = Field(foreign_key="account.id", primary_key=True)
    details_ct: bytes = Field(sa_column=Column(LargeBinary(), nullable=False))
    updated_by: str = Field(max_length=40)
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class DpaVersion(AccountOwned, table=True):
    """One generated agreement, kept for good: the annexes as they were (in clear: no personal
    data), the filled-in details and the PDF (sealed), and the PDF's SHA-256."""

    __tablename__ = "dpa_version"
    __table_args__ = (UniqueConstraint("account_id", "number"),)

    id: int | None = Field(default=None, primary_key=True)
    number: int
    """1, 2, 3 ... within the account."""
    language: str = Field(max_length=2)
    template_version: str = Field(max_length=20)
    annexes: str = Field(sa_column=Column(Text(), nullable=False))
    """Canonical JSON of what the annexes said (parties' organisations, data categories and
    storage times, measures, sub-processors): compared with today's to tell what changed."""
    annexes_sha256: str = Field(max_length=64)
    details_ct: bytes = Field(sa_column=Column(LargeBinary(), nullable=False))
    content_sha256: str = Field(max_length=64)
    """SHA-256 of the document's text as rendered (printed in its footer)."""
    pdf_ct: bytes = Field(sa_column=Column(LargeBinary(), nullable=False))
    pdf_sha256: str = Field(max_length=64)
    """SHA-256 of the PDF file: what the audit events carry and what a downloaded copy hashes to."""
    created_by: str = Field(max_length=40)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    accepted_by: str | None = Field(default=None, max_length=40)
    accepted_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    acceptance_ct: bytes | None = Field(default=None, sa_column=Column(LargeBinary(), nullable=True))
    """Name and title of who accepted, sealed."""


# Sealed columns: the table and column names are part of every stored value's associated data.
DPA_DETAILS = SealedField("dpa_details", "details")
"""``DpaDetails.details_ct`` (JSON): under the account's data key, bound to the account (its
row's key)."""
DPA_VERSION_DETAILS = SealedField("dpa_version", "details")
"""``DpaVersion.details_ct`` (JSON): under the account's data key, bound to the version's
``number``."""
DPA_VERSION_PDF = SealedField("dpa_version", "pdf")
"""``DpaVersion.pdf_ct``: likewise."""
DPA_VERSION_ACCEPTANCE = SealedField("dpa_version", "acceptance")
"""``DpaVersion.acceptance_ct`` (JSON): likewise."""
