"""Verified sender numbers: a mobile number an account may send from once its owner typed the
code we sent to it by SMS (through the outbox like any SMS, not billed). The number is sealed
under its subject's key and found by its blind index; the code is kept only as an HMAC, expires,
and both wrong codes and new codes are limited. Also the data step that seals mobile-number
senders stored in clear before this existed."""

from __future__ import annotations

import hmac
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session, col

from govsms.auth import Actor, Permission, require
from govsms.audit.actions import Action
from govsms.audit.record import record_event
from govsms.accounts.service import account_region
from govsms.keys.crypto import Subject, seal_field
from govsms.clock import SYSTEM_CLOCK, Clock
from govsms.db import bulk_insert, one_of, rowcount, session_scope, table_of, truncate_sqlite_wal
from govsms.errors import InvalidInput, NotFound
from govsms.i18n import _
from govsms.keys.store import DATA_PURPOSE, vault_of
from govsms.phone import mask, parse_number, parse_recipient
from govsms.sending.dispatch import INSERT_DISPATCH, SET_DISPATCH_TEXT, country_of, key_clear_idempotency_keys
from govsms.sending.models import DISPATCH_TEXT, MESSAGE_RECIPIENT, SENDER_NUMBER, Dispatch, OutboundMessage, SenderNumber, VirtualNumber
from govsms.sending.status import DispatchStatus, MessageStatus
from govsms.sending.senders import REPLY_NUMBERS, SHARED_REPLY_NUMBER, seal_sender, virtual_number_owner
from govsms.sending.text import check_text
from govsms.sending.wire import SenderKind
from govsms.audit.unreadable import ALTERED, CANNOT_BE_READ, UnreadableRow, record_unreadable
from govsms.tenancy import get_scoped, owned_by, scoped

CODE_PURPOSE = "sender_code"
"""The account key the codes' HMACs are made with: a six-digit code hashed without a key is
found by trying a million values."""
CODE_TTL = timedelta(minutes=15)
MAX_CODE_ATTEMPTS = 5
"""Wrong codes per code sent; then only a new code helps."""
RESEND_AFTER = timedelta(seconds=60)
CODE_WINDOW = timedelta(hours=24)
MAX_CODES_PER_NUMBER = 5
"""Codes per number and day: with five tries each, 25 guesses a day among a million codes."""
MAX_CODES_PER_ACCOUNT = 20
"""Codes per account and day, whatever numbers are added and removed (no one is flooded)."""
VERIFY_SENDER = "Verifiering"
VERIFY_CHANNEL = "verify"
CODE = re.compile(r"[0-9]{6}")
MAX_NUMBER_INPUT = 64
SEAL_BATCH = 500


class Outcome(StrEnum):
    VERIFIED = "verified"
    WRONG = "wrong"
    EXPIRED = "expired"
    LOCKED = "locked"
    """Too many wrong codes: this code is void; a new one can be sent."""
    NO_CODE = "no_code"
    """Verified already, or no code is waiting."""


@dataclass(frozen=True)
class CodeSent:
    sender_id: int
    number: str
    """Masked."""
    code: str
    """For the caller to show in demo mode only (the loopback transport sends nothing anywhere)."""
    expires_at: datetime


@dataclass(frozen=True)
class Verification:
    outcome: Outcome
    attempts_left: int


@dataclass(frozen=True)
class SenderNumberView:
    id: int
    number: str
    """Masked (``+46 70 *** ** 88``)."""
    verified_at: datetime | None
    code_expires_at: datetime | None
    """Set while a code can still verify the number (not expired, tries left)."""
    created_at: datetime


def _code_hash(session: Session, row: SenderNumber, code: str, now: datetime) -> bytes:
    key = vault_of(session).account_key(session, row.account_id, CODE_PURPOSE, now=now)
    return hmac.digest(key, f"{row.id}|{row.codes_sent}|{code}".encode(), "sha256")


def _get(session: Session, actor: Actor, sender_id: int) -> SenderNumber:
    return get_scoped(session, SenderNumber, sender_id, actor, missing=_("No such sender number in your account."))


def _number_of(session: Session, actor: Actor, row: SenderNumber) -> tuple[str, Subject]:
    subject = vault_of(session).subjects_by_id(session, actor.account_id, [row.subject_id]).get(row.subject_id)
    if subject is None:
        raise NotFound(_("This number was erased; add it again."))
    return subject.unseal(SENDER_NUMBER, row.number_ct), subject


def _parse(session: Session, actor: Actor, number: str) -> str:
    if len(number) > MAX_NUMBER_INPUT:
        raise InvalidInput(_("The number is too long."), fields={"number": _("Give one mobile number, e.g. 070-123 45 67.")})
    parsed = parse_number(number, account_region(session, actor))
    e164 = parsed.e164
    if e164 is None:
        raise InvalidInput(parsed.reason or _("The number is not valid."), fields={"number": parsed.reason or ""})
    if e164.lstrip("+") in (SHARED_REPLY_NUMBER, *REPLY_NUMBERS.values()):
        raise InvalidInput(
            _("This is the shared reply number."),
            fields={"number": _("Send from %(reply)s without verifying it.") % {"reply": SHARED_REPLY_NUMBER}},
        )
    owner = virtual_number_owner(session, e164)
    if owner == actor.account_id:
        raise InvalidInput(_("This is your account's virtual number."), fields={"number": _("You can send from it already; it needs no code.")})
    if owner is not None:
        raise InvalidInput(_("This number cannot be a sender of yours."), fields={"number": _("It is a virtual number of another account.")})
    if (recipient := parse_recipient(e164)).e164 is None:  # the code goes by SMS: a landline never gets it
        raise InvalidInput(recipient.reason or "", fields={"number": recipient.reason or ""})
    return e164


def request_code(session: Session, actor: Actor, number: str, *, now: datetime) -> CodeSent:
    """Add a mobile number as a sender (or ask again for one that waits): a code goes to it by SMS."""
    require(actor, Permission.ACCOUNT_SETTINGS)
    e164 = _parse(session, actor, number)
    vault = vault_of(session)
    subject = vault.subject(session, actor.account_id, e164, now=now)
    index = vault.blind_indexes(session, actor.account_id, [e164], now=now)[e164]
    bulk_insert(
        session, table_of(SenderNumber),
        [{"account_id": actor.account_id, "subject_id": subject.id, "blind_index": index, "code_attempts": 0, "codes_sent": 0,
          "number_ct": subject.seal(SENDER_NUMBER, e164), "created_at": now}],
        ignore_conflicts=True,  # two admins adding one number at once: one row
    )
    row: SenderNumber = session.execute(
        scoped(SenderNumber, actor).where(col(SenderNumber.blind_index) == index)
    ).scalars().one()
    if row.verified_at is not None:
        raise InvalidInput(_("This number is verified already."), fields={"number": _("It can be used as a sender now.")})
    action = Action.SENDER_CODE_SENT if row.codes_sent or row.code_sent_at else Action.SENDER_ADDED
    return _send_code(session, actor, row, e164, subject, action, now)


def resend_code(session: Session, actor: Actor, sender_id: int, *, now: datetime) -> CodeSent:
    require(actor, Permission.ACCOUNT_SETTINGS)
    row = _get(session, actor, sender_id)
    if row.verified_at is not None:
        raise InvalidInput(_("This number is verified already."), fields={"code": _("It can be used as a sender now.")})
    e164, subject = _number_of(session, actor, row)
    return _send_code(session, actor, row, e164, subject, Action.SENDER_CODE_SENT, now)


def _codes_to_number(session: Session, account_id: int, subject: Subject, now: datetime) -> tuple[int, datetime | None]:
    """Codes sent to this number (its subject, one per blind index) in the last day, and when the
    last went: counted from the code SMS themselves, so removing the number and adding it again
    does not start the count afresh."""
    messages = table_of(OutboundMessage)
    dispatches = table_of(Dispatch)
    count, last = session.execute(
        select(func.count(), func.max(messages.c.created_at))
        .select_from(messages.join(dispatches, dispatches.c.id == messages.c.dispatch_id))
        .where(owned_by(messages, account_id), messages.c.subject_id == subject.id,
               dispatches.c.channel == VERIFY_CHANNEL, messages.c.created_at > now - CODE_WINDOW)
    ).one()
    return count, last


def _send_code(session: Session, actor: Actor, row: SenderNumber, e164: str, subject: Subject, action: Action, now: datetime) -> CodeSent:
    codes_today, last_code = _codes_to_number(session, actor.account_id, subject, now)
    if (row.code_sent_at is not None and now - row.code_sent_at < RESEND_AFTER) or (last_code is not None and now - last_code < RESEND_AFTER):
        raise InvalidInput(_("A code was sent less than a minute ago: wait a minute before asking for a new one."))
    if row.window_started_at is None or now - row.window_started_at >= CODE_WINDOW:
        row.window_started_at, row.codes_sent = now, 0
    if row.codes_sent >= MAX_CODES_PER_NUMBER or codes_today >= MAX_CODES_PER_NUMBER:
        raise InvalidInput(_("At most %(count)d codes a day go to one number; try again tomorrow.") % {"count": MAX_CODES_PER_NUMBER})
    sent_today = session.execute(
        select(func.count()).select_from(Dispatch)
        .where(owned_by(Dispatch, actor), col(Dispatch.channel) == VERIFY_CHANNEL, col(Dispatch.created_at) > now - CODE_WINDOW)
    ).scalar_one()
    if sent_today >= MAX_CODES_PER_ACCOUNT:
        raise InvalidInput(_("Your account has sent %(count)d codes today, the most a day; try again tomorrow.") % {"count": MAX_CODES_PER_ACCOUNT})
    code = f"{secrets.randbelow(10**6):06d}"
    row.codes_sent += 1
    row.code_hash = _code_hash(session, row, code, now)
    row.code_expires_at = now + CODE_TTL
    row.code_attempts = 0
    row.code_sent_at = now
    session.add(row)
    session.flush()
    dispatch_id = _queue_code_sms(session, actor, subject, e164, code, now)
    record_event(session, actor, action, now=now, target=("sender", row.id), subjects=[subject.id], details={"dispatch": dispatch_id})
    assert row.id is not None  # a stored row
    return CodeSent(sender_id=row.id, number=mask(e164), code=code, expires_at=row.code_expires_at)


def _queue_code_sms(session: Session, actor: Actor, subject: Subject, e164: str, code: str, now: datetime) -> int:
    """One SMS with the code, through the outbox like any other; not billed."""
    text = _("%(code)s is the code that lets %(account)s send SMS from this number. It is valid for %(minutes)d minutes. "
             "Did you not expect it? Then do nothing.") % {"code": code, "account": actor.account_name, "minutes": CODE_TTL.seconds // 60}
    analysis = check_text(text[:750])
    dispatch_id: int = session.execute(INSERT_DISPATCH, dict(
        account_id=actor.account_id, created_by=actor.label, channel=VERIFY_CHANNEL, sender=VERIFY_SENDER, sender_subject_id=None,
        text_ct=b"", encoding=analysis.encoding, parts=analysis.parts, accepted=1, blocked=0, invalid=0, cost_minor=0, currency="SEK",
        status=DispatchStatus.QUEUED, send_at=now, idempotency_key=None, request_hash=None, created_at=now,
    )).scalar_one()
    account_key = vault_of(session).account_key(session, actor.account_id, DATA_PURPOSE, now=now)
    text_ct = seal_field(account_key, DISPATCH_TEXT, actor.account_id, dispatch_id, text[:750])
    session.execute(SET_DISPATCH_TEXT, {"dispatch": dispatch_id, "text": text_ct, "sealed_sender": None})
    session.execute(insert(table_of(OutboundMessage)), [dict(
        dispatch_id=dispatch_id, account_id=actor.account_id, subject_id=subject.id,
        recipient_ct=subject.seal(MESSAGE_RECIPIENT, e164), sender=VERIFY_SENDER,
        sender_kind=SenderKind.ALPHANUMERIC.value, country=country_of(e164) or "", parts=analysis.parts, cost_minor=0,
        status=MessageStatus.QUEUED, attempts=0, due_at=now, created_at=now,
    )])
    return dispatch_id


def confirm_code(session: Session, actor: Actor, sender_id: int, code: str, *, now: datetime) -> Verification:
    """Check a typed code. Every guess uses up one of the code's attempts before it is compared
    (so parallel guesses cannot exceed them); the outcome is returned, not raised, so that a
    wrong guess is counted and recorded."""
    require(actor, Permission.ACCOUNT_SETTINGS)
    row = _get(session, actor, sender_id)
    typed = code.replace(" ", "").replace("-", "")
    if not CODE.fullmatch(typed):
        raise InvalidInput(_("The code is not valid."), fields={"code": _("Type the 6 digits from the SMS.")})
    if row.verified_at is not None or row.code_hash is None or row.code_expires_at is None:
        return Verification(Outcome.NO_CODE, 0)
    if now >= row.code_expires_at:
        return Verification(Outcome.EXPIRED, 0)
    counted = rowcount(session.execute(
        update(SenderNumber).where(col(SenderNumber.id) == row.id, col(SenderNumber.code_attempts) < MAX_CODE_ATTEMPTS)
        .values(code_attempts=col(SenderNumber.code_attempts) + 1)
    ))
    session.refresh(row)
    if not counted:
        return Verification(Outcome.LOCKED, 0)
    if hmac.compare_digest(_code_hash(session, row, typed, now), row.code_hash):
        row.verified_at = now
        row.code_hash = row.code_expires_at = None
        row.code_attempts = 0
        session.add(row)
        session.flush()
        record_event(session, actor, Action.SENDER_VERIFIED, now=now, target=("sender", row.id), subjects=[row.subject_id])
        return Verification(Outcome.VERIFIED, 0)
    left = MAX_CODE_ATTEMPTS - row.code_attempts  # at 0 the code is void: only a new one can verify the number
    record_event(
        session, actor, Action.SENDER_VERIFICATION_FAILED, now=now, target=("sender", row.id), subjects=[row.subject_id],
        details={"attempts_left": left},
    )
    return Verification(Outcome.WRONG if left else Outcome.LOCKED, left)


def remove_sender_number(session: Session, actor: Actor, sender_id: int, *, now: datetime) -> None:
    """The number is no sender of the account any more; dispatches sent from it keep their own
    sealed copy (history), the person's key stays for their other data."""
    require(actor, Permission.ACCOUNT_SETTINGS)
    row = _get(session, actor, sender_id)
    session.delete(row)
    session.flush()
    record_event(session, actor, Action.SENDER_REMOVED, now=now, target=("sender", sender_id), subjects=[row.subject_id],
                 details={"was_verified": row.verified_at is not None})


def list_sender_numbers(session: Session, actor: Actor, *, now: datetime) -> list[SenderNumberView]:
    """The account's sender numbers, masked; showing them is recorded."""
    require(actor, Permission.ACCOUNT_SETTINGS)
    rows: Sequence[SenderNumber] = session.execute(scoped(SenderNumber, actor).order_by(col(SenderNumber.id))).scalars().all()
    if not rows:
        return []
    subjects = vault_of(session).subjects_by_id(session, actor.account_id, [row.subject_id for row in rows])
    views = []
    unreadable: list[UnreadableRow] = []
    for row in rows:
        assert row.id is not None  # a stored row
        subject = subjects.get(row.subject_id)
        clear = subject.unseal_or_none(SENDER_NUMBER, row.number_ct) if subject else None
        if subject is not None and clear is None:  # altered or moved in: that row says so, the page stays
            unreadable.append(UnreadableRow("sender_number", row.id, row.subject_id, ALTERED))
            number = _(CANNOT_BE_READ)
        else:
            number = mask(clear) if clear is not None else _("(erased)")
        waiting = row.code_hash is not None and row.code_attempts < MAX_CODE_ATTEMPTS and row.code_expires_at is not None and now < row.code_expires_at
        views.append(SenderNumberView(id=row.id, number=number, verified_at=row.verified_at,
                                      code_expires_at=row.code_expires_at if waiting else None, created_at=row.created_at))
    record_event(session, actor, Action.SENDERS_LISTED, now=now, subjects=[row.subject_id for row in rows], details={"shown": len(rows)})
    record_unreadable(session, actor, unreadable, now=now)
    return views


# -- rows from before: clear senders sealed (the data step of `govsms db upgrade`) -------------------


def seal_clear_senders(session: Session, *, now: datetime, batch: int = SEAL_BATCH) -> int:
    """Seal up to ``batch`` dispatches whose mobile-number sender is still in clear (written
    before senders were sealed) and clear it from their messages; returns how many were done
    (0: nothing left). A virtual number (of any account) is the provider's, no one's personal
    number, and stays: the worker refuses one assigned to another account when it sends. The
    caller commits each batch, so a stopped run resumes where it was."""
    table = table_of(Dispatch)
    virtual = select(col(VirtualNumber.number))
    rows = session.execute(
        select(table.c.id, table.c.account_id, table.c.sender)
        .where(table.c.sender.like("+%"), table.c.sender.not_in(virtual.scalar_subquery()))
        .order_by(table.c.id).limit(batch)
    ).all()
    if not rows:
        return 0
    vault = vault_of(session)
    by_account: dict[int, list[tuple[int, str]]] = {}
    for dispatch_id, account_id, sender in rows:
        by_account.setdefault(account_id, []).append((dispatch_id, sender))
    dialect = session.get_bind().dialect.name
    messages = table_of(OutboundMessage)
    for account_id, items in by_account.items():
        subjects = vault.subjects(session, account_id, {sender for _id, sender in items}, now=now)
        session.execute(
            update(table).where(table.c.id == bindparam("dispatch_id"), table.c.sender == bindparam("old"))
            .values(sender=None, sender_subject_id=bindparam("subject"), sender_ct=bindparam("sealed")),
            [{"dispatch_id": dispatch_id, "old": sender, "subject": subjects[sender].id, "sealed": seal_sender(subjects[sender], dispatch_id, sender)}
             for dispatch_id, sender in items],
        )
        session.execute(
            update(messages).where(one_of(messages.c.dispatch_id, [dispatch_id for dispatch_id, _sender in items], dialect),
                                   messages.c.sender_kind == SenderKind.NUMBER.value)
            .values(sender=None)
        )
    return len(rows)


def seal_all_clear_senders(factory: sessionmaker[Session], clock: Clock = SYSTEM_CLOCK) -> int:
    """The data step of ``govsms db upgrade`` for the senders migration, which holds no keys:
    seal the mobile-number senders stored in clear before, a batch per transaction (resumable),
    and replace clients' Idempotency-Keys stored in clear before by their keyed form in the same
    pass; on SQLite the WAL is then checkpointed and truncated, so the clear values leave it too.
    Returns how many dispatches it sealed (0 once done)."""
    total, changed = 0, False
    while True:
        with session_scope(factory) as session:
            done = seal_clear_senders(session, now=clock.now())
            keyed = key_clear_idempotency_keys(session, now=clock.now())  # clear client keys of the same rows
            bind = session.get_bind()
        if not done and not keyed:
            break
        total += done
        changed = True
    if changed:
        truncate_sqlite_wal(bind)
    return total
