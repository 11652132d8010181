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
from govsms.sending.reply_routes import find_reply_routes, provider_indexes
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
    value = _CONTROL.sub("", (raw or "").encode("utf-8", "replace").decode("utf-8")).strip()[:MAX_SOURCE]
    digits = value.lstrip("+")
    if digits.isascii() and digits.isdigit():
        candidates = [value] if value.startswith("+") else ([f"+{digits}", digits] if not digits.startswith("0") else [digits])
        for candidate in candidates:
            parsed = parse_number(candidate, "SE")
            if parsed.e164 is not None:
                return Source(parsed.e164, parsed.e164)
    return Source(None, value)


DESTINATION_REGION = "SE"
"""The provider's region: a destination written nationally (0766000123) is a number there."""


def normalise_destination(raw: str) -> str:
    """Our number as stored on an inbound SMS: digits, without '+' (72323, 46766000001). A
    number the SMSC gave nationally (0766000123, in ``DESTINATION_REGION``) or with 00 instead of
    '+' is put in international form, so a virtual number is found however it was written;
    short numbers (72323, 1963) and digits with their country code stay as they are."""
    value = _CONTROL.sub("", (raw or "").encode("utf-8", "replace").decode("utf-8")).strip()
    digits = value.lstrip("+")
    if digits.isascii() and digits.isdigit() and not value.startswith("+"):
        if digits.startswith("00"):
            digits = digits[2:]
        elif digits.startswith("0"):
            parsed = parse_number(digits, DESTINATION_REGION)
            if parsed.e164 is not None:
                digits = parsed.e164.lstrip("+")
    return digits[:16]


def fold(word: str) -> str:
    """A keyword's comparable form: NFC, casefolded (å ä ö fold to themselves)."""
    return unicodedata.normalize("NFC", word).casefold()


TRAILING_PUNCTUATION = ".!,:;"
"""Ignored after a STOP word or a keyword ("Stopp.", "Bygg: hej")."""


def split_first_word(text: str) -> tuple[str, str]:
    """(the first word casefolded, without punctuation after it; the rest without its leading spaces)."""
    stripped = text.lstrip()
    parts = stripped.split(None, 1)
    if not parts:
        return "", ""
    return fold(parts[0].rstrip(TRAILING_PUNCTUATION)), parts[1].lstrip() if len(parts) > 1 else ""


def is_stop(text: str) -> bool:
    """The text is a STOP word (trimmed, any case, punctuation after it ignored: "Stopp.", "STOP!")."""
    return fold(text.strip().rstrip(TRAILING_PUNCTUATION).rstrip()) in STOP_WORDS


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
    return find_routes(session, [(source, destination, text)], now=now)[0]


def find_routes(session: Session, items: list[tuple[Source, str, str]], *, now: datetime) -> list[Route]:
    """``find_route`` for a batch of (source, destination, text): one query per kind of route
    for the whole batch (virtual numbers, keywords, reply routes by primary key)."""
    routes: list[Route | None] = [None] * len(items)
    numbered = [position for position, (source, _destination, _text) in enumerate(items) if source.e164 is not None]
    virtual_numbers = sorted({"+" + items[position][1] for position in numbered})
    owners: dict[str, int] = {}
    if virtual_numbers:
        owners = {number: int(account_id) for number, account_id in session.execute(
            select(col(VirtualNumber.number), col(VirtualNumber.account_id)).where(col(VirtualNumber.number).in_(virtual_numbers))
        ).tuples()}
    shared: list[int] = []
    for position in numbered:
        _source, destination, text = items[position]
        if "+" + destination in owners:
            routes[position] = Route(owners["+" + destination], RoutedBy.VIRTUAL, text)
        elif destination in SHARED_NUMBERS:
            shared.append(position)
    words = {position: split_first_word(items[position][2]) for position in shared}
    wanted = sorted({word for word, _rest in words.values() if word and word not in RESERVED_KEYWORDS})
    keywords: dict[tuple[str, str], int] = {}
    if wanted:
        keywords = {(number, word): int(account_id) for number, word, account_id in session.execute(
            select(col(InboundKeyword.shared_number), col(InboundKeyword.keyword), col(InboundKeyword.account_id))
            .where(col(InboundKeyword.keyword).in_(wanted))
        ).tuples()}
    replies: list[int] = []
    for position in shared:
        word, rest = words[position]
        owner = keywords.get((items[position][1], word))
        if owner is not None:
            routes[position] = Route(owner, RoutedBy.KEYWORD, rest, keyword=word)
        else:
            replies.append(position)
    if replies:
        numbers = {items[position][0].e164 for position in replies}
        indexes = provider_indexes(session, [number for number in numbers if number is not None], now=now)
        found = find_reply_routes(session, sorted(set(indexes.values())), now=now)
        for position in replies:
            source, destination, text = items[position]
            assert source.e164 is not None
            match = found.get((indexes[source.e164], destination))
            if match is not None:
                routes[position] = Route(match[0], RoutedBy.REPLY, text, reply_to_message_id=match[1])
    provider: int | None = None
    for position, route in enumerate(routes):
        if route is None:
            provider = provider if provider is not None else provider_account_id(session)
            routes[position] = Route(provider, RoutedBy.UNROUTED, items[position][2])
    return [route for route in routes if route is not None]
