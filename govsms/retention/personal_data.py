"""The retention domain's tables that hold personal data (see ``govsms.personal_data``): a legal
hold on one number keeps its blind index (storage times, choices and the statistics roll-up name
no one)."""

from __future__ import annotations

from govsms.i18n import N_
from govsms.personal_data import Holding, Link
from govsms.retention.subject_data import erase_holds, export_holds, find_holds

HOLDINGS: tuple[Holding, ...] = (
    Holding(
        table="legal_hold", link=Link.BLIND_INDEX, category="access_log",
        description=N_("Legal holds: a number on hold as a keyed hash, the reason and the end date"),
        blind_indexes=("blind_index",), clear=("reason",),
        find=find_holds, export=export_holds, erase=erase_holds,  # ended holds only; one in force refuses the erasure
    ),
)
