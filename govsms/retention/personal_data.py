"""The retention domain's tables that hold personal data (see ``govsms.personal_data``): none
today (storage times, choices and the statistics roll-up name no one). A legal hold on one number
keeps its blind index: declare that table here."""

from __future__ import annotations

from govsms.personal_data import Holding

HOLDINGS: tuple[Holding, ...] = ()
