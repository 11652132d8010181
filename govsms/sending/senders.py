"""Who an SMS comes from: a text sender, a verified mobile number, a virtual number of the
account, or the shared reply number 72323, which is switched per recipient by country (1963 for
Norway, 4560991000 abroad). A mobile number is a person's: it is stored sealed under its
subject's key (``seal_sender``) and opened in bulk (``open_senders``)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select as select_core
from sqlmodel import Session, col, select

from govsms.auth import Actor
from govsms.keys.crypto import DecryptionError, Subject
from govsms.errors import InvalidInput
from govsms.i18n import _
from govsms.keys.store import vault_of
from govsms.phone import calling_code, parse_number
from govsms.sending.models import DISPATCH_SENDER, SenderNumber, VirtualNumber
from govsms.sending.wire import SenderKind
from govsms.audit.unreadable import ALTERED, UnreadableRow
from govsms.tenancy import owned_by

SHARED_REPLY_NUMBER = "72323"
# Calling code -> the reply number recipients there can answer; "*" is every other country.
# Sweden gets the short number itself; a short number does not work across borders.
REPLY_NUMBERS: dict[str, str] = {"46": "72323", "47": "1963", "*": "4560991000"}
TEXT_SENDER = re.compile(r"^[A-Za-z0-9 ]{1,11}$")
MAX_TEXT_SENDER = 11
NUMBER_IN_TEXT = re.compile(r"[0-9]{7}")
"""A text sender with a run of 7 digits (spaces aside) is a phone number in disguise: refused."""


@dataclass(frozen=True)
class SenderChoice:
    kind: str
    """``text`` (no replies), ``number`` (a verified mobile number: replies go to that phone),
    ``virtual`` (replies to the account's own number) or ``reply`` (72323: replies land in the inbox)."""
    value: str
    subject: Subject | None = None
    """A mobile number's data subject: its key seals the number wherever a dispatch keeps it."""

    @property
    def can_reply(self) -> bool:
        return self.kind != "text"

    @property
    def stored(self) -> str | None:
        """What a dispatch may keep in clear: anything but a person's mobile number."""
        return None if self.kind == "number" else self.value

    def for_recipient(self, e164: str) -> tuple[str | None, SenderKind]:
        """The sender this recipient sees, and how SMPP must mark it; None: the dispatch's sealed
        mobile number (the worker opens it once per dispatch)."""
        if self.kind == "text":
            return self.value, SenderKind.ALPHANUMERIC
        if self.kind == "reply":
            number = REPLY_NUMBERS.get(str(calling_code(e164)), REPLY_NUMBERS["*"])
            return number, SenderKind.SHORT_CODE if len(number) <= 6 else SenderKind.NUMBER
        if self.kind == "number":
            return None, SenderKind.NUMBER
        return self.value.lstrip("+"), SenderKind.NUMBER


def verified_sender(session: Session, account_id: int, e164: str, *, now: datetime) -> Subject | None:
    """The subject of this number if it is a verified sender of the account (its key unwrapped)."""
    vault = vault_of(session)
    index = vault.blind_indexes(session, account_id, [e164], now=now)[e164]
    subject_id = session.execute(
        select_core(col(SenderNumber.subject_id)).where(
            owned_by(SenderNumber, account_id), col(SenderNumber.blind_index) == index, col(SenderNumber.verified_at).is_not(None)
        )
    ).scalar()
    if subject_id is None:
        return None
    return vault.subjects_by_id(session, account_id, [subject_id]).get(subject_id)  # None: erased since


def virtual_number_owner(session: Session, e164: str) -> int | None:
    """The account a virtual number is assigned to (the provider's numbers, no one's personal data)."""
    return session.exec(select(VirtualNumber.account_id).where(VirtualNumber.number == e164)).first()


def resolve_sender(
    session: Session | None, actor: Actor, value: str, *, now: datetime, region: str = "SE", check_verified: bool = True
) -> SenderChoice:
    """What the customer typed as sender, checked; refused with a reason. A virtual number only
    for the account it is assigned to; a mobile number only once verified for this account.
    ``check_verified=False`` (the live counter): a mobile number's format only, its verification
    is not looked up (that would tell anyone who can send whether a number is verified, with no
    event); the choice then has no subject. ``session`` None: only for a value that is no number
    (a text sender, the reply number), which needs no database."""
    value = value.strip()
    if not value:
        raise InvalidInput(_("Choose a sender."), fields={"from": _("Choose a sender.")})
    if value in (SHARED_REPLY_NUMBER, *REPLY_NUMBERS.values()):
        return SenderChoice("reply", SHARED_REPLY_NUMBER)
    digits = value.replace(" ", "").replace("-", "")
    if digits.lstrip("+").isdigit():
        parsed = parse_number(value, region)
        e164 = parsed.e164
        if e164 is None:
            raise InvalidInput(_("The sender is not a valid number."), fields={"from": parsed.reason or ""})
        if e164.lstrip("+") in REPLY_NUMBERS.values():
            return SenderChoice("reply", SHARED_REPLY_NUMBER)
        assert session is not None, "a number as sender is looked up in the database"
        owner = virtual_number_owner(session, e164)
        if owner == actor.account_id:
            return SenderChoice("virtual", e164)
        if owner is not None:
            raise InvalidInput(
                _("You cannot send from this number."),
                fields={"from": _("This virtual number belongs to another account. Send from a number of your own account, "
                                  "a verified mobile number, a text sender or %(reply)s.") % {"reply": SHARED_REPLY_NUMBER}},
            )
        if not check_verified:
            return SenderChoice("number", e164)
        subject = verified_sender(session, actor.account_id, e164, now=now)
        if subject is None:
            raise InvalidInput(
                _("The sender is not verified."),
                fields={"from": _("This mobile number is not a verified sender of your account. An administrator can verify it "
                                  "under Settings, Senders (/settings/senders): a code is sent to it by SMS and typed in there.")},
            )
        return SenderChoice("number", e164, subject)
    if len(value) > MAX_TEXT_SENDER:
        raise InvalidInput(
            _("The sender is too long."),
            fields={"from": _("A text sender has at most %(max)d characters; this one has %(count)d.") % {"max": MAX_TEXT_SENDER, "count": len(value)}},
        )
    if not TEXT_SENDER.match(value):
        raise InvalidInput(
            _("The sender has characters that cannot be used."),
            fields={"from": _("Use only A-Z, a-z, 0-9 and spaces: no å, ä, ö or other special characters.")},
        )
    if NUMBER_IN_TEXT.search(value.replace(" ", "")):
        raise InvalidInput(
            _("The sender looks like a phone number."),
            fields={"from": _("A text sender cannot hold 7 digits or more in a row. To send from a mobile number, give the number "
                              "itself: it must be a verified sender of your account.")},
        )
    if not any(char.isalpha() for char in value):
        raise InvalidInput(_("The sender needs a letter."), fields={"from": _("A text sender must contain at least one letter.")})
    return SenderChoice("text", value)


def seal_sender(subject: Subject, dispatch_id: int, e164: str) -> bytes:
    """A dispatch's mobile-number sender, sealed under its subject's key and bound to the dispatch."""
    return subject.seal(DISPATCH_SENDER, e164, owner_id=dispatch_id)


def open_senders(
    session: Session, account_id: int, sealed: Iterable[tuple[int, int | None, bytes | None]], unreadable: list[UnreadableRow] | None = None
) -> dict[int, str]:
    """Open the sealed senders of dispatches of one account: ``(dispatch_id, subject_id, sender_ct)``
    in, dispatch id -> E.164 out, with one key-store query for all of them. A dispatch whose
    sender's subject was erased (or whose value does not open) is absent; one whose value does not
    open while its key is there (altered, moved in from another row) is also added to ``unreadable``."""
    rows = [(dispatch_id, subject_id, blob) for dispatch_id, subject_id, blob in sealed if subject_id is not None and blob]
    if not rows:
        return {}
    subjects = vault_of(session).subjects_by_id(session, account_id, {subject_id for _id, subject_id, _blob in rows})
    opened: dict[int, str] = {}
    for dispatch_id, subject_id, blob in rows:
        subject = subjects.get(subject_id)
        if subject is None:
            continue
        try:
            opened[dispatch_id] = subject.unseal(DISPATCH_SENDER, blob, owner_id=dispatch_id)
        except (DecryptionError, UnicodeDecodeError):
            if unreadable is not None:
                unreadable.append(UnreadableRow("dispatch", dispatch_id, subject_id, ALTERED))
            continue
    return opened
