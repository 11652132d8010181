"""Imports every domain's tables so ``SQLModel.metadata`` is complete (Alembic, tests)."""

from sqlmodel import SQLModel

from govsms.accounts.models import Account, ApiKey, LoginSession, User
from govsms.contacts.models import Contact, ContactGroup, GroupMember, ImportUpload
from govsms.audit.models import AuditChain, AuditCheckpoint, AuditEvent, AuditEventSubject
from govsms.dpa.models import DpaDetails, DpaVersion, SubProcessor
from govsms.jobs import JobRun
from govsms.keys.store import AccountKey, SubjectKey
from govsms.retention.models import RetentionLimit
from govsms.sending.models import BlockEntry, Dispatch, MessagePart, OutboundMessage, PendingReport, Price, SenderNumber, VirtualNumber

metadata = SQLModel.metadata

__all__ = [
    "Account",
    "AccountKey",
    "BlockEntry",
    "Dispatch",
    "DpaDetails",
    "DpaVersion",
    "MessagePart",
    "OutboundMessage",
    "PendingReport",
    "Price",
    "RetentionLimit",
    "SenderNumber",
    "SubProcessor",
    "VirtualNumber",
    "ApiKey",
    "AuditChain",
    "AuditCheckpoint",
    "AuditEvent",
    "AuditEventSubject",
    "Contact",
    "ContactGroup",
    "GroupMember",
    "ImportUpload",
    "JobRun",
    "LoginSession",
    "SubjectKey",
    "User",
    "metadata",
]
