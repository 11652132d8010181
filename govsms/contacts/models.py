"""Tables of the contacts domain: contacts (encrypted under their subject's key), groups,
memberships, and uploaded import files waiting for confirmation."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, ForeignKey, Integer, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel

from govsms.db import UTCDateTime
from govsms.keys.crypto import SealedField
from govsms.tenancy import AccountOwned


class Contact(AccountOwned, table=True):
    """A person in an account's recipient register: one per number per account."""

    __tablename__ = "contact"
    __table_args__ = (UniqueConstraint("account_id", "subject_id"),)

    id: int | None = Field(default=None, primary_key=True)
    subject_id: int = Field(index=True)
    """The person (``subject_key.id``): their key encrypts the fields below."""
    number_ct: bytes = Field(sa_column=Column(LargeBinary(), nullable=False))
    """The E.164 number, AES-GCM under the subject key."""
    name_ct: bytes | None = Field(default=None, sa_column=Column(LargeBinary(), nullable=True))
    note_ct: bytes | None = Field(default=None, sa_column=Column(LargeBinary(), nullable=True))
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class ContactGroup(AccountOwned, table=True):
    """A named recipient list. Its name and description are free text a customer may fill with
    people's names, so both are sealed under the account's data key (``contacts.groups``)."""

    __tablename__ = "contact_group"
    __table_args__ = (UniqueConstraint("account_id", "name_index"),)

    id: int | None = Field(default=None, primary_key=True)
    name_index: bytes | None = Field(default=None, sa_column=Column(LargeBinary(16), nullable=True))
    """HMAC of the normalised name under the account's index key: one group per name and
    account, without the name. None only while a group named before sealing waits for it."""
    name_ct: bytes | None = Field(default=None, sa_column=Column(LargeBinary(), nullable=True))
    """The name, AES-GCM under the account's data key, bound to this row."""
    description_ct: bytes | None = Field(default=None, sa_column=Column(LargeBinary(), nullable=True))
    """The description, likewise; None when there is none."""
    clear_name: str | None = Field(default=None, max_length=100)
    """The name of a group made before names were sealed, until ``govsms db upgrade`` (or the
    next read) seals it; never written."""
    clear_description: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class GroupMember(SQLModel, table=True):
    __tablename__ = "group_member"

    group_id: int = Field(sa_column=Column(Integer, ForeignKey("contact_group.id", ondelete="CASCADE"), primary_key=True))
    contact_id: int = Field(
        sa_column=Column(Integer, ForeignKey("contact.id", ondelete="CASCADE"), primary_key=True, index=True)
    )
    added_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class ImportUpload(AccountOwned, table=True):
    """An uploaded file between preview and confirmation, encrypted under the account key.
    Deleted when imported, and by the clean-up job once it expires."""

    __tablename__ = "import_upload"

    id: str = Field(primary_key=True, max_length=32)
    created_by: str = Field(max_length=40)
    filename_ct: bytes = Field(sa_column=Column(LargeBinary(), nullable=False))
    content_ct: bytes = Field(sa_column=Column(LargeBinary(), nullable=False))
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))


# Sealed columns: the table and column names are part of every stored value's associated data.
CONTACT_NUMBER = SealedField("contact", "number")
"""``Contact.number_ct``: under the person's key, bound to the person (``subject_id``)."""
CONTACT_NAME = SealedField("contact", "name")
"""``Contact.name_ct``: likewise."""
CONTACT_NOTE = SealedField("contact", "note")
"""``Contact.note_ct``: likewise."""
GROUP_NAME = SealedField("contact_group", "name")
"""``ContactGroup.name_ct``: under the account's data key, bound to the group's row."""
GROUP_DESCRIPTION = SealedField("contact_group", "description")
"""``ContactGroup.description_ct``: likewise."""
UPLOAD_FILENAME = SealedField("import_upload", "filename")
"""``ImportUpload.filename_ct``: under the account's data key, bound to owner 0 and then the
upload's token (``contacts.importing``)."""
UPLOAD_CONTENT = SealedField("import_upload", "content")
"""``ImportUpload.content_ct``: likewise."""
