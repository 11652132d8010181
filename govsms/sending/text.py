"""SMS text rules: GSM-7 or UCS-2, how many parts a text needs, and the bytes of each part."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from govsms.errors import InvalidInput
from govsms.i18n import _
from govsms.sending.wire import DATA_CODING_GSM7, DATA_CODING_UCS2

# The limit is on len(text), Python characters (code points), so the user never sees more than
# 750 characters. An emoji is one character here although it takes two UCS-2 units (which count
# towards parts); an emoji made of several code points (flags, skin tones) counts each of them.
MAX_CHARACTERS = 750

# GSM 03.38 (3GPP TS 23.038) default alphabet, positions 0x00-0x7F in order. Position 0x1B is
# ESC, which introduces the extension table; it is not a character a text may contain.
_ESC = 0x1B
_BASIC_TABLE = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
assert len(_BASIC_TABLE) == 128

# The extension table: each character is sent as ESC followed by its code, two septets.
_EXTENSION_TABLE = {
    "\f": 0x0A,
    "^": 0x14,
    "{": 0x28,
    "}": 0x29,
    "\\": 0x2F,
    "[": 0x3C,
    "~": 0x3D,
    "]": 0x3E,
    "|": 0x40,
    "€": 0x65,
}

_GSM7_BYTES: dict[str, bytes] = {
    character: bytes([code]) for code, character in enumerate(_BASIC_TABLE) if code != _ESC
}
_GSM7_BYTES.update({character: bytes([_ESC, code]) for character, code in _EXTENSION_TABLE.items()})
_GSM7_DECODE_BASIC = dict(enumerate(_BASIC_TABLE))
_GSM7_DECODE_EXTENSION = {code: character for character, code in _EXTENSION_TABLE.items()}

# Units per SMS: one message alone, and each part of a concatenated message, whose 6-byte
# header (05 00 03 ref total seq) takes 7 septets or 3 UCS-2 units of the 140 octets.
_SINGLE = {"gsm7": 160, "ucs2": 70}
_PER_PART = {"gsm7": 153, "ucs2": 67}
_DATA_CODING = {"gsm7": DATA_CODING_GSM7, "ucs2": DATA_CODING_UCS2}
_MAX_PARTS = 255  # the header's total and sequence number are one byte each

Encoding = Literal["gsm7", "ucs2"]


@dataclass(frozen=True)
class TextAnalysis:
    encoding: Encoding
    characters: int
    """``len(text)``: the characters the 750 limit counts."""
    units: int
    """Septets for GSM-7 (extension characters count two), UTF-16 code units for UCS-2."""
    parts: int
    per_part: int
    """160 or 70 for a single SMS, 153 or 67 when the text is split."""
    remaining: int
    """Units left in the last part before another part is needed."""
    non_gsm: tuple[str, ...]
    """The distinct characters that forced UCS-2, sorted; empty for GSM-7."""


def _cost(character: str, encoding: Encoding) -> int:
    if encoding == "gsm7":
        return len(_GSM7_BYTES[character])
    return 2 if ord(character) > 0xFFFF else 1  # astral characters are a surrogate pair


def _encoding_of(text: str) -> tuple[Encoding, tuple[str, ...]]:
    non_gsm = tuple(sorted({character for character in text if character not in _GSM7_BYTES}))
    return ("ucs2" if non_gsm else "gsm7"), non_gsm


def _split(text: str, encoding: Encoding) -> list[tuple[str, int]]:
    """The text of each part with its units. Characters are whole units of cost, so a part never
    ends between ESC and its extension character, nor inside a surrogate pair."""
    costs = [_cost(character, encoding) for character in text]
    if sum(costs) <= _SINGLE[encoding]:
        return [(text, sum(costs))]
    chunks: list[tuple[str, int]] = []
    start = used = 0
    for index, cost in enumerate(costs):
        if used + cost > _PER_PART[encoding]:
            chunks.append((text[start:index], used))
            start, used = index, 0
        used += cost
    chunks.append((text[start:], used))
    return chunks


def analyse(text: str) -> TextAnalysis:
    """How the text will be sent: encoding, units, parts and room left. Never raises."""
    encoding, non_gsm = _encoding_of(text)
    chunks = _split(text, encoding)
    per_part = _SINGLE[encoding] if len(chunks) == 1 else _PER_PART[encoding]
    return TextAnalysis(
        encoding=encoding,
        characters=len(text),
        units=sum(units for _chunk, units in chunks),
        parts=len(chunks),
        per_part=per_part,
        remaining=per_part - chunks[-1][1],
        non_gsm=non_gsm,
    )


def check_text(text: str) -> TextAnalysis:
    """``analyse`` for a text about to be sent: refuses an empty or too long text (never cuts)."""
    if not text.strip():
        message = _("Write a text.")
        raise InvalidInput(message, fields={"text": message})
    if len(text) > MAX_CHARACTERS:
        message = _("The text has %(count)d characters; at most %(max)d fit in one message. Shorten it.") % {
            "count": len(text),
            "max": MAX_CHARACTERS,
        }
        raise InvalidInput(message, fields={"text": message})
    # Lone surrogates only arrive through JSON escapes or broken decoding; UTF-16 cannot carry
    # them, and a phone would show garbage.
    if any(0xD800 <= ord(character) <= 0xDFFF for character in text):
        message = _("The text contains characters that are not valid text. Type or paste it again.")
        raise InvalidInput(message, fields={"text": message})
    return analyse(text)


def encode_parts(text: str, reference: int) -> tuple[int, tuple[bytes, ...]]:
    """``(data_coding, parts)``: each part's ``short_message``. GSM-7 is unpacked, one septet per
    byte (the SMSC packs it); UCS-2 is UTF-16-BE. With more than one part, each starts with the
    concatenation header ``05 00 03 <reference & 0xFF> <total> <seq>``; a single part has none.
    ``reference`` should differ between messages to the same recipient, so phones do not mix
    up their parts. Expects a text that passed ``check_text``."""
    encoding, _non_gsm = _encoding_of(text)
    chunks = _split(text, encoding)
    if len(chunks) > _MAX_PARTS:
        raise ValueError(f"a text of {len(chunks)} parts cannot be concatenated (at most {_MAX_PARTS})")
    if encoding == "gsm7":
        payloads = [b"".join(_GSM7_BYTES[character] for character in chunk) for chunk, _units in chunks]
    else:
        payloads = [chunk.encode("utf-16-be") for chunk, _units in chunks]
    if len(payloads) > 1:
        total = len(payloads)
        payloads = [
            bytes([0x05, 0x00, 0x03, reference & 0xFF, total, sequence]) + payload
            for sequence, payload in enumerate(payloads, start=1)
        ]
    return _DATA_CODING[encoding], tuple(payloads)


def _looks_like_concatenation_header(payload: bytes) -> bool:
    """A guess, for callers that do not know the UDHI flag (esm_class 0x40): an 8-bit or 16-bit
    reference concatenation header with a sensible total and sequence number."""
    if len(payload) >= 6 and payload[:3] == b"\x05\x00\x03":
        total, sequence = payload[4], payload[5]
    elif len(payload) >= 7 and payload[:3] == b"\x06\x08\x04":
        total, sequence = payload[5], payload[6]
    else:
        return False
    return total >= 2 and 1 <= sequence <= total


def decode_part(data_coding: int, payload: bytes, *, has_header: bool | None = None) -> str:
    """The text of one part. ``has_header`` is the UDHI flag of the part's esm_class; pass it
    when known. Left out, a concatenation header is recognised by its shape, which a single-part
    GSM-7 text starting "é@¥" could in theory mimic."""
    if has_header is None:
        has_header = _looks_like_concatenation_header(payload)
    if has_header:
        if not payload or len(payload) < payload[0] + 1:
            raise ValueError("the user data header is longer than the payload")
        payload = payload[payload[0] + 1 :]
    if data_coding == DATA_CODING_UCS2:
        # surrogatepass: some phones split a surrogate pair between parts; the halves survive
        # decoding here, so the caller can pair them again after joining the parts.
        return payload.decode("utf-16-be", "surrogatepass")
    if data_coding != DATA_CODING_GSM7:
        raise ValueError(f"unsupported data_coding 0x{data_coding:02x}")
    characters: list[str] = []
    escaped = False
    for septet in payload:
        if septet > 0x7F:
            raise ValueError(f"byte 0x{septet:02x} is not a GSM-7 septet")
        if escaped:
            # 23.038: a code missing from the extension table shows as its basic character;
            # ESC ESC (reserved for a further table) has none, so it shows as a space.
            fallback = " " if septet == _ESC else _GSM7_DECODE_BASIC[septet]
            characters.append(_GSM7_DECODE_EXTENSION.get(septet, fallback))
            escaped = False
        elif septet == _ESC:
            escaped = True
        else:
            characters.append(_GSM7_DECODE_BASIC[septet])
    return "".join(characters)  # a trailing lone ESC carries no character and is dropped
