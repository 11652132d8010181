"""What the HTTP provider posts: delivery reports to ``POST /hooks/http/dlr`` (answered in
``sending/api.py``) and inbound SMS to ``POST /hooks/http/inbound`` (``receiving/hooks_api.py``),
both with its shared token; the token check, and the reports and inbound SMS read from a body."""

from __future__ import annotations

import hmac
import re
from typing import Any

from govsms.errors import InvalidInput
from govsms.i18n import _
from govsms.sending.transports.base import DeliveryReport, InboundPart, ReportStatus
from govsms.settings import Settings
from govsms.textfield import CONTROL

MAX_PROVIDER_ID = 80  # the column of message_part and pending_report
MAX_INBOUND_REF = 64  # the column of inbound_message and inbound_fragment
MAX_INBOUND_TEXT = 40_000  # 255 parts of 153 GSM-7 characters, with room
MAX_INBOUND_ITEMS = 1000
MAX_INBOUND_SOURCE = 32
_DESTINATION = re.compile(r"\+?[0-9]{2,16}")


def token_accepted(settings: Settings, authorization: str) -> bool:
    """``Authorization: Bearer <GOVSMS_HTTP_TOKEN>``, compared in constant time; without a
    configured token nothing is accepted."""
    given = authorization[7:]
    return bool(settings.http_token) and hmac.compare_digest(given.encode(), settings.http_token.encode())


def read_reports(data: dict[str, Any] | list[dict[str, Any]]) -> list[DeliveryReport]:
    """``{"id": "<provider id>", "status": "delivered|failed|expired"}`` or a list of them; the
    first report without a usable id or status refuses them all (422)."""
    items = data if isinstance(data, list) else [data]
    reports = []
    statuses = {status.value for status in ReportStatus}
    for item in items:
        provider_id, status = item.get("id"), item.get("status")
        if isinstance(provider_id, int) and not isinstance(provider_id, bool):
            provider_id = str(provider_id)
        if not isinstance(provider_id, str) or not 1 <= len(provider_id) <= MAX_PROVIDER_ID or CONTROL.search(provider_id):
            raise InvalidInput(
                _("Each report needs an id and a status (delivered, failed or expired)."),
                fields={"id": _("The provider's message id: at most %(max)d characters.") % {"max": MAX_PROVIDER_ID}},
            )
        if not isinstance(status, str) or status not in statuses:
            raise InvalidInput(_("Each report needs an id and a status (delivered, failed or expired)."), fields={"status": _("delivered, failed or expired")})
        reports.append(DeliveryReport(provider_id=provider_id, status=ReportStatus(status)))
    return reports


def read_inbound(data: dict[str, Any] | list[dict[str, Any]]) -> list[InboundPart]:
    """``{"from": "+46701234567", "to": "72323", "text": "...", "id": "<provider id>"}`` or a
    list of them (at most ``MAX_INBOUND_ITEMS``); a part of a concatenated SMS adds
    ``"concat": {"reference": 0-65535, "total": 2-255, "sequence": 1-total}``. The first item
    that is not valid refuses them all (422), naming the field."""
    items = data if isinstance(data, list) else [data]
    if not items or len(items) > MAX_INBOUND_ITEMS:
        raise InvalidInput(
            _("Send one inbound SMS or a list of 1 to %(max)d.") % {"max": MAX_INBOUND_ITEMS},
            fields={"body": _("1 to %(max)d items") % {"max": MAX_INBOUND_ITEMS}},
        )
    summary = _("Each inbound SMS needs from, to, text and id; see the fields for what is wrong.")
    parts = []
    for item in items:
        if not isinstance(item, dict):
            raise InvalidInput(summary, fields={"body": _("Each item must be a JSON object.")})
        source, destination, text, provider_ref = item.get("from"), item.get("to"), item.get("text"), item.get("id")
        if isinstance(provider_ref, int) and not isinstance(provider_ref, bool):
            provider_ref = str(provider_ref)
        if not isinstance(source, str) or not 1 <= len(source.strip()) <= MAX_INBOUND_SOURCE or not source.isprintable():
            raise InvalidInput(
                summary, fields={"from": _("The sender: a number (with or without +) or a name, at most %(max)d characters.") % {"max": MAX_INBOUND_SOURCE}}
            )
        if not isinstance(destination, str) or not _DESTINATION.fullmatch(destination):
            raise InvalidInput(summary, fields={"to": _("Our number it was sent to: 2 to 16 digits.")})
        if not isinstance(text, str) or len(text) > MAX_INBOUND_TEXT or "\x00" in text:
            raise InvalidInput(summary, fields={"text": _("The text: at most %(max)d characters.") % {"max": MAX_INBOUND_TEXT}})
        if not isinstance(provider_ref, str) or not 1 <= len(provider_ref) <= MAX_INBOUND_REF or not provider_ref.isprintable():
            raise InvalidInput(summary, fields={"id": _("The provider's id of the SMS: at most %(max)d characters.") % {"max": MAX_INBOUND_REF}})
        concat = _concat(item.get("concat"), summary)
        text = text.encode("utf-8", "replace").decode("utf-8")  # a lone surrogate (JSON \ud83d) cannot be stored
        parts.append(InboundPart(
            source=source.strip(), destination=destination.removeprefix("+"), text=text, concat=concat, provider_ref=provider_ref,
        ))
    return parts


def _concat(value: Any, summary: str) -> tuple[int, int, int] | None:
    if value is None:
        return None
    fields = ("reference", "total", "sequence")
    wrong = InvalidInput(
        summary, fields={"concat": _("reference 0-65535, total 2-255 and sequence 1 to total, all whole numbers.")}
    )
    if not isinstance(value, dict) or any(not isinstance(value.get(name), int) or isinstance(value.get(name), bool) for name in fields):
        raise wrong
    reference, total, sequence = (value[name] for name in fields)
    if not 0 <= reference <= 0xFFFF or not 2 <= total <= 255 or not 1 <= sequence <= total:
        raise wrong
    return reference, total, sequence
