"""``SmppTransport``: the ``Transport`` the outbox worker calls. It owns the state, turns each
part of a ``Submission`` into a submit_sm and sends a batch's parts windowed, in chunks of one
write; flow control (``flow``) and the bind (``session``) are mixed in."""

from __future__ import annotations

import collections
import logging
import threading
import time
from typing import Any

from smpplib import exceptions, smpp

from govsms.sending.transports.base import DeliveryReport, Submission, SubmitResult, Transport, TransportDown
from govsms.sending.transports.smpp.flow import _FlowControl, _Message, _Part
from govsms.sending.transports.smpp.link import _Link, _Sequence
from govsms.sending.transports.smpp.session import _Session
from govsms.sending.wire import SenderKind

log = logging.getLogger(__package__)  # the SMPP transport's one logger

SOURCE_TON_NPI = {
    SenderKind.ALPHANUMERIC: (0x05, 0x00),
    SenderKind.NUMBER: (0x01, 0x01),
    SenderKind.SHORT_CODE: (0x03, 0x00),
}
DEST_TON, DEST_NPI = 0x01, 0x01


class SmppTransport(_Session, _FlowControl, Transport):
    """An SMPP 3.4 ESME (see the package docstring for the behaviour).

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
        self._upstream_cond = threading.Condition()
        self._upstream_queue: collections.deque[tuple[_Link, list[Any]]] = collections.deque()
        self._upstream_waiting = 0
        self._upstream_thread: threading.Thread | None = None
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
        with self._upstream_cond:
            self._upstream_cond.notify_all()
            upstream = self._upstream_thread
        if upstream is not None:
            upstream.join(timeout=30.0)  # a commit under way finishes (its answers go nowhere)

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
