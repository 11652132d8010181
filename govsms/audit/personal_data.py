"""The access log's tables that hold personal data: who did what to whose data (see
``govsms.personal_data``). Events hold no numbers, names or texts; they name people by id."""

from __future__ import annotations

from govsms.i18n import N_
from govsms.personal_data import Holding, Link

KEPT = N_(
    "Access-log events hold no personal data: they name people by an id that nothing leads back to once the person's key is "
    "destroyed; the log must stay verifiable"
)
"""Why an erasure keeps the access log (the search shows the person's access history itself)."""

HOLDINGS: tuple[Holding, ...] = (
    Holding(
        table="audit_event", link=Link.ACCOUNT, category="access_log",
        description=N_("Access-log events: who read or changed whose data, when, from which request"),
        subject_columns=("subject_ids",), clear=("actor",),
        kept=KEPT,
    ),
    Holding(
        table="audit_event_subject", link=Link.SUBJECT_ID, category="access_log",
        description=N_("The people each access-log event concerns (by id)"),
        subject_columns=("subject_id",),
        kept=KEPT,
    ),
)
