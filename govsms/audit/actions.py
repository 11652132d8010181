"""Every kind of audit event, as a dotted name: ``<object>.<what happened>``."""

from __future__ import annotations

from enum import StrEnum

from govsms.i18n import N_


class Action(StrEnum):
    LOGIN = "user.logged_in"
    LOGIN_FAILED = "user.login_failed"
    LOGIN_LOCKED = "user.login_locked"
    USER_CREATED = "user.created"
    USER_ROLES_CHANGED = "user.roles_changed"
    USER_DISABLED = "user.disabled"
    USER_ENABLED = "user.enabled"
    USER_REMOVED = "user.removed"
    PASSWORD_CHANGED = "user.password_changed"
    TOTP_ENROLLED = "user.totp_enrolled"
    TOTP_DISABLED = "user.totp_disabled"
    TOTP_RESET = "user.totp_reset"
    RECOVERY_CODE_USED = "user.recovery_code_used"
    RECOVERY_CODES_RENEWED = "user.recovery_codes_renewed"
    TOTP_REQUIREMENT_CHANGED = "platform.totp_required_changed"
    API_KEY_CREATED = "api_key.created"
    API_KEY_REVOKED = "api_key.revoked"
    ACCOUNT_CREATED = "account.created"
    ACCOUNT_UPDATED = "account.updated"
    ACCOUNT_SUSPENDED = "account.suspended"
    ACCOUNT_REACTIVATED = "account.reactivated"
    CONTACT_VIEWED = "contact.viewed"
    CONTACTS_LISTED = "contacts.listed"
    CONTACTS_SEARCHED = "contacts.searched"
    CONTACTS_EXPORTED = "contacts.exported"
    CONTACT_CREATED = "contact.created"
    CONTACT_UPDATED = "contact.updated"
    CONTACT_DELETED = "contact.deleted"
    CONTACTS_IMPORTED = "contacts.imported"
    GROUP_CREATED = "group.created"
    GROUP_UPDATED = "group.updated"
    GROUP_DELETED = "group.deleted"
    GROUP_MEMBERS_VIEWED = "group.members_viewed"
    GROUP_MEMBERS_ADDED = "group.members_added"
    GROUP_MEMBERS_REMOVED = "group.members_removed"
    AUDIT_VIEWED = "audit.viewed"
    AUDIT_EXPORTED = "audit.exported"
    AUDIT_VERIFIED = "audit.verified"
    AUDIT_WITNESS_REBUILT = "audit.witness_rebuilt"
    AUDIT_PRUNED = "audit.pruned"
    KEYS_ROTATED = "keys.rotated"
    SUBJECT_KEYS_DESTROYED = "keys.subject_keys_destroyed"
    BLOCKLIST_ADDED = "blocklist.added"
    BLOCKLIST_REMOVED = "blocklist.removed"
    OPTED_OUT = "blocklist.opted_out"
    DISPATCH_CREATED = "dispatch.created"
    DISPATCH_CANCELLED = "dispatch.cancelled"
    DISPATCH_PREVIEWED = "dispatch.previewed"
    DISPATCH_REPLAYED = "dispatch.replayed"
    DISPATCH_KEY_CONFLICT = "dispatch.key_conflict"
    SENDER_ADDED = "sender.added"
    SENDER_CODE_SENT = "sender.code_sent"
    SENDER_VERIFIED = "sender.verified"
    SENDER_VERIFICATION_FAILED = "sender.verification_failed"
    SENDER_REMOVED = "sender.removed"
    SENDERS_LISTED = "senders.listed"
    MESSAGES_LISTED = "messages.listed"
    MESSAGE_NUMBER_SHOWN = "message.number_shown"
    MESSAGE_TEXT_SHOWN = "message.text_shown"
    STORAGE_TIME_CHANGED = "retention.storage_time_changed"
    ACCOUNT_STORAGE_TIME_CHANGED = "retention.account_storage_time_changed"
    PURGE_RUN = "retention.purge_run"
    LEGAL_HOLD_ADDED = "retention.legal_hold_added"
    LEGAL_HOLD_ENDED = "retention.legal_hold_ended"
    SUBPROCESSOR_ADDED = "subprocessor.added"
    SUBPROCESSOR_CHANGED = "subprocessor.changed"
    SUBPROCESSOR_REMOVED = "subprocessor.removed"
    DPA_DETAILS_VIEWED = "dpa.details_viewed"
    DPA_DETAILS_SAVED = "dpa.details_saved"
    DPA_GENERATED = "dpa.generated"
    DPA_DOWNLOADED = "dpa.downloaded"
    DPA_ACCEPTED = "dpa.accepted"
    BLOCKLIST_CHECKED = "blocklist.checked"
    BLOCKLIST_CLEANED = "blocklist.cleaned"
    CONTACT_ALREADY_EXISTS = "contact.already_exists"
    CONTACTS_IMPORT_CHECKED = "contacts.import_checked"
    USERS_LISTED = "users.listed"
    USER_VIEWED = "user.viewed"
    DATA_UNREADABLE = "data.unreadable"
    SUBJECT_SEARCHED = "subject.searched"
    SUBJECT_EXPORTED = "subject.exported"
    SUBJECT_EXPORT_DOWNLOADED = "subject.export_downloaded"
    SUBJECT_ERASURE_PREVIEWED = "subject.erasure_previewed"
    SUBJECT_ERASURE_REFUSED = "subject.erasure_refused"
    SUBJECT_ERASURE_STARTED = "subject.erasure_started"
    SUBJECT_ERASED = "subject.erased"
    SUBJECT_RECEIPT_DOWNLOADED = "subject.receipt_downloaded"
    SUBJECT_REQUEST_REGISTERED = "subject_request.registered"
    SUBJECT_REQUEST_VIEWED = "subject_request.viewed"
    SUBJECT_REQUEST_UPDATED = "subject_request.updated"
    INBOUND_LISTED = "inbound.listed"
    INBOUND_VIEWED = "inbound.viewed"
    INBOUND_NUMBER_SHOWN = "inbound.number_shown"
    INBOUND_SEARCHED = "inbound.searched"
    FORWARDING_RULE_CREATED = "forwarding_rule.created"
    FORWARDING_RULE_CHANGED = "forwarding_rule.changed"
    FORWARDING_RULE_REMOVED = "forwarding_rule.removed"
    FORWARDING_RULES_VIEWED = "forwarding_rule.listed"
    FORWARD_SENT = "forward.sent"
    FORWARD_FAILED = "forward.failed"
    INBOUND_RECEIVED = "inbound.received"
    INBOUND_REVEALED = "inbound.revealed"
    INBOUND_KEYWORD_ADDED = "inbound_keyword.added"
    INBOUND_KEYWORD_REMOVED = "inbound_keyword.removed"
    STOP_CONFIRMATION_CHANGED = "account.stop_confirmation_changed"


ACTION_LABELS: dict[Action, str] = {
    Action.LOGIN: N_("Logged in"),
    Action.LOGIN_FAILED: N_("Login failed"),
    Action.LOGIN_LOCKED: N_("Login locked"),
    Action.USER_CREATED: N_("User created"),
    Action.USER_ROLES_CHANGED: N_("Roles changed"),
    Action.USER_DISABLED: N_("User disabled"),
    Action.USER_ENABLED: N_("User enabled"),
    Action.USER_REMOVED: N_("User removed"),
    Action.SUBJECT_KEYS_DESTROYED: N_("Keys that protected no data any more destroyed"),
    Action.PASSWORD_CHANGED: N_("Password changed"),
    Action.TOTP_ENROLLED: N_("Two-step login turned on"),
    Action.TOTP_DISABLED: N_("Two-step login turned off"),
    Action.TOTP_RESET: N_("Two-step login reset by an administrator"),
    Action.RECOVERY_CODE_USED: N_("Recovery code used to log in"),
    Action.RECOVERY_CODES_RENEWED: N_("New recovery codes made"),
    Action.TOTP_REQUIREMENT_CHANGED: N_("Roles that must use two-step login changed"),
    Action.API_KEY_CREATED: N_("API key created"),
    Action.API_KEY_REVOKED: N_("API key revoked"),
    Action.ACCOUNT_CREATED: N_("Account created"),
    Action.ACCOUNT_UPDATED: N_("Account details changed"),
    Action.ACCOUNT_SUSPENDED: N_("Account suspended"),
    Action.ACCOUNT_REACTIVATED: N_("Account reactivated"),
    Action.CONTACT_VIEWED: N_("Contact opened"),
    Action.CONTACTS_LISTED: N_("Contacts listed"),
    Action.CONTACTS_SEARCHED: N_("Contacts searched"),
    Action.CONTACTS_EXPORTED: N_("Contacts exported"),
    Action.CONTACT_CREATED: N_("Contact created"),
    Action.CONTACT_UPDATED: N_("Contact changed"),
    Action.CONTACT_DELETED: N_("Contact deleted"),
    Action.CONTACTS_IMPORTED: N_("Contacts imported"),
    Action.GROUP_CREATED: N_("Group created"),
    Action.GROUP_UPDATED: N_("Group changed"),
    Action.GROUP_DELETED: N_("Group deleted"),
    Action.GROUP_MEMBERS_VIEWED: N_("Group members listed"),
    Action.GROUP_MEMBERS_ADDED: N_("Members added to group"),
    Action.GROUP_MEMBERS_REMOVED: N_("Members removed from group"),
    Action.AUDIT_VIEWED: N_("Access log viewed"),
    Action.AUDIT_EXPORTED: N_("Access log exported"),
    Action.AUDIT_VERIFIED: N_("Access log verified"),
    Action.AUDIT_WITNESS_REBUILT: N_("Access log witness written anew"),
    Action.AUDIT_PRUNED: N_("Access log pruned (oldest sealed segments)"),
    Action.KEYS_ROTATED: N_("Master key rotated"),
    Action.BLOCKLIST_ADDED: N_("Number blocked"),
    Action.BLOCKLIST_REMOVED: N_("Number unblocked"),
    Action.OPTED_OUT: N_("Recipient opted out"),
    Action.DISPATCH_CREATED: N_("SMS dispatch created"),
    Action.DISPATCH_CANCELLED: N_("SMS dispatch cancelled"),
    Action.DISPATCH_PREVIEWED: N_("SMS dispatch previewed (blocked numbers counted)"),
    Action.DISPATCH_REPLAYED: N_("SMS dispatch answered again for a repeated Idempotency-Key"),
    Action.DISPATCH_KEY_CONFLICT: N_("Idempotency-Key refused: it was used for a different request"),
    Action.SENDER_ADDED: N_("Sender number added (code sent)"),
    Action.SENDER_CODE_SENT: N_("New code sent to a sender number"),
    Action.SENDER_VERIFIED: N_("Sender number verified"),
    Action.SENDER_VERIFICATION_FAILED: N_("Wrong code for a sender number"),
    Action.SENDER_REMOVED: N_("Sender number removed"),
    Action.SENDERS_LISTED: N_("Sender numbers listed"),
    Action.MESSAGES_LISTED: N_("Sent messages listed"),
    Action.MESSAGE_NUMBER_SHOWN: N_("Recipient number shown"),
    Action.MESSAGE_TEXT_SHOWN: N_("SMS text shown"),
    Action.STORAGE_TIME_CHANGED: N_("Storage time changed"),
    Action.ACCOUNT_STORAGE_TIME_CHANGED: N_("The account's own storage time changed"),
    Action.PURGE_RUN: N_("Expired personal data purged"),
    Action.LEGAL_HOLD_ADDED: N_("Legal hold placed"),
    Action.LEGAL_HOLD_ENDED: N_("Legal hold ended early"),
    Action.SUBPROCESSOR_ADDED: N_("Sub-processor added"),
    Action.SUBPROCESSOR_CHANGED: N_("Sub-processor changed"),
    Action.SUBPROCESSOR_REMOVED: N_("Sub-processor removed"),
    Action.DPA_DETAILS_VIEWED: N_("DPA details shown"),
    Action.DPA_DETAILS_SAVED: N_("DPA details saved"),
    Action.DPA_GENERATED: N_("DPA generated"),
    Action.DPA_DOWNLOADED: N_("DPA downloaded"),
    Action.DPA_ACCEPTED: N_("DPA accepted"),
    Action.BLOCKLIST_CHECKED: N_("Blocklist checked for a number"),
    Action.BLOCKLIST_CLEANED: N_("Blocked numbers removed from groups and contacts (nightly clean-up)"),
    Action.CONTACT_ALREADY_EXISTS: N_("Told that a number is a contact already"),
    Action.CONTACTS_IMPORT_CHECKED: N_("Import file compared with the contacts"),
    Action.USERS_LISTED: N_("Users listed"),
    Action.USER_VIEWED: N_("User opened"),
    Action.DATA_UNREADABLE: N_("Stored data could not be read"),
    Action.SUBJECT_SEARCHED: N_("A person's data searched"),
    Action.SUBJECT_EXPORTED: N_("A person's data exported"),
    Action.SUBJECT_EXPORT_DOWNLOADED: N_("A person's data export downloaded"),
    Action.SUBJECT_ERASURE_PREVIEWED: N_("Erasure of a person's data previewed"),
    Action.SUBJECT_ERASURE_REFUSED: N_("Erasure of a person's data refused"),
    Action.SUBJECT_ERASURE_STARTED: N_("Erasure of a person's data started"),
    Action.SUBJECT_ERASED: N_("A person's data erased"),
    Action.SUBJECT_RECEIPT_DOWNLOADED: N_("Erasure receipt downloaded"),
    Action.SUBJECT_REQUEST_REGISTERED: N_("Data-subject request registered"),
    Action.SUBJECT_REQUEST_VIEWED: N_("Data-subject request opened"),
    Action.SUBJECT_REQUEST_UPDATED: N_("Data-subject request updated"),
    Action.INBOUND_LISTED: N_("Inbox conversations listed"),
    Action.INBOUND_VIEWED: N_("Received SMS read"),
    Action.INBOUND_NUMBER_SHOWN: N_("Received SMS read with the sender's number in clear"),
    Action.INBOUND_SEARCHED: N_("Inbox searched by number"),
    Action.FORWARDING_RULE_CREATED: N_("Forwarding rule added"),
    Action.FORWARDING_RULE_CHANGED: N_("Forwarding rule turned on or off"),
    Action.FORWARDING_RULE_REMOVED: N_("Forwarding rule removed"),
    Action.FORWARDING_RULES_VIEWED: N_("Forwarding rules listed with their mobile numbers"),
    Action.FORWARD_SENT: N_("Received SMS forwarded"),
    Action.FORWARD_FAILED: N_("Forwarding of a received SMS failed"),
    Action.INBOUND_RECEIVED: N_("SMS received"),
    Action.INBOUND_REVEALED: N_("Unrouted SMS read by the operator"),
    Action.INBOUND_KEYWORD_ADDED: N_("Keyword assigned"),
    Action.INBOUND_KEYWORD_REMOVED: N_("Keyword removed"),
    Action.STOP_CONFIRMATION_CHANGED: N_("STOP confirmation SMS changed"),
}
