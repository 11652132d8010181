"""The bind's life: binding as a transceiver, the supervisor thread that keeps a bind up and
reconnects with backoff, the reader thread that handles everything the SMSC sends (responses,
receipts, enquire_link, unbind) and keeps the link alive, and dropping a link with what it left
unanswered. ``SmppTransport`` mixes ``_Session`` in; the state it uses is declared below and set
up by the transport."""

from __future__ import annotations

import collections
import logging
import socket
import threading
import time
from typing import TYPE_CHECKING, Any

from smpplib import exceptions, smpp

from govsms.sending.transports.base import DeliveryReport, InboundPart, TransportDown, Upstream
from govsms.sending.transports.smpp.inbound import parse_inbound
from govsms.sending.transports.smpp.link import _Link, _Sequence
from govsms.sending.transports.smpp.receipts import ESM_DEFAULT_MESSAGE, ESM_DELIVERY_RECEIPT, ESM_MESSAGE_TYPE_MASK, NOT_SMS_STATS, parse_receipt
from govsms.sending.transports.smpp.status import ESME_RINVCMDID, ESME_ROK, ESME_RX_R_APPN, ESME_RX_T_APPN, error_code

if TYPE_CHECKING:
    from govsms.sending.transports.smpp.flow import _Part

log = logging.getLogger(__package__)  # the SMPP transport's one logger

MAX_UPSTREAM_QUEUE = 20_000
"""deliver_sm waiting for the upstream thread; more are answered ESME_RX_T_APPN at once."""
MAX_UPSTREAM_BATCH = 1_000
"""deliver_sm handed up in one call (one transaction)."""
STABLE_BIND = 10.0  # seconds a bind must last before the reconnect backoff starts again from its base


class _Session:
    """Binding, reconnecting and reading for ``SmppTransport``."""

    host: str
    port: int
    window: int
    reconnect_backoff: tuple[float, float]
    submit_timeout: float
    enquire_link_interval: float
    connect_timeout: float
    stats: collections.Counter[str]
    _system_id: str
    _password: str
    _system_type: str
    _sequence: _Sequence
    _cond: threading.Condition
    _connect_lock: threading.Lock
    _link: _Link | None
    _readers: dict[_Link, threading.Thread]
    _inflight: dict[int, _Part]
    _window_now: float
    _closed: bool
    _reports: collections.deque[DeliveryReport]
    upstream: Upstream | None
    _upstream_cond: threading.Condition
    _upstream_queue: collections.deque[tuple[_Link, list[Any]]]
    _upstream_waiting: int
    _upstream_thread: threading.Thread | None

    if TYPE_CHECKING:

        def _settle_locked(self, part: _Part, *, provider_id: str | None = None, error: str | None = None, transient: bool = False) -> None: ...

        def _on_responses(self, link: _Link, pdus: list[Any]) -> None: ...

    # -- reading (reader thread) -------------------------------------------------------------

    def _on_delivers(self, link: _Link, pdus: list[Any]) -> list[bytes]:
        """What to answer now to the deliver_sm read in one go (receipts and inbound SMS).

        With an upstream they are queued for the upstream thread (``_run_upstream``), which
        answers them once they are committed, so the reader goes on reading submit_sm_resp
        meanwhile (a commit does not stall the submit window); nothing is answered now unless
        the queue is full (``MAX_UPSTREAM_QUEUE``): then ESME_RX_T_APPN at once, and the SMSC
        sends them again later. Without an upstream: answered now, receipts kept in memory for
        ``reports()``, inbound SMS refused with ESME_RX_T_APPN (nowhere to put them)."""
        if self.upstream is None:
            return self._answer([(link, pdu) for pdu in pdus], None).get(link, [])
        with self._upstream_cond:
            full = self._upstream_waiting + len(pdus) > MAX_UPSTREAM_QUEUE
            if not full:
                self._upstream_queue.append((link, pdus))
                self._upstream_waiting += len(pdus)
                if self._upstream_thread is None:
                    self._upstream_thread = threading.Thread(target=self._run_upstream, name="smpp-upstream", daemon=True)
                    self._upstream_thread.start()
                self._upstream_cond.notify()
        if full:
            self.stats["upstream_full"] += len(pdus)
            return [self._response(link, "deliver_sm_resp", pdu, ESME_RX_T_APPN) for pdu in pdus]
        return []

    def _run_upstream(self) -> None:
        """The upstream thread: takes every queued deliver_sm (up to ``MAX_UPSTREAM_BATCH``),
        hands them up in one call and answers each on the link it came on. An answer whose link
        died meanwhile is lost: the SMSC sends that deliver_sm again (stored once by its id)."""
        while True:
            with self._upstream_cond:
                while not self._upstream_queue and not self._closed:
                    self._upstream_cond.wait(0.5)
                if self._closed:
                    self._upstream_queue.clear()
                    self._upstream_waiting = 0
                    return
                items: list[tuple[_Link, Any]] = []
                while self._upstream_queue and len(items) < MAX_UPSTREAM_BATCH:
                    link, pdus = self._upstream_queue.popleft()
                    items.extend((link, pdu) for pdu in pdus)
                self._upstream_waiting -= len(items)
            try:
                answers = self._answer(items, self.upstream)
            except Exception:  # noqa: BLE001  (this thread must never die silently; the SMSC re-sends)
                log.exception("smpp upstream failed")
                continue
            for link, data in answers.items():
                if link.dead:
                    continue
                try:
                    link.send_bytes(b"".join(data))
                except exceptions.ConnectionError:
                    pass  # the reader drops the link; the SMSC sends them again after the rebind

    def _answer(self, items: list[tuple[_Link, Any]], upstream: Upstream | None) -> dict[_Link, list[bytes]]:
        """The ``deliver_sm_resp`` of each deliver_sm, per link in order. With an upstream:
        every final receipt and every inbound part handed to it in one call, each answered
        ESME_ROK only once it returned (committed); if it raises (the database cannot take
        them), ESME_RX_T_APPN. Without one: see ``_on_delivers``. Only a deliver_sm of the
        default message type is an inbound SMS; SME acknowledgements and intermediate
        notifications are answered ESME_ROK and only counted (``stats``)."""
        reports: list[DeliveryReport] = []
        parts: list[InboundPart] = []
        statuses: list[int] = []
        for _link, pdu in items:
            status = ESME_ROK
            message_type = (pdu.esm_class or 0) & ESM_MESSAGE_TYPE_MASK
            if message_type == ESM_DELIVERY_RECEIPT:
                report = parse_receipt(pdu.short_message, getattr(pdu, "receipted_message_id", None), getattr(pdu, "message_state", None))
                if report is None:
                    self.stats["receipts_not_final"] += 1
                elif upstream is not None:
                    reports.append(report)
                else:
                    self._reports.append(report)
                    self.stats["receipts"] += 1
            elif message_type != ESM_DEFAULT_MESSAGE:
                # SME acknowledgements (0x08, 0x10), intermediate notifications (0x20), ...: no SMS
                # from a person and no final receipt; acknowledged, not stored.
                self.stats[NOT_SMS_STATS.get(message_type, "deliver_sm_other")] += 1
            elif upstream is None:
                self.stats["mo_refused"] += 1
                status = ESME_RX_T_APPN
            else:
                try:
                    parts.append(parse_inbound(pdu))
                except Exception as error:  # noqa: BLE001  (one malformed PDU must not block the rest)
                    log.warning("smpp: inbound deliver_sm cannot be read (%s); refused", type(error).__name__)
                    self.stats["mo_unreadable"] += 1
                    status = ESME_RX_R_APPN
            statuses.append(status)
        if upstream is not None and (reports or parts):
            try:
                upstream(reports, parts)
            except Exception as error:  # noqa: BLE001  (the SMSC keeps them and tries again)
                log.warning(
                    "smpp: %d receipts and %d inbound SMS not stored (%s); answered ESME_RX_T_APPN",
                    len(reports), len(parts), type(error).__name__,
                )
                self.stats["upstream_failures"] += 1
                statuses = [ESME_RX_T_APPN if status == ESME_ROK else status for status in statuses]
            else:
                self.stats["receipts"] += len(reports)
                self.stats["inbound"] += len(parts)
        answers: dict[_Link, list[bytes]] = {}
        for (link, pdu), status in zip(items, statuses, strict=True):
            answers.setdefault(link, []).append(self._response(link, "deliver_sm_resp", pdu, status))
        return answers

    @staticmethod
    def _response(link: _Link, command: str, request: Any, status: int = ESME_ROK) -> bytes:
        response = smpp.make_pdu(command, client=link, status=status)
        response.sequence = request.sequence
        generated: bytes = response.generate()
        return generated

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
                delivers: list[Any] = []
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
                        delivers.append(pdu)
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
                if delivers:  # after the responses: a slow commit does not hold up the submits
                    out.extend(self._on_delivers(link, delivers))
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
                assert link._socket is not None  # connect() made it, or raised
                link._socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
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
