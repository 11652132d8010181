"""The statuses of a dispatch and of its messages; each value is the string stored and answered; and
the state of a dispatch that its messages' statuses give (what the history and the API show)."""

from __future__ import annotations

from collections.abc import Mapping
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


FINAL = frozenset({
    MessageStatus.DELIVERED, MessageStatus.FAILED, MessageStatus.EXPIRED, MessageStatus.UNKNOWN, MessageStatus.BLOCKED,
    MessageStatus.CANCELLED,
})
"""A message in one of these statuses is done with: nothing more is sent or waited for (``unknown``
may still be settled by a late report, but nothing waits for one)."""
WAITING = frozenset({MessageStatus.SCHEDULED, MessageStatus.QUEUED})
"""Not yet handed to a worker."""
OPEN = frozenset(MessageStatus) - FINAL
"""Not final: something is still to be sent or waited for."""
HANDED_OVER = frozenset(MessageStatus) - WAITING - {MessageStatus.CANCELLED, MessageStatus.BLOCKED}
"""Taken by a worker at least: being sent, sent, or final after that (cancelled and blocked
messages never were)."""


class DispatchState(StrEnum):
    """Where a dispatch is, as its messages tell it (what the pages and the API report as its
    status): the stored ``DispatchStatus`` says only how it began. Messages cancelled or blocked
    before they went do not change it: a scheduled dispatch with one person's message cancelled
    still waits for its send time."""

    SCHEDULED = "scheduled"
    """Every message not yet final waits for its send time; none has gone."""
    QUEUED = "queued"
    """Every message not yet final waits (some for a worker); none has gone yet."""
    SENDING = "sending"
    """Some have gone, some still wait or are being submitted."""
    SENT = "sent"
    """Every message has been handed to the provider; some still wait for a delivery report."""
    DONE = "done"
    """Every message is final (delivered, failed, expired, unknown, blocked or cancelled)."""
    CANCELLED = "cancelled"
    """Cancelled before its send time."""


def dispatch_state(stored: str, counts: Mapping[str, int]) -> DispatchState:
    """The state of a dispatch whose stored status is ``stored`` and whose messages have these
    ``counts`` by status (``history.state_is`` is the same rule in SQL: keep them together; the
    test of the one runs the other over the same table). A status this version does not know
    counts as neither open nor handed over."""
    def of(statuses: frozenset[MessageStatus]) -> int:
        return sum(count for status, count in counts.items() if status in statuses)

    if stored == DispatchStatus.CANCELLED:
        return DispatchState.CANCELLED
    open_ = of(OPEN)
    if not open_:
        return DispatchState.DONE  # a dispatch without messages too: nothing is left to do
    if not of(HANDED_OVER):
        return DispatchState.SCHEDULED if counts.get(MessageStatus.SCHEDULED, 0) == open_ else DispatchState.QUEUED
    if of(WAITING | {MessageStatus.SENDING}):
        return DispatchState.SENDING
    return DispatchState.SENT
