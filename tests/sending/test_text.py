"""SMS text rules: GSM-7 or UCS-2, part counting and splitting, encoding and decoding (pure, no database)."""

from __future__ import annotations

import math

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from govsms.errors import InvalidInput
from govsms.sending.text import MAX_CHARACTERS, analyse, check_text, decode_part, encode_parts
from govsms.sending.wire import DATA_CODING_GSM7, DATA_CODING_UCS2

# Written out again here (not imported) so a slip in the module's table shows up as a failure.
GSM_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENSION = "^{}\\[~]|€\f"
EMOJI = "\U0001f600"  # 😀, outside the BMP: a surrogate pair in UTF-16
UDH_BYTES = 6


def decode_all(data_coding: int, parts: tuple[bytes, ...]) -> str:
    return "".join(decode_part(data_coding, part, has_header=len(parts) > 1) for part in parts)


def on_air_octets(data_coding: int, payload: bytes, has_header: bool) -> int:
    """The part's user data as the SMSC sends it: GSM-7 packed 7 bits a septet, with the header
    padded to a septet boundary; UCS-2 as is. This is what must fit in 140 octets."""
    if data_coding == DATA_CODING_UCS2:
        return len(payload)
    header = UDH_BYTES if has_header else 0
    septets = math.ceil(header * 8 / 7) + len(payload) - header
    return math.ceil(septets * 7 / 8)


def test_the_tables_hold_the_whole_alphabet() -> None:
    assert len(GSM_BASIC) == 127  # 128 positions less ESC
    assert analyse(GSM_BASIC + GSM_EXTENSION).encoding == "gsm7"
    assert analyse(GSM_BASIC).units == 127
    assert analyse(GSM_EXTENSION).units == 2 * len(GSM_EXTENSION)
    assert analyse("\x1b").encoding == "ucs2"  # ESC itself is not a character of the text


@pytest.mark.parametrize(
    ("character", "expected"),
    [("@", b"\x00"), ("é", b"\x05"), ("Δ", b"\x10"), ("¤", b"\x24"), ("¡", b"\x40"), ("Ä", b"\x5b"),
     ("§", b"\x5f"), ("¿", b"\x60"), ("à", b"\x7f"), ("€", b"\x1b\x65"), ("\f", b"\x1b\x0a"),
     ("^", b"\x1b\x14"), ("|", b"\x1b\x40"), ("\\", b"\x1b\x2f")],
)
def test_known_gsm7_codes(character: str, expected: bytes) -> None:
    assert encode_parts(character, 1) == (DATA_CODING_GSM7, (expected,))


def test_750_gsm_characters_are_five_parts_and_751_are_refused() -> None:
    analysis = check_text("a" * MAX_CHARACTERS)
    assert (analysis.encoding, analysis.characters, analysis.parts, analysis.per_part) == ("gsm7", 750, 5, 153)
    assert analysis.remaining == 5 * 153 - 750
    with pytest.raises(InvalidInput) as refused:
        check_text("a" * 751)
    expected = "The text has 751 characters; at most 750 fit in one message. Shorten it."
    assert refused.value.message == expected
    assert refused.value.fields == {"text": expected}


def test_the_limit_counts_characters_not_units() -> None:
    assert check_text(EMOJI * 750).characters == 750
    assert check_text("€" * 750).units == 1500
    with pytest.raises(InvalidInput):
        check_text(EMOJI * 751)


@pytest.mark.parametrize("text", ["", "   ", "\n\r\n"])
def test_an_empty_text_is_refused(text: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        check_text(text)
    assert refused.value.message == "Write a text."
    assert refused.value.fields == {"text": "Write a text."}


def test_a_lone_surrogate_is_refused() -> None:
    with pytest.raises(InvalidInput) as refused:
        check_text("Hej \ud83d")
    assert "text" in refused.value.fields


def test_the_euro_sign_counts_two() -> None:
    assert (analyse("€").units, analyse("€").remaining) == (2, 158)
    assert analyse("€" * 80).parts == 1
    assert analyse("€" * 80 + "a").parts == 2


def test_one_emoji_switches_to_ucs2() -> None:
    analysis = analyse("Hej! Välkommen " + EMOJI)
    assert analysis.encoding == "ucs2"
    assert analysis.non_gsm == (EMOJI,)
    assert analysis.units == 15 + 2
    assert encode_parts("Hej " + EMOJI, 1)[0] == DATA_CODING_UCS2


def test_non_gsm_lists_each_offending_character_once_in_order() -> None:
    assert analyse("çaÿbçЖ").non_gsm == ("ç", "ÿ", "Ж")
    assert analyse("plain text").non_gsm == ()


def test_a_swedish_text_stays_gsm7() -> None:
    text = "Hej! Din tid på vårdcentralen är ändrad. Återbesök på måndag kl. 14.00. ÅÄÖ åäö"
    analysis = analyse(text)
    assert analysis.encoding == "gsm7"
    assert analysis.units == len(text)
    data_coding, parts = encode_parts(text, 1)
    assert data_coding == DATA_CODING_GSM7 and decode_all(data_coding, parts) == text


def test_160_gsm_characters_are_one_part_and_161_two() -> None:
    one = analyse("a" * 160)
    assert (one.parts, one.per_part, one.remaining) == (1, 160, 0)
    two = analyse("a" * 161)
    assert (two.parts, two.per_part, two.remaining) == (2, 153, 153 - 8)


def test_70_ucs2_characters_are_one_part_and_71_two() -> None:
    one = analyse("Ж" * 70)
    assert (one.encoding, one.parts, one.per_part, one.remaining) == ("ucs2", 1, 70, 0)
    two = analyse("Ж" * 71)
    assert (two.parts, two.per_part, two.remaining) == (2, 67, 67 - 4)


def test_a_single_part_has_no_header() -> None:
    assert encode_parts("Hej", 9) == (DATA_CODING_GSM7, (b"Hej",))
    assert encode_parts("Жa", 9) == (DATA_CODING_UCS2, ("Жa".encode("utf-16-be"),))


def test_parts_carry_the_concatenation_header() -> None:
    data_coding, parts = encode_parts("a" * 400, 0x1234)
    assert data_coding == DATA_CODING_GSM7
    assert [part[:UDH_BYTES] for part in parts] == [bytes([5, 0, 3, 0x34, 3, seq]) for seq in (1, 2, 3)]
    assert [len(part) - UDH_BYTES for part in parts] == [153, 153, 94]


def test_an_extension_character_at_the_boundary_moves_to_the_next_part() -> None:
    text = "a" * 152 + "€" + "b" * 10
    analysis = analyse(text)
    assert (analysis.units, analysis.parts, analysis.remaining) == (164, 2, 153 - 12)
    _data_coding, (first, second) = encode_parts(text, 1)
    assert first[UDH_BYTES:] == b"a" * 152  # 152 septets: the ESC may not end the part alone
    assert second[UDH_BYTES:] == b"\x1b\x65" + b"b" * 10
    assert decode_all(DATA_CODING_GSM7, (first, second)) == text


def test_a_surrogate_pair_at_the_boundary_moves_whole() -> None:
    text = "Ж" * 66 + EMOJI + "Ж" * 10
    analysis = analyse(text)
    assert (analysis.units, analysis.parts, analysis.remaining) == (78, 2, 67 - 12)
    _data_coding, (first, second) = encode_parts(text, 1)
    assert first[UDH_BYTES:] == ("Ж" * 66).encode("utf-16-be")  # 66 units
    assert second[UDH_BYTES:] == (EMOJI + "Ж" * 10).encode("utf-16-be")
    assert decode_all(DATA_CODING_UCS2, (first, second)) == text


def test_decode_recognises_a_header_when_not_told() -> None:
    _data_coding, parts = encode_parts("€" * 100, 200)
    assert "".join(decode_part(DATA_CODING_GSM7, part) for part in parts) == "€" * 100
    assert decode_part(DATA_CODING_UCS2, b"\x06\x08\x04\x01\x02\x02\x01" + "Ж".encode("utf-16-be")) == "Ж"
    assert decode_part(DATA_CODING_GSM7, b"Hej") == "Hej"


def test_decode_gsm7_unknown_escapes_as_the_standard_says() -> None:
    assert decode_part(DATA_CODING_GSM7, b"\x1b\x41") == "A"  # not in the extension table
    assert decode_part(DATA_CODING_GSM7, b"a\x1b\x1bb") == "a b"
    assert decode_part(DATA_CODING_GSM7, b"a\x1b") == "a"
    with pytest.raises(ValueError):
        decode_part(DATA_CODING_GSM7, b"\x80")
    with pytest.raises(ValueError):
        decode_part(0x04, b"\x00")


gsm_basic = st.sampled_from(GSM_BASIC)
gsm_characters = st.one_of(gsm_basic, st.sampled_from(GSM_EXTENSION))
any_characters = st.one_of(
    gsm_basic,
    st.sampled_from(GSM_EXTENSION),
    st.characters(exclude_categories=["Cs"]),
    st.characters(min_codepoint=0x10000, exclude_categories=["Cs"]),
)


def padded(characters: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Texts of 1..750 characters; a run of one character in front reaches the part boundaries
    that short random texts would rarely hit."""
    return st.tuples(
        st.text(characters, min_size=0, max_size=1).map(lambda pad: pad or "a"),
        st.integers(min_value=0, max_value=MAX_CHARACTERS),
        st.text(characters, min_size=1, max_size=MAX_CHARACTERS),
    ).map(lambda drawn: (drawn[0] * drawn[1] + drawn[2])[-MAX_CHARACTERS:])


@settings(max_examples=300, deadline=None)
@given(padded(any_characters))
@example("a" * 152 + "€" * 5)
@example("Ж" * 66 + EMOJI * 3)
@example(EMOJI * MAX_CHARACTERS)
@example("€" * MAX_CHARACTERS)
def test_parts_hold_the_text_exactly(text: str) -> None:
    analysis = check_text(text) if text.strip() else analyse(text)
    data_coding, parts = encode_parts(text, 7)
    assert analysis.parts == len(parts)
    assert data_coding == (DATA_CODING_GSM7 if analysis.encoding == "gsm7" else DATA_CODING_UCS2)
    multipart = len(parts) > 1
    for part in parts:
        assert on_air_octets(data_coding, part, multipart) <= 140
    assert decode_all(data_coding, parts) == text
    if multipart:
        assert [part[:UDH_BYTES] for part in parts] == [
            bytes([5, 0, 3, 7, len(parts), seq]) for seq in range(1, len(parts) + 1)
        ]
    last_units = len(parts[-1]) - (UDH_BYTES if multipart else 0)
    if data_coding == DATA_CODING_UCS2:
        last_units //= 2
    assert analysis.per_part - analysis.remaining == last_units


@settings(max_examples=150, deadline=None)
@given(padded(gsm_characters))
def test_a_gsm_text_never_becomes_ucs2(text: str) -> None:
    assert analyse(text).encoding == "gsm7"
    assert analyse(text).non_gsm == ()
    assert encode_parts(text, 1)[0] == DATA_CODING_GSM7


@settings(max_examples=150, deadline=None)
@given(padded(gsm_characters), st.characters(exclude_categories=["Cs"]), st.data())
def test_any_non_gsm_character_forces_ucs2(text: str, character: str, data: st.DataObject) -> None:
    if character in GSM_BASIC or character in GSM_EXTENSION:
        character = "ç"
    position = data.draw(st.integers(min_value=0, max_value=len(text)))
    mixed = (text[:position] + character + text[position:])[:MAX_CHARACTERS]
    if character not in mixed:
        mixed = mixed[:-1] + character
    analysis = analyse(mixed)
    assert analysis.encoding == "ucs2"
    assert character in analysis.non_gsm
    assert encode_parts(mixed, 1)[0] == DATA_CODING_UCS2
