"""The embedded default transport: accepts every message, assigns ids, and reports delivery a
moment later. It sends nothing anywhere and writes no personal data anywhere.

Its reports live in this process only: after a crash the messages it had not yet reported stay
'sent' until the worker marks them ``unknown`` (``GOVSMS_MESSAGE_UNKNOWN_HOURS``), as it does
for any message whose report never comes."""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from collections import deque

from govsms.sending.transports.base import DeliveryReport, ReportStatus, Submission, SubmitResult, Transport


class LoopbackTransport(Transport):
    name = "loopback"

    def __init__(self, *, report_delay: float = 1.0) -> None:
        self.report_delay = report_delay
        self._pending: deque[tuple[float, str]] = deque()
        self._lock = threading.Lock()
        self._serial = itertools.count(1)
        self._prefix = uuid.uuid4().hex[:8]
        self.submitted = 0

    def submit(self, batch: list[Submission]) -> list[SubmitResult]:
        results = []
        due = time.monotonic() + self.report_delay
        with self._lock:
            for submission in batch:
                part_ids = tuple(
                    None if index in submission.skip_parts else f"lb-{self._prefix}-{next(self._serial)}"
                    for index in range(len(submission.parts))
                )
                ids = tuple(provider_id for provider_id in part_ids if provider_id is not None)
                self._pending.extend((due, provider_id) for provider_id in ids)
                results.append(SubmitResult(message_id=submission.message_id, accepted=True, provider_ids=ids, part_ids=part_ids))
                self.submitted += 1
        return results

    def reports(self) -> list[DeliveryReport]:
        now = time.monotonic()
        ready = []
        with self._lock:
            while self._pending and self._pending[0][0] <= now:
                ready.append(DeliveryReport(provider_id=self._pending.popleft()[1], status=ReportStatus.DELIVERED))
        return ready
