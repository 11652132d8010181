"""The recipient's opt-out: the short link in an SMS leads to a page; only its POST blocks."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from govsms.accounts.models import Account
from govsms.audit.actions import Action
from govsms.audit.record import record_event
from govsms.errors import GovsmsError, NotFound
from govsms.i18n import _
from govsms.keys.store import vault_of
from govsms.retention.service import storage_times
from govsms.sending.blocklist import block_index
from govsms.sending.dispatch import TOKEN_LENGTH
from govsms.sending.models import OutboundMessage

SENT_SMS = "outbound_messages"  # the retention category of sent SMS

OPTOUT_TOKEN = re.compile(rf"[A-Za-z0-9_-]{{{TOKEN_LENGTH}}}|[A-Za-z0-9_-]{{8}}")
"""URL-safe base64 as dispatch makes them: 12 characters (72 bits); messages sent before that
have 8 (48 bits), which keep working until they expire like any other."""


class LinkExpired(GovsmsError):
    """The message behind the link is older than the storage time of sent SMS."""

    status_code = 410
    code = "expired"


def link_expired(session: Session, message: OutboundMessage, *, now: datetime) -> bool:
    """A link lives as long as its message may be kept: the storage time of sent SMS, counted
    from sending (a scheduled message's link lives from its send time)."""
    days = next(time.days for time in storage_times(session) if time.category.key == SENT_SMS)
    sent = message.submitted_at or message.due_at
    return days is not None and sent + timedelta(days=days) <= now


def _message(session: Session, token: str, *, now: datetime) -> OutboundMessage:
    if not OPTOUT_TOKEN.fullmatch(token):  # never one of ours; and PostgreSQL refuses a NUL in a query
        raise NotFound(_("This link is not valid (any more)."))
    message = session.exec(select(OutboundMessage).where(col(OutboundMessage.optout_token) == token)).first()
    if message is None:
        raise NotFound(_("This link is not valid (any more)."))
    if link_expired(session, message, now=now):  # nothing more is read: not whose it was, not the person
        raise LinkExpired(_("This link has expired."))
    return message


def _account_name(session: Session, message: OutboundMessage) -> str:
    account = session.get(Account, message.account_id)
    return account.name if account else ""


def optout_account_name(session: Session, token: str, *, now: datetime) -> str:
    """Whose SMS the link stops; reading this blocks nothing (link scanners only GET)."""
    return _account_name(session, _message(session, token, now=now))


def opt_out(session: Session, token: str, *, now: datetime) -> str:
    """Block the recipient of the message behind the token; returns the account name."""
    message = _message(session, token, now=now)
    index = vault_of(session).indexes_of(session, message.account_id, [message.subject_id]).get(message.subject_id)
    if index is not None:  # an erased person is blocked already in effect: nothing can reach them
        block_index(session, message.account_id, index, source="link", now=now)
    record_event(
        session, None, Action.OPTED_OUT, now=now, account_id=message.account_id, target=("dispatch", message.dispatch_id),
        subjects=[message.subject_id], details={"source": "link"},
    )
    return _account_name(session, message)
