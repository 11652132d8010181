"""The transport interface: what the outbox worker hands a transport, and what comes back.

A transport knows nothing of accounts, encryption or the database. The worker gives it ready
``Submission``s (text already split into parts, encoded and headed), and it answers each with a
``SubmitResult``; delivery reports arrive later through ``reports()``.

Upstream traffic (delivery reports and inbound SMS): with an ``Upstream`` set
(``set_upstream``), a transport hands both to it and acknowledges them to the SMSC/provider only
after it returned (it commits them); when it raises, the SMSC is asked to send them again later.
Without one (the default), reports are kept in memory for ``reports()`` and inbound SMS refused
with a temporary error.

    Transport
    ├── LoopbackTransport   accepts, assigns ids, reports delivery after a moment (default)
    ├── SmppTransport       SMPP 3.4 ESME (smpplib): transceiver bind, windowed, reconnecting
    └── HttpTransport       a provider's HTTP API plus its delivery-report webhook
"""

from __future__ import annotations

import abc
import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from govsms.sending.wire import ESM_CLASS_UDHI, SenderKind


_ID_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def clean_id(value: str | bytes | None, limit: int, *, cut: bool = False) -> str | None:
    """An SMSC's or provider's id as it may reach the database: bytes read as Latin-1, NUL and
    other control characters removed (PostgreSQL takes no NUL in text), spaces at the ends
    stripped, a lone surrogate replaced; longer than ``limit``: its SHA-256 in hex (cut to
    ``limit``), or with ``cut`` its first ``limit`` characters (a receipt's id, matched to the
    submit's id as the outbox stored it). None when nothing is left."""
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    text = _ID_CONTROL.sub("", str(value)).strip().encode("utf-8", "replace").decode("utf-8")
    if not text:
        return None
    if cut:
        return text[:limit]
    if len(text) > limit:
        return hashlib.sha256(text.encode()).hexdigest()[:limit]
    return text


@dataclass(frozen=True, slots=True)
class Submission:
    """One SMS to one recipient, ready for the wire."""

    message_id: int
    """Our id of the message; results and reports are matched to it."""
    sender: str
    sender_kind: SenderKind
    recipient: str
    """E.164 with '+'."""
    parts: tuple[bytes, ...]
    """``short_message`` of each part: encoded per ``data_coding``; with a concatenation UDH
    (``05 00 03 ref total seq``) in front when there is more than one part."""
    data_coding: int
    want_report: bool = True
    skip_parts: frozenset[int] = frozenset()
    """Parts (0-based) the SMSC accepted in an earlier attempt: not sent again. Their UDH is the
    same on every attempt (the reference comes from the message id), so the phone still joins
    them with the ones sent now."""

    @property
    def esm_class(self) -> int:
        return ESM_CLASS_UDHI if len(self.parts) > 1 else 0x00


@dataclass(frozen=True, slots=True)
class SubmitResult:
    message_id: int
    accepted: bool
    provider_ids: tuple[str, ...] = ()
    """The SMSC's message id of each part."""
    error: str | None = None
    """A code, never text or numbers (e.g. ``smpp:0x58``)."""
    transient: bool = False
    """True when trying again later may succeed (throttled, link down, timeout)."""
    part_ids: tuple[str | None, ...] = ()
    """Per part, the SMSC's id if it accepted that part in this attempt, else None; set also
    when the message as a whole was not accepted, so a retry sends only what is missing. Empty
    from transports that take a message whole (``provider_ids`` then covers it)."""


class ReportStatus(StrEnum):
    DELIVERED = "delivered"
    FAILED = "failed"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    provider_id: str
    status: ReportStatus
    error: str | None = None
    done_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class InboundPart:
    """One inbound SMS, or one part of a concatenated one, as the SMSC/provider delivered it."""

    source: str
    """The sender's number as the SMSC/provider gave it: E.164 with '+' when the SMSC said it is
    international (SMPP TON 1), else as given (national, or without '+')."""
    destination: str
    """Our number it was sent to: 72323, 1963, 4560991000 or a virtual number (digits as given)."""
    text: str
    """This part's text, decoded (GSM-7 data_coding 0, Latin-1 3, UCS-2 8), the UDH removed. A
    surrogate half left alone at a part's edge (a phone that split an emoji) becomes U+FFFD, so
    the text always encodes as UTF-8."""
    concat: tuple[int, int, int] | None = None
    """(reference, total, sequence 1-based) of a part of a concatenated SMS (UDH 8- or 16-bit
    reference, or the SAR TLVs); None for a whole SMS."""
    provider_ref: str | None = None
    """The SMSC's/provider's id of this part (at most 64 characters): a part sent again (its
    acknowledgement was lost) is stored once. None when it gives none."""


class Upstream(Protocol):
    """Where a transport hands what the SMSC/provider sends up: stores both durably (commits)
    before it returns; raises when it cannot (the transport then asks for them again later)."""

    def __call__(self, reports: list[DeliveryReport], parts: list[InboundPart]) -> None: ...


class Transport(abc.ABC):
    """Thread-safety: one worker thread calls ``submit``; ``reports`` may be called from it too;
    the upstream is called from the transport's own thread(s)."""

    name: str = "transport"
    upstream: Upstream | None = None

    def set_upstream(self, upstream: Upstream | None) -> None:
        """Hand delivery reports and inbound SMS to ``upstream`` (committed before they are
        acknowledged); None: reports in memory for ``reports()``, inbound SMS refused."""
        self.upstream = upstream

    @abc.abstractmethod
    def submit(self, batch: list[Submission]) -> list[SubmitResult]:
        """Submit every message of the batch; one result per submission, in order. Must not
        raise for a single message's failure (return a result); may raise ``TransportDown``
        when nothing can be sent at all (the worker backs off and tries the batch again)."""

    @abc.abstractmethod
    def reports(self) -> list[DeliveryReport]:
        """Delivery reports received since the last call (never blocks long)."""

    def close(self) -> None:  # noqa: B027  (optional)
        """Release connections."""


class TransportDown(Exception):
    """The transport cannot send now (not bound, connection refused); nothing was submitted."""
