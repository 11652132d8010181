"""Imports every domain's tables so ``SQLModel.metadata`` is complete (Alembic, tests)."""

from sqlmodel import SQLModel

from govsms.accounts.models import Account, ApiKey, LoginSession, RecoveryCode, RolePolicy, User
from govsms.contacts.models import Contact, ContactGroup, GroupMember, ImportUpload
from govsms.audit.models import AuditAnchor, AuditChain, AuditCheckpoint, AuditEvent, AuditEventSubject
from govsms.dpa.models import DpaDetails, DpaVersion, SubProcessor
from govsms.jobs import JobRun
from govsms.receiving.forwarding_models import ForwardingRule, ForwardJob
from govsms.receiving.models import InboundFragment, InboundKeyword, InboundMessage
from govsms.keys.store import AccountKey, SubjectKey, SubjectShred
from govsms.retention.models import LegalHold, RetentionChoice, RetentionLimit
from govsms.subjects.erasure_models import SubjectErasure
from govsms.subjects.models import SubjectExport, SubjectRequest
from govsms.sending.models import (
    BlockEntry, Dispatch, MessagePart, OutboundMessage, PendingReport, Price, ReplyRoute, SenderNumber, StatisticsDay, StatisticsProgress, VirtualNumber,
)

metadata = SQLModel.metadata

__all__ = [
    "Account",
    "AccountKey",
    "ApiKey",
    "AuditAnchor",
    "AuditChain",
    "AuditCheckpoint",
    "AuditEvent",
    "AuditEventSubject",
    "BlockEntry",
    "Contact",
    "ContactGroup",
    "Dispatch",
    "DpaDetails",
    "DpaVersion",
    "ForwardJob",
    "ForwardingRule",
    "GroupMember",
    "ImportUpload",
    "InboundFragment",
    "InboundKeyword",
    "InboundMessage",
    "JobRun",
    "LegalHold",
    "LoginSession",
    "MessagePart",
    "OutboundMessage",
    "PendingReport",
    "Price",
    "RecoveryCode",
    "ReplyRoute",
    "RetentionChoice",
    "RetentionLimit",
    "RolePolicy",
    "SenderNumber",
    "StatisticsDay",
    "StatisticsProgress",
    "SubProcessor",
    "SubjectErasure",
    "SubjectExport",
    "SubjectKey",
    "SubjectRequest",
    "SubjectShred",
    "User",
    "VirtualNumber",
    "metadata",
]
