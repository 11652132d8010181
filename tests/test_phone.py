"""Phone number parsing, the Swedish-mobile fast path against phonenumbers, masking (pure, no database)."""

from __future__ import annotations

import re

import phonenumbers
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from govsms import phone
from govsms.errors import InvalidInput
from govsms.i18n import language
from govsms.phone import ParsedNumber, calling_code, mask, normalise, parse_many, parse_number, region_of

SWEDISH_FORMATS = [
    "070-123 45 67",
    "070 123 45 67",
    "0701234567",
    "+46 70 123 45 67",
    "0046701234567",
    "(070) 123 45 67",
    "+46 (0)70 123 45 67",
    "+46701234567",
    "070.123.45.67",
    "070–123\u00a045\u00a067",  # en dash and no-break spaces, as word processors write them
    "\ufeff070-1234567",  # byte-order mark on the first cell of a CSV file
    " 070-123 45 67 \n",
    "070/123 45 67",
]


@pytest.mark.parametrize("raw", SWEDISH_FORMATS)
def test_swedish_formats_give_e164(raw: str) -> None:
    parsed = parse_number(raw)
    assert parsed == ParsedNumber(raw=raw, e164="+46701234567", reason=None)
    assert parsed.ok


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("+47 412 34 567", "+4741234567"),
        ("+45 20 12 34 56", "+4520123456"),
        ("+358 40 123 4567", "+358401234567"),  # Finland, mobile
        ("+49 30 123456", "+4930123456"),  # Germany, Berlin landline
        ("0049 151 23456789", "+4915123456789"),  # Germany, mobile, with 00
        ("08-123 456 78", "+46812345678"),  # Stockholm landline: the slow path
        ("٠٧٠١٢٣٤٥٦٧", "+46701234567"),  # Arabic-Indic digits: the slow path folds them to ASCII
    ],
)
def test_numbers_of_other_kinds_and_countries(raw: str, e164: str) -> None:
    assert parse_number(raw).e164 == e164


def test_national_numbers_are_read_in_the_given_region() -> None:
    assert parse_number("412 34 567", region="NO").e164 == "+4741234567"
    assert parse_number("20 12 34 56", region="dk").e164 == "+4520123456"
    assert parse_number("+46 70 123 45 67", region="NO").e164 == "+46701234567"
    assert parse_number("0701234567", region="NO").e164 is None
    with pytest.raises(ValueError):
        parse_number("0701234567", region="XX")


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", phone.EMPTY),
        (" - ", phone.EMPTY),
        ("07O 123 45 67", phone.CONTAINS_LETTERS),
        ("070-123 45 67 ext 12", phone.CONTAINS_LETTERS),
        ("070*1234567", phone.CONTAINS_OTHER_CHARACTERS),
        ("46+701234567", phone.CONTAINS_OTHER_CHARACTERS),
        ("12", phone.TOO_FEW_DIGITS),
        ("+", phone.TOO_FEW_DIGITS),
        ("00", phone.TOO_FEW_DIGITS),
        ("+800 123", phone.TOO_FEW_DIGITS),
        ("0701234567 0701234567", phone.TOO_MANY_DIGITS),
        ("0" * 60, phone.TOO_MANY_DIGITS),
        ("+999 123 456", phone.UNKNOWN_COUNTRY_CODE),
    ],
)
def test_refusals_say_what_is_wrong(raw: str, reason: str) -> None:
    parsed = parse_number(raw)
    assert parsed == ParsedNumber(raw=raw, e164=None, reason=reason)
    assert not parsed.ok


@pytest.mark.parametrize("raw", ["0701", "0711234567", "070 123 45", "+46 70 123 45 67 8"])
def test_invalid_swedish_numbers_name_sweden(raw: str) -> None:
    assert parse_number(raw).reason == (
        "Not a valid number in Sweden (SE). Check the number; a number abroad starts with + and the country code."
    )


def test_invalid_numbers_elsewhere_name_their_country_or_code() -> None:
    assert parse_number("+45 12 34").reason == phone.NOT_VALID_IN_REGION % {"country": "Denmark", "region": "DK"}
    norway = phone.NOT_VALID_IN_REGION % {"country": "Norway", "region": "NO"}
    assert parse_number("123 45", region="NO").reason == norway
    # +47 is shared by Norway and Svalbard, and these digits do not say which.
    assert parse_number("+47 123 45").reason == "Not a valid number for country code +47. Check the number."
    assert parse_number("+1 999 555 0000").reason == "Not a valid number for country code +1. Check the number."


def test_reasons_follow_the_request_language() -> None:
    with language("sv"):
        assert "Sverige (SE)" in (parse_number("0701").reason or "")


def test_normalise_returns_e164_or_raises_invalid_input() -> None:
    assert normalise("070-123 45 67") == "+46701234567"
    with pytest.raises(InvalidInput) as refused:
        normalise("070-123")
    assert refused.value.fields == {"number": refused.value.message}
    assert "070" not in refused.value.message


def test_parse_many_keeps_order_and_refusals() -> None:
    results = parse_many(["070-123 45 67", "", "+47 412 34 567"], region="SE")
    assert [result.e164 for result in results] == ["+46701234567", None, "+4741234567"]


def test_repr_never_shows_the_number() -> None:
    for raw in ["070-123 45 67", "0711234567"]:
        shown = repr(parse_number(raw))
        assert "1234" not in shown and "234 5" not in shown


@pytest.mark.parametrize(
    ("e164", "masked"),
    [
        ("+46701234567", "+46 70 *** ** 67"),
        ("+4741234567", "+47 41 ** ** 67"),
        ("+358401234567", "+358 40 *** ** 67"),
        ("+4915123456789", "+49 15 *** ** ** 89"),
        ("+6831234", "+683 1 ** 4"),  # Niue: four national digits, so at most two are shown
    ],
)
def test_mask(e164: str, masked: str) -> None:
    assert mask(e164) == masked


def test_region_and_calling_code() -> None:
    assert [region_of(n) for n in ["+46701234567", "+4741234567", "+4520123456", "+12015550123"]] == [
        "SE", "NO", "DK", "US",
    ]
    assert region_of("+80012345678") is None  # international freephone belongs to no country
    assert [calling_code(n) for n in ["+46701234567", "+4741234567", "+4520123456", "+358401234567"]] == [
        46, 47, 45, 358,
    ]
    for not_e164 in ["0701234567", "+46 70", "+999123456"]:
        with pytest.raises(ValueError):
            calling_code(not_e164)
        with pytest.raises(ValueError):
            mask(not_e164)


def test_fast_path_handles_swedish_mobiles_without_phonenumbers(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the slow path was taken")

    monkeypatch.setattr(phonenumbers, "parse", refuse)
    for raw in SWEDISH_FORMATS:
        assert parse_number(raw).e164 == "+46701234567"
    assert parse_number("+46 73 123 45 67", region="NO").e164 == "+46731234567"


def test_length_bounds_match_phonenumbers_metadata() -> None:
    descriptions = [phonenumbers.PhoneMetadata.metadata_for_region(r) for r in phonenumbers.SUPPORTED_REGIONS]
    descriptions += [
        phonenumbers.PhoneMetadata.metadata_for_nongeo_region(code)
        for code in phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS
    ]
    lengths = [length for metadata in descriptions for length in metadata.general_desc.possible_length]
    assert (min(lengths), max(lengths)) == (phone.SHORTEST_NATIONAL_NUMBER, phone.LONGEST_NATIONAL_NUMBER)


# -- properties -----------------------------------------------------------------------------------

SEPARATORS = [""] * 8 + [" ", " ", "-", ".", "(", ")", "/", "\u00a0", "\u2013", "\t"]
PREFIXES = ["0", "+46", "0046"] * 3 + ["+460", "00460", "46", "", "+", "00", "+47", "0047", "+4", "+0046", "00046"]
DIGITS = st.sampled_from("0123456789")
ODD_DIGITS = st.sampled_from("0123456789" * 3 + "٣７")  # now and then a digit that is not ASCII


@st.composite
def swedish_mobile_shaped(draw: st.DrawFn) -> str:
    """Mostly near-misses and hits of ``07X nnn nn nn`` in every prefix and with any separators."""
    prefix = draw(st.sampled_from(PREFIXES))
    second = draw(DIGITS)
    rest = draw(
        st.one_of(
            st.lists(DIGITS, min_size=7, max_size=7).map("".join),  # the right length
            st.lists(ODD_DIGITS, min_size=5, max_size=10).map("".join),
        )
    )
    characters = list(prefix + "7" + second + rest)
    spaced = "".join(draw(st.sampled_from(SEPARATORS)) + character for character in characters)
    return spaced + draw(st.sampled_from(SEPARATORS))


REGIONS = st.sampled_from(["SE", "SE", "SE", "NO", "DK", "US", "GB", "DE"])
ANY_SHORT_INPUT = st.text("0123456789+ -()7٣a", max_size=16)


@settings(max_examples=500)  # about a fifth take the fast path; most of the rest are near misses
@given(raw=st.one_of(swedish_mobile_shaped(), swedish_mobile_shaped(), ANY_SHORT_INPUT), region=REGIONS)
@example(raw="070-123 45 67", region="SE")
@example(raw="0046701234567", region="US")  # 00 is not the way abroad from the US
@example(raw="0701234567", region="NO")  # nor is 0 a trunk prefix for Swedish numbers there
@example(raw="07012345٦٧", region="SE")  # the fast path must not build E.164 from such digits
def test_fast_path_gives_what_phonenumbers_gives(raw: str, region: str) -> None:
    thorough = phone._parse_thoroughly(raw, phone._clean(raw), region)
    assert parse_number(raw, region) == thorough
    assert parse_many([raw], region) == [thorough]


def _example_numbers() -> list[tuple[int, str]]:
    kinds = [kind for kind in phonenumbers.PhoneNumberType.values() if kind != phonenumbers.PhoneNumberType.UNKNOWN]
    regions = sorted(phonenumbers.SUPPORTED_REGIONS)
    numbers = [phonenumbers.example_number_for_type(region, kind) for region in regions for kind in kinds]
    numbers += [
        phonenumbers.example_number_for_non_geo_entity(code) for code in phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS
    ]
    return [(n.country_code, phonenumbers.national_significant_number(n)) for n in numbers if n is not None]


EXAMPLE_NUMBERS = _example_numbers()  # a few thousand, from phonenumbers' metadata for every region


@given(
    example_number=st.sampled_from(EXAMPLE_NUMBERS),
    new_ending=st.lists(DIGITS, max_size=4).map("".join),
    region=REGIONS,
)
def test_e164_round_trips(example_number: tuple[int, str], new_ending: str, region: str) -> None:
    code, national = example_number
    candidate = f"+{code}{national[: len(national) - len(new_ending)]}{new_ending}"
    parsed = parse_number(candidate, region)
    if not parsed.ok:
        return  # the new ending made it invalid: nothing to round-trip
    assert parsed.e164 is not None
    assert parse_number(parsed.e164, region).e164 == parsed.e164
    assert parse_number(parsed.e164, "SE").e164 == parsed.e164
    assert calling_code(parsed.e164) == code
    shown_digits = re.sub(r"\D", "", mask(parsed.e164))[len(str(code)) :]
    assert len(shown_digits) <= min(4, len(national) // 2)


def test_every_example_number_round_trips() -> None:
    for code, national in EXAMPLE_NUMBERS:
        e164 = f"+{code}{national}"
        assert parse_number(e164, "SE").e164 == e164, mask(e164)
