"""Forwarding of inbound SMS to e-mail and mobile (issue 14 item 6).

An account's admin keeps rules (``/inbox/forwarding``): on a virtual number, a keyword on a
shared number, every reply to the account's SMS from the shared reply number, or every SMS the
account receives; to e-mail addresses (the full text, or a notice without number or text: data
minimisation) and/or to a mobile number (an SMS "Från +46 70 123 45 67: ...", billed per the price
list, sent from the number the SMS arrived on).

Routing calls ``plan_forwards`` in its transaction: one ``forward_job`` per rule and channel, no
content stored. ``run_forwards`` (the scheduler, every 30 s) sends due jobs: it reads the inbound
SMS again, so one erased meanwhile is not forwarded; an e-mail that fails is tried again after 1,
5, 15 and 60 minutes, then given up; the rule shows its last error and next try. Every forward
that reads the SMS in clear is an audit event (``forward.sent`` / ``forward.failed``, ids and
codes only)."""

from __future__ import annotations

import logging
import re
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

import phonenumbers
from sqlalchemy import func, update
from sqlalchemy import select as select_core
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session, col, delete, select

from govsms.accounts.models import Account
from govsms.auth import Actor, Permission, require
from govsms.clock import Clock
from govsms.audit.actions import Action
from govsms.audit.record import record_event
from govsms.db import session_scope
from govsms.errors import GovsmsError, InvalidInput
from govsms.i18n import N_, _
from govsms.keys.crypto import DecryptionError, seal_field, unseal_field
from govsms.keys.store import DATA_PURPOSE, vault_of
from govsms.mail import Mail, MailFailed, send_mail
from govsms.phone import parse_recipient
from govsms.receiving.forwarding_models import RULES_CACHE, ForwardingRule, ForwardJob
from govsms.receiving.models import INBOUND_NUMBER, INBOUND_TEXT, RULE_EMAIL, RULE_MOBILE, InboundKeyword, InboundMessage, RoutedBy
from govsms.sending.dispatch import DispatchRequest, country_of, create_dispatch
from govsms.sending.models import Dispatch, OutboundMessage, VirtualNumber
from govsms.sending.pricing import price_table
from govsms.sending.reply_routes import DEFAULT_WINDOW
from govsms.sending.senders import REPLY_NUMBERS, SHARED_REPLY_NUMBER
from govsms.sending.text import MAX_CHARACTERS
from govsms.settings import Settings
from govsms.tenancy import get_scoped, owned_by, scoped
from govsms.textfield import refuse_control

log = logging.getLogger(__name__)


class Trigger(StrEnum):
    VIRTUAL = "virtual"
    """SMS to one virtual number of the account (``trigger_number``)."""
    KEYWORD = "keyword"
    """SMS with one keyword (``trigger_keyword``) on a shared number (``trigger_number``)."""
    REPLY = "reply"
    """Every reply to an SMS the account sent from the shared reply number."""
    ALL = "all"
    """Every SMS the account receives."""


class Mode(StrEnum):
    FULL = "full"
    NOTICE = "notice"


class JobStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    """Given up after the last try, or refused by the SMS path (blocked, no price)."""
    REFUSED = "refused"
    """Never to be sent: to the number the SMS came from, the rule removed or turned off, the SMS gone."""


BACKOFF = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=15), timedelta(minutes=60))
"""The wait after the 1st, 2nd, 3rd and 4th failed try; the 5th failure gives up."""
MAX_ATTEMPTS = len(BACKOFF) + 1
CLAIM = timedelta(minutes=5)
"""How long a runner holds a job it is sending; a runner that died leaves it due again then."""
MAX_ADDRESSES = 10
MAX_EMAIL_LENGTH = 254
EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$")
"""An ASCII address as a mail server takes it: local part @ a domain with a dot."""
ADDRESS_SEPARATORS = re.compile(r"[,;\s]+")
RUN_BATCH = 50
RUN_BUDGET = timedelta(seconds=20)
"""A run claims no more jobs once it has taken this long (the scheduler starts one every 30 s; a
job it claimed is held ``CLAIM`` from the moment it was claimed)."""
SMS_CHANNEL = "forward"
"""The channel of a forward's dispatch: an SMS answering one is known (and not forwarded again)."""
MAX_PER_HOUR = 10
"""Forwards one rule makes (per channel) of one sender's SMS in an hour: beyond them, an SMS is
kept in the inbox but not forwarded (``too_many``; a loop of auto-replies ends here at worst)."""
FORWARD_PREFIX = "Från %(number)s: "
"""The forwarded SMS's first words (Swedish, as the issue gives it; the SMS goes to a phone, not a page)."""


ERRORS = {
    "smtp:unset": N_("No mail server is set up for the service (GOVSMS_SMTP_HOST). Ask your provider."),
    "smtp:connect": N_("The mail server could not be reached."),
    "smtp:timeout": N_("The mail server did not answer in time."),
    "smtp:starttls": N_("The mail server does not offer an encrypted connection (STARTTLS)."),
    "smtp:tls": N_("The encrypted connection to the mail server failed (its certificate could not be verified)."),
    "own_number": N_("Not forwarded: the SMS came from the mobile number this rule forwards to."),
    "sms:blocked": N_("Not forwarded: the mobile number is blocked or SMS to it cannot be priced."),
    "sms:refused": N_("Not forwarded: the forward SMS was refused."),
    "sms:error": N_("The forward SMS could not be queued."),
    "rule_unreadable": N_("The rule's addresses or number cannot be read; remove the rule and add it again."),
    "unreadable": N_("The SMS cannot be read, so it was not forwarded."),
    "too_many": N_("Not forwarded: this rule already forwarded many SMS from this number in the last hour (a loop of automatic replies?)."),
}


def error_text(code: str | None) -> str:
    """A rule's last error as people read it (the code is what is stored)."""
    if not code:
        return ""
    if code in ERRORS:
        return _(ERRORS[code])
    if code.startswith("smtp:"):
        return _("The mail server refused the e-mail (code %(code)s). Check the addresses.") % {"code": code.removeprefix("smtp:")}
    return code


# -- rules ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleView:
    id: int
    trigger: str
    trigger_number: str | None
    trigger_keyword: str | None
    emails: list[str]
    mode: str
    mobile: str | None
    enabled: bool
    created_at: datetime
    last_error: str | None
    last_error_at: datetime | None
    last_sent_at: datetime | None
    next_try_at: datetime | None
    """When a failed forward of this rule is tried again (None: none waits)."""
    unreadable: bool = False


@dataclass(frozen=True)
class TriggerChoice:
    value: str
    """``virtual:<number>``, ``keyword:<id>``, ``reply`` or ``all`` (the form's value)."""
    trigger: str
    number: str | None = None
    keyword: str | None = None


def trigger_choices(session: Session, actor: Actor) -> list[TriggerChoice]:
    """What a rule of the actor's account may be on: each of its virtual numbers, each of its
    keywords, every reply, every SMS."""
    require(actor, Permission.ACCOUNT_SETTINGS)
    choices = [TriggerChoice(Trigger.REPLY.value, Trigger.REPLY), TriggerChoice(Trigger.ALL.value, Trigger.ALL)]
    for number in session.exec(scoped(VirtualNumber, actor, col(VirtualNumber.number)).order_by(col(VirtualNumber.number))):
        choices.append(TriggerChoice(f"virtual:{number}", Trigger.VIRTUAL, number=number))
    for keyword in session.exec(scoped(InboundKeyword, actor).order_by(col(InboundKeyword.shared_number), col(InboundKeyword.keyword))):
        choices.append(TriggerChoice(f"keyword:{keyword.id}", Trigger.KEYWORD, number=keyword.shared_number, keyword=keyword.keyword))
    return choices


def parse_addresses(raw: str) -> list[str]:
    """The e-mail addresses typed (comma, semicolon, space or new line between them), or
    ``InvalidInput`` naming the first one that is not an address."""
    refuse_control(raw.replace("\n", " ").replace("\r", " ").replace("\t", " "), "emails")
    addresses = list(dict.fromkeys(item for item in ADDRESS_SEPARATORS.split(raw) if item))
    if len(addresses) > MAX_ADDRESSES:
        raise InvalidInput(
            _("The forwarding rule was not saved."),
            fields={"emails": _("Give at most %(max)d e-mail addresses.") % {"max": MAX_ADDRESSES}},
        )
    for address in addresses:
        if len(address) > MAX_EMAIL_LENGTH or not EMAIL.match(address):
            shown = address if len(address) <= 60 else address[:57] + "..."
            raise InvalidInput(
                _("The forwarding rule was not saved."),
                fields={"emails": _("%(address)s is not an e-mail address. Write addresses like name@example.se, separated by commas.")
                        % {"address": shown}},
            )
    return addresses


def _resolve_trigger(session: Session, actor: Actor, value: str) -> tuple[Trigger, str | None, str | None]:
    for choice in trigger_choices(session, actor):
        if choice.value == value:
            return Trigger(choice.trigger), choice.number, choice.keyword
    raise InvalidInput(
        _("The forwarding rule was not saved."),
        fields={"trigger": _("Choose what to forward: one of your virtual numbers, one of your keywords, every reply or every SMS.")},
    )


def create_rule(
    session: Session, actor: Actor, *, trigger: str, emails: str, mode: str, mobile: str, now: datetime,
) -> int:
    """A new rule of the actor's account (its admin); refused with a reason per field. The
    addresses are sealed under the account's data key, the mobile number under its own
    person's key. A mobile number that is one of the account's virtual numbers is refused (an
    SMS forwarded there would come back in)."""
    require(actor, Permission.ACCOUNT_SETTINGS)
    errors: dict[str, str] = {}
    resolved: tuple[Trigger, str | None, str | None] | None = None
    addresses: list[str] = []
    e164: str | None = None
    try:
        resolved = _resolve_trigger(session, actor, trigger)
    except InvalidInput as refused:
        errors.update(refused.fields)
    try:
        addresses = parse_addresses(emails)
    except InvalidInput as refused:
        errors.update(refused.fields)
    if mode not in {item.value for item in Mode}:
        errors["mode"] = _("Choose full text or notice only.")
    mobile = mobile.strip()
    if mobile:
        refuse_control(mobile, "mobile")
        parsed = parse_recipient(mobile, actor.region or "SE")  # a landline cannot get the forward
        if parsed.e164 is None:
            errors["mobile"] = parsed.reason or _("The mobile number is not valid.")
        elif session.exec(select(VirtualNumber.number).where(VirtualNumber.number == parsed.e164)).first() is not None:
            errors["mobile"] = _("This is a virtual number of the service: an SMS forwarded to it would come back as a new SMS. "
                                 "Give a mobile phone's number.")
        elif country_of(parsed.e164) not in price_table(session):
            errors["mobile"] = _("SMS to this country cannot be sent (no price); give another number.")
        else:
            e164 = parsed.e164
    if not errors and not addresses and e164 is None:
        errors["emails"] = _("Give at least one e-mail address or a mobile number to forward to.")
    if errors:
        raise InvalidInput(_("The forwarding rule was not saved."), fields=errors)
    assert resolved is not None
    kind, number, keyword = resolved
    rule = ForwardingRule(
        account_id=actor.account_id, trigger=kind.value, trigger_number=number, trigger_keyword=keyword, mode=mode,
        enabled=True, created_by=actor.label, created_at=now,
    )
    session.add(rule)
    session.flush()
    session.info.pop(RULES_CACHE, None)
    assert rule.id is not None
    vault = vault_of(session)
    if addresses:
        key = vault.account_key(session, actor.account_id, DATA_PURPOSE, now=now)
        rule.email_ct = seal_field(key, RULE_EMAIL, actor.account_id, rule.id, ",".join(addresses))
    subjects: list[int] = []
    if e164 is not None:
        subject = vault.subject(session, actor.account_id, e164, now=now)
        rule.mobile_subject_id = subject.id
        rule.mobile_ct = subject.seal(RULE_MOBILE, e164, owner_id=rule.id)
        subjects.append(subject.id)
    session.add(rule)
    session.flush()
    record_event(
        session, actor, Action.FORWARDING_RULE_CREATED, now=now, target=("forwarding_rule", rule.id), subjects=subjects,
        details={"trigger": kind.value, "mode": mode, "emails": len(addresses), "mobile": e164 is not None},
    )
    return rule.id


def forwarding_rules(session: Session, actor: Actor, *, now: datetime) -> list[RuleView]:
    """The account's rules with their addresses and mobile number (opened: a read recorded in
    the access log when a rule names a mobile number) and their status."""
    require(actor, Permission.ACCOUNT_SETTINGS)
    rules = list(session.exec(scoped(ForwardingRule, actor).order_by(col(ForwardingRule.id))))
    if not rules:
        return []
    next_tries: dict[int, datetime] = dict(
        session.execute(  # type: ignore[arg-type]
            select(ForwardJob.rule_id, func.min(ForwardJob.next_at))
            .where(owned_by(ForwardJob, actor), col(ForwardJob.status) == JobStatus.PENDING, col(ForwardJob.attempts) > 0)
            .group_by(col(ForwardJob.rule_id))
        ).all()
    )
    vault = vault_of(session)
    key = vault.account_key(session, actor.account_id, DATA_PURPOSE, now=now)
    people = vault.subjects_by_id(session, actor.account_id, [rule.mobile_subject_id for rule in rules if rule.mobile_subject_id])
    views = []
    for rule in rules:
        assert rule.id is not None
        unreadable = False
        emails: list[str] = []
        mobile: str | None = None
        try:
            if rule.email_ct:
                emails = unseal_field(key, RULE_EMAIL, rule.account_id, rule.id, rule.email_ct).decode().split(",")
            if rule.mobile_ct and rule.mobile_subject_id:
                person = people.get(rule.mobile_subject_id)
                if person is None:
                    unreadable = True
                else:
                    mobile = person.unseal(RULE_MOBILE, rule.mobile_ct, owner_id=rule.id)
        except (DecryptionError, UnicodeDecodeError):
            unreadable = True
        views.append(RuleView(
            id=rule.id, trigger=rule.trigger, trigger_number=rule.trigger_number, trigger_keyword=rule.trigger_keyword,
            emails=emails, mode=rule.mode, mobile=mobile, enabled=rule.enabled, created_at=rule.created_at,
            last_error=rule.last_error, last_error_at=rule.last_error_at, last_sent_at=rule.last_sent_at,
            next_try_at=next_tries.get(rule.id), unreadable=unreadable,
        ))
    shown = [rule.mobile_subject_id for rule in rules if rule.mobile_subject_id and rule.mobile_subject_id in people]
    if shown:
        record_event(session, actor, Action.FORWARDING_RULES_VIEWED, now=now, subjects=sorted(set(shown)), details={"rules": len(rules)})
    return views


def _rule(session: Session, actor: Actor, rule_id: int) -> ForwardingRule:
    require(actor, Permission.ACCOUNT_SETTINGS)
    return get_scoped(session, ForwardingRule, rule_id, actor, missing=_("No such forwarding rule."))


def set_rule_enabled(session: Session, actor: Actor, rule_id: int, enabled: bool, *, now: datetime) -> None:
    """Turn a rule on or off; forwards it planned and not yet sent go out only while it is on."""
    rule = _rule(session, actor, rule_id)
    if rule.enabled == enabled:
        return
    rule.enabled = enabled
    session.info.pop(RULES_CACHE, None)
    if enabled:
        rule.last_error = None
        rule.last_error_at = None
    session.add(rule)
    session.flush()
    record_event(session, actor, Action.FORWARDING_RULE_CHANGED, now=now, target=("forwarding_rule", rule_id), details={"enabled": enabled})


def remove_rule(session: Session, actor: Actor, rule_id: int, *, now: datetime) -> None:
    """Delete a rule and its forwards, but those sent as SMS (their dispatch holds the sender's
    number and text: they go with the sender's SMS, by erasure or retention)."""
    rule = _rule(session, actor, rule_id)
    session.execute(delete(ForwardJob).where(owned_by(ForwardJob, actor), col(ForwardJob.rule_id) == rule_id, col(ForwardJob.dispatch_id).is_(None)))
    session.delete(rule)
    session.flush()
    session.info.pop(RULES_CACHE, None)
    record_event(session, actor, Action.FORWARDING_RULE_REMOVED, now=now, target=("forwarding_rule", rule_id))


# -- planning (in the routing transaction) -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Planned:
    """What planning needs of an enabled rule (its sealed columns only as "set or not")."""

    id: int
    trigger: str
    trigger_number: str | None
    trigger_keyword: str | None
    mails: bool
    texts: bool


def _enabled_rules(session: Session, account_id: int) -> list[_Planned]:
    transaction = session.get_transaction()
    cached: tuple[Callable[[], object], dict[int, list[_Planned]]] | None = session.info.get(RULES_CACHE)
    if cached is None or transaction is None or cached[0]() is not transaction:
        cached = (weakref.ref(transaction) if transaction is not None else (lambda: None), {})
        session.info[RULES_CACHE] = cached
    rules = cached[1].get(account_id)
    if rules is None:
        rules = [
            _Planned(*row) for row in session.execute(
                select_core(
                    col(ForwardingRule.id), col(ForwardingRule.trigger), col(ForwardingRule.trigger_number), col(ForwardingRule.trigger_keyword),
                    col(ForwardingRule.email_ct).is_not(None), col(ForwardingRule.mobile_ct).is_not(None),
                ).where(owned_by(ForwardingRule, account_id), col(ForwardingRule.enabled).is_(True)).order_by(col(ForwardingRule.id))
            ).tuples()
        ]
        cached[1][account_id] = rules
    return rules


def _matches(rule: _Planned, message: InboundMessage) -> bool:
    if rule.trigger == Trigger.ALL:
        return True
    if rule.trigger == Trigger.REPLY:
        return message.routed_by == RoutedBy.REPLY
    if rule.trigger == Trigger.VIRTUAL:
        return message.routed_by == RoutedBy.VIRTUAL and _same_number(rule.trigger_number, message.destination)
    if rule.trigger == Trigger.KEYWORD:
        return (
            message.routed_by == RoutedBy.KEYWORD and (message.keyword or "").casefold() == (rule.trigger_keyword or "").casefold()
            and _same_number(rule.trigger_number, message.destination)
        )
    return False


def _same_number(ours: str | None, destination: str) -> bool:
    return ours is not None and ours.lstrip("+") == destination.lstrip("+")


_JOBS = ForwardJob.__table__  # type: ignore[attr-defined]


def answers_forward(session: Session, message: InboundMessage, *, now: datetime) -> bool:
    """The SMS answers a forward (an auto-reply of the phone a rule forwards to, say): the SMS
    it replies to (a reply route) was a forward's, or, on a virtual number, the latest SMS the
    account sent that number from this virtual number within the reply window was."""
    if message.reply_to_message_id is not None:
        answered = session.execute(
            select_core(col(Dispatch.channel)).join(OutboundMessage, col(OutboundMessage.dispatch_id) == col(Dispatch.id))
            .where(owned_by(OutboundMessage, message.account_id), owned_by(Dispatch, message.account_id),
                   col(OutboundMessage.id) == message.reply_to_message_id)
        ).scalar_one_or_none()
        return answered == SMS_CHANNEL
    if message.routed_by != RoutedBy.VIRTUAL:
        return False
    latest = session.execute(
        select_core(col(Dispatch.channel)).join(OutboundMessage, col(OutboundMessage.dispatch_id) == col(Dispatch.id))
        .where(owned_by(OutboundMessage, message.account_id), owned_by(Dispatch, message.account_id),
               col(OutboundMessage.subject_id) == message.subject_id, col(Dispatch.sender) == "+" + message.destination.lstrip("+"),
               col(OutboundMessage.created_at) >= now - DEFAULT_WINDOW)
        .order_by(col(OutboundMessage.id).desc()).limit(1)
    ).scalar_one_or_none()
    return latest == SMS_CHANNEL


def _recent_forwards(session: Session, message: InboundMessage, *, now: datetime) -> dict[tuple[int, str], int]:
    """(rule, kind) -> forwards planned in the last hour of SMS from the same sender."""
    rows = session.execute(
        select_core(col(ForwardJob.rule_id), col(ForwardJob.kind), func.count())
        .join(InboundMessage, col(InboundMessage.id) == col(ForwardJob.inbound_message_id))
        .where(owned_by(ForwardJob, message.account_id), owned_by(InboundMessage, message.account_id),
               col(InboundMessage.subject_id) == message.subject_id, col(ForwardJob.created_at) > now - timedelta(hours=1))
        .group_by(col(ForwardJob.rule_id), col(ForwardJob.kind))
    ).tuples()
    return {(int(rule_id), str(kind)): int(count) for rule_id, kind, count in rows}


def plan_forwards(session: Session, message: InboundMessage, text: str, e164: str, *, now: datetime) -> int:
    """Queue the forwards the account's rules ask for ``message`` (an InboundMessage just
    routed; ``text`` and ``e164`` in clear, never stored in clear); returns how many. In the
    routing transaction, so a rolled-back SMS forwards nothing. Unrouted and STOP SMS are not
    forwarded, nor an SMS answering a forward (two auto-responders would loop, billed); beyond
    ``MAX_PER_HOUR`` forwards of one sender's SMS by one rule, one is recorded refused
    (``too_many``). An account without rules costs one query per transaction."""
    if message.routed_by == RoutedBy.UNROUTED or message.stop or message.id is None:
        return 0
    wanted_jobs = [
        (rule.id, kind)
        for rule in _enabled_rules(session, message.account_id) if _matches(rule, message)
        for kind, wanted in (("email", rule.mails), ("sms", rule.texts)) if wanted
    ]
    if not wanted_jobs or answers_forward(session, message, now=now):
        return 0
    recent = _recent_forwards(session, message, now=now)
    jobs = []
    for rule_id, kind in wanted_jobs:
        job: dict[str, object] = {
            "account_id": message.account_id, "rule_id": rule_id, "inbound_message_id": message.id, "kind": kind,
            "status": JobStatus.PENDING.value, "attempts": 0, "next_at": now, "created_at": now, "last_error": None, "done_at": None,
        }
        if recent.get((rule_id, kind), 0) >= MAX_PER_HOUR:
            job.update(status=JobStatus.REFUSED.value, last_error="too_many", done_at=now)
            log.warning("forward refused: rule %s over %d an hour for one sender", rule_id, MAX_PER_HOUR, extra={"event": "forward.limited"})
        jobs.append(job)
    session.execute(_JOBS.insert(), jobs)
    return sum(1 for job in jobs if job["status"] == JobStatus.PENDING.value)


# -- running -------------------------------------------------------------------------------------


def display_number(e164: str) -> str:
    """``+46 70 123 45 67``; as given when it is no number."""
    try:
        return phonenumbers.format_number(phonenumbers.parse(e164, None), phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    except phonenumbers.NumberParseException:
        return e164


def build_mail(mode: str, to: list[str], *, e164: str, text: str, public_url: str) -> Mail:
    """The e-mail of one forward. A notice names neither the sender's number nor the text."""
    inbox = f"{public_url.rstrip('/')}/inbox"
    if mode == Mode.NOTICE:
        return Mail(to, _("A new SMS arrived in govsms inbox"),
                    _("A new SMS arrived in your govsms inbox. Log in to read it:") + f"\n{inbox}\n")
    number = display_number(e164)
    return Mail(to, _("SMS from %(number)s") % {"number": number},
                _("SMS from %(number)s:") % {"number": number} + f"\n\n{text}\n\n-- \n" + _("Your inbox:") + f" {inbox}\n")


def forward_sms_text(e164: str, text: str) -> str:
    """``Från +46 70 123 45 67: <text>``, cut to what one dispatch may hold."""
    prefix = FORWARD_PREFIX % {"number": display_number(e164)}
    room = MAX_CHARACTERS - len(prefix)
    return prefix + (text if len(text) <= room else text[: room - 1] + "…")


def forward_sender(message: InboundMessage) -> str:
    """The number a forwarded SMS is sent from: the one the SMS arrived on (a shared number is
    the reply number, switched by the recipient's country)."""
    destination = message.destination.lstrip("+")
    if destination in (SHARED_REPLY_NUMBER, *REPLY_NUMBERS.values()):
        return SHARED_REPLY_NUMBER
    return "+" + destination


@dataclass
class _Loaded:
    job: ForwardJob
    rule: ForwardingRule | None
    message: InboundMessage | None
    e164: str | None = None
    text: str | None = None


def _load(session: Session, job: ForwardJob, *, now: datetime) -> tuple[_Loaded, str | None]:
    """The job's rule and SMS, opened; or the code why it cannot go at all."""
    rule = session.exec(select(ForwardingRule).where(owned_by(ForwardingRule, job.account_id), ForwardingRule.id == job.rule_id)).first()
    message = session.exec(
        select(InboundMessage).where(owned_by(InboundMessage, job.account_id), InboundMessage.id == job.inbound_message_id)
    ).first()
    loaded = _Loaded(job, rule, message)
    if rule is None:
        return loaded, "rule_gone"
    if not rule.enabled:
        return loaded, "rule_off"
    if message is None:
        return loaded, "sms_gone"
    person = vault_of(session).subjects_by_id(session, job.account_id, [message.subject_id]).get(message.subject_id)
    if person is None:
        return loaded, "sms_gone"
    try:
        loaded.e164 = person.unseal(INBOUND_NUMBER, message.number_ct)
        loaded.text = person.unseal(INBOUND_TEXT, message.text_ct)
    except (DecryptionError, UnicodeDecodeError):
        return loaded, "unreadable"
    return loaded, None


def _claim_loaded(session: Session, job_id: int, due: datetime, *, now: datetime) -> _Loaded | bool:
    """The job claimed, with its rule and SMS opened; else whether a job was taken: False, another
    runner has it (not due any more); True, it was taken and finished as refused (the rule or the
    SMS is gone or cannot be read)."""
    job = _claim(session, job_id, due, now=now)
    if job is None:
        return False
    loaded, problem = _load(session, job, now=now)
    if problem is not None:
        _finish(session, job, loaded.rule, error=problem, retry=False, subjects=[], now=now)
        return True
    return loaded


def _claim(session: Session, job_id: int, due: datetime, *, now: datetime) -> ForwardJob | None:
    """Take a due job (an UPDATE that only one runner wins): its ``next_at`` moves to the end of
    the claim and its attempts go up by one."""
    taken = session.execute(
        update(ForwardJob)
        .where(col(ForwardJob.id) == job_id, col(ForwardJob.status) == JobStatus.PENDING, col(ForwardJob.next_at) == due)
        .values(next_at=now + CLAIM, attempts=ForwardJob.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        return None
    return session.exec(select(ForwardJob).where(ForwardJob.id == job_id).execution_options(populate_existing=True)).first()


def _system(session: Session, account_id: int) -> Actor:
    account = session.get(Account, account_id)
    name = account.name if account is not None else ""
    region = account.default_region if account is not None else None
    return Actor(kind="system", id=None, account_id=account_id, account_name=name, roles=frozenset(), region=region)


def _finish(
    session: Session, job: ForwardJob, rule: ForwardingRule | None, *, error: str | None, retry: bool, subjects: list[int], now: datetime,
) -> None:
    """Record the outcome of one try: sent, failed for good, or failed and due again after the backoff."""
    actor = _system(session, job.account_id)
    if error is None:
        job.status, job.done_at, job.last_error = JobStatus.SENT, now, None
    elif retry and job.attempts < MAX_ATTEMPTS:
        job.last_error, job.next_at = error, now + BACKOFF[job.attempts - 1]
    else:
        job.status, job.done_at, job.last_error = (JobStatus.FAILED if retry or error.startswith(("smtp", "sms")) else JobStatus.REFUSED), now, error
    session.add(job)
    if rule is not None:
        if error is None:
            rule.last_sent_at, rule.last_error, rule.last_error_at = now, None, None
        elif error not in ("rule_gone", "rule_off", "sms_gone"):
            rule.last_error, rule.last_error_at = error, now
        session.add(rule)
    session.flush()
    action = Action.FORWARD_SENT if error is None else Action.FORWARD_FAILED
    details: dict[str, object] = {"rule": job.rule_id, "kind": job.kind, "attempt": job.attempts}
    if error is not None:
        details["error"] = error
        details["gave_up"] = job.status != JobStatus.PENDING
    record_event(session, actor, action, now=now, target=("inbound_message", job.inbound_message_id), subjects=subjects, details=details)


def _run_email(
    session_factory: sessionmaker[Session], settings: Settings, job_id: int, due: datetime, *, now: datetime, clock: Clock | None = None,
) -> bool:
    with session_scope(session_factory) as session:
        claimed = _claim_loaded(session, job_id, due, now=now)
        if not isinstance(claimed, _Loaded):
            return claimed
        job, loaded = claimed.job, claimed
        assert loaded.rule is not None and loaded.rule.id is not None and loaded.e164 is not None and loaded.text is not None
        key = vault_of(session).account_key(session, job.account_id, DATA_PURPOSE, now=now)
        try:
            addresses = unseal_field(key, RULE_EMAIL, job.account_id, loaded.rule.id, loaded.rule.email_ct or b"").decode().split(",")
        except (DecryptionError, UnicodeDecodeError):
            _finish(session, job, loaded.rule, error="rule_unreadable", retry=False, subjects=[], now=now)
            return True
        mode = loaded.rule.mode
        mail = build_mail(mode, addresses, e164=loaded.e164, text=loaded.text, public_url=settings.public_url)
        subject_id = loaded.message.subject_id if loaded.message is not None else None
    # The claim is committed: the e-mail is sent outside any transaction, then its outcome recorded.
    error: str | None = None
    try:
        send_mail(settings, mail)
    except MailFailed as failed:
        error = failed.code
        log.warning("forward e-mail failed: job %s %s", job_id, error, extra={"event": "forward.failed"})
    finished = clock.now() if clock is not None else now  # the backoff counts from when it failed, not from the claim
    with session_scope(session_factory) as session:
        again = session.get(ForwardJob, job_id)
        if again is None:  # its rule was removed meanwhile
            return True
        rule = session.get(ForwardingRule, again.rule_id)
        # A notice reads the SMS only to know it exists: no number or text leaves, no person is named.
        subjects = [subject_id] if subject_id is not None and mode == Mode.FULL else []
        _finish(session, again, rule, error=error, retry=True, subjects=subjects, now=finished)
    return True


def _run_sms(
    session_factory: sessionmaker[Session], settings: Settings, job_id: int, due: datetime, *, now: datetime, clock: Clock | None = None,
) -> bool:
    """The forward SMS is a dispatch written in the same transaction that marks the job sent:
    it goes out exactly once (the outbox worker sends it)."""
    with session_scope(session_factory) as session:
        claimed = _claim_loaded(session, job_id, due, now=now)
        if not isinstance(claimed, _Loaded):
            return claimed
        job, loaded = claimed.job, claimed
        rule, message = loaded.rule, loaded.message
        assert rule is not None and rule.id is not None and message is not None and loaded.e164 is not None and loaded.text is not None
        person = vault_of(session).subjects_by_id(session, job.account_id, [rule.mobile_subject_id or 0]).get(rule.mobile_subject_id or 0)
        try:
            mobile = person.unseal(RULE_MOBILE, rule.mobile_ct or b"", owner_id=rule.id) if person is not None else None
        except (DecryptionError, UnicodeDecodeError):
            mobile = None
        if mobile is None:
            _finish(session, job, rule, error="rule_unreadable", retry=False, subjects=[], now=now)
            return True
        if mobile == loaded.e164:
            # The SMS came from the number the rule forwards to: sending it back would loop.
            _finish(session, job, rule, error="own_number", retry=False, subjects=[message.subject_id], now=now)
            return True
        actor = _system(session, job.account_id)
        request = DispatchRequest(sender=forward_sender(message), text=forward_sms_text(loaded.e164, loaded.text), numbers=[mobile],
                                  channel=SMS_CHANNEL)
        try:
            with session.begin_nested():
                summary = create_dispatch(session, actor, request, public_url=settings.public_url, now=now)
        except InvalidInput as refused:
            code = "sms:blocked" if "to" in refused.fields else "sms:refused"
            _finish(session, job, rule, error=code, retry=False, subjects=[message.subject_id], now=now)
            return True
        except GovsmsError:
            _finish(session, job, rule, error="sms:error", retry=True, subjects=[message.subject_id], now=now)
            return True
        subjects = [message.subject_id, *([person.id] if person is not None else [])]
        job.dispatch_id = summary.dispatch_id
        _finish(session, job, rule, error=None, retry=False, subjects=subjects, now=now)
        log.info("forward SMS queued: job %s dispatch %s", job_id, summary.dispatch_id, extra={"event": "forward.sent"})
    return True


def due_forwards(session: Session, *, now: datetime, limit: int = RUN_BATCH) -> list[tuple[int, str, datetime]]:
    """Due jobs of every account (a job of the scheduler, no actor): (id, kind, next_at)."""
    rows = session.execute(
        select(ForwardJob.id, ForwardJob.kind, ForwardJob.next_at)
        .where(col(ForwardJob.status) == JobStatus.PENDING, col(ForwardJob.next_at) <= now)
        .order_by(col(ForwardJob.next_at), col(ForwardJob.id)).limit(limit)
    ).all()
    return [(row[0], row[1], row[2]) for row in rows]


def run_forwards(
    session_factory: sessionmaker[Session], settings: Settings, *, now: datetime, limit: int = RUN_BATCH, clock: Clock | None = None,
    budget: timedelta = RUN_BUDGET,
) -> int:
    """Send the due forwards (at most ``limit``); returns how many were tried. Each job is claimed
    in its own short transaction, so several workers share the work and none sends one twice.
    With a ``clock`` (the scheduler's), each claim and outcome is stamped with a fresh reading,
    so a job claimed late in a slow run is held its full ``CLAIM`` from then, and the run claims
    no more once ``budget`` has passed since ``now``; without one, everything is at ``now``."""
    with session_scope(session_factory) as session:
        due = due_forwards(session, now=now, limit=limit)
    tried = 0
    for job_id, kind, next_at in due:
        current = clock.now() if clock is not None else now
        if current - now >= budget:
            log.info("forward run stops after %s: %d tried", current - now, tried, extra={"event": "forward.budget"})
            break
        run = _run_email if kind == "email" else _run_sms
        try:
            tried += run(session_factory, settings, job_id, next_at, now=current, clock=clock)
        except Exception:  # one job's failure (a database hiccup) does not stop the others; it is due again after its claim
            log.exception("forward job %s failed", job_id, extra={"event": "forward.error"})
    return tried

