"""The data-subject requests' own tables that hold personal data (see ``govsms.personal_data``):
the request register, the access exports kept for download and the erasures' progress."""

from __future__ import annotations

from govsms.i18n import N_
from govsms.personal_data import Holding, Link
from govsms.subjects.export_store import (
    erase_exports, erase_requests, export_exports, export_requests, find_exports, find_requests, purge_expired_exports,
)

HOLDINGS: tuple[Holding, ...] = (
    Holding(
        table="subject_erasure", link=Link.BLIND_INDEX, category="access_log",
        description=N_("Erasures of a person's data: a keyed hash of the number, the erased person's id, counts and the signed receipt"),
        subject_columns=("subject_id",), blind_indexes=("blind_index",),
        kept=N_("The record of the erasure proves that it was done (GDPR Art. 5(2)); it holds counts and a keyed hash, no number"),
    ),
    Holding(
        table="subject_request", link=Link.SUBJECT_ID, category="access_log",
        description=N_("The register of data-subject requests: kind, dates, status, the reason for an extension and the DPO's notes (encrypted)"),
        subject_columns=("subject_id",), sealed=("notes_ct",), clear=("extension_reason",), find=find_requests,
        export=export_requests, erase=erase_requests,
        kept=N_(
            "The register keeps the request (reference, kind, dates, status and what answered it) as proof that it was "
            "answered (GDPR Art. 5(2)); the DPO's notes and the reason for an extension are erased"
        ),
    ),
    Holding(
        table="subject_export", link=Link.SUBJECT_ID, category="access_log",
        description=N_("Access exports kept for download for 30 days: the person's data as handed over (encrypted)"),
        subject_columns=("subject_id",), sealed=("content_ct",), blind_indexes=("blind_index",), find=find_exports, export=export_exports,
        erase=erase_exports, purge=purge_expired_exports,
    ),
)
