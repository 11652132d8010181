"""The sending domain's tables that hold personal data: dispatches, sent SMS and their delivery
data, opt-out tokens, the blocklist and senders' own numbers (see ``govsms.personal_data``)."""

from __future__ import annotations

from govsms.i18n import N_
from govsms.personal_data import Holding, Link
from govsms.sending.purge import purge_empty_dispatches, purge_sent_messages

HOLDINGS: tuple[Holding, ...] = (
    Holding(
        table="dispatch", link=Link.SUBJECT_ID, category="outbound_messages",
        description=N_("Dispatches: text and sender (encrypted), a keyed fingerprint of the request and its idempotency key"),
        subject_columns=("sender_subject_id",), sealed=("sender_ct", "text_ct"), blind_indexes=("idempotency_key", "request_hash"),
        retention_purge=purge_empty_dispatches,
    ),
    Holding(
        table="outbound_message", link=Link.SUBJECT_ID, category="outbound_messages",
        description=N_("Sent SMS: recipient's number (encrypted), status, cost, times and the opt-out token"),
        subject_columns=("subject_id",), sealed=("recipient_ct",), clear=("optout_token",),
        retention_purge=purge_sent_messages,  # with its parts, their waiting reports and its opt-out token
    ),
    Holding(
        table="message_part", link=Link.ACCOUNT, category="outbound_messages", via="outbound_message",
        description=N_("Parts of sent SMS: the provider's id and delivery status"),
        clear=("provider_id",),
    ),
    Holding(
        table="pending_report", link=Link.ACCOUNT, category="outbound_messages", via="message_part",
        description=N_("Delivery reports waiting for their SMS"),
        clear=("provider_id",),
    ),
    Holding(
        table="block_entry", link=Link.BLIND_INDEX, category="blocklist",
        description=N_("Blocked numbers as a keyed hash, with source and time"),
        blind_indexes=("blind_index",),
    ),
    Holding(
        table="sender_number", link=Link.SUBJECT_ID, category="users",
        description=N_("Mobile numbers users send from (encrypted) and their verification codes (hashed)"),
        subject_columns=("subject_id",), sealed=("number_ct",), blind_indexes=("blind_index",),
    ),
)
