"""Everything that runs in the background of ``govsms worker`` (and ``govsms demo``): the
scheduler's jobs and the outbox worker thread with the configured transport."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from govsms.clock import SYSTEM_CLOCK, Clock
from govsms.keys.ring import KeyRing
from govsms.receiving.service import accept_upstream
from govsms.scheduler import build_scheduler
from govsms.sending.outbox import Outbox
from govsms.sending.transports.base import DeliveryReport, InboundPart, Transport, Upstream
from govsms.settings import Settings

log = logging.getLogger(__name__)


def make_transport(settings: Settings) -> Transport:
    if settings.transport == "smpp":
        from govsms.sending.transports.smpp import SmppTransport

        return SmppTransport(settings.smpp_host, settings.smpp_port, settings.smpp_system_id, settings.smpp_password)
    if settings.transport == "http":
        from govsms.sending.transports.http import HttpTransport

        return HttpTransport.from_settings(settings)
    from govsms.sending.transports.loopback import LoopbackTransport

    return LoopbackTransport()


def store_upstream(session_factory: sessionmaker[Session], transport: str, clock: Clock, outbox: Outbox | None = None) -> Upstream:
    """The transport's upstream: delivery reports and inbound SMS committed (reports into
    ``pending_report``, inbound SMS stored, joined and routed) by ``accept_upstream`` before the
    transport acknowledges them; raises when the database cannot take them. The outbox is told
    to apply the stored reports at its next turn."""

    def upstream(reports: list[DeliveryReport], parts: list[InboundPart]) -> None:
        accept_upstream(session_factory, reports, parts, transport=transport, now=clock.now())
        if reports and outbox is not None:
            outbox.reports_stored()

    return upstream


class Worker:
    def __init__(
        self, settings: Settings, session_factory: sessionmaker[Session], keys: KeyRing, transport: Transport | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.scheduler = build_scheduler(settings, session_factory, keys, clock)
        self.transport = transport or make_transport(settings)
        self.outbox = Outbox(
            session_factory, self.transport, public_url=settings.public_url, rate_per_second=settings.send_rate,
            batch_size=settings.send_batch, claim_ttl=timedelta(seconds=settings.claim_seconds),
            unknown_after=timedelta(hours=settings.message_unknown_hours), clock=clock,
            reply_window=timedelta(days=settings.reply_window_days),
        )
        # Reports and inbound SMS are committed before the SMSC/provider is answered.
        self.transport.set_upstream(store_upstream(session_factory, self.transport.name, clock, self.outbox))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self.outbox.run, args=(self._stop,), name="outbox", daemon=True)

    def start(self) -> None:
        self.scheduler.start()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        self.scheduler.shutdown(wait=True)
        self.transport.close()
