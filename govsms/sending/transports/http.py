"""A provider's HTTP API as transport: one JSON POST per message; delivery reports come back to
``POST /hooks/http/dlr`` and inbound SMS to ``POST /hooks/http/inbound`` (``receiving/hooks_api``:
answered after the commit), both with the shared token, so this transport's upstream is unused.
2xx accepts, 429 and 5xx are transient, any other answer refuses the message."""

from __future__ import annotations

import logging
import threading
from typing import Any

import httpx

from govsms.sending.text import decode_part
from govsms.sending.transports.base import DeliveryReport, Submission, SubmitResult, Transport, TransportDown

log = logging.getLogger(__name__)


class HttpTransport(Transport):
    name = "http"

    def __init__(self, url: str, token: str, *, timeout: float = 10.0, client: httpx.Client | None = None) -> None:
        if not url:
            raise ValueError("GOVSMS_HTTP_URL is needed for the http transport")
        self.url = url
        self.client = client or httpx.Client(timeout=timeout, headers={"Authorization": f"Bearer {token}"})
        self._reports: list[DeliveryReport] = []
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Any) -> HttpTransport:
        return cls(settings.http_url, settings.http_token)

    def submit(self, batch: list[Submission]) -> list[SubmitResult]:
        results: list[SubmitResult] = []
        for submission in batch:
            has_header = len(submission.parts) > 1
            text = "".join(decode_part(submission.data_coding, part, has_header=has_header) for part in submission.parts)
            body = {"from": submission.sender, "to": submission.recipient, "text": text, "reference": str(submission.message_id)}
            try:
                response = self.client.post(self.url, json=body)
            except httpx.TransportError as error:
                if not results:
                    raise TransportDown(type(error).__name__) from None
                results.append(SubmitResult(submission.message_id, accepted=False, error="http:unreachable", transient=True))
                continue
            if response.is_success:
                provider_id = str(response.json().get("id", ""))
                results.append(SubmitResult(submission.message_id, accepted=True, provider_ids=(provider_id,)))
            else:
                transient = response.status_code == 429 or response.status_code >= 500
                results.append(SubmitResult(submission.message_id, accepted=False, error=f"http:{response.status_code}", transient=transient))
        return results

    def reports(self) -> list[DeliveryReport]:
        # Reports reach this service through the webhook, not through the worker's transport.
        return []

    def close(self) -> None:
        self.client.close()
