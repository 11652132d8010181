"""The access log's tables that hold personal data: who did what to whose data (see
``govsms.personal_data``). Events hold no numbers, names or texts; they name people by id."""

from __future__ import annotations

from govsms.i18n import N_
from govsms.personal_data import Holding, Link

HOLDINGS: tuple[Holding, ...] = (
    Holding(
        table="audit_event", link=Link.ACCOUNT, category="access_log",
        description=N_("Access-log events: who read or changed whose data, when, from which request"),
        subject_columns=("subject_ids",), clear=("actor",),
    ),
    Holding(
        table="audit_event_subject", link=Link.SUBJECT_ID, category="access_log",
        description=N_("The people each access-log event concerns (by id)"),
        subject_columns=("subject_id",),
    ),
)
