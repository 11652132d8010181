"""Webhooks of transports: the HTTP provider's delivery reports."""

from __future__ import annotations

import hmac
from typing import Any

from litestar import Request, post
from litestar.exceptions import NotAuthorizedException
from litestar.params import JSONBody

from govsms.errors import InvalidInput
from govsms.i18n import _
from govsms.sending.outbox import apply_delivery_reports
from govsms.sending.transports.base import DeliveryReport, ReportStatus
from govsms.textfield import CONTROL

MAX_PROVIDER_ID = 80  # the column of message_part and pending_report


@post("/hooks/http/dlr", sync_to_thread=True, tags=["sending"], summary="Delivery reports of the HTTP provider", status_code=200)
def http_delivery_report(request: Request[Any, Any, Any], data: JSONBody[dict[str, Any] | list[dict[str, Any]]]) -> dict[str, int]:
    """``{"id": "<provider id>", "status": "delivered|failed|expired"}`` (or a list of them),
    with ``Authorization: Bearer <GOVSMS_HTTP_TOKEN>``."""
    settings = request.app.state.settings
    given = request.headers.get("authorization", "")[7:]
    if not settings.http_token or not hmac.compare_digest(given.encode(), settings.http_token.encode()):
        raise NotAuthorizedException("bad token")
    items = data if isinstance(data, list) else [data]
    reports = []
    statuses = {status.value for status in ReportStatus}
    for item in items:
        provider_id, status = item.get("id"), item.get("status")
        if isinstance(provider_id, int) and not isinstance(provider_id, bool):
            provider_id = str(provider_id)
        if not isinstance(provider_id, str) or not 1 <= len(provider_id) <= MAX_PROVIDER_ID or CONTROL.search(provider_id):
            raise InvalidInput(_("Each report needs an id and a status (delivered, failed or expired)."), fields={"id": _("The provider's message id: at most %(max)d characters.") % {"max": MAX_PROVIDER_ID}})
        if not isinstance(status, str) or status not in statuses:
            raise InvalidInput(_("Each report needs an id and a status (delivered, failed or expired)."), fields={"status": _("delivered, failed or expired")})
        reports.append(DeliveryReport(provider_id=provider_id, status=ReportStatus(status)))
    apply_delivery_reports(request.app.state.session_factory, reports, clock=request.app.state.clock)
    return {"applied": len(reports)}


ROUTES = [http_delivery_report]
