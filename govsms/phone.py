"""Phone numbers: parsing what people type or import into E.164, and masking numbers for display."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import phonenumbers
from babel import Locale

from govsms.errors import InvalidInput
from govsms.i18n import N_, _, current_language

EMPTY = N_("Empty. Enter a phone number.")
CONTAINS_LETTERS = N_("Contains letters. A phone number has only digits, and + before a country code.")
CONTAINS_OTHER_CHARACTERS = N_(
    "Contains characters that are not part of a phone number. "
    "Use digits, spaces and dashes, and + before a country code."
)
TOO_FEW_DIGITS = N_("Too few digits for a phone number. Check that no digit is missing.")
TOO_MANY_DIGITS = N_("Too many digits for a phone number. Check for extra digits, or two numbers in one field.")
UNKNOWN_COUNTRY_CODE = N_("Unknown country code. Check the digits after + or 00.")
NOT_VALID_IN_REGION = N_(
    "Not a valid number in %(country)s (%(region)s). "
    "Check the number; a number abroad starts with + and the country code."
)
NOT_VALID_FOR_COUNTRY_CODE = N_("Not a valid number for country code +%(code)d. Check the number.")

# What an SMS can be sent to, by the number type phonenumbers gives (its metadata, per country).
# Refused: types whose numbers cannot receive SMS. Warned: types that may or may not (the SMS is
# sent and billed; only a mobile phone gets it). VoIP and personal (follow-me) numbers are
# warned, not refused: some take SMS, many do not, and the country's plan cannot tell which.
LANDLINE = N_("A landline number: it cannot receive SMS. Give a mobile number.")
PREMIUM_RATE = N_("A premium-rate number: it cannot receive SMS. Give a mobile number.")
TOLL_FREE = N_("A toll-free number: it cannot receive SMS. Give a mobile number.")
SHARED_COST = N_("A shared-cost number: it cannot receive SMS. Give a mobile number.")
MAYBE_UAN = N_("A company number (UAN, in Sweden 010): it gets the SMS only if the company's service leads it to a mobile phone.")
PAGER = N_("A pager number: it cannot receive SMS. Give a mobile number.")
VOICEMAIL = N_("A voicemail access number: it cannot receive SMS. Give a mobile number.")
MAYBE_LANDLINE = N_(
    "In this country landline and mobile numbers look alike: the SMS is sent and charged, "
    "but only a mobile phone gets it."
)
MAYBE_VOIP = N_("An internet telephony (VoIP) number: it gets the SMS only if its service takes SMS.")
MAYBE_PERSONAL = N_("A personal (follow-me) number: it gets the SMS only if it leads to a mobile phone.")
UNKNOWN_TYPE = N_("The kind of number is not known: the SMS is sent and charged, but only a mobile phone gets it.")
_TYPE = phonenumbers.PhoneNumberType
CANNOT_TAKE_SMS = {
    _TYPE.FIXED_LINE: LANDLINE, _TYPE.PREMIUM_RATE: PREMIUM_RATE, _TYPE.TOLL_FREE: TOLL_FREE,
    _TYPE.SHARED_COST: SHARED_COST, _TYPE.PAGER: PAGER, _TYPE.VOICEMAIL: VOICEMAIL,
}
"""Number types refused as recipients of an SMS, and why."""
MAY_NOT_TAKE_SMS = {
    _TYPE.FIXED_LINE_OR_MOBILE: MAYBE_LANDLINE, _TYPE.VOIP: MAYBE_VOIP, _TYPE.PERSONAL_NUMBER: MAYBE_PERSONAL,
    _TYPE.UAN: MAYBE_UAN,  # Swedish 010 numbers are often staff's mobiles behind a company switchboard
    _TYPE.UNKNOWN: UNKNOWN_TYPE,
}
"""Number types accepted as recipients with a warning. Every other type (MOBILE) is accepted."""

# Bounds over every country in phonenumbers' metadata (tests check them against it): a national
# number outside them is wrong everywhere, so the reason is "too few/many digits" rather than
# "not valid in <country>".
SHORTEST_NATIONAL_NUMBER = 4
LONGEST_NATIONAL_NUMBER = 17
# Refuse absurd input before phonenumbers sees it (it gives up at 250 characters anyway).
LONGEST_INPUT = 40

# What people put between digits, including what spreadsheets and word processors substitute
# (no-break and thin spaces, Unicode dashes, byte-order and direction marks from copy-paste).
_SEPARATORS = str.maketrans(
    "", "", " \t\r\n\u00a0\u2007\u2009\u202f\u200b\u200e\u200f\ufeff-\u2010\u2011\u2012\u2013\u2014\u2212./()"
)
# \d is any Unicode decimal digit here: phonenumbers folds Arabic-Indic or full-width digits to ASCII.
_PLUS_AND_DIGITS = re.compile(r"\+?\d*")

# Fast path. The mobile pattern comes from phonenumbers' own metadata (today 7[023689]\d{7}), so
# the fast path accepts exactly the Swedish mobiles phonenumbers calls valid, also after an
# upgrade of its data. re.ASCII keeps non-ASCII digits out of the E.164 we build by hand.
DEFAULT_REGION = "SE"
"""Where numbers without a country code are read when no account says otherwise."""
_SWEDISH_METADATA = phonenumbers.PhoneMetadata.metadata_for_region("SE")
assert _SWEDISH_METADATA is not None and _SWEDISH_METADATA.mobile is not None  # shipped with phonenumbers
_SWEDISH_MOBILE = _SWEDISH_METADATA.mobile.national_number_pattern
_SWEDISH_MOBILE_FROM_SWEDEN = re.compile(rf"(?:0|\+460?|00460?)({_SWEDISH_MOBILE})", re.ASCII)
# Outside Sweden, 0 is not the Swedish trunk prefix and 00 is not everywhere the way abroad.
_SWEDISH_MOBILE_FROM_ANYWHERE = re.compile(rf"\+460?({_SWEDISH_MOBILE})", re.ASCII)
_E164_SHAPE = re.compile(r"\+[0-9]{2,20}", re.ASCII)


@dataclass(frozen=True, slots=True)
class ParsedNumber:
    """One input and either its E.164 form or the reason, in the request's language, it was refused."""

    raw: str
    e164: str | None
    reason: str | None
    warning: str | None = None
    """For an accepted recipient that may not get an SMS (``parse_recipient``): why."""

    @property
    def ok(self) -> bool:
        return self.e164 is not None

    def __repr__(self) -> str:
        # Results end up in log lines and tracebacks: the repr never shows the number.
        if self.e164 is not None:
            return f"ParsedNumber({mask(self.e164)})"
        return f"ParsedNumber(refused: {self.reason})"


def parse_number(raw: str, region: str = "SE") -> ParsedNumber:
    """Parse one number typed or imported in ``region`` (ISO code; used when there is no + or 00)."""
    region = _checked_region(region)
    return _parse(raw, region, _fast_path_for(region))


def parse_many(raws: Iterable[str], region: str = "SE") -> list[ParsedNumber]:
    """``parse_number`` over an import; the region is checked once."""
    region = _checked_region(region)
    fast_path = _fast_path_for(region)
    return [_parse(raw, region, fast_path) for raw in raws]


def parse_recipient(raw: str, region: str = "SE") -> ParsedNumber:
    """``parse_number`` for a number an SMS is sent to: refuses numbers that cannot receive SMS
    (landlines, premium-rate, toll-free...) with a reason, and warns of those that may not."""
    return parse_recipients([raw], region)[0]


def parse_recipients(raws: Iterable[str], region: str = "SE") -> list[ParsedNumber]:
    """``parse_recipient`` over a list; the region is checked once. Swedish mobiles (the fast
    path) are mobiles by the same metadata and need no further look."""
    region = _checked_region(region)
    fast_path = _fast_path_for(region)
    return [_sms_capable(_parse(raw, region, fast_path)) for raw in raws]


def normalise(raw: str, region: str = "SE") -> str:
    """The E.164 form of ``raw``, or ``InvalidInput`` saying what is wrong with it."""
    parsed = parse_number(raw, region)
    if parsed.e164 is not None:
        return parsed.e164
    reason = parsed.reason or _(EMPTY)  # a refusal always has a reason; "or" is for the type checker
    raise InvalidInput(reason, fields={"number": reason})


def region_of(e164: str) -> str | None:
    """ISO region of a number ("SE", "NO"); None when the digits do not tell, or for +800-style numbers."""
    _split_e164(e164)
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return None
    region = phonenumbers.region_code_for_number(number)
    return None if region in (None, phonenumbers.REGION_CODE_FOR_NON_GEO_ENTITY) else region


def calling_code(e164: str) -> int:
    """The country calling code of an E.164 number: 46 for ``+46701234567``."""
    return _split_e164(e164)[0]


def mask(e164: str) -> str:
    """``+46 70 *** ** 67``: the country code and at most four, and at most half, of the national digits."""
    code, national = _split_e164(e164)
    shown = min(4, len(national) // 2)
    head, tail = national[: (shown + 1) // 2], national[len(national) - shown // 2 :]
    parts = [f"+{code}", head, _stars(len(national) - len(head) - len(tail)), tail]
    return " ".join(part for part in parts if part)


def readable(e164: str) -> str:
    """``+46 70 123 45 67``: the international format people read (phonenumbers' grouping); what
    is not a number phonenumbers knows is shown as given."""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


# -- internals ------------------------------------------------------------------------------------


def _checked_region(region: str) -> str:
    code = region.upper()
    if code not in phonenumbers.SUPPORTED_REGIONS:
        # A programming or configuration error, not bad user input.
        raise ValueError(f"unknown region code {region!r}")
    return code


def _fast_path_for(region: str) -> re.Pattern[str]:
    return _SWEDISH_MOBILE_FROM_SWEDEN if region == "SE" else _SWEDISH_MOBILE_FROM_ANYWHERE


def _clean(raw: str) -> str:
    return raw.translate(_SEPARATORS)


def _parse(raw: str, region: str, fast_path: re.Pattern[str]) -> ParsedNumber:
    cleaned = _clean(raw)
    # Swedish mobiles are most of every import: string operations instead of phonenumbers'
    # general parser, which costs about 15 times as much.
    match = fast_path.fullmatch(cleaned)
    if match:
        return ParsedNumber(raw, "+46" + match.group(1), None)
    return _parse_thoroughly(raw, cleaned, region)


def _parse_thoroughly(raw: str, cleaned: str, region: str) -> ParsedNumber:
    """The reference path: phonenumbers decides; the fast path must agree with it."""
    if not cleaned:
        return _refused(raw, _(EMPTY))
    if any(char.isalpha() for char in cleaned):
        return _refused(raw, _(CONTAINS_LETTERS))
    if not _PLUS_AND_DIGITS.fullmatch(cleaned):
        return _refused(raw, _(CONTAINS_OTHER_CHARACTERS))
    if len(cleaned) > LONGEST_INPUT:
        return _refused(raw, _(TOO_MANY_DIGITS))
    try:
        number = phonenumbers.parse(cleaned, region)
    except phonenumbers.NumberParseException as error:
        return _refused(raw, _reason_for_parse_error(error))
    national_length = len(phonenumbers.national_significant_number(number))
    if national_length < SHORTEST_NATIONAL_NUMBER:
        return _refused(raw, _(TOO_FEW_DIGITS))
    if national_length > LONGEST_NATIONAL_NUMBER:
        return _refused(raw, _(TOO_MANY_DIGITS))
    if not phonenumbers.is_valid_number(number):
        return _refused(raw, _not_valid_reason(number, region))
    return ParsedNumber(raw, phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), None)


def _sms_capable(parsed: ParsedNumber) -> ParsedNumber:
    if parsed.e164 is None or _SWEDISH_MOBILE_FROM_ANYWHERE.fullmatch(parsed.e164):
        return parsed  # refused already, or a Swedish mobile by the metadata's own pattern
    number_type = phonenumbers.number_type(phonenumbers.parse(parsed.e164, None))
    if number_type in CANNOT_TAKE_SMS:
        return _refused(parsed.raw, _(CANNOT_TAKE_SMS[number_type]))
    if number_type in MAY_NOT_TAKE_SMS:
        return ParsedNumber(parsed.raw, parsed.e164, None, _(MAY_NOT_TAKE_SMS[number_type]))
    return parsed


def _refused(raw: str, reason: str) -> ParsedNumber:
    return ParsedNumber(raw, None, reason)


def _reason_for_parse_error(error: phonenumbers.NumberParseException) -> str:
    if error.error_type == phonenumbers.NumberParseException.INVALID_COUNTRY_CODE:
        return _(UNKNOWN_COUNTRY_CODE)
    if error.error_type == phonenumbers.NumberParseException.TOO_LONG:
        return _(TOO_MANY_DIGITS)
    # NOT_A_NUMBER (a lone digit or +), TOO_SHORT_NSN, TOO_SHORT_AFTER_IDD: input is only digits here.
    return _(TOO_FEW_DIGITS)


def _not_valid_reason(number: phonenumbers.PhoneNumber, region: str) -> str:
    if number.country_code == phonenumbers.country_code_for_region(region):
        # Typed for the expected country (or with its own code): name that country, even where
        # several share the code (+1, +44) and the digits alone would not tell which.
        shown_region: str | None = region
    else:
        shown_region = phonenumbers.region_code_for_number(number)
    if shown_region in (None, phonenumbers.REGION_CODE_FOR_NON_GEO_ENTITY):
        return _(NOT_VALID_FOR_COUNTRY_CODE) % {"code": number.country_code}
    return _(NOT_VALID_IN_REGION) % {"country": _country_name(shown_region), "region": shown_region}


def _country_name(region: str) -> str:
    """The country's name in the request's language (from CLDR via Babel), e.g. Sweden / Sverige."""
    name: str = Locale.parse(current_language.get()).territories.get(region, region)
    return name


def _split_e164(e164: str) -> tuple[int, str]:
    """(calling code, national digits); ValueError, without the value, if it is not E.164."""
    if _E164_SHAPE.fullmatch(e164):
        # Calling codes are prefix-free (ITU E.164), so the first known prefix is the code.
        for length in (1, 2, 3):
            code = int(e164[1 : 1 + length])
            if code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
                return code, e164[1 + length :]
    raise ValueError("expected an E.164 number with a known country code, like +46701234567")


def _stars(count: int) -> str:
    """``*** **`` for five, ``*** ** **`` for seven: groups of three, and never a lone star after them."""
    groups = []
    while count > 4:
        groups.append("***")
        count -= 3
    groups.extend(["**", "**"] if count == 4 else ["*" * count] if count else [])
    return " ".join(groups)
