"""What the sending domain holds about one person, for a data-subject request (``govsms.subjects``):
the SMS sent to them (with their parts, waiting delivery reports and opt-out tokens), dispatches
sent from their mobile number, their blocklist entry and their own sender number. Each function
follows ``govsms.personal_data``'s ``Find``, ``Export`` or ``Erase``; the caller audits.

Sent SMS are found by the index on ``outbound_message.subject_id`` and erased in batches of ids by
bulk Core deletes, as the retention purge does (``purge``); a dispatch left with no message by an
erasure loses its text (sealed empty, so every reader still opens it and shows nothing)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Integer, Select, String, bindparam, delete, distinct, exists, func, select, update
from sqlmodel import Session, col

from govsms.audit.unreadable import CANNOT_BE_READ
from govsms.clock import SYSTEM_CLOCK
from govsms.db import rowcount, table_of
from govsms.i18n import N_, _
from govsms.keys.crypto import DecryptionError, seal_field, unseal_field
from govsms.keys.store import DATA_PURPOSE, vault_of
from govsms.personal_data import Found, Person
from govsms.sending.models import (
    DISPATCH_SENDER, DISPATCH_TEXT, MESSAGE_RECIPIENT, SENDER_NUMBER, BlockEntry, Dispatch, MessagePart, OutboundMessage, PendingReport,
    SenderNumber,
)
from govsms.sending.purge import _among
from govsms.sending.senders import open_senders
from govsms.sending.status import MessageStatus
from govsms.tenancy import owned_by

DISPATCH_LINES = 10
"""Dispatches the search names one by one; the rest as a count."""
SOURCE_LABELS = {"link": N_("opt-out link"), "manual": N_("added by hand"), "api": N_("API"), "stop": N_("STOP reply")}
_DISPATCHES = table_of(Dispatch)


ERASED_TEXT = ""
"""What a dispatch's text becomes once every recipient is erased (its column takes no NULL)."""


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _messages_of(person: Person) -> list[Any]:
    return [owned_by(OutboundMessage, person.account_id), col(OutboundMessage.subject_id) == person.subject_id]


# -- outbound_message (with message_part, pending_report and the opt-out token) ----------------


def message_totals(person: Person) -> Select[Any]:
    """How many SMS were sent to the person, first and last, from how many dispatches, how many
    with an opt-out token: one query on the index on ``subject_id``."""
    return select(
        func.count(), func.min(OutboundMessage.created_at), func.max(OutboundMessage.created_at),
        func.count(distinct(col(OutboundMessage.dispatch_id))), func.count(col(OutboundMessage.optout_token)),
    ).where(*_messages_of(person))


def find_messages(session: Session, person: Person) -> Found | None:
    """The SMS sent to the person: how many, first and last, from which dispatches (two queries
    on the index on ``subject_id``)."""
    if person.subject_id is None:
        return None
    count, first, last, dispatches, tokens = session.execute(message_totals(person)).one()
    if not count:
        return None
    latest = session.execute(
        select(col(OutboundMessage.dispatch_id)).where(*_messages_of(person))
        .group_by(col(OutboundMessage.dispatch_id)).order_by(col(OutboundMessage.dispatch_id).desc()).limit(DISPATCH_LINES)
    ).scalars().all()
    lines = [_("Dispatch %(id)d") % {"id": dispatch_id} for dispatch_id in latest]
    if dispatches > len(latest):
        lines.append(_("and %(count)d more dispatches") % {"count": dispatches - len(latest)})
    if tokens:
        lines.append(_("Opt-out links: %(count)d") % {"count": tokens})
    return Found(table="outbound_message", count=int(count), first_at=first, last_at=last, lines=tuple(lines))


def export_messages(session: Session, person: Person) -> list[dict[str, object]]:
    """Each SMS sent to the person: its dispatch, sender, text (opened with the account's data
    key), number, status, parts, cost and times, and whether it carried an opt-out link (not the
    link's token)."""
    if person.subject_id is None:
        return []
    rows = session.execute(
        select(OutboundMessage, Dispatch)
        .join(Dispatch, col(Dispatch.id) == col(OutboundMessage.dispatch_id))
        .where(*_messages_of(person), owned_by(Dispatch, person.account_id))
        .order_by(col(OutboundMessage.created_at), col(OutboundMessage.id))
    ).all()
    if not rows:
        return []
    key = vault_of(session).account_key(session, person.account_id, DATA_PURPOSE, now=SYSTEM_CLOCK.now())
    texts: dict[int, str] = {}
    for _message, dispatch in rows:
        if dispatch.id not in texts:
            try:
                texts[dispatch.id] = unseal_field(key, DISPATCH_TEXT, person.account_id, dispatch.id, dispatch.text_ct).decode()
            except (DecryptionError, UnicodeDecodeError):
                texts[dispatch.id] = _(CANNOT_BE_READ)
    senders = open_senders(
        session, person.account_id,
        {(dispatch.id, dispatch.sender_subject_id, dispatch.sender_ct) for _message, dispatch in rows if dispatch.sender_ct},
    )
    records: list[dict[str, object]] = []
    for message, dispatch in rows:
        number = person.subject.unseal_or_none(MESSAGE_RECIPIENT, message.recipient_ct) if person.subject is not None else None
        records.append({
            "id": message.id, "dispatch_id": dispatch.id, "number": number,
            "sender": message.sender or dispatch.sender or senders.get(dispatch.id),
            "text": texts[dispatch.id], "status": message.status, "reason": message.reason, "parts": message.parts,
            "cost_minor": message.cost_minor, "currency": dispatch.currency, "country": message.country,
            "created_at": _iso(message.created_at), "sent_at": _iso(message.submitted_at),
            "delivered_at": _iso(message.done_at) if message.status == MessageStatus.DELIVERED else None, "done_at": _iso(message.done_at),
            "optout_link": message.optout_token is not None,
        })
    return records


def erase_messages(session: Session, person: Person, *, limit: int, now: datetime) -> int:
    """Delete up to ``limit`` of the SMS sent to the person, with their parts, the delivery
    reports waiting for those parts and their opt-out tokens; a dispatch of theirs that has no
    message left loses its text. Returns the messages deleted."""
    if person.subject_id is None:
        return 0
    batch = session.execute(
        select(col(OutboundMessage.id), col(OutboundMessage.dispatch_id)).where(*_messages_of(person)).limit(limit)
    ).all()
    if not batch:
        return 0
    ids = [message_id for message_id, _dispatch in batch]
    parts = list(session.execute(
        delete(MessagePart).where(_among(session, col(MessagePart.message_id), ids, Integer())).returning(col(MessagePart.provider_id))
    ).scalars())
    if parts:
        session.execute(delete(PendingReport).where(_among(session, col(PendingReport.provider_id), parts, String())))
    # The person's subject too: without statistics SQLite would take the account's index for
    # "account_id = ? AND id IN (...)" and read every message of the account (110 ms a batch
    # among 1,000,000 SMS); with the subject it probes the subject's index by id.
    deleted = rowcount(session.execute(
        delete(OutboundMessage).where(*_messages_of(person), _among(session, col(OutboundMessage.id), ids, Integer()))
    ))
    _forget_texts(session, person.account_id, {dispatch_id for _message, dispatch_id in batch}, now=now)
    return deleted


def _forget_texts(session: Session, account_id: int, dispatch_ids: set[int], *, now: datetime) -> None:
    """Of these dispatches, those with no message left lose their text: an empty text sealed in
    its place (the column holds a sealed value; every reader opens it and finds nothing)."""
    # From the dispatches, each probing the index on dispatch_id for one message (EXISTS): a
    # DISTINCT over the messages of these dispatches read every message of the account (a
    # parallel seq scan on PostgreSQL, the account's index on SQLite: 60-160 ms a batch among
    # 1,000,000 SMS, bench/subject_requests.py).
    remaining = set(session.execute(
        select(_DISPATCHES.c.id).where(
            owned_by(_DISPATCHES, account_id), _among(session, _DISPATCHES.c.id, list(dispatch_ids), Integer()),
            exists().where(col(OutboundMessage.dispatch_id) == _DISPATCHES.c.id),
        )
    ).scalars())
    emptied = sorted(dispatch_ids - remaining)
    if not emptied:
        return
    key = vault_of(session).account_key(session, account_id, DATA_PURPOSE, now=now)
    statement = (
        update(_DISPATCHES)
        .where(_DISPATCHES.c.id == bindparam("dispatch"), owned_by(_DISPATCHES, account_id))
        .values(text_ct=bindparam("text"))
    )
    session.connection().execute(
        statement, [{"dispatch": dispatch_id, "text": seal_field(key, DISPATCH_TEXT, account_id, dispatch_id, ERASED_TEXT)} for dispatch_id in emptied]
    )


# -- dispatch: sent from the person's mobile number --------------------------------------------


def _sent_from(person: Person) -> list[Any]:
    return [owned_by(Dispatch, person.account_id), col(Dispatch.sender_subject_id) == person.subject_id]


def find_sent_from(session: Session, person: Person) -> Found | None:
    """Dispatches sent from the person's mobile number (a user of the account as the sender)."""
    if person.subject_id is None:
        return None
    count, first, last = session.execute(
        select(func.count(), func.min(Dispatch.created_at), func.max(Dispatch.created_at)).where(*_sent_from(person))
    ).one()
    if not count:
        return None
    return Found(table="dispatch", count=int(count), first_at=first, last_at=last, lines=(_("Sender of %(count)d dispatches") % {"count": count},))


def export_sent_from(session: Session, person: Person) -> list[dict[str, object]]:
    """Each dispatch sent from the person's number: its id, time and the number as sealed in it."""
    if person.subject is None:
        return []
    rows = session.execute(
        select(col(Dispatch.id), col(Dispatch.created_at), col(Dispatch.sender_ct)).where(*_sent_from(person)).order_by(col(Dispatch.id))
    ).all()
    return [
        {"dispatch_id": dispatch_id, "created_at": _iso(created_at),
         "sender": person.subject.unseal_or_none(DISPATCH_SENDER, sender_ct, owner_id=dispatch_id) if sender_ct else None}
        for dispatch_id, created_at, sender_ct in rows
    ]


def erase_sent_from(session: Session, person: Person, *, limit: int, now: datetime) -> int:
    """The dispatches sent from the person's number forget it (sender and its subject cleared:
    history shows "(erased)", a message still waiting fails as ``sender_erased``); how many."""
    if person.subject_id is None:
        return 0
    ids = list(session.execute(select(col(Dispatch.id)).where(*_sent_from(person)).limit(limit)).scalars())
    if not ids:
        return 0
    return rowcount(session.execute(
        update(Dispatch).where(owned_by(Dispatch, person.account_id), col(Dispatch.id).in_(ids)).values(sender_ct=None, sender_subject_id=None)
    ))


# -- block_entry -------------------------------------------------------------------------------


def _block_entries(session: Session, person: Person) -> list[BlockEntry]:
    return list(session.execute(
        select(BlockEntry).where(owned_by(BlockEntry, person.account_id), col(BlockEntry.blind_index) == person.blind_index)
    ).scalars())


def find_block(session: Session, person: Person) -> Found | None:
    """The person's blocklist entry: how it came and when."""
    entries = _block_entries(session, person)
    if not entries:
        return None
    return Found(
        table="block_entry", count=len(entries), first_at=min(entry.created_at for entry in entries),
        last_at=max(entry.created_at for entry in entries),
        lines=tuple(_("Blocked: %(source)s") % {"source": _(SOURCE_LABELS.get(entry.source, entry.source))} for entry in entries),
    )


def export_block(session: Session, person: Person) -> list[dict[str, object]]:
    return [{"source": entry.source, "blocked_at": _iso(entry.created_at)} for entry in _block_entries(session, person)]


def erase_block(session: Session, person: Person, *, limit: int, now: datetime) -> int:
    """Unblock the person (only when they ask to be: ``Holding.erase_on``)."""
    return rowcount(session.execute(
        delete(BlockEntry).where(owned_by(BlockEntry, person.account_id), col(BlockEntry.blind_index) == person.blind_index)
    ))


# -- sender_number -----------------------------------------------------------------------------


def _sender_numbers(session: Session, person: Person) -> list[SenderNumber]:
    return list(session.execute(
        select(SenderNumber).where(col(SenderNumber.account_id) == person.account_id, col(SenderNumber.blind_index) == person.blind_index)
    ).scalars())


def find_sender_number(session: Session, person: Person) -> Found | None:
    """The person's number as a sender of the account (a user's own mobile number)."""
    rows = _sender_numbers(session, person)
    if not rows:
        return None
    lines = tuple(
        _("Sender number, verified") if row.verified_at is not None else _("Sender number, not verified") for row in rows
    )
    return Found(table="sender_number", count=len(rows), first_at=min(row.created_at for row in rows), last_at=max(row.created_at for row in rows), lines=lines)


def export_sender_number(session: Session, person: Person) -> list[dict[str, object]]:
    rows = _sender_numbers(session, person)
    if not rows:
        return []
    subjects = vault_of(session).subjects_by_id(session, person.account_id, {row.subject_id for row in rows})
    records: list[dict[str, object]] = []
    for row in rows:
        subject = subjects.get(row.subject_id)
        records.append({
            "number": subject.unseal_or_none(SENDER_NUMBER, row.number_ct) if subject is not None else None,
            "created_at": _iso(row.created_at), "verified_at": _iso(row.verified_at), "code_sent_at": _iso(row.code_sent_at),
        })
    return records


def erase_sender_number(session: Session, person: Person, *, limit: int, now: datetime) -> int:
    """Remove the number from the account's senders."""
    return rowcount(session.execute(
        delete(SenderNumber).where(col(SenderNumber.account_id) == person.account_id, col(SenderNumber.blind_index) == person.blind_index)
    ))
