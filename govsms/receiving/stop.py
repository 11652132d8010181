"""The account's answer to a STOP reply: an optional SMS confirming that the number gets no more
SMS from the account (sent free of charge from the number the STOP came in on;
``service._block_stop`` queues it). Set by the account's admin."""

from __future__ import annotations

import unicodedata
from datetime import datetime

from sqlalchemy import func, select
from sqlmodel import Session, col

from govsms.accounts.models import Account
from govsms.audit.actions import Action
from govsms.audit.record import record_event
from govsms.auth import Actor, Permission, require
from govsms.errors import InvalidInput, NotFound
from govsms.i18n import _
from govsms.sending.models import BlockEntry
from govsms.tenancy import owned_by

MAX_CONFIRMATION = 320


def stop_confirmation(session: Session, actor: Actor) -> str | None:
    require(actor, Permission.ACCOUNT_SETTINGS)
    account = session.get(Account, actor.account_id)
    return account.stop_confirmation_text if account is not None else None


def stop_blocks(session: Session, actor: Actor) -> int:
    """How many numbers a STOP reply has blocked for the account (a count only)."""
    require(actor, Permission.ACCOUNT_SETTINGS)
    return int(session.execute(
        select(func.count()).select_from(BlockEntry).where(owned_by(BlockEntry, actor), col(BlockEntry.source) == "stop")
    ).scalar_one())


def set_stop_confirmation(session: Session, actor: Actor, text: str, *, now: datetime) -> str | None:
    """Save the confirmation text (empty: none is sent). Refuses control characters and more
    than ``MAX_CONFIRMATION`` characters, saying which."""
    require(actor, Permission.ACCOUNT_SETTINGS)
    value = unicodedata.normalize("NFC", text.replace("\r\n", "\n").strip())
    if len(value) > MAX_CONFIRMATION:
        message = _("The text has %(count)d characters; at most %(max)d. Shorten it.") % {"count": len(value), "max": MAX_CONFIRMATION}
        raise InvalidInput(message, fields={"text": message})
    if any(unicodedata.category(character) in ("Cc", "Cs", "Co", "Cn") and character != "\n" for character in value):
        message = _("The text contains characters that are not valid text. Type or paste it again.")
        raise InvalidInput(message, fields={"text": message})
    account = session.get(Account, actor.account_id)
    if account is None:
        raise NotFound(_("No such account."))
    account.stop_confirmation_text = value or None
    session.add(account)
    session.flush()
    record_event(session, actor, Action.STOP_CONFIRMATION_CHANGED, now=now, details={"set": bool(value), "characters": len(value)})
    return account.stop_confirmation_text
