"""Tables of the audit log. Events are only ever inserted; the chain and checkpoints beside them
are written by the sealer, so no code path updates or deletes an event."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, Integer, LargeBinary, Text
from sqlmodel import Field, SQLModel

from govsms.db import UTCDateTime


class AuditEvent(SQLModel, table=True):
    """One action or one view of personal data. Details hold ids and counts, never personal data."""

    __tablename__ = "audit_event"
    # SQLite would otherwise reuse the number of a deleted last row; sequence numbers never repeat.
    # The target index finds a data-subject request's events by its reference (the auditor's filter).
    __table_args__ = (Index("ix_audit_event_target", "target_type", "target_id"), {"sqlite_autoincrement": True})

    seq: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    occurred_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
    account_id: int | None = Field(default=None, index=True)
    """The account whose data was touched; None for platform events."""
    actor: str = Field(max_length=40, index=True)
    """``user:12``, ``api_key:3`` or ``system``: an id, never a name or an address."""
    action: str = Field(max_length=40, index=True)
    target_type: str | None = Field(default=None, max_length=30)
    target_id: str | None = Field(default=None, max_length=40)
    request_id: str = Field(default="-", max_length=64)
    subject_ids: str = Field(default="[]", sa_column=Column(Text, nullable=False, default="[]"))
    """JSON list of the data subjects (``subject_key.id``) the event concerns: pseudonymous."""
    details: str = Field(default="{}", sa_column=Column(Text, nullable=False, default="{}"))
    """Canonical JSON of ids and counts."""
    mac: bytes | None = Field(default=None, sa_column=Column(LargeBinary(32), nullable=True))
    """HMAC-SHA256 of the event as written (all but its sequence number) under a key derived from
    the audit signing key: an event changed before it was sealed no longer matches it. Empty
    only on events written before issue 10 (chain format 1)."""


class AuditEventSubject(SQLModel, table=True):
    """Which events concern which subject: lets an auditor find every access to one number."""

    __tablename__ = "audit_event_subject"

    subject_id: int = Field(primary_key=True)
    seq: int = Field(primary_key=True, index=True)
    """Indexed on its own too: verify reads the links of a range of events, and pruning deletes them."""


class AuditChain(SQLModel, table=True):
    """The sealed hash of each event: SHA-256(previous hash || SHA-256(canonical event))."""

    __tablename__ = "audit_chain"

    seq: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    content_hash: bytes = Field(sa_column=Column(LargeBinary(32), nullable=False))
    chain_hash: bytes = Field(sa_column=Column(LargeBinary(32), nullable=False))


class AuditCheckpoint(SQLModel, table=True):
    """A signed statement "the chain up to ``seq`` ends in ``head_hash``" (Ed25519)."""

    __tablename__ = "audit_checkpoint"

    id: int | None = Field(default=None, primary_key=True)
    seq: int = Field(index=True)
    head_hash: bytes = Field(sa_column=Column(LargeBinary(32), nullable=False))
    signed_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    public_key: bytes = Field(sa_column=Column(LargeBinary(32), nullable=False))
    signature: bytes = Field(sa_column=Column(LargeBinary(64), nullable=False))


class AuditAnchor(SQLModel, table=True):
    """Where the access log starts after pruning: events up to ``seq`` were deleted, and the chain
    of the rest starts from ``head_hash`` (the chain hash of event ``seq``, as a signed checkpoint
    stated it). Signed with the audit key (``chain.anchor_message``: seq, head and ``signed_at``), so
    only the pruner, not a database writer, can move the start of the log. The newest anchor counts."""

    __tablename__ = "audit_anchor"

    id: int | None = Field(default=None, primary_key=True)
    seq: int = Field(sa_column=Column(Integer, nullable=False, unique=True))
    head_hash: bytes = Field(sa_column=Column(LargeBinary(32), nullable=False))
    signed_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    public_key: bytes = Field(sa_column=Column(LargeBinary(32), nullable=False))
    signature: bytes = Field(sa_column=Column(LargeBinary(64), nullable=False))
