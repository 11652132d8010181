"""SMPP command statuses this transport acts on, and the error code each becomes in a
``SubmitResult`` (``smpp:0x58``): codes only, never text."""

from __future__ import annotations

ESME_ROK = 0x00
ESME_RINVCMDID = 0x03
ESME_RMSGQFUL = 0x14
ESME_RTHROTTLED = 0x58
ESME_RX_T_APPN = 0x64  # "ESME receiver temporary app error": the SMSC keeps the PDU and retries
ESME_RX_R_APPN = 0x65  # "ESME receiver reject message error": the SMSC does not send it again
THROTTLE_STATUSES = frozenset({ESME_RTHROTTLED, ESME_RMSGQFUL})


def error_code(status: int) -> str:
    return f"smpp:0x{status:02x}"
