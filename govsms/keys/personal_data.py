"""The key store's table that holds personal data: one data key per person, found by a keyed hash
of the number (see ``govsms.personal_data``)."""

from __future__ import annotations

from govsms.i18n import N_
from govsms.personal_data import Holding, Link

HOLDINGS: tuple[Holding, ...] = (
    Holding(
        table="subject_key", link=Link.BLIND_INDEX, category="contacts",
        description=N_("A data key per person (wrapped) and a keyed hash of the number; destroyed with the person's last data"),
        subject_columns=("id",), blind_indexes=("blind_index",),
        kept=N_("Destroyed by the erasure itself, last: without the key nothing sealed under it can be read again"),
    ),
    Holding(
        table="subject_shred", link=Link.SUBJECT_ID, category="access_log",
        description=N_("Which data keys were destroyed, and when (by id: the keys themselves are gone)"),
        subject_columns=("subject_id",),
        kept=N_("Records that the person's key was destroyed, by an id that nothing leads back to: every process reads it so that none "
                "uses a copy of the key, and no id is ever given to another person"),
    ),
)
