"""The contacts domain's tables that hold personal data: contacts, groups and uploaded files (see
``govsms.personal_data``)."""

from __future__ import annotations

from govsms.contacts.importing import purge_expired_uploads
from govsms.contacts.subject_data import (
    erase_contact, erase_memberships, erase_uploads, export_contact, export_uploads, find_contact, find_memberships, find_uploads,
)
from govsms.i18n import N_
from govsms.personal_data import Holding, Link

HOLDINGS: tuple[Holding, ...] = (
    Holding(
        table="contact", link=Link.SUBJECT_ID, category="contacts",
        description=N_("Contacts: mobile number, name and note (encrypted)"),
        subject_columns=("subject_id",), sealed=("number_ct", "name_ct", "note_ct"),
        find=find_contact, export=export_contact, erase=erase_contact,
    ),
    Holding(
        table="contact_group", link=Link.ACCOUNT, category="contacts",
        description=N_("Group names and descriptions, which may name people (encrypted)"),
        sealed=("name_ct", "description_ct"), blind_indexes=("name_index",), clear=("clear_name", "clear_description"),
        kept=N_("Group names name no one person; memberships are erased"),
    ),
    Holding(
        table="group_member", link=Link.ACCOUNT, category="contacts", via="contact",
        description=N_("Group memberships"),
        find=find_memberships, erase=erase_memberships,  # exported with the contact (its groups' names)
    ),
    Holding(
        table="import_upload", link=Link.ACCOUNT, category="import_files",
        description=N_("Uploaded recipient files and their names (encrypted)"),
        sealed=("filename_ct", "content_ct"), purge=purge_expired_uploads,
        find=find_uploads, export=export_uploads, erase=erase_uploads,
    ),
)
