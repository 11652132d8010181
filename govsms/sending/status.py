"""The statuses of a dispatch and of its messages; each value is the string stored and answered."""

from __future__ import annotations

from enum import StrEnum


class DispatchStatus(StrEnum):
    """A dispatch's status (``Dispatch.status``)."""

    SCHEDULED = "scheduled"
    """Waiting for its send time; it can still be cancelled."""
    QUEUED = "queued"
    """Handed to the outbox."""
    CANCELLED = "cancelled"
    """Cancelled before its send time: its messages were never sent."""


class MessageStatus(StrEnum):
    """A message's status (``OutboundMessage.status``), in the order the pages list them; a part's
    status (``MessagePart.status``, ``PendingReport.status``) is one of ``SENT`` and the report's."""

    SCHEDULED = "scheduled"
    QUEUED = "queued"
    SENDING = "sending"
    """Claimed by a worker that is submitting it."""
    SENT = "sent"
    """Accepted by the provider; waiting for a delivery report."""
    DELIVERED = "delivered"
    FAILED = "failed"
    EXPIRED = "expired"
    UNKNOWN = "unknown"
    """Sent, but no delivery report came within ``message_unknown_hours`` (final; a later report
    still settles it)."""
    BLOCKED = "blocked"
    """Blocked after queueing: cost 0."""
    CANCELLED = "cancelled"
