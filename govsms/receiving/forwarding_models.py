"""Tables of forwarding: an account's rules (which inbound SMS go where) and the jobs that carry
one inbound SMS to one rule's e-mail addresses or mobile number. A job holds no content: it reads
the inbound SMS again when it runs, so an SMS erased or purged meanwhile is not forwarded."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, LargeBinary
from sqlmodel import Field

from govsms.db import UTCDateTime
from govsms.tenancy import AccountOwned


class ForwardingRule(AccountOwned, table=True):
    """One rule of an account: inbound SMS that match ``trigger`` are forwarded to e-mail
    addresses (``email_ct``: full text or a notice only) and/or to a mobile number (``mobile_ct``)."""

    __tablename__ = "forwarding_rule"

    id: int | None = Field(default=None, primary_key=True)
    trigger: str = Field(max_length=10)
    """A ``Trigger``: ``virtual`` (SMS to ``trigger_number``, a virtual number of the account),
    ``keyword`` (``trigger_keyword`` on the shared number ``trigger_number``), ``reply`` (every
    reply to an SMS the account sent from the shared reply number) or ``all`` (every SMS the
    account receives)."""
    trigger_number: str | None = Field(default=None, max_length=16)
    trigger_keyword: str | None = Field(default=None, max_length=32)
    email_ct: bytes | None = Field(default=None, sa_column=Column(LargeBinary(), nullable=True))
    """The e-mail addresses (comma-separated; they may name staff), AES-GCM under the account's
    data key, bound to this rule (``receiving.models.RULE_EMAIL``)."""
    mode: str = Field(default="full", max_length=6)
    """``full`` (the sender's number and the text) or ``notice`` (that an SMS arrived, nothing
    more: no number, no text) for the e-mail."""
    mobile_subject_id: int | None = Field(default=None, index=True)
    """The forward-to mobile number's data subject (its key seals ``mobile_ct``)."""
    mobile_ct: bytes | None = Field(default=None, sa_column=Column(LargeBinary(), nullable=True))
    """The forward-to mobile number (E.164), AES-GCM under its subject's key, bound to this rule
    (``receiving.models.RULE_MOBILE``)."""
    enabled: bool = Field(default=True)
    created_by: str = Field(max_length=40)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    last_error: str | None = Field(default=None, max_length=40)
    """The code of the latest failed forward (``smtp:550``, ``smtp:connect``, ``sms:blocked``); a
    sent forward clears it."""
    last_error_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    last_sent_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))


class ForwardJob(AccountOwned, table=True):
    """One forward of one inbound SMS by one rule, by e-mail or SMS, until done or given up."""

    __tablename__ = "forward_job"
    __table_args__ = (Index("ix_forward_job_due", "status", "next_at"),)

    id: int | None = Field(default=None, primary_key=True)
    rule_id: int = Field(index=True)
    inbound_message_id: int = Field(index=True)
    """No foreign key: retention and erasure delete inbound SMS; a job whose SMS is gone ends
    ``gone`` when it runs."""
    kind: str = Field(max_length=5)
    """``email`` or ``sms``."""
    status: str = Field(default="pending", max_length=10)
    """``pending``, ``sent``, ``failed`` (given up) or ``refused`` (never to be sent)."""
    attempts: int = Field(default=0)
    next_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    """When the job is due; while a runner sends it, the end of its claim."""
    last_error: str | None = Field(default=None, max_length=40)
    """A short code, never text."""
    dispatch_id: int | None = Field(default=None, index=True)
    """A mobile forward's dispatch (its text holds the sender's number and text: the sender's
    data, erased and purged with the forward; an SMS answering it is not forwarded again)."""
    done_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))



RULES_CACHE = "govsms.forwarding.enabled_rules"
"""``session.info`` key: the enabled rules per account that routing read in the session's
current transaction (a batch of SMS reads each account's rules once); whatever changes a rule
drops it."""
