"""Flow control of the SMPP transport: the window of outstanding submit_sm, the pause and the
halved window after throttling (grown back AIMD), the ``throughput_limit`` pace, response
timeouts, and what a batch is still waiting for (``_Message``, ``_Part``). ``SmppTransport``
mixes ``_FlowControl`` in; the state it uses is declared below and set up by the transport."""

from __future__ import annotations

import collections
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from govsms.sending.transports.base import Submission, SubmitResult
from govsms.sending.transports.smpp.link import _Link
from govsms.sending.transports.smpp.status import ESME_ROK, THROTTLE_STATUSES, error_code

log = logging.getLogger(__package__)  # the SMPP transport's one logger

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


# -- the window, throttling and timeouts ---------------------------------------------------------


class _FlowControl:
    """When submit_sm may go out, and the answers to those in flight (reader thread)."""

    window: int
    throughput_limit: float | None
    submit_timeout: float
    throttle_backoff: tuple[float, float]
    stats: collections.Counter[str]
    _cond: threading.Condition
    _link: _Link | None
    _inflight: dict[int, _Part]
    _window_now: float
    _pause_until: float
    _throttle_streak: int
    _next_send_at: float
    _closed: bool

    if TYPE_CHECKING:

        def _drop_locked(self, link: _Link, reason: str) -> None: ...

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
