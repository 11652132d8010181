"""Inbound SMS (mobile originated): a ``deliver_sm`` that is not a receipt read into an
``InboundPart``: its text decoded by ``data_coding``, the user data header removed, the
concatenation (UDH 8-bit or 16-bit reference, or the SAR TLVs) and the SMSC's id of the part.

Decoding (SMPP 3.4 section 5.2.19, GSM 03.38 for the GSM coding groups):
    * 0 (SMSC default alphabet): GSM 03.38 septets, one per octet (unpacked), with the extension
      table. An octet above 0x7F cannot be a septet: such an SMSC uses Latin-1 as its default
      alphabet, and the part is read as Latin-1.
    * 1 (IA5/ASCII) and 3 (Latin-1): Latin-1. 8 (UCS-2): UTF-16-BE, surrogate pairs joined; a
      lone surrogate half becomes U+FFFD. The GSM 03.38 coding groups (0x10-0x3F, 0xF0-0xFF) by
      their alphabet bits. Anything else (binary, JIS, ...): Latin-1, so an odd SMS is stored
      and readable rather than refused for ever.
    * ``message_payload`` (TLV) replaces ``short_message`` when present.

The SMSC's id of the part: the ``receipted_message_id`` TLV when the SMSC sets it on a mobile
originated message (tests/smsc does); control characters removed (a NUL cannot be stored), ids
longer than 64 characters replaced by their SHA-256 in hex.
"""

from __future__ import annotations

from typing import Any

from govsms.sending.text import decode_part
from govsms.sending.transports.base import InboundPart, clean_id
from govsms.sending.wire import DATA_CODING_GSM7, DATA_CODING_UCS2, ESM_CLASS_UDHI

MAX_PROVIDER_REF = 64
TON_INTERNATIONAL = 0x01

_IE_CONCAT_8 = 0x00
_IE_CONCAT_16 = 0x08


def _alphabet(data_coding: int) -> str:
    """'gsm7', 'ucs2' or 'latin1' for a data_coding."""
    if data_coding == DATA_CODING_GSM7:
        return "gsm7"
    if data_coding == DATA_CODING_UCS2:
        return "ucs2"
    if 0x10 <= data_coding <= 0x3F or 0xC0 <= data_coding <= 0xEF:
        if 0xC0 <= data_coding <= 0xDF:  # message waiting groups: GSM-7 (0xE0-0xEF: UCS-2)
            return "gsm7"
        if data_coding >= 0xE0:
            return "ucs2"
        bits = (data_coding >> 2) & 0x03  # general data coding: 00 GSM-7, 01 8-bit, 10 UCS-2
        return {0: "gsm7", 2: "ucs2"}.get(bits, "latin1")
    if data_coding >= 0xF0:  # data coding / message class: bit 2 set is 8-bit data
        return "latin1" if data_coding & 0x04 else "gsm7"
    return "latin1"


def decode_text(data_coding: int, payload: bytes) -> str:
    """The text of a part's user data (header already removed); never raises."""
    alphabet = _alphabet(data_coding)
    if alphabet == "ucs2":
        if len(payload) % 2:
            payload = payload[:-1]  # half a code unit carries no character
        text = payload.decode("utf-16-be", "surrogatepass")
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if alphabet == "gsm7" and all(octet <= 0x7F for octet in payload):
        return decode_part(DATA_CODING_GSM7, payload, has_header=False)
    return payload.decode("latin-1")


def split_header(payload: bytes) -> tuple[tuple[int, int, int] | None, bytes]:
    """(concatenation, user data) of a payload that starts with a user data header. The
    concatenation is (reference, total, sequence) from IE 0x00 (8-bit reference) or 0x08
    (16-bit); other IEs (ports, ...) are skipped. A header longer than the payload leaves the
    payload as it is (no header)."""
    if not payload or payload[0] + 1 > len(payload):
        return None, payload
    end = payload[0] + 1
    header, data = payload[1:end], payload[end:]
    concat = None
    position = 0
    while position + 2 <= len(header):
        tag, length = header[position], header[position + 1]
        value = header[position + 2 : position + 2 + length]
        if len(value) < length:
            break
        if tag == _IE_CONCAT_8 and length == 3:
            concat = (value[0], value[1], value[2])
        elif tag == _IE_CONCAT_16 and length == 4:
            concat = ((value[0] << 8) | value[1], value[2], value[3])
        position += 2 + length
    return concat, data


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    return str(value).strip("\x00 ")


def _valid(concat: tuple[int, int, int] | None) -> tuple[int, int, int] | None:
    """A concatenation that can be joined: total of at least 2 and a sequence within it."""
    if concat is None:
        return None
    _reference, total, sequence = concat
    if total < 2 or not 1 <= sequence <= total:
        return None
    return concat


def provider_ref(value: Any) -> str | None:
    """The part's id without control characters (a NUL inside it too), hashed when overlong."""
    return clean_id(value if isinstance(value, bytes | str) or value is None else str(value), MAX_PROVIDER_REF)


def parse_inbound(pdu: Any) -> InboundPart:
    """The ``InboundPart`` of a mobile originated ``deliver_sm`` (smpplib's PDU)."""
    payload = getattr(pdu, "message_payload", None) or pdu.short_message or b""
    if isinstance(payload, str):
        payload = payload.encode("latin-1")
    concat = None
    if (pdu.esm_class or 0) & ESM_CLASS_UDHI:
        concat, payload = split_header(payload)
    sar = (getattr(pdu, "sar_msg_ref_num", None), getattr(pdu, "sar_total_segments", None), getattr(pdu, "sar_segment_seqnum", None))
    if concat is None and all(value is not None for value in sar):
        concat = (int(sar[0]), int(sar[1]), int(sar[2]))  # type: ignore[arg-type]
    source = _text(pdu.source_addr)
    if (pdu.source_addr_ton or 0) == TON_INTERNATIONAL and source.isdigit():
        source = "+" + source
    return InboundPart(
        source=source,
        destination=_text(pdu.destination_addr).removeprefix("+"),
        text=decode_text(int(pdu.data_coding or 0), bytes(payload)),
        concat=_valid(concat),
        provider_ref=provider_ref(getattr(pdu, "receipted_message_id", None)),
    )
