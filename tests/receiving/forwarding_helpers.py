"""A local SMTP server (aiosmtpd) that keeps what it is handed, and an inbound SMS made as routing
makes it, for the forwarding tests."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiosmtpd.controller import Controller
from sqlmodel import Session

from govsms.keys.store import vault_of
from govsms.receiving.forwarding import plan_forwards
from govsms.receiving.models import INBOUND_NUMBER, INBOUND_TEXT, InboundMessage
from tests.web_helpers import free_port


@dataclass
class Received:
    sender: str
    recipients: list[str]
    raw: bytes


@dataclass
class MailBox:
    """What the local SMTP server accepted."""

    host: str
    port: int
    mails: list[Received] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's hook name
        self.mails.append(Received(envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.original_content or envelope.content)))
        return "250 OK"


@contextmanager
def smtp_server() -> Iterator[MailBox]:
    """An SMTP server on 127.0.0.1 for the test's length. Its own log (which would print the
    mail's envelope) is kept quiet."""
    logging.getLogger("mail.log").disabled = True
    box = MailBox("127.0.0.1", free_port())
    controller = Controller(box, hostname=box.host, port=box.port)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


def make_inbound(
    session: Session, account_id: int, *, e164: str, text: str, destination: str, routed_by: str, keyword: str | None = None,
    now: datetime, plan: bool = True,
) -> InboundMessage:
    """An inbound SMS stored as routing stores it (number and text sealed under the sender's
    subject key), and its forwards planned as routing plans them."""
    subject = vault_of(session).subject(session, account_id, e164, now=now)
    message = InboundMessage(
        account_id=account_id, subject_id=subject.id, number_ct=subject.seal(INBOUND_NUMBER, e164), text_ct=subject.seal(INBOUND_TEXT, text),
        destination=destination, keyword=keyword, routed_by=routed_by, parts=1, transport="loopback", received_at=now,
    )
    session.add(message)
    session.flush()
    if plan:
        plan_forwards(session, message, text, e164, now=now)
    return message
