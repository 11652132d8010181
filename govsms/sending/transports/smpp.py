"""SMPP 3.4 transport: one transceiver bind to the provider's SMSC, windowed submits, delivery
receipts, keep-alive and reconnection. PDUs are built and parsed by ``smpplib``.

How it works
    * One TCP connection, bound with ``bind_transceiver``: submits go out and delivery receipts
      come back on the same bind. A supervisor thread keeps the bind up (so receipts arrive while
      nothing is being sent) and reconnects with exponential backoff (``reconnect_backoff``,
      0.5 s doubling to 30 s) after the link drops.
    * A reader thread per connection handles everything the SMSC sends: ``submit_sm_resp`` and
      ``generic_nack`` (matched to the submit by sequence number), ``deliver_sm`` (receipts,
      answered with ``deliver_sm_resp``), ``enquire_link`` (answered), ``unbind``. When nothing
      has arrived for ``enquire_link_interval`` it sends its own ``enquire_link``; a link that
      does not answer it within ``submit_timeout`` is dropped and rebuilt.
    * ``submit()`` is windowed: up to ``window`` submit_sm may be outstanding at once, so the rate
      is not bound to one round trip per part. ``throughput_limit`` (submit_sm per second), when
      set, paces the sends.
    * Every part of a ``Submission`` is one submit_sm (``esm_class`` and ``data_coding`` from the
      submission, so a UDH travels with UDHI 0x40). ``registered_delivery`` is 1 on **every**
      part when ``want_report`` (0 otherwise): each part gets its own receipt, and the outbox
      marks a message delivered when all its parts are and failed when any is. Source TON/NPI
      follow ``SenderKind`` (alphanumeric 5/0, number 1/1 without '+', short code 3/0); the
      destination is TON 1 NPI 1 without '+'.

Results
    * Every part accepted: ``accepted=True`` with each part's SMSC message id in order.
    * ESME_RTHROTTLED (0x58) or ESME_RMSGQFUL (0x14) on a part: ``transient=True``, error
      ``smpp:0x58`` / ``smpp:0x14``. The transport also slows down: the effective window halves
      and sending pauses (``throttle_backoff``, 0.05 s doubling to 5 s while throttling goes on);
      after that the window grows back by one per window's worth of accepted parts (AIMD).
    * Any other error status: ``accepted=False, transient=False``, error ``smpp:0x0b`` etc.
    * Link lost, response not received within ``submit_timeout``, or the transport closed before
      a part was answered: ``transient=True`` (``smpp:link-down``, ``smpp:timeout``,
      ``smpp:closed``). Nothing is silently lost: the worker retries these. A part whose
      submit_sm reached the SMSC but whose response did not come back is therefore sent again,
      so a link loss or a response timeout can duplicate at most ``window`` submit_sm (those in
      flight at that moment). ``part_ids`` tells which parts of a message were accepted even when
      the message was not: the worker's retry skips those (``Submission.skip_parts``), so a
      multi-part message throttled half-way never sends a part twice.
    * Once a part of a message fails, its remaining parts are not sent. ``provider_ids`` is
      empty unless the message was accepted (then it holds the ids of the parts sent now).
    * ``submit()`` raises ``TransportDown`` when it cannot bind at all at the start of a batch
      (connection refused, ESME_RBINDFAIL, ...). If the link drops in the middle of a batch it
      waits up to ``submit_timeout`` for the supervisor to rebind and carries on; what could not
      be sent by then comes back transient.

Privacy: nothing here logs a phone number, an address or message text (nor receipt text): only
message ids, counts and status codes. smpplib's own logger, which dumps whole PDUs at DEBUG, is
held at INFO.
"""

from __future__ import annotations

import collections
import logging
import re
import select
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from smpplib import client as smpp_client
from smpplib import consts, exceptions, smpp

from govsms.sending.transports.base import (
    DeliveryReport,
    ReportStatus,
    SenderKind,
    Submission,
    SubmitResult,
    Transport,
    TransportDown,
)

log = logging.getLogger(__name__)

# smpplib logs every PDU as hex at DEBUG (numbers and texts included): keep that logger at INFO
# whatever the application's level.
WIRE_LOGGER = f"{__name__}.wire"
logging.getLogger(WIRE_LOGGER).setLevel(logging.INFO)

ESME_ROK = 0x00
ESME_RINVCMDID = 0x03
ESME_RMSGQFUL = 0x14
ESME_RTHROTTLED = 0x58
ESME_RX_T_APPN = 0x64  # "ESME receiver temporary app error": the SMSC keeps the PDU and retries
THROTTLE_STATUSES = frozenset({ESME_RTHROTTLED, ESME_RMSGQFUL})

SOURCE_TON_NPI = {
    SenderKind.ALPHANUMERIC: (0x05, 0x00),
    SenderKind.NUMBER: (0x01, 0x01),
    SenderKind.SHORT_CODE: (0x03, 0x00),
}
DEST_TON, DEST_NPI = 0x01, 0x01

ESM_MESSAGE_TYPE_MASK = 0x3C
ESM_DELIVERY_RECEIPT = 0x04

# stat: of a receipt -> final status (anything else, e.g. ENROUTE or ACCEPTD, is not final)
RECEIPT_STAT = {
    "DELIVRD": ReportStatus.DELIVERED,
    "EXPIRED": ReportStatus.EXPIRED,
    "UNDELIV": ReportStatus.FAILED,
    "REJECTD": ReportStatus.FAILED,
    "DELETED": ReportStatus.FAILED,
    "UNKNOWN": ReportStatus.FAILED,
}
# message_state TLV -> stat:, for receipts without a parsable text
MESSAGE_STATE_STAT = {2: "DELIVRD", 3: "EXPIRED", 4: "DELETED", 5: "UNDELIV", 7: "UNKNOWN", 8: "REJECTD"}

_RECEIPT_FIELD = re.compile(r"(?:^|\s)(id|sub|dlvr|submit date|done date|stat|err):(\S*)", re.IGNORECASE)
_MAX_PDU = 64 * 1024
STABLE_BIND = 10.0  # seconds a bind must last before the reconnect backoff starts again from its base


def error_code(status: int) -> str:
    return f"smpp:0x{status:02x}"


def parse_receipt(
    short_message: bytes | None, receipted_message_id: bytes | str | None = None, message_state: int | None = None
) -> DeliveryReport | None:
    """A final delivery report from a receipt's text (``id:… stat:… err:… done date:…``) and
    TLVs, or None when the receipt is not final (ENROUTE, ACCEPTD) or has no message id. The id
    comes from ``receipted_message_id`` when present, else from ``id:``; the status from
    ``stat:``, else from ``message_state``. ``done date`` is read as UTC."""
    text = (short_message or b"").decode("latin-1")
    text = re.split(r"\stext:", text, maxsplit=1, flags=re.IGNORECASE)[0]  # never looked at
    fields = {name.lower(): value for name, value in _RECEIPT_FIELD.findall(text)}
    if isinstance(receipted_message_id, bytes):
        receipted_message_id = receipted_message_id.decode("latin-1")
    provider_id = (receipted_message_id or "").strip("\x00 ") or fields.get("id", "")
    stat = fields.get("stat", "").upper() or MESSAGE_STATE_STAT.get(message_state or -1, "")
    status = RECEIPT_STAT.get(stat)
    if not provider_id or status is None:
        return None
    error = None
    if status is not ReportStatus.DELIVERED:
        err = fields.get("err", "")
        error = f"smpp:{stat.lower()}" + (f":{err}" if err else "")
    return DeliveryReport(provider_id=provider_id, status=status, error=error, done_at=_smsc_date(fields.get("done date")))


def _smsc_date(value: str | None) -> datetime | None:
    if not value or not value.isdigit():
        return None
    try:
        if len(value) == 10:
            return datetime.strptime(value, "%y%m%d%H%M").replace(tzinfo=UTC)
        if len(value) == 12:
            return datetime.strptime(value, "%y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return None
    return None


# -- one connection ------------------------------------------------------------------------------


class _Sequence:
    """Sequence numbers shared by the submitting and the reading thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._value = 0

    @property
    def sequence(self) -> int:
        return self._value

    def next_sequence(self) -> int:
        with self._lock:
            self._value = self._value % 0x7FFFFFFF + 1
            return self._value


class _Link(smpp_client.Client):
    """One connection: smpplib's client with a thread-safe send and a buffered reader that
    never loses a partly received PDU to a timeout."""

    def __init__(self, host: str, port: int, timeout: float, sequence: _Sequence) -> None:
        super().__init__(host, port, timeout=timeout, sequence_generator=sequence, logger_name=WIRE_LOGGER, allow_unknown_opt_params=True)
        self._send_lock = threading.Lock()
        self._buffer = bytearray()
        self.dead = False
        self.bound_at = 0.0

    def send(self, pdu: Any) -> None:
        """Send a PDU; encoding errors raise before anything is written."""
        self.send_bytes(pdu.generate())

    def send_bytes(self, data: bytes) -> None:
        with self._send_lock:
            sock = self._socket
            if sock is None or self.dead:
                raise exceptions.ConnectionError("not connected")
            try:
                sock.sendall(data)
            except OSError as error:
                raise exceptions.ConnectionError(str(error)) from error

    def wait_pdu(self, timeout: float) -> bool:
        """True once a whole PDU is buffered (``read_pdu`` then returns at once)."""
        deadline = time.monotonic() + timeout
        while True:
            if len(self._buffer) >= 4:
                length = struct.unpack(">L", self._buffer[:4])[0]
                if length < 16 or length > _MAX_PDU:
                    raise exceptions.PDUError(f"bad command_length {length}")
                if len(self._buffer) >= length:
                    return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            sock = self._socket
            if sock is None:
                raise exceptions.ConnectionError("not connected")
            try:
                readable, _, _ = select.select([sock], [], [], remaining)
                if not readable:
                    return False
                chunk = sock.recv(65536)
            except (OSError, ValueError) as error:
                raise exceptions.ConnectionError(str(error)) from error
            if not chunk:
                raise exceptions.ConnectionError("closed by the SMSC")
            self._buffer += chunk

    def _recv_exact(self, exact_size: int) -> bytes:
        while len(self._buffer) < exact_size:
            try:
                chunk = self._socket.recv(65536)  # type: ignore[union-attr]
            except socket.timeout:
                raise
            except (OSError, AttributeError) as error:
                raise exceptions.ConnectionError(str(error)) from error
            if not chunk:
                raise exceptions.ConnectionError("closed by the SMSC")
            self._buffer += chunk
        data = bytes(self._buffer[:exact_size])
        del self._buffer[:exact_size]
        return data

    def shutdown(self) -> None:
        """Wake the reader (it then closes the socket)."""
        sock = self._socket
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def disconnect(self) -> None:
        sock, self._socket = self._socket, None
        self.state = consts.SMPP_CLIENT_STATE_CLOSED
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass


# -- what a batch is waiting for -----------------------------------------------------------------


@dataclass(slots=True, eq=False)
class _Message:
    submission: Submission
    ids: list[str | None] = field(default_factory=list)
    outstanding: int = 0
    failed: bool = False
    error: str | None = None
    transient: bool = False

    def fail(self, error: str, *, transient: bool) -> None:
        # A permanent error outranks a transient one: retrying would not help the message.
        if not self.failed or (self.transient and not transient):
            self.error, self.transient = error, transient
        self.failed = True

    def result(self) -> SubmitResult:
        message_id = self.submission.message_id
        if self.failed:
            return SubmitResult(message_id=message_id, accepted=False, error=self.error, transient=self.transient, part_ids=tuple(self.ids))
        return SubmitResult(
            message_id=message_id, accepted=True, provider_ids=tuple(i for i in self.ids if i is not None), part_ids=tuple(self.ids)
        )


@dataclass(slots=True, eq=False)
class _Part:
    message: _Message
    index: int
    link: _Link
    sent_at: float


# -- the transport -------------------------------------------------------------------------------


class SmppTransport(Transport):
    """An SMPP 3.4 ESME (see the module docstring for the behaviour).

    ``window``: submit_sm outstanding at once (32: 4,500 to 5,500 single-part messages/s with
    receipts against a loopback SMSC, where the Python side is the limit; over a link with
    round-trip time RTT it allows up to ``window / RTT``). ``throughput_limit``: submit_sm per
    second, when the provider's contract sets one. ``reconnect_backoff``: (first, longest)
    wait between bind attempts. ``submit_timeout``: how long a submit_sm may go unanswered, and
    how long ``submit`` waits for a lost link to come back. ``throttle_backoff``: (first,
    longest) pause after ESME_RTHROTTLED/ESME_RMSGQFUL. The constructor does not block: a
    supervisor thread binds in the background. ``stats`` counts binds, submit_sm, receipts,
    throttles, timeouts and link losses (for logs and tests; not exact under races).
    """

    name = "smpp"

    def __init__(
        self,
        host: str,
        port: int,
        system_id: str,
        password: str,
        *,
        window: int = 32,
        throughput_limit: float | None = None,
        reconnect_backoff: tuple[float, float] = (0.5, 30.0),
        submit_timeout: float = 10.0,
        enquire_link_interval: float = 30.0,
        connect_timeout: float = 5.0,
        throttle_backoff: tuple[float, float] = (0.05, 5.0),
        system_type: str = "",
    ) -> None:
        if window < 1:
            raise ValueError("window must be at least 1")
        self.host, self.port = host, int(port)
        self.window = window
        self.throughput_limit = throughput_limit
        self.reconnect_backoff = reconnect_backoff
        self.submit_timeout = submit_timeout
        self.enquire_link_interval = enquire_link_interval
        self.connect_timeout = connect_timeout
        self.throttle_backoff = throttle_backoff
        self._system_id, self._password, self._system_type = system_id, password, system_type

        self._sequence = _Sequence()
        self._cond = threading.Condition()
        self._connect_lock = threading.Lock()
        self._link: _Link | None = None
        self._readers: dict[_Link, threading.Thread] = {}
        self._inflight: dict[int, _Part] = {}  # sequence -> part, oldest first
        self._window_now = float(window)
        self._pause_until = 0.0
        self._throttle_streak = 0
        self._next_send_at = 0.0
        self._closed = False
        self._reports: collections.deque[DeliveryReport] = collections.deque()
        self.stats = collections.Counter[str]()

        self._supervisor = threading.Thread(target=self._supervise, name="smpp-supervisor", daemon=True)
        self._supervisor.start()

    # -- Transport ---------------------------------------------------------------------------

    def submit(self, batch: list[Submission]) -> list[SubmitResult]:
        if not batch:
            return []
        if self._closed:
            raise TransportDown("the SMPP transport is closed")
        with self._cond:
            link = self._link
        if link is None:
            self._connect()  # TransportDown when the SMSC cannot be bound now
        messages = [_Message(submission, ids=[None] * len(submission.parts)) for submission in batch]
        queue = (
            (message, index, short_message)
            for message in messages
            for index, short_message in enumerate(message.submission.parts)
            if index not in message.submission.skip_parts
        )
        upcoming = next(queue, None)
        while upcoming is not None:
            link, room, gave_up = self._await_room()
            if gave_up is not None:
                while upcoming is not None:  # the link did not come back: the rest waits for a retry
                    upcoming[0].fail(gave_up, transient=True)
                    upcoming = next(queue, None)
                break
            assert link is not None
            # Fill the free room with as many parts as fit and send them in one write: fewer
            # system calls and thread switches than one write per part.
            chunk: list[tuple[int, _Message, int]] = []
            data: list[bytes] = []
            while upcoming is not None and len(chunk) < room:
                message, index, short_message = upcoming
                upcoming = next(queue, None)
                if message.failed:  # an earlier part was refused: the rest of it is not sent
                    continue
                try:
                    pdu = self._submit_pdu(link, message.submission, short_message)
                    data.append(pdu.generate())  # encoding problems show here, before the part counts
                except Exception as error:  # noqa: BLE001  (one message's problem, not the batch's)
                    log.warning("message %d cannot be encoded for SMPP: %s", message.submission.message_id, type(error).__name__)
                    message.fail("smpp:encode", transient=False)
                    continue
                chunk.append((pdu.sequence, message, index))
            if not chunk:
                continue
            with self._cond:
                if link.dead:
                    for _sequence, message, _index in chunk:
                        message.fail("smpp:link-down", transient=True)
                    continue
                now = time.monotonic()
                for sequence, message, index in chunk:
                    self._inflight[sequence] = _Part(message, index, link, now)
                    message.outstanding += 1
            try:
                link.send_bytes(b"".join(data))
            except exceptions.ConnectionError:
                self._drop(link, "send failed")  # settles this chunk as transient too
                continue
            self.stats["submit_sm"] += len(chunk)
        self._await_outstanding()
        results = [message.result() for message in messages]
        counts = collections.Counter("accepted" if r.accepted else "transient" if r.transient else "failed" for r in results)
        log.debug(
            "smpp batch: %d messages, %d accepted, %d transient, %d failed",
            len(results), counts["accepted"], counts["transient"], counts["failed"],
        )
        return results

    def reports(self) -> list[DeliveryReport]:
        drained = []
        while True:
            try:
                drained.append(self._reports.popleft())
            except IndexError:
                return drained

    def close(self) -> None:
        with self._cond:
            if self._closed:
                return
            self._closed = True
            link = self._link
            self._cond.notify_all()
        if link is not None and not link.dead:
            try:
                link.send(smpp.make_pdu("unbind", client=link))
            except exceptions.ConnectionError:
                pass
            reader = self._readers.get(link)
            if reader is not None:
                reader.join(timeout=2.0)  # it stops at unbind_resp
            self._drop(link, "closed")
        self._supervisor.join(timeout=5.0)
        for reader in list(self._readers.values()):
            reader.join(timeout=5.0)

    @property
    def bound(self) -> bool:
        with self._cond:
            return self._link is not None

    # -- submitting --------------------------------------------------------------------------

    def _submit_pdu(self, link: _Link, submission: Submission, short_message: bytes) -> Any:
        source_ton, source_npi = SOURCE_TON_NPI[submission.sender_kind]
        source = submission.sender.removeprefix("+") if submission.sender_kind is SenderKind.NUMBER else submission.sender
        return smpp.make_pdu(
            "submit_sm",
            client=link,
            service_type="",
            source_addr_ton=source_ton,
            source_addr_npi=source_npi,
            source_addr=source,
            dest_addr_ton=DEST_TON,
            dest_addr_npi=DEST_NPI,
            destination_addr=submission.recipient.removeprefix("+"),
            esm_class=submission.esm_class,
            registered_delivery=1 if submission.want_report else 0,
            data_coding=submission.data_coding,
            short_message=short_message,
        )

    def _await_room(self) -> tuple[_Link | None, int, str | None]:
        """Wait until submit_sm may go out: a bound link, room in the window, no throttling
        pause, the pace of ``throughput_limit``. ``(link, how many may go now, None)``, or
        ``(None, 0, reason)`` when the link is down and did not come back within
        ``submit_timeout``."""
        down_since: float | None = None
        with self._cond:
            while True:
                now = time.monotonic()
                self._expire_locked(now)
                if self._closed:
                    return None, 0, "smpp:closed"
                link = self._link
                if link is None:
                    down_since = down_since or now
                    if now - down_since >= self.submit_timeout:
                        return None, 0, "smpp:link-down"
                    self._cond.wait(min(0.1, self.submit_timeout - (now - down_since)))
                    continue
                down_since = None
                room = max(1, int(self._window_now)) - len(self._inflight)
                waits = []
                if room <= 0:
                    waits.append(self._oldest_deadline(now))
                if now < self._pause_until:
                    waits.append(self._pause_until - now)
                if now < self._next_send_at:
                    waits.append(self._next_send_at - now)
                if not waits:
                    if self.throughput_limit:
                        room = 1
                        self._next_send_at = max(now, self._next_send_at) + 1.0 / self.throughput_limit
                    return link, room, None
                self._cond.wait(max(0.0005, min(waits)))

    def _await_outstanding(self) -> None:
        """Wait until every part sent is answered, timed out or lost with its link (one batch at
        a time is in flight: the worker calls ``submit`` from one thread)."""
        with self._cond:
            while self._inflight:
                now = time.monotonic()
                self._expire_locked(now)
                if self._inflight:
                    self._cond.wait(max(0.001, self._oldest_deadline(now)))

    def _oldest_deadline(self, now: float) -> float:
        """Seconds until the oldest outstanding part times out (at most 0.5)."""
        for part in self._inflight.values():
            return min(0.5, part.sent_at + self.submit_timeout - now)
        return 0.5

    def _expire_locked(self, now: float) -> None:
        """Parts unanswered for ``submit_timeout``: transient; the link that lost them is
        dropped (an SMSC that stops answering is replaced by a fresh bind)."""
        stale: set[_Link] = set()
        while self._inflight:
            sequence, part = next(iter(self._inflight.items()))
            if part.sent_at + self.submit_timeout > now:
                break
            del self._inflight[sequence]
            self._settle_locked(part, error="smpp:timeout", transient=True)
            stale.add(part.link)
        for link in stale:
            log.warning("smpp: no submit_sm_resp within %.1f s; reconnecting", self.submit_timeout)
            self.stats["timeouts"] += 1
            self._drop_locked(link, "response timeout")

    def _settle_locked(self, part: _Part, *, provider_id: str | None = None, error: str | None = None, transient: bool = False) -> None:
        message = part.message
        message.outstanding -= 1
        if error is None:
            message.ids[part.index] = provider_id
        else:
            message.fail(error, transient=transient)

    # -- responses (reader thread) -----------------------------------------------------------

    def _on_responses(self, link: _Link, pdus: list[Any]) -> None:
        now = time.monotonic()
        with self._cond:
            for pdu in pdus:
                part = self._inflight.get(pdu.sequence)
                if part is None or part.link is not link:
                    self.stats["late_responses"] += 1
                    continue
                del self._inflight[pdu.sequence]
                status = int(pdu.status or 0)
                if pdu.command == "submit_sm_resp" and status == ESME_ROK:
                    message_id = (pdu.message_id or b"").decode("latin-1").strip("\x00")
                    self._settle_locked(part, provider_id=message_id)
                    if part.sent_at >= self._pause_until:  # sent after the last slow-down: speed up
                        self._throttle_streak = 0
                        if self._window_now < self.window:
                            self._window_now = min(float(self.window), self._window_now + 1.0 / self._window_now)
                elif status in THROTTLE_STATUSES:
                    self.stats["throttled"] += 1
                    self._settle_locked(part, error=error_code(status), transient=True)
                    self._slow_down_locked(now)
                else:
                    self.stats["rejected"] += 1
                    self._settle_locked(part, error=error_code(status) if status else "smpp:nack", transient=False)
            self._cond.notify_all()

    def _slow_down_locked(self, now: float) -> None:
        if now < self._pause_until:
            return  # the same episode: answers to parts already on the wire
        self._window_now = max(1.0, self._window_now / 2)
        base, ceiling = self.throttle_backoff
        pause = min(ceiling, base * 2**self._throttle_streak)
        self._throttle_streak += 1
        self._pause_until = now + pause
        log.info("smpp: throttled by the SMSC; window %d, pause %.2f s", int(self._window_now), pause)

    def _on_deliver(self, link: _Link, pdu: Any) -> bytes:
        """Queue the receipt's report; the ``deliver_sm_resp`` to send."""
        status = ESME_ROK
        if (pdu.esm_class or 0) & ESM_MESSAGE_TYPE_MASK == ESM_DELIVERY_RECEIPT:
            report = parse_receipt(pdu.short_message, getattr(pdu, "receipted_message_id", None), getattr(pdu, "message_state", None))
            if report is not None:
                self._reports.append(report)
                self.stats["receipts"] += 1
            else:
                self.stats["receipts_not_final"] += 1
        else:
            # A mobile-originated message: this transport has nowhere to put it yet, so it asks
            # the SMSC to keep it and try again later rather than acknowledging it into the void.
            self.stats["mo_refused"] += 1
            status = ESME_RX_T_APPN
        return self._response(link, "deliver_sm_resp", pdu, status)

    @staticmethod
    def _response(link: _Link, command: str, request: Any, status: int = ESME_ROK) -> bytes:
        response = smpp.make_pdu(command, client=link, status=status)
        response.sequence = request.sequence
        return response.generate()

    def _read(self, link: _Link) -> None:
        last_received = time.monotonic()
        enquire_sent: float | None = None
        reason = "closed by the SMSC"
        try:
            while not link.dead:
                if not link.wait_pdu(0.25):
                    now = time.monotonic()
                    if enquire_sent is not None and now - enquire_sent > self.submit_timeout:
                        reason = "no enquire_link_resp"
                        break
                    if enquire_sent is None and now - last_received >= self.enquire_link_interval:
                        link.send(smpp.make_pdu("enquire_link", client=link))
                        enquire_sent = now
                    continue
                last_received, enquire_sent = time.monotonic(), None
                responses: list[Any] = []
                out: list[bytes] = []
                stop = False
                while not stop and link.wait_pdu(0):  # everything already received, in one go
                    try:
                        pdu = link.read_pdu()
                    except exceptions.UnknownCommandError:
                        self.stats["unknown_pdus"] += 1
                        continue
                    command = pdu.command
                    if command in ("submit_sm_resp", "generic_nack"):
                        responses.append(pdu)
                    elif command == "deliver_sm":
                        out.append(self._on_deliver(link, pdu))
                    elif command == "enquire_link":
                        out.append(self._response(link, "enquire_link_resp", pdu))
                    elif command == "unbind":
                        out.append(self._response(link, "unbind_resp", pdu))
                        reason, stop = "unbound by the SMSC", True
                    elif command == "unbind_resp":
                        reason, stop = "unbound", True
                    elif not pdu.is_response() and command != "alert_notification":
                        out.append(self._response(link, "generic_nack", pdu, ESME_RINVCMDID))
                if responses:
                    self._on_responses(link, responses)
                if out:
                    link.send_bytes(b"".join(out))
                if stop:
                    break
        except (exceptions.ConnectionError, exceptions.PDUError, OSError) as error:
            reason = str(error) or type(error).__name__
        except Exception:  # noqa: BLE001  (a reader must never die silently)
            log.exception("smpp reader failed")
            reason = "reader error"
        finally:
            self._drop(link, reason)
            link.disconnect()
            with self._cond:
                self._readers.pop(link, None)

    # -- the connection ----------------------------------------------------------------------

    def _connect(self) -> _Link:
        """Bind now (or return the bind another thread just made); TransportDown if that fails."""
        with self._connect_lock:
            with self._cond:
                if self._closed:
                    raise TransportDown("the SMPP transport is closed")
                if self._link is not None:
                    return self._link
            link = _Link(self.host, self.port, self.connect_timeout, self._sequence)
            try:
                link.connect()
                # Small PDUs both ways (submits out, responses and receipt acks back): no Nagle.
                link._socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # type: ignore[union-attr]
                link.bind_transceiver(system_id=self._system_id, password=self._password, system_type=self._system_type or None)
            except exceptions.PDUError as error:
                link.disconnect()
                status = error.args[1] if len(error.args) > 1 else None
                code = error_code(status) if isinstance(status, int) else "smpp:bind"
                log.warning("smpp bind to %s:%d refused (%s)", self.host, self.port, code)
                raise TransportDown(f"SMPP bind refused ({code})") from None
            except (exceptions.ConnectionError, OSError) as error:
                link.disconnect()
                log.warning("smpp connection to %s:%d failed (%s)", self.host, self.port, type(error).__name__)
                raise TransportDown("SMPP connection failed") from None
            link.bound_at = time.monotonic()
            reader = threading.Thread(target=self._read, args=(link,), name="smpp-reader", daemon=True)
            with self._cond:
                if self._closed:
                    link.disconnect()
                    raise TransportDown("the SMPP transport is closed")
                self._link = link
                self._readers[link] = reader
                self._window_now = float(self.window)
                self._cond.notify_all()
            reader.start()
            self.stats["binds"] += 1
            log.info("smpp bound to %s:%d as transceiver", self.host, self.port)
            return link

    def _drop(self, link: _Link, reason: str) -> None:
        with self._cond:
            self._drop_locked(link, reason)

    def _drop_locked(self, link: _Link, reason: str) -> None:
        if link.dead:
            return
        link.dead = True
        if self._link is link:
            self._link = None
        lost = [sequence for sequence, part in self._inflight.items() if part.link is link]
        for sequence in lost:
            self._settle_locked(self._inflight.pop(sequence), error="smpp:link-down", transient=True)
        self._cond.notify_all()
        link.shutdown()
        if reason not in ("closed", "unbound"):
            self.stats["link_losses"] += 1
            log.warning("smpp link lost (%s); %d unanswered submit_sm returned as transient", reason, len(lost))

    def _supervise(self) -> None:
        """Keep a bind up; after a loss, reconnect with exponential backoff. The backoff is reset
        only once a bind has lasted ``STABLE_BIND`` seconds, so an SMSC that accepts a bind and
        drops it at once is not hammered."""
        base, ceiling = self.reconnect_backoff
        delay = base
        while True:
            with self._cond:
                while not self._closed and self._link is not None:
                    self._cond.wait(1.0)
                if self._closed:
                    return
            try:
                link = self._connect()
            except TransportDown:
                self._sleep(delay)
                delay = min(ceiling, delay * 2)
                continue
            with self._cond:
                while not self._closed and self._link is link:
                    self._cond.wait(1.0)
            if time.monotonic() - link.bound_at >= STABLE_BIND:
                delay = base
            else:
                self._sleep(delay)
                delay = min(ceiling, delay * 2)

    def _sleep(self, seconds: float) -> None:
        """Sleep, waking early when the transport is closed."""
        with self._cond:
            if not self._closed:
                self._cond.wait(seconds)
