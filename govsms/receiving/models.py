"""Tables of the receiving domain: inbound SMS, the parts of concatenated SMS waiting for the
rest, and the keywords that route SMS on a shared number (issue 14; the reply routes are in
``govsms.sending.models``: the outbox worker writes them)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, LargeBinary, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from govsms.db import UTCDateTime
from govsms.keys.crypto import SealedField
from govsms.tenancy import AccountOwned


class RoutedBy:
    """How an inbound SMS found its account (``InboundMessage.routed_by``)."""

    VIRTUAL = "virtual"
    KEYWORD = "keyword"
    REPLY = "reply"
    UNROUTED = "unrouted"


class InboundMessage(SQLModel, table=True):
    """One received SMS (a concatenated one joined), in the account it was routed to; unrouted
    SMS belong to the provider's account (the operator's queue). Number and text are sealed under
    the sender's subject key in that account."""

    __tablename__ = "inbound_message"
    __table_args__ = (
        UniqueConstraint("transport", "provider_ref"),
        Index("ix_inbound_message_account_received", "account_id", "received_at"),
        # The unread count of every page's navigation (the inbox's): one range of this index.
        Index("ix_inbound_message_account_unread", "account_id", "read_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id")
    """Indexed with ``received_at`` (an account's SMS by time)."""
    subject_id: int = Field(index=True)
    """The sender's data subject in ``account_id`` (its key seals number and text)."""
    number_ct: bytes = Field(sa_column=Column(LargeBinary(), nullable=False))
    """The sender's number (E.164, or as the SMSC gave it when it is no number), sealed."""
    text_ct: bytes = Field(sa_column=Column(LargeBinary(), nullable=False))
    """The text (the routing keyword stripped), sealed."""
    destination: str = Field(max_length=16)
    """Our number it was sent to (72323, 1963, 4560991000 or a virtual number)."""
    keyword: str | None = Field(default=None, max_length=32)
    """The keyword that routed it (casefolded), stripped from the text."""
    routed_by: str = Field(max_length=10)
    """A ``RoutedBy`` value."""
    reply_to_message_id: int | None = Field(default=None)
    """The ``outbound_message`` it answers (a reply route matched)."""
    stop: bool = Field(default=False)
    """The text was a STOP word: the number was blocked for the account."""
    parts: int = Field(default=1)
    transport: str = Field(max_length=10)
    provider_ref: str | None = Field(default=None, max_length=64)
    """The SMSC's or provider's id of it: with ``transport``, stored exactly once."""
    received_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    read_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))


class InboundFragment(SQLModel, table=True):
    """A part of a concatenated SMS waiting for the rest (its account is not known yet): the
    source's number and the text are sealed under the provider's data key (vault account 0) and
    the source is found by the provider's blind index. Joined, routed and deleted in one
    transaction once every part arrived, or by the fragment job after the timeout (then emptied: a
tombstone, see ``joined_at``)."""

    __tablename__ = "inbound_fragment"
    __table_args__ = (
        UniqueConstraint("transport", "provider_ref"),
        UniqueConstraint("source_index", "destination", "reference", "total", "sequence"),
    )

    id: int | None = Field(default=None, primary_key=True)
    transport: str = Field(max_length=10)
    provider_ref: str | None = Field(default=None, max_length=64)
    source_index: bytes = Field(sa_column=Column(LargeBinary(16), nullable=False))
    source_ct: bytes = Field(sa_column=Column(LargeBinary(), nullable=False))
    destination: str = Field(max_length=16)
    reference: int
    total: int
    sequence: int
    text_ct: bytes = Field(sa_column=Column(LargeBinary(), nullable=False))
    received_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
    joined_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    """Set when its SMS was joined and routed: the row stays a few minutes as a tombstone (number
    and text emptied) so that a part the SMSC sends again (its acknowledgement was lost) is known
    and not stored as a new SMS; the receiving job deletes it after ``FRAGMENT_TIMEOUT``."""


class InboundKeyword(AccountOwned, table=True):
    """A keyword on a shared number that routes SMS starting with it to one account (assigned by
    the operator). The organisation's word, not personal data."""

    __tablename__ = "inbound_keyword"
    __table_args__ = (UniqueConstraint("shared_number", "keyword"),)

    id: int | None = Field(default=None, primary_key=True)
    shared_number: str = Field(max_length=16)
    keyword: str = Field(sa_column=Column(String(32), nullable=False))
    """Casefolded."""
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


# Sealed columns: the table and column names are part of every stored value's associated data.
INBOUND_NUMBER = SealedField("inbound_message", "number")
"""``InboundMessage.number_ct``: under the sender's subject key, bound to that subject."""
INBOUND_TEXT = SealedField("inbound_message", "text")
"""``InboundMessage.text_ct``: under the sender's subject key, bound to that subject (rows are
written before their ids are known)."""
FRAGMENT_SOURCE = SealedField("inbound_fragment", "source")
"""``InboundFragment.source_ct``: under the provider's data key (vault account 0, owner 0)."""
FRAGMENT_TEXT = SealedField("inbound_fragment", "text")
"""``InboundFragment.text_ct``: under the provider's data key (vault account 0, owner 0)."""

RULE_EMAIL = SealedField("forwarding_rule", "email")
"""``ForwardingRule.email_ct`` (``receiving.forwarding_models``): under the account's data key, bound to the rule."""
RULE_MOBILE = SealedField("forwarding_rule", "mobile")
"""``ForwardingRule.mobile_ct``: under the forward-to number's subject key, bound to the rule."""
