"""Tables of the sending domain: prices, virtual numbers, verified sender numbers, the blocklist,
dispatches, messages."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Column, Date, Index, Integer, LargeBinary, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from govsms.db import UTCDateTime
from govsms.keys.crypto import SealedField
from govsms.sending.status import MessageStatus
from govsms.tenancy import AccountOwned


class Price(SQLModel, table=True):
    """What one SMS part to a country costs, in minor units (öre). Edited by the operator."""

    __tablename__ = "price"

    country: str = Field(primary_key=True, max_length=2)
    """ISO 3166 region of the destination number (SE, NO, ...)."""
    per_part_minor: int
    currency: str = Field(default="SEK", max_length=3)
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class VirtualNumber(AccountOwned, table=True):
    """A number of the provider's that the operator assigned to one account: it may send from
    it and receive on it. The organisation's own number, not a data subject's."""

    __tablename__ = "virtual_number"

    number: str = Field(primary_key=True, max_length=16)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class BlockEntry(AccountOwned, table=True):
    """A blocked number of one account, as its blind index only: the list holds no number."""

    __tablename__ = "block_entry"
    __table_args__ = (UniqueConstraint("account_id", "blind_index"),)

    id: int | None = Field(default=None, primary_key=True)
    blind_index: bytes = Field(sa_column=Column(LargeBinary(16), nullable=False))
    source: str = Field(max_length=10)
    """``link`` (opt-out page), ``manual`` (UI), ``api`` or ``stop`` (STOP reply)."""
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class Dispatch(AccountOwned, table=True):
    """One send order: one text to many recipients."""

    __tablename__ = "dispatch"
    __table_args__ = (UniqueConstraint("account_id", "idempotency_key"),)

    id: int | None = Field(default=None, primary_key=True)
    created_by: str = Field(max_length=40)
    channel: str = Field(default="ui", max_length=10)
    sender: str | None = Field(default=None, max_length=16)
    """What the customer chose, when it is no one's personal number: a text sender, 72323, or a
    virtual number of the account. None: a mobile number, sealed in ``sender_ct``."""
    sender_subject_id: int | None = Field(default=None, index=True)
    """The mobile-number sender's data subject (its key seals ``sender_ct``; erasing it shreds it);
    indexed: the data-subject search finds the dispatches sent from a person's number."""
    sender_ct: bytes | None = Field(default=None, sa_column=Column(LargeBinary(), nullable=True))
    """The mobile-number sender (E.164), AES-GCM under its subject's key, bound to this dispatch."""
    text_ct: bytes = Field(sa_column=Column(LargeBinary(), nullable=False))
    """The text, AES-GCM under the account's data key."""
    encoding: str = Field(max_length=5)
    parts: int
    """Parts per message (the opt-out link included)."""
    accepted: int
    blocked: int
    invalid: int
    cost_minor: int
    currency: str = Field(default="SEK", max_length=3)
    status: str = Field(max_length=10, index=True)
    """A ``DispatchStatus``: ``scheduled``, ``queued``, ``cancelled``."""
    send_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    idempotency_key: str | None = Field(default=None, max_length=100)
    request_hash: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class OutboundMessage(SQLModel, table=True):
    """One SMS to one recipient; the recipient's number is encrypted under their own key."""

    __tablename__ = "outbound_message"
    __table_args__ = (
        Index("ix_outbound_message_due", "status", "due_at"),
        Index("ix_outbound_message_account_created", "account_id", "created_at"),
        Index("ix_outbound_message_dispatch_status", "dispatch_id", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    dispatch_id: int
    """Indexed with ``status`` (``ix_outbound_message_dispatch_status``): a dispatch's messages,
    and whether it has one in a status (the history's state filter) in one probe.
    No foreign keys on this table: its rows are written only by ``create_dispatch``, in the
    transaction that creates their dispatch, and a 100,000-message dispatch would pay a check
    per row and key (a third of the database's work). Retention deletes messages before their
    dispatch."""
    account_id: int
    """The dispatch's account, copied for scoping every query; indexed with ``created_at`` (an
    account's messages by time: the statistics' roll-up, a day's list, the purge), an index that
    serves a lookup by account alone too."""
    subject_id: int = Field(index=True)
    recipient_ct: bytes = Field(sa_column=Column(LargeBinary(), nullable=False))
    sender: str | None = Field(default=None, max_length=16)
    """The resolved sender of this message (72323, 1963 or 4560991000 by country). None: the
    dispatch's sealed mobile-number sender, opened by the worker once per dispatch."""
    sender_kind: str = Field(max_length=12)
    country: str = Field(max_length=2)
    parts: int
    cost_minor: int
    status: str = Field(max_length=10)
    """A ``MessageStatus``: ``scheduled``, ``queued``, ``sending``, ``sent``, ``delivered``, ``failed``, ``expired``,
    ``unknown`` (sent, no delivery report within ``message_unknown_hours``), ``blocked`` (blocked
    after queueing: cost 0), ``cancelled``."""
    reason: str | None = Field(default=None, max_length=40)
    """A code for failures (``smpp:0x0b``, ``blocked``); never text."""
    optout_token: str | None = Field(default=None, sa_column=Column(String(16), unique=True, nullable=True))
    attempts: int = Field(default=0)
    due_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    claimed_by: str | None = Field(default=None, max_length=40)
    claim_expires_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    submitted_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    done_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class SenderNumber(SQLModel, table=True):
    """A mobile number the account may send from once its owner typed the code we sent to it by
    SMS. The number is sealed under its subject's key and found by its blind index."""

    __tablename__ = "sender_number"
    __table_args__ = (UniqueConstraint("account_id", "blind_index"),)

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id")
    """Searched through the unique (account_id, blind_index) index."""
    subject_id: int
    blind_index: bytes = Field(sa_column=Column(LargeBinary(16), nullable=False))
    number_ct: bytes = Field(sa_column=Column(LargeBinary(), nullable=False))
    verified_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    """None until the code was typed: only a verified number can be a sender."""
    code_hash: bytes | None = Field(default=None, sa_column=Column(LargeBinary(32), nullable=True))
    """HMAC of the code now valid (under an account key of its own), never the code."""
    code_expires_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    code_attempts: int = Field(default=0)
    """Wrong codes typed against the code now valid."""
    codes_sent: int = Field(default=0)
    """Codes sent since ``window_started_at`` (a limit per day and number)."""
    window_started_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    code_sent_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class MessagePart(SQLModel, table=True):
    """The SMSC's id of each submitted part, so delivery reports find their message."""

    __tablename__ = "message_part"

    provider_id: str = Field(primary_key=True, max_length=80)
    message_id: int = Field(sa_column=Column(Integer, nullable=False, index=True))
    part: int | None = Field(default=None)
    """0-based part of the message; None when the id stands for the whole message (a provider
    that splits it itself)."""
    status: str = Field(default=MessageStatus.SENT, max_length=10)


class PendingReport(SQLModel, table=True):
    """A delivery report that came before its part was recorded (another worker's receipt, a
    provider's webhook faster than the worker's commit); applied once the part exists."""

    __tablename__ = "pending_report"

    provider_id: str = Field(primary_key=True, max_length=80)
    status: str = Field(max_length=10)
    received_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))



class StatisticsDay(AccountOwned, table=True):
    """What one account sent on one day (in the account's time zone), by country, sender kind and
    status: counts and cost only, no numbers or texts, so it outlives the messages it sums
    (retention category ``statistics``). Written by ``sending.statistics.roll_up``, which replaces
    a day's rows whole."""

    __tablename__ = "statistics_day"
    __table_args__ = (UniqueConstraint("account_id", "day", "country", "sender_kind", "status"),)

    id: int | None = Field(default=None, primary_key=True)
    day: date = Field(sa_column=Column(Date(), nullable=False))
    country: str = Field(max_length=2)
    """ISO 3166 region of the destination; empty for recipients refused as blocked when the
    dispatch was made (no message, no country)."""
    sender_kind: str = Field(max_length=12)
    """A ``SenderKind`` value; empty for recipients refused as blocked at the dispatch."""
    status: str = Field(max_length=10)
    """A ``MessageStatus`` value."""
    messages: int = 0
    parts: int = 0
    cost_minor: int = 0
    delivered: int = 0
    failed: int = 0
    """Failed or expired."""
    blocked: int = 0
    """Blocked after queueing, or refused as blocked when the dispatch was made."""


class StatisticsProgress(SQLModel, table=True):
    """How far one account's statistics are rolled up: every day up to ``rolled_through`` was
    rolled up after it ended; of those, the ``waiting_days`` (ISO dates, space-separated) still had
    a message waiting and are rolled up again on every run. A purge may delete the messages of the
    other days up to ``rolled_through``; ``complete_through`` is the last day up to which no day
    waits."""

    __tablename__ = "statistics_progress"

    account_id: int = Field(primary_key=True, foreign_key="account.id")
    complete_through: date | None = Field(default=None, sa_column=Column(Date(), nullable=True))
    rolled_through: date | None = Field(default=None, sa_column=Column(Date(), nullable=True))
    waiting_days: str = Field(default="", sa_column=Column(String(), nullable=False, server_default=""))
    checked_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    """When the account was last rolled up."""

class ReplyRoute(SQLModel, table=True):
    """Who sent last to a number from a shared reply number (72323, 1963, 4560991000): a reply
    from that number to that shared number goes to this account and message (issue 14). Keyed
    by the provider's blind index of the recipient (vault account 0's index key), so a reply is
    matched before its account is known; upserted by the outbox worker when it records a
    submitted batch; deleted once expired."""

    __tablename__ = "reply_route"

    number_index: bytes = Field(sa_column=Column(LargeBinary(16), primary_key=True))
    shared_number: str = Field(sa_column=Column(String(16), primary_key=True))
    account_id: int
    message_id: int
    sent_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))


# Sealed columns: the table and column names are part of every stored value's associated data.
DISPATCH_TEXT = SealedField("dispatch", "text")
"""``Dispatch.text_ct``: under the account's data key, bound to the dispatch."""
DISPATCH_SENDER = SealedField("dispatch", "sender")
"""``Dispatch.sender_ct``: under the sender's person's key, bound to the dispatch."""
MESSAGE_RECIPIENT = SealedField("outbound_message", "recipient")
"""``OutboundMessage.recipient_ct``: under the recipient's key, bound to the recipient
(``subject_id``), so a dispatch's messages are written without their ids."""
SENDER_NUMBER = SealedField("sender_number", "number")
"""``SenderNumber.number_ct``: under the number's person's key, bound to that person."""
