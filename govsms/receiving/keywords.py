"""The operator's side of receiving: keywords on the shared numbers (an SMS to 72323 whose first
word is a registered keyword reaches its account), and the unrouted queue (SMS no route matched,
kept in the provider's account: counts, and a message's text revealed on request, audited)."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import Date, cast, func, select
from sqlmodel import Session, col

from govsms.accounts.models import Account
from govsms.audit.actions import Action
from govsms.audit.record import record_event
from govsms.auth import Actor, Permission, require
from govsms.db import add_unless_taken
from govsms.errors import Conflict, InvalidInput, NotFound
from govsms.i18n import _
from govsms.keys.store import vault_of
from govsms.phone import mask
from govsms.receiving.models import INBOUND_NUMBER, INBOUND_TEXT, InboundKeyword, InboundMessage, RoutedBy
from govsms.receiving.routing import RESERVED_KEYWORDS, SHARED_NUMBERS, fold
from govsms.tenancy import owned_by

MAX_KEYWORD = 32
UNROUTED_DAYS = 30
"""The unrouted queue's counts cover this many days."""


def _keyword(typed: str) -> str:
    """The keyword as stored (casefolded), or InvalidInput saying what is wrong."""
    word = unicodedata.normalize("NFC", typed.strip())
    if not word:
        raise InvalidInput(_("Type a keyword."), fields={"keyword": _("Type a keyword.")})
    if any(unicodedata.category(character).startswith(("C", "Z")) for character in word):
        message = _("A keyword is one word: letters and digits, no spaces or control characters.")
        raise InvalidInput(message, fields={"keyword": message})
    if not all(character.isalnum() or character == "-" for character in word):
        message = _("A keyword has only letters, digits and dashes.")
        raise InvalidInput(message, fields={"keyword": message})
    folded = fold(word)
    if len(folded) > MAX_KEYWORD:
        message = _("A keyword has at most %(max)d characters.") % {"max": MAX_KEYWORD}
        raise InvalidInput(message, fields={"keyword": message})
    if folded in RESERVED_KEYWORDS:
        message = _("%(word)s is reserved: STOP, STOPP, AVSLUTA and AVREGISTRERA block the sender, HELP, HJÄLP and INFO are kept "
                    "for the service. Choose another word.") % {"word": word.upper()}
        raise InvalidInput(message, fields={"keyword": message})
    return folded


@dataclass(frozen=True)
class KeywordRow:
    id: int
    shared_number: str
    keyword: str
    account_id: int
    account_name: str
    created_at: datetime


def list_keywords(session: Session, actor: Actor) -> list[KeywordRow]:
    require(actor, Permission.PLATFORM)
    rows = session.execute(
        select(InboundKeyword, col(Account.name)).join(Account, col(Account.id) == col(InboundKeyword.account_id))
        .order_by(col(InboundKeyword.shared_number), col(InboundKeyword.keyword))
    ).all()
    return [
        KeywordRow(id=int(row.id), shared_number=row.shared_number, keyword=row.keyword, account_id=row.account_id,
                   account_name=name, created_at=row.created_at)
        for row, name in rows
    ]


def add_keyword(session: Session, actor: Actor, *, shared_number: str, keyword: str, account_id: int, now: datetime) -> InboundKeyword:
    """Assign a keyword on a shared number to a customer account (unique per number)."""
    require(actor, Permission.PLATFORM)
    number = shared_number.strip().lstrip("+")
    if number not in SHARED_NUMBERS:
        message = _("Choose one of the shared numbers: %(numbers)s.") % {"numbers": ", ".join(sorted(SHARED_NUMBERS))}
        raise InvalidInput(message, fields={"shared_number": message})
    word = _keyword(keyword)
    account = session.get(Account, account_id) if account_id > 0 else None
    if account is None or account.id is None or account.is_provider:
        raise InvalidInput(_("Choose a customer account."), fields={"account_id": _("Choose a customer account.")})
    taken = _("%(word)s is taken on %(number)s already; remove it there first or choose another word.") % {"word": word, "number": number}
    if session.execute(
        select(col(InboundKeyword.id)).where(col(InboundKeyword.shared_number) == number, col(InboundKeyword.keyword) == word)
    ).first() is not None:
        raise Conflict(taken, fields={"keyword": taken})
    row = add_unless_taken(session, InboundKeyword(account_id=account.id, shared_number=number, keyword=word, created_at=now))
    if row is None:  # assigned at the same moment by another operator
        raise Conflict(taken, fields={"keyword": taken})
    assert isinstance(row, InboundKeyword) and row.id is not None
    record_event(session, actor, Action.INBOUND_KEYWORD_ADDED, now=now, account_id=account.id, target=("inbound_keyword", row.id),
                 details={"shared_number": number, "keyword": word})
    return row


def remove_keyword(session: Session, actor: Actor, keyword_id: int, *, now: datetime) -> None:
    require(actor, Permission.PLATFORM)
    row = session.get(InboundKeyword, keyword_id) if keyword_id > 0 else None
    if row is None:
        raise NotFound(_("No such keyword (removed already?)."))
    record_event(session, actor, Action.INBOUND_KEYWORD_REMOVED, now=now, account_id=row.account_id, target=("inbound_keyword", keyword_id),
                 details={"shared_number": row.shared_number, "keyword": row.keyword})
    session.delete(row)
    session.flush()


def customer_accounts(session: Session, actor: Actor) -> list[Account]:
    require(actor, Permission.PLATFORM)
    return list(session.execute(select(Account).where(col(Account.is_provider).is_(False)).order_by(col(Account.name))).scalars())


# -- the unrouted queue ----------------------------------------------------------------------------


@dataclass(frozen=True)
class UnroutedDay:
    day: date
    destination: str
    count: int


@dataclass(frozen=True)
class UnroutedRow:
    id: int
    received_at: datetime
    destination: str
    parts: int


@dataclass(frozen=True)
class Revealed:
    id: int
    number: str
    """Masked (the operator needs the text, not the person's number)."""
    text: str
    received_at: datetime


def _unrouted(actor: Actor) -> list[object]:
    return [owned_by(InboundMessage, actor), col(InboundMessage.routed_by) == RoutedBy.UNROUTED]


def unrouted_counts(session: Session, actor: Actor, *, now: datetime) -> list[UnroutedDay]:
    """Unrouted SMS per day (UTC) and destination over the last ``UNROUTED_DAYS`` days: counts only."""
    require(actor, Permission.PLATFORM)
    day = cast(InboundMessage.received_at, Date) if session.get_bind().dialect.name == "postgresql" else func.date(InboundMessage.received_at)
    rows = session.execute(
        select(day.label("day"), col(InboundMessage.destination), func.count())
        .where(*_unrouted(actor), col(InboundMessage.received_at) >= now - timedelta(days=UNROUTED_DAYS))  # type: ignore[arg-type]
        .group_by(day, col(InboundMessage.destination)).order_by(day.desc(), col(InboundMessage.destination))
    ).all()
    return [UnroutedDay(day=value if isinstance(value, date) else date.fromisoformat(str(value)), destination=destination, count=int(count))
            for value, destination, count in rows]


def unrouted_messages(session: Session, actor: Actor, *, limit: int = 50) -> list[UnroutedRow]:
    """The latest unrouted SMS: when, to which of our numbers, how many parts (no number, no text)."""
    require(actor, Permission.PLATFORM)
    rows = session.execute(
        select(col(InboundMessage.id), col(InboundMessage.received_at), col(InboundMessage.destination), col(InboundMessage.parts))
        .where(*_unrouted(actor)).order_by(col(InboundMessage.received_at).desc(), col(InboundMessage.id).desc()).limit(limit)  # type: ignore[arg-type]
    ).all()
    return [UnroutedRow(id=int(row[0]), received_at=row[1], destination=row[2], parts=int(row[3])) for row in rows]


def reveal_unrouted(session: Session, actor: Actor, message_id: int, *, now: datetime) -> Revealed:
    """One unrouted SMS's text (the number masked), for the operator who asked: an audited read.
    Another account's SMS, or a routed one, is not found."""
    require(actor, Permission.PLATFORM)
    row = session.execute(select(InboundMessage).where(*_unrouted(actor), col(InboundMessage.id) == message_id)).scalars().first()  # type: ignore[arg-type]
    if row is None:
        raise NotFound(_("No such unrouted SMS."))
    subject = vault_of(session).subjects_by_id(session, row.account_id, [row.subject_id]).get(row.subject_id)
    text = subject.unseal_or_none(INBOUND_TEXT, row.text_ct) if subject is not None else None
    number = subject.unseal_or_none(INBOUND_NUMBER, row.number_ct) if subject is not None else None
    record_event(session, actor, Action.INBOUND_REVEALED, now=now, target=("inbound_message", message_id), subjects=[row.subject_id])
    assert row.id is not None
    return Revealed(
        id=row.id, number=(mask(number) if number and number.startswith("+") else _("(not a number)")) if number is not None else "",
        text=text if text is not None else _("This SMS cannot be read (erased or damaged)."), received_at=row.received_at,
    )
