"""What forwarding holds about one person, for a data-subject request (``govsms.subjects``): the
rules that forward to their mobile number. Each function follows ``govsms.personal_data``'s
``Find``, ``Export`` or ``Erase``; the caller audits. Forward jobs hold no content (ids and an
error code); they go with their inbound SMS (``erase_forward_jobs``). A mobile forward's dispatch
("Från +46 70 ...: text", sealed under the account key) is the sender's data too: found and
exported with the job, its text erased with it (``ERASED_TEXT``, as sending erases a dispatch)
and by the retention purge that takes the job."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlmodel import Session, col

from govsms.audit.unreadable import CANNOT_BE_READ
from govsms.clock import SYSTEM_CLOCK
from govsms.db import rowcount
from govsms.i18n import _
from govsms.keys.crypto import DecryptionError, seal_field, unseal_field
from govsms.keys.store import DATA_PURPOSE, vault_of
from govsms.personal_data import Found, Person
from govsms.receiving.forwarding_models import RULES_CACHE, ForwardingRule, ForwardJob
from govsms.receiving.models import RULE_MOBILE, InboundMessage
from govsms.sending.models import DISPATCH_TEXT, Dispatch, OutboundMessage
from govsms.sending.status import MessageStatus
from govsms.sending.subject_data import ERASED_TEXT
from govsms.tenancy import owned_by


def _rules(session: Session, person: Person) -> list[ForwardingRule]:
    if person.subject_id is None:
        return []
    return list(session.execute(
        select(ForwardingRule).where(owned_by(ForwardingRule, person.account_id), col(ForwardingRule.mobile_subject_id) == person.subject_id)
        .order_by(col(ForwardingRule.id))
    ).scalars())


def find_forward_rules(session: Session, person: Person) -> Found | None:
    """Rules forwarding received SMS to the person's mobile number."""
    rules = _rules(session, person)
    if not rules:
        return None
    return Found(
        table="forwarding_rule", count=len(rules), first_at=min(rule.created_at for rule in rules),
        last_at=max(rule.created_at for rule in rules),
        lines=tuple(_("Forwarding rule %(id)d forwards received SMS to this number") % {"id": rule.id} for rule in rules),
    )


def export_forward_rules(session: Session, person: Person) -> list[dict[str, object]]:
    rules = _rules(session, person)
    if not rules or person.subject is None:
        return []
    return [
        {"rule": rule.id, "mobile": person.subject.unseal_or_none(RULE_MOBILE, rule.mobile_ct or b"", owner_id=rule.id),
         "enabled": rule.enabled, "created_at": rule.created_at.isoformat()}
        for rule in rules
    ]


def erase_forward_rules(session: Session, person: Person, *, limit: int, now: datetime) -> int:
    """The person's number leaves the rules: a rule that also mails keeps doing so; one that
    forwarded only to this number is deleted with its waiting forwards."""
    rules = _rules(session, person)[:limit]
    session.info.pop(RULES_CACHE, None)
    for rule in rules:
        if rule.email_ct:
            session.execute(
                update(ForwardingRule).where(col(ForwardingRule.id) == rule.id).values(mobile_subject_id=None, mobile_ct=None)
            )
            session.execute(delete(ForwardJob).where(
                owned_by(ForwardJob, person.account_id), col(ForwardJob.rule_id) == rule.id, col(ForwardJob.kind) == "sms",
                col(ForwardJob.dispatch_id).is_(None),
            ))
        else:
            # A sent SMS forward stays (its dispatch holds the sender's number and text: it goes with the sender's SMS).
            session.execute(delete(ForwardJob).where(
                owned_by(ForwardJob, person.account_id), col(ForwardJob.rule_id) == rule.id, col(ForwardJob.dispatch_id).is_(None),
            ))
            session.execute(delete(ForwardingRule).where(col(ForwardingRule.id) == rule.id))
    return len(rules)


def _job_ids(session: Session, person: Person, limit: int | None = None) -> list[ForwardJob]:
    if person.subject_id is None:
        return []
    messages = select(col(InboundMessage.id)).where(owned_by(InboundMessage, person.account_id), col(InboundMessage.subject_id) == person.subject_id)
    query = select(ForwardJob).where(owned_by(ForwardJob, person.account_id), col(ForwardJob.inbound_message_id).in_(messages)).order_by(col(ForwardJob.id))
    return list(session.execute(query.limit(limit) if limit is not None else query).scalars())


def find_forward_jobs(session: Session, person: Person) -> Found | None:
    """Forwards of the SMS the person sent (ids, times, outcome; no number, no text)."""
    jobs = _job_ids(session, person)
    if not jobs:
        return None
    return Found(
        table="forward_job", count=len(jobs), first_at=min(job.created_at for job in jobs), last_at=max(job.created_at for job in jobs),
        lines=tuple(_line(job) for job in jobs[:20]),
    )


def _line(job: ForwardJob) -> str:
    line = _("Received SMS %(sms)d forwarded by %(kind)s: %(status)s") % {"sms": job.inbound_message_id, "kind": job.kind, "status": job.status}
    if job.dispatch_id is not None:
        line += " " + _("(dispatch %(id)d holds the number and text)") % {"id": job.dispatch_id}
    return line


def _forwarded_texts(session: Session, account_id: int, dispatch_ids: list[int], *, now: datetime) -> dict[int, str]:
    """The texts of these forward dispatches of the account, opened with its data key."""
    if not dispatch_ids:
        return {}
    key = vault_of(session).account_key(session, account_id, DATA_PURPOSE, now=now)
    texts: dict[int, str] = {}
    for dispatch_id, sealed in session.execute(
        select(col(Dispatch.id), col(Dispatch.text_ct)).where(owned_by(Dispatch, account_id), col(Dispatch.id).in_(dispatch_ids))
    ).tuples():
        try:
            texts[dispatch_id] = unseal_field(key, DISPATCH_TEXT, account_id, dispatch_id, sealed).decode()
        except (DecryptionError, UnicodeDecodeError):
            texts[dispatch_id] = _(CANNOT_BE_READ)
    return texts


def export_forward_jobs(session: Session, person: Person) -> list[dict[str, object]]:
    """Each forward of the person's SMS; a mobile forward with its dispatch and the text it carried."""
    jobs = _job_ids(session, person)
    texts = _forwarded_texts(session, person.account_id, [job.dispatch_id for job in jobs if job.dispatch_id is not None],
                             now=SYSTEM_CLOCK.now())
    return [
        {"received_sms": job.inbound_message_id, "rule": job.rule_id, "kind": job.kind, "status": job.status, "attempts": job.attempts,
         "error": job.last_error, "created_at": job.created_at.isoformat(), "done_at": job.done_at.isoformat() if job.done_at else None,
         "dispatch_id": job.dispatch_id, "forwarded_text": texts.get(job.dispatch_id) if job.dispatch_id is not None else None}
        for job in jobs
    ]


def _erase_forwarded_texts(session: Session, account_id: int, dispatch_ids: list[int], *, now: datetime) -> None:
    """The forward dispatches' texts become ``ERASED_TEXT`` (sealed, as the sending domain erases
    one); a forward SMS not yet handed to the transport is cancelled (not sent empty, not billed)."""
    if not dispatch_ids:
        return
    session.execute(
        update(OutboundMessage)
        .where(owned_by(OutboundMessage, account_id), col(OutboundMessage.dispatch_id).in_(sorted(set(dispatch_ids))),
               col(OutboundMessage.status).in_([MessageStatus.QUEUED, MessageStatus.SCHEDULED]))
        .values(status=MessageStatus.CANCELLED, cost_minor=0, done_at=now)
        .execution_options(synchronize_session=False)
    )
    key = vault_of(session).account_key(session, account_id, DATA_PURPOSE, now=now)
    for dispatch_id in sorted(set(dispatch_ids)):
        session.execute(
            update(Dispatch).where(owned_by(Dispatch, account_id), col(Dispatch.id) == dispatch_id)
            .values(text_ct=seal_field(key, DISPATCH_TEXT, account_id, dispatch_id, ERASED_TEXT))
            .execution_options(synchronize_session=False)
        )


def erase_forward_jobs(session: Session, person: Person, *, limit: int, now: datetime) -> int:
    """The forwards of the person's received SMS, and the text of each mobile forward's dispatch."""
    jobs = _job_ids(session, person, limit)
    if not jobs:
        return 0
    _erase_forwarded_texts(session, person.account_id, [job.dispatch_id for job in jobs if job.dispatch_id is not None], now=now)
    return rowcount(session.execute(delete(ForwardJob).where(col(ForwardJob.id).in_([job.id for job in jobs]))))


def purge_forward_jobs(
    session: Session, *, account_id: int, before: datetime, held: frozenset[bytes], limit: int, dry_run: bool = False,
) -> int:
    """The retention purge of forwards (category ``inbound_messages``): up to ``limit`` of the
    account's forwards planned before ``before`` whose received SMS is gone (purged or erased).
    A forward of an SMS that is kept (a legal hold on its number, a shorter age) stays with it; a
mobile forward's dispatch loses its text with the job."""
    existing = select(col(InboundMessage.id)).where(owned_by(InboundMessage, account_id))
    condition = [owned_by(ForwardJob, account_id), col(ForwardJob.created_at) < before, col(ForwardJob.inbound_message_id).not_in(existing)]
    if dry_run:
        return int(session.execute(select(func.count()).select_from(ForwardJob).where(*condition)).scalar() or 0)
    rows = session.execute(
        select(col(ForwardJob.id), col(ForwardJob.dispatch_id)).where(*condition).order_by(col(ForwardJob.id)).limit(limit)
    ).all()
    if not rows:
        return 0
    ids = [job_id for job_id, _dispatch in rows]
    _erase_forwarded_texts(session, account_id, [dispatch for _job, dispatch in rows if dispatch is not None], now=before)
    return rowcount(session.execute(delete(ForwardJob).where(owned_by(ForwardJob, account_id), col(ForwardJob.id).in_(ids))))
