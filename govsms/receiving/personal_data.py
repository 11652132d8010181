"""The receiving domain's tables that hold personal data: received SMS, the parts of
concatenated SMS waiting for the rest, and the reply routes (see ``govsms.personal_data``)."""

from __future__ import annotations

from govsms.i18n import N_
from govsms.personal_data import Holding, Link

HOLDINGS: tuple[Holding, ...] = (
    Holding(
        table="inbound_message", link=Link.SUBJECT_ID, category="inbound_messages",
        description=N_("Received SMS: sender's number and text (encrypted), the number it was sent to and times"),
        subject_columns=("subject_id",), sealed=("number_ct", "text_ct"), clear=("provider_ref",),
    ),
    Holding(
        table="inbound_fragment", link=Link.ACCOUNT, category="inbound_messages",
        description=N_("Parts of received SMS waiting for the rest (at most minutes): sender's number and text, encrypted under the provider's key"),
        sealed=("source_ct", "text_ct"), blind_indexes=("source_index",), clear=("provider_ref",),
        kept=N_("Held by the provider for minutes only, until the rest of the SMS arrives, then routed and deleted"),
    ),
    Holding(
        table="reply_route", link=Link.ACCOUNT, category="inbound_messages",
        description=N_("Reply routes: a keyed hash of each number sent to from a shared number, until the reply window ends"),
        blind_indexes=("number_index",),
        kept=N_("A keyed hash (no readable number) under the provider's key, deleted when the reply window ends"),
    ),
)
