"""The contacts domain's tables that hold personal data: contacts, groups and uploaded files (see
``govsms.personal_data``)."""

from __future__ import annotations

from govsms.contacts.importing import purge_expired_uploads
from govsms.i18n import N_
from govsms.personal_data import Holding, Link

HOLDINGS: tuple[Holding, ...] = (
    Holding(
        table="contact", link=Link.SUBJECT_ID, category="contacts",
        description=N_("Contacts: mobile number, name and note (encrypted)"),
        subject_columns=("subject_id",), sealed=("number_ct", "name_ct", "note_ct"),
    ),
    Holding(
        table="contact_group", link=Link.ACCOUNT, category="contacts",
        description=N_("Group names and descriptions, which may name people (encrypted)"),
        sealed=("name_ct", "description_ct"), blind_indexes=("name_index",), clear=("clear_name", "clear_description"),
    ),
    Holding(
        table="group_member", link=Link.ACCOUNT, category="contacts", via="contact",
        description=N_("Group memberships"),
    ),
    Holding(
        table="import_upload", link=Link.ACCOUNT, category="import_files",
        description=N_("Uploaded recipient files and their names (encrypted)"),
        sealed=("filename_ct", "content_ct"), purge=purge_expired_uploads,
    ),
)
