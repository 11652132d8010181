"""The DPA's tables that hold personal data: the customer's signatory, contact person and DPO,
and the acceptance of each version (see ``govsms.personal_data``)."""

from __future__ import annotations

from govsms.i18n import N_
from govsms.personal_data import Holding, Link

KEPT = N_("Staff and agreement data: not about the people SMS are sent to")
"""Why an erasure keeps these rows: they are about the customer's staff and its agreement."""

HOLDINGS: tuple[Holding, ...] = (
    Holding(
        table="dpa_details", link=Link.ACCOUNT, category="users",
        description=N_("The agreement's signatory, contact person and data protection officer: names, titles, e-mail, phone (encrypted)"),
        sealed=("details_ct",),
        kept=KEPT,
    ),
    Holding(
        table="dpa_version", link=Link.ACCOUNT, category="users",
        description=N_("Each version of the agreement with those details and who accepted it (encrypted)"),
        sealed=("details_ct", "pdf_ct", "acceptance_ct"),
        kept=KEPT,
    ),
)
