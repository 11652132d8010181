"""The receiving domain's tables that hold personal data: received SMS, the parts of
concatenated SMS waiting for the rest, and the reply routes (see ``govsms.personal_data``)."""

from __future__ import annotations

from govsms.i18n import N_
from govsms.personal_data import Holding, Link
from govsms.sending.reply_routes import purge_expired_routes
from govsms.receiving.subject_data import (
    erase_received, erase_route, export_received, export_route, find_received, find_route, purge_received,
)
from govsms.receiving.forwarding_data import (
    erase_forward_jobs, erase_forward_rules, export_forward_jobs, export_forward_rules, find_forward_jobs, find_forward_rules,
    purge_forward_jobs,
)

HOLDINGS: tuple[Holding, ...] = (
    Holding(
        table="inbound_message", link=Link.SUBJECT_ID, category="inbound_messages",
        description=N_("Received SMS: sender's number and text (encrypted), the number it was sent to and times"),
        subject_columns=("subject_id",), sealed=("number_ct", "text_ct"), clear=("provider_ref",),
        retention_purge=purge_received, find=find_received, export=export_received, erase=erase_received,
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
        purge=purge_expired_routes,  # when its reply window ends (the receiving job runs it every minute)
        find=find_route, export=export_route, erase=erase_route,
    ),
    Holding(
        table="forwarding_rule", link=Link.SUBJECT_ID, category="users",
        description=N_("Forwarding rules: the e-mail addresses and mobile number received SMS are forwarded to (encrypted)"),
        subject_columns=("mobile_subject_id",), sealed=("email_ct", "mobile_ct"),
        find=find_forward_rules, export=export_forward_rules, erase=erase_forward_rules,
    ),
    Holding(
        table="forward_job", link=Link.ACCOUNT, category="inbound_messages", via="inbound_message",
        description=N_("Forwards of received SMS: which SMS, by which rule, when, and an error code (no number, no text)"),
        find=find_forward_jobs, export=export_forward_jobs, erase=erase_forward_jobs,
        retention_purge=purge_forward_jobs,  # those whose received SMS is gone
    ),
)
