"""The HTTP provider's delivery reports as it posts them to ``POST /hooks/http/dlr`` (answered in
``sending/api.py``): its shared token, and the reports read from the body."""

from __future__ import annotations

import hmac
from typing import Any

from govsms.errors import InvalidInput
from govsms.i18n import _
from govsms.sending.transports.base import DeliveryReport, ReportStatus
from govsms.settings import Settings
from govsms.textfield import CONTROL

MAX_PROVIDER_ID = 80  # the column of message_part and pending_report


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
