"""What an SMS is on the wire, in the terms the text rules, the sender choice and the transports
share: data codings, the user-data-header flag and sender kinds (SMPP 3.4 values). Nothing here
knows of a transport, so the text rules need not import one."""

from __future__ import annotations

from enum import StrEnum

DATA_CODING_GSM7 = 0x00  # SMSC default alphabet (GSM 03.38), one septet per byte, unpacked
DATA_CODING_UCS2 = 0x08  # UCS-2 / UTF-16BE
ESM_CLASS_UDHI = 0x40  # short_message starts with a user data header


class SenderKind(StrEnum):
    ALPHANUMERIC = "alphanumeric"  # TON 5, NPI 0
    NUMBER = "number"  # international E.164 without '+': TON 1, NPI 1
    SHORT_CODE = "short_code"  # e.g. 72323: TON 3 (network specific), NPI 0
