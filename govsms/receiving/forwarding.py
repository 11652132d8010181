"""Forwarding of inbound SMS to e-mail and mobile (issue 14, being built: H-D replaces this)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session


def plan_forwards(session: Session, message: Any, text: str, e164: str, *, now: datetime) -> int:
    """Queue the forwards the account's rules ask for ``message`` (an InboundMessage just
    routed; ``text`` and ``e164`` in clear, never stored in clear); returns how many. In the
    routing transaction, so a rolled-back SMS forwards nothing."""
    return 0
