"""The categories of personal data govsms keeps, and the longest the provider keeps each.

One source of truth: the DPA's Annex II lists these, the operator's page edits their limits, and
the retention jobs enforce them. A limit is a number of days after the moment named by
``counted_from``; ``None`` means "as long as the customer keeps it" (the customer deletes it,
or it goes when the account ends).
"""

from __future__ import annotations

from dataclasses import dataclass

from govsms.i18n import N_


@dataclass(frozen=True)
class DataCategory:
    key: str
    label: str
    """What the category is called (translated at use)."""
    data: str
    """Which personal data it holds."""
    subjects: str
    """Whose data it is."""
    counted_from: str
    """The moment the storage time runs from."""
    default_days: int | None
    """The provider's default maximum; ``None``: until the customer deletes it."""
    max_days: int = 3650
    min_days: int = 1
    purged_automatically: bool = False
    """A scheduled job deletes it when its time is up (Annex III says which categories)."""
    lists_subjects: bool = True
    """Its data subjects are a group of their own (Annex II lists them); the access log's are
    those of the other categories."""


CATEGORIES: tuple[DataCategory, ...] = (
    DataCategory(
        key="outbound_messages",
        label=N_("Sent SMS"),
        data=N_("Recipient's number, sender, text, delivery status, cost and times"),
        subjects=N_("Recipients of SMS"),
        counted_from=N_("counted from sending"),
        default_days=90,
        purged_automatically=True,  # govsms.lifecycle's nightly purge (with parts, reports and tokens)
    ),
    DataCategory(
        key="inbound_messages",
        label=N_("Received SMS"),
        data=N_("Sender's number, text and time of replies and incoming SMS"),
        subjects=N_("People who send SMS to the customer"),
        counted_from=N_("counted from receipt"),
        default_days=90,
        purged_automatically=True,  # govsms.lifecycle's nightly purge (receiving.subject_data.purge_received)
    ),
    DataCategory(
        key="contacts",
        label=N_("Contacts and groups"),
        data=N_("Name, mobile number and group memberships in the customer's recipient lists"),
        subjects=N_("People in the customer's recipient lists"),
        counted_from=N_("counted from the last change"),
        default_days=None,
    ),
    DataCategory(
        key="import_files",
        label=N_("Uploaded recipient files"),
        data=N_("CSV and Excel files with names and numbers, before they are imported"),
        subjects=N_("People in the customer's recipient lists"),
        counted_from=N_("counted from upload"),
        default_days=1,
        max_days=1,
        purged_automatically=True,  # contacts.purge_expired_uploads
    ),
    DataCategory(
        key="blocklist",
        label=N_("Blocklist"),
        data=N_("A keyed hash of each blocked number (no readable number), its source and time"),
        subjects=N_("People who asked not to get SMS"),
        counted_from=N_("counted from the block"),
        default_days=None,
    ),
    DataCategory(
        key="access_log",
        label=N_("Access log"),
        data=N_("Who read or changed which person's data, when, and from which request; no numbers, names or texts"),
        subjects=N_("Recipients, contacts, and the customer's users"),
        counted_from=N_("counted from the event"),
        default_days=730,
        min_days=365,
        lists_subjects=False,
        purged_automatically=True,  # govsms.lifecycle: whole sealed segments, at the longest time in force
    ),
    DataCategory(
        key="users",
        label=N_("The customer's users"),
        data=N_("Name, work email address, roles, password hash, login times"),
        subjects=N_("The customer's staff who use govsms"),
        counted_from=N_("counted from the removal of the user"),
        default_days=30,
        purged_automatically=True,  # govsms.lifecycle: users removed longer ago than the time
    ),
    DataCategory(
        key="statistics",
        label=N_("Statistics"),
        data=N_("Sent SMS counted per day, country, sender kind and status, with parts and cost; no numbers, names or texts"),
        subjects=N_("None: the counts name no one"),
        counted_from=N_("counted from the day"),
        default_days=1096,
        purged_automatically=True,  # govsms.lifecycle: each account's days past its storage time
        lists_subjects=False,
    ),
)

BY_KEY = {category.key: category for category in CATEGORIES}


def describe_days(days: int | None) -> str:
    """A storage time in words, for pages and the DPA (translated by the caller's language)."""
    from govsms.i18n import _, ngettext

    if days is None:
        return _("Until the customer deletes it, at the latest when the account ends")
    return ngettext("%(days)d day", "%(days)d days", days) % {"days": days}
