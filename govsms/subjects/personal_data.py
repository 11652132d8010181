"""The data-subject requests' own tables that hold personal data (see ``govsms.personal_data``):
the request register, the access exports kept for download and the erasures' progress."""

from __future__ import annotations

from govsms.personal_data import Holding

HOLDINGS: tuple[Holding, ...] = ()
