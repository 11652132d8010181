"""What forwarding holds about one person, for a data-subject request (``govsms.subjects``): the
rules that forward to their mobile number. Each function follows ``govsms.personal_data``'s
``Find``, ``Export`` or ``Erase``; the caller audits. Forward jobs hold no content (ids and an
error code); they go with their inbound SMS (``erase_forward_jobs``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlmodel import Session, col

from govsms.db import rowcount
from govsms.i18n import _
from govsms.personal_data import Found, Person
from govsms.receiving.forwarding_models import RULES_CACHE, ForwardingRule, ForwardJob
from govsms.receiving.models import RULE_MOBILE, InboundMessage
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
            ))
        else:
            session.execute(delete(ForwardJob).where(owned_by(ForwardJob, person.account_id), col(ForwardJob.rule_id) == rule.id))
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
        lines=tuple(_("Received SMS %(sms)d forwarded by %(kind)s: %(status)s") % {"sms": job.inbound_message_id, "kind": job.kind, "status": job.status}
                    for job in jobs[:20]),
    )


def export_forward_jobs(session: Session, person: Person) -> list[dict[str, object]]:
    return [
        {"received_sms": job.inbound_message_id, "rule": job.rule_id, "kind": job.kind, "status": job.status, "attempts": job.attempts,
         "error": job.last_error, "created_at": job.created_at.isoformat(), "done_at": job.done_at.isoformat() if job.done_at else None}
        for job in _job_ids(session, person)
    ]


def erase_forward_jobs(session: Session, person: Person, *, limit: int, now: datetime) -> int:
    """The forwards of the person's received SMS (ids only, no content)."""
    ids = [job.id for job in _job_ids(session, person, limit)]
    if not ids:
        return 0
    return rowcount(session.execute(delete(ForwardJob).where(col(ForwardJob.id).in_(ids))))


def purge_forward_jobs(
    session: Session, *, account_id: int, before: datetime, held: frozenset[bytes], limit: int, dry_run: bool = False,
) -> int:
    """The retention purge of forwards (category ``inbound_messages``): up to ``limit`` of the
    account's forwards planned before ``before`` whose received SMS is gone (purged or erased).
    A forward of an SMS that is kept (a legal hold on its number, a shorter age) stays with it."""
    existing = select(col(InboundMessage.id)).where(owned_by(InboundMessage, account_id))
    condition = [owned_by(ForwardJob, account_id), col(ForwardJob.created_at) < before, col(ForwardJob.inbound_message_id).not_in(existing)]
    if dry_run:
        return int(session.execute(select(func.count()).select_from(ForwardJob).where(*condition)).scalar() or 0)
    ids = list(session.execute(select(col(ForwardJob.id)).where(*condition).order_by(col(ForwardJob.id)).limit(limit)).scalars())
    if not ids:
        return 0
    return rowcount(session.execute(delete(ForwardJob).where(owned_by(ForwardJob, account_id), col(ForwardJob.id).in_(ids))))
