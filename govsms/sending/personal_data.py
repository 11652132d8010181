"""The sending domain's tables that hold personal data: dispatches, sent SMS and their delivery
data, opt-out tokens, the blocklist and senders' own numbers (see ``govsms.personal_data``)."""

from __future__ import annotations

from govsms.i18n import N_
from govsms.personal_data import Holding, Link
from govsms.sending.purge import purge_empty_dispatches, purge_sent_messages
from govsms.sending.subject_data import (
    erase_block, erase_messages, erase_sender_number, erase_sent_from, export_block, export_messages, export_sender_number,
    export_sent_from, find_block, find_messages, find_sender_number, find_sent_from,
)

HOLDINGS: tuple[Holding, ...] = (
    Holding(
        table="dispatch", link=Link.SUBJECT_ID, category="outbound_messages",
        description=N_("Dispatches: text and sender (encrypted), a keyed fingerprint of the request and its idempotency key"),
        subject_columns=("sender_subject_id",), sealed=("sender_ct", "text_ct"), blind_indexes=("idempotency_key", "request_hash"),
        retention_purge=purge_empty_dispatches,
        # The person as a dispatch's mobile-number sender; as a recipient, their last message's
        # erasure takes the dispatch's text (erase_messages).
        find=find_sent_from, export=export_sent_from, erase=erase_sent_from,
    ),
    Holding(
        table="outbound_message", link=Link.SUBJECT_ID, category="outbound_messages",
        description=N_("Sent SMS: recipient's number (encrypted), status, cost, times and the opt-out token"),
        subject_columns=("subject_id",), sealed=("recipient_ct",), clear=("optout_token",),
        retention_purge=purge_sent_messages,  # with its parts, their waiting reports and its opt-out token
        find=find_messages, export=export_messages, erase=erase_messages,  # likewise
    ),
    Holding(
        table="message_part", link=Link.ACCOUNT, category="outbound_messages", via="outbound_message",
        description=N_("Parts of sent SMS: the provider's id and delivery status"),
        clear=("provider_id",),  # erased with their SMS (erase_messages)
    ),
    Holding(
        table="pending_report", link=Link.ACCOUNT, category="outbound_messages", via="message_part",
        description=N_("Delivery reports waiting for their SMS"),
        clear=("provider_id",),  # erased with their SMS (erase_messages)
    ),
    Holding(
        table="block_entry", link=Link.BLIND_INDEX, category="blocklist",
        description=N_("Blocked numbers as a keyed hash, with source and time"),
        blind_indexes=("blind_index",),
        find=find_block, export=export_block, erase=erase_block, erase_on="unblock",
        kept=N_("Kept as a keyed hash (no readable number) so that the person keeps not getting SMS; erased only if they ask to be unblocked"),
    ),
    Holding(
        table="sender_number", link=Link.SUBJECT_ID, category="users",
        description=N_("Mobile numbers users send from (encrypted) and their verification codes (hashed)"),
        subject_columns=("subject_id",), sealed=("number_ct",), blind_indexes=("blind_index",),
        find=find_sender_number, export=export_sender_number, erase=erase_sender_number,
    ),
)
