"""Where an inbound SMS goes (DESIGN.md "Receiving"): (1) to a virtual number: its account;
(2) to a shared number with a registered keyword as its first word: the keyword's account, the
keyword stripped; (3) the latest send to that number from that shared number within the reply
window (a reply route): that account and message; (4) else the provider's unrouted queue.

Pure decisions and one lookup each; ``service.route_inbound`` stores and acts on the result."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session, col

from govsms.accounts.models import Account
from govsms.errors import ConfigurationError
from govsms.phone import parse_number
from govsms.receiving.models import InboundKeyword, RoutedBy
from govsms.sending.models import VirtualNumber
from govsms.sending.reply_routes import find_reply_route, provider_indexes
from govsms.sending.senders import REPLY_NUMBERS

STOP_WORDS = frozenset({"stop", "stopp", "avsluta", "avregistrera"})
"""Casefolded: a text that is one of these (trimmed, any case) blocks the number for the account."""
RESERVED_KEYWORDS = STOP_WORDS | frozenset({"help", "hjälp", "info"})
"""Words no account can have as a keyword."""
SHARED_NUMBERS = frozenset(REPLY_NUMBERS.values())
MAX_SOURCE = 32
"""A source that is no number is kept (sealed) as given, at most this long."""
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class Source:
    """The sender as the SMSC gave it: its E.164 form if it is a phone number."""

    e164: str | None
    stored: str
    """What is stored (sealed): the E.164 number, or the source as given (cleaned, cut)."""


@dataclass(frozen=True)
class Route:
    account_id: int
    routed_by: str
    """A ``RoutedBy`` value."""
    text: str
    """The text to store: the keyword stripped when a keyword routed it."""
    keyword: str | None = None
    reply_to_message_id: int | None = None


def normalise_source(raw: str) -> Source:
    """The sender's number in E.164. The SMSC gives it with '+' when international, else as
    digits that may still carry the country code (46701234567) or be national (0701234567).
    Anything else (an alphanumeric sender, garbage) is no number: it is stored as given and the
    SMS goes to the operator's queue (no account can reply to it or block it)."""
    value = _CONTROL.sub("", raw or "").strip()[:MAX_SOURCE]
    digits = value.lstrip("+")
    if digits.isascii() and digits.isdigit():
        candidates = [value] if value.startswith("+") else ([f"+{digits}", digits] if not digits.startswith("0") else [digits])
        for candidate in candidates:
            parsed = parse_number(candidate, "SE")
            if parsed.e164 is not None:
                return Source(parsed.e164, parsed.e164)
    return Source(None, value)


def normalise_destination(raw: str) -> str:
    """Our number as stored on an inbound SMS: digits, without '+' (72323, 46766000001)."""
    return _CONTROL.sub("", raw or "").strip().lstrip("+")[:16]


def fold(word: str) -> str:
    """A keyword's comparable form: NFC, casefolded (å ä ö fold to themselves)."""
    return unicodedata.normalize("NFC", word).casefold()


def split_first_word(text: str) -> tuple[str, str]:
    """(the first word casefolded, the rest without its leading spaces)."""
    stripped = text.lstrip()
    parts = stripped.split(None, 1)
    if not parts:
        return "", ""
    return fold(parts[0]), parts[1].lstrip() if len(parts) > 1 else ""


def is_stop(text: str) -> bool:
    """The text is a STOP word (trimmed, any case)."""
    return fold(text.strip()) in STOP_WORDS


def provider_account_id(session: Session) -> int:
    """The provider's account (the lowest id of those marked provider): unrouted SMS are its."""
    found = session.execute(
        select(col(Account.id)).where(col(Account.is_provider).is_(True)).order_by(col(Account.id)).limit(1)
    ).scalar_one_or_none()
    if found is None:
        raise ConfigurationError("No provider account: create it (govsms init) before receiving SMS.")
    return int(found)


def find_route(session: Session, source: Source, destination: str, text: str, *, now: datetime) -> Route:
    """The account (and how) an SMS from ``source`` to ``destination`` goes to."""
    if source.e164 is not None:
        virtual = session.execute(
            select(col(VirtualNumber.account_id)).where(col(VirtualNumber.number) == "+" + destination)
        ).scalar_one_or_none()
        if virtual is not None:
            return Route(int(virtual), RoutedBy.VIRTUAL, text)
        if destination in SHARED_NUMBERS:
            word, rest = split_first_word(text)
            if word and word not in RESERVED_KEYWORDS:
                owner = session.execute(
                    select(col(InboundKeyword.account_id))
                    .where(col(InboundKeyword.shared_number) == destination, col(InboundKeyword.keyword) == word)
                ).scalar_one_or_none()
                if owner is not None:
                    return Route(int(owner), RoutedBy.KEYWORD, rest, keyword=word)
            index = provider_indexes(session, [source.e164], now=now)[source.e164]
            route = find_reply_route(session, index, destination, now=now)
            if route is not None:
                return Route(route[0], RoutedBy.REPLY, text, reply_to_message_id=route[1])
    return Route(provider_account_id(session), RoutedBy.UNROUTED, text)
