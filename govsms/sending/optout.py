"""The recipient's opt-out: the short link in an SMS leads to a page; only its POST blocks."""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session

from govsms.accounts.models import Account
from govsms.audit.actions import Action
from govsms.audit.record import record_event
from govsms.errors import NotFound
from govsms.i18n import _
from govsms.keystore import vault_of
from govsms.sending.blocklist import block_index
from govsms.sending.models import OutboundMessage

OPTOUT_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,16}")  # URL-safe base64, as dispatch makes them; the column holds 16


def _message(session: Session, token: str) -> OutboundMessage:
    if not OPTOUT_TOKEN.fullmatch(token):  # never one of ours; and PostgreSQL refuses a NUL in a query
        raise NotFound(_("This link is not valid (any more)."))
    message = session.execute(select(OutboundMessage).where(OutboundMessage.optout_token == token)).scalars().first()
    if message is None:
        raise NotFound(_("This link is not valid (any more)."))
    return message


def optout_account_name(session: Session, token: str) -> str:
    """Whose SMS the link stops; reading this blocks nothing (link scanners only GET)."""
    message = _message(session, token)
    account = session.get(Account, message.account_id)
    return account.name if account else ""


def opt_out(session: Session, token: str, *, now: datetime) -> str:
    """Block the recipient of the message behind the token; returns the account name."""
    message = _message(session, token)
    index = vault_of(session).indexes_of(session, message.account_id, [message.subject_id]).get(message.subject_id)
    if index is not None:  # an erased person is blocked already in effect: nothing can reach them
        block_index(session, message.account_id, index, source="link", now=now)
    record_event(
        session, None, Action.OPTED_OUT, now=now, account_id=message.account_id, target=("dispatch", message.dispatch_id),
        subjects=[message.subject_id], details={"source": "link"},
    )
    return optout_account_name(session, token)
