"""Delivery receipts: a ``deliver_sm`` receipt's text and TLVs read into a final
``DeliveryReport``. Only the receipt's fields are read; its ``text:`` (the start of the message)
is cut off unread."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from govsms.sending.transports.base import DeliveryReport, ReportStatus, clean_id

MAX_REPORT_ID = 80
"""pending_report.provider_id's length."""
ESM_MESSAGE_TYPE_MASK = 0x3C
ESM_DEFAULT_MESSAGE = 0x00
"""esm_class message type of an SMS from a person (mobile originated): the only one stored as inbound."""
ESM_DELIVERY_RECEIPT = 0x04
NOT_SMS_STATS = {0x08: "sme_acks", 0x10: "sme_acks", 0x20: "intermediate_notifications"}
"""Other esm_class message types of a deliver_sm: acknowledged, not stored, counted under these names."""

# stat: of a receipt -> final status (anything else, e.g. ENROUTE or ACCEPTD, is not final)
RECEIPT_STAT = {
    "DELIVRD": ReportStatus.DELIVERED,
    "EXPIRED": ReportStatus.EXPIRED,
    "UNDELIV": ReportStatus.FAILED,
    "REJECTD": ReportStatus.FAILED,
    "DELETED": ReportStatus.FAILED,
    "UNKNOWN": ReportStatus.FAILED,
}
# message_state TLV -> stat:, for receipts without a parsable text
MESSAGE_STATE_STAT = {2: "DELIVRD", 3: "EXPIRED", 4: "DELETED", 5: "UNDELIV", 7: "UNKNOWN", 8: "REJECTD"}

_RECEIPT_FIELD = re.compile(r"(?:^|\s)(id|sub|dlvr|submit date|done date|stat|err):(\S*)", re.IGNORECASE)


def parse_receipt(
    short_message: bytes | None, receipted_message_id: bytes | str | None = None, message_state: int | None = None
) -> DeliveryReport | None:
    """A final delivery report from a receipt's text (``id:… stat:… err:… done date:…``) and
    TLVs, or None when the receipt is not final (ENROUTE, ACCEPTD) or has no message id. The id
    comes from ``receipted_message_id`` when present, else from ``id:``; the status from
    ``stat:``, else from ``message_state``. ``done date`` is read as UTC."""
    text = (short_message or b"").decode("latin-1")
    text = re.split(r"\stext:", text, maxsplit=1, flags=re.IGNORECASE)[0]  # never looked at
    fields = {name.lower(): value for name, value in _RECEIPT_FIELD.findall(text)}
    provider_id = clean_id(receipted_message_id, MAX_REPORT_ID, cut=True) or clean_id(fields.get("id"), MAX_REPORT_ID, cut=True)
    stat = fields.get("stat", "").upper() or MESSAGE_STATE_STAT.get(message_state or -1, "")
    status = RECEIPT_STAT.get(stat)
    if not provider_id or status is None:
        return None
    error = None
    if status is not ReportStatus.DELIVERED:
        err = fields.get("err", "")
        error = f"smpp:{stat.lower()}" + (f":{err}" if err else "")
    return DeliveryReport(provider_id=provider_id, status=status, error=error, done_at=_smsc_date(fields.get("done date")))


def _smsc_date(value: str | None) -> datetime | None:
    if not value or not value.isdigit():
        return None
    try:
        if len(value) == 10:
            return datetime.strptime(value, "%y%m%d%H%M").replace(tzinfo=UTC)
        if len(value) == 12:
            return datetime.strptime(value, "%y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return None
    return None
