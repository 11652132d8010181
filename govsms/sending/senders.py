"""Who an SMS comes from: a text sender, a mobile number, a virtual number, or the shared reply
number 72323, which is switched per recipient by country (1963 for Norway, 4560991000 abroad)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlmodel import Session, select

from govsms.accounts.actor import Actor
from govsms.errors import InvalidInput
from govsms.i18n import _
from govsms.phone import calling_code, parse_number
from govsms.sending.models import VirtualNumber
from govsms.sending.transports.base import SenderKind

SHARED_REPLY_NUMBER = "72323"
# Calling code -> the reply number recipients there can answer; "*" is every other country.
# Sweden gets the short number itself; a short number does not work across borders.
REPLY_NUMBERS: dict[str, str] = {"46": "72323", "47": "1963", "*": "4560991000"}
TEXT_SENDER = re.compile(r"^[A-Za-z0-9 ]{1,11}$")
MAX_TEXT_SENDER = 11


@dataclass(frozen=True)
class SenderChoice:
    kind: str
    """``text`` (no replies), ``number`` (replies to that phone), ``virtual`` (replies to the
    account's own number) or ``reply`` (72323: replies land in the inbox)."""
    value: str

    @property
    def can_reply(self) -> bool:
        return self.kind != "text"

    def for_recipient(self, e164: str) -> tuple[str, SenderKind]:
        """The sender this recipient sees, and how SMPP must mark it."""
        if self.kind == "text":
            return self.value, SenderKind.ALPHANUMERIC
        if self.kind == "reply":
            number = REPLY_NUMBERS.get(str(calling_code(e164)), REPLY_NUMBERS["*"])
            return number, SenderKind.SHORT_CODE if len(number) <= 6 else SenderKind.NUMBER
        return self.value.lstrip("+"), SenderKind.NUMBER


def resolve_sender(session: Session, actor: Actor, value: str, *, region: str = "SE") -> SenderChoice:
    """What the customer typed as sender, checked; refused with a reason."""
    value = value.strip()
    if not value:
        raise InvalidInput(_("Choose a sender."), fields={"from": _("Choose a sender.")})
    if value in (SHARED_REPLY_NUMBER, *REPLY_NUMBERS.values()):
        return SenderChoice("reply", SHARED_REPLY_NUMBER)
    digits = value.replace(" ", "").replace("-", "")
    if digits.lstrip("+").isdigit():
        parsed = parse_number(value, region)
        if not parsed.ok:
            raise InvalidInput(_("The sender is not a valid number."), fields={"from": parsed.reason or ""})
        own = session.exec(
            select(VirtualNumber.number).where(VirtualNumber.number == parsed.e164, VirtualNumber.account_id == actor.account_id)
        ).first()
        return SenderChoice("virtual" if own else "number", parsed.e164)  # type: ignore[arg-type]
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
    if not any(char.isalpha() for char in value):
        raise InvalidInput(_("The sender needs a letter."), fields={"from": _("A text sender must contain at least one letter.")})
    return SenderChoice("text", value)
