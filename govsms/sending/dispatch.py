"""Creating a dispatch: text rules, sender, recipients (typed, groups, file), blocklist, pricing,
then the dispatch and its messages in one transaction (Core in chunks). Nothing is written when
anything is refused; ``dry_run`` writes nothing at all."""

from __future__ import annotations

import base64
import hmac
import itertools
import json
import re
import secrets
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import phonenumbers
from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from govsms.auth import Actor, Permission, require
from govsms.audit.actions import Action
from govsms.audit.record import record_event
from govsms.contacts.groups import get_group
from govsms.contacts.models import Contact, GroupMember
from govsms.contacts.service import decrypt_many
from govsms.accounts.service import account_region
from govsms.keys.crypto import seal_field
from govsms.db import copy_rows, insert_unless_taken, rows_in, table_of
from govsms.errors import Conflict, InvalidInput
from govsms.i18n import _
from govsms.keys.store import DATA_PURPOSE, vault_of
from govsms.phone import parse_recipients, region_of
from govsms.sending.blocklist import blocked_numbers
from govsms.sending.models import DISPATCH_TEXT, MESSAGE_RECIPIENT, Dispatch, OutboundMessage
from govsms.sending.status import DispatchStatus, MessageStatus
from govsms.sending.pricing import price_table
from govsms.sending.senders import SenderChoice, resolve_sender, seal_sender
from govsms.sending.text import TextAnalysis, check_text
from govsms.tenancy import owned_by, scoped
from govsms.textfield import refuse_control

OPTOUT_PLACEHOLDER = "_BLOCKSMSLINK_"
TOKEN_LENGTH = 12  # characters of the opt-out token: 72 bits, and every one counts in the SMS
CHUNK = 5000
MAX_RECIPIENTS = 200_000
MAX_IDEMPOTENCY_KEY = 100
SEPARATORS = re.compile(r"[,;\n\r\t]+")
MESSAGE_COLUMNS = ["subject_id", "recipient_ct", "sender", "sender_kind", "country", "cost_minor", "optout_token"]
TOKEN_ATTEMPTS = 3
SEND_AT_GRACE = timedelta(minutes=1)
SEND_AT_HORIZON = timedelta(days=366)
"""How far ahead a dispatch may be scheduled: its numbers and text wait in the database until then,
out of the storage times' reach."""
"""A send time this little in the past still means "now": the form's field is typed to the minute,
and a request takes a moment to arrive. Earlier is refused with a reason (``check_send_at``)."""
REQUEST_PURPOSE = "request"
"""The account key that fingerprints requests for Idempotency-Key checks (an HMAC: without the
key, a fingerprint tells nothing of the numbers or the text in it)."""
_DISPATCHES = table_of(Dispatch)
_MESSAGES = table_of(OutboundMessage)
INSERT_DISPATCH = _DISPATCHES.insert().returning(_DISPATCHES.c.id)
SET_DISPATCH_TEXT = (
    _DISPATCHES.update().where(_DISPATCHES.c.id == bindparam("dispatch")).values(text_ct=bindparam("text"), sender_ct=bindparam("sealed_sender"))
)
"""The sealed text and mobile-number sender are bound to the dispatch's id, known after the insert."""


@dataclass
class DispatchRequest:
    sender: str
    text: str
    numbers: Sequence[str] = ()
    group_ids: Sequence[int] = ()
    send_at: datetime | None = None
    dry_run: bool = False
    idempotency_key: str | None = None
    channel: str = "ui"


@dataclass
class DispatchSummary:
    dispatch_id: int | None
    accepted: int
    blocked: int
    invalid: list[dict[str, str]]
    parts: int
    encoding: str
    characters: int
    cost_minor: int
    currency: str
    can_reply: bool
    status: str
    send_at: datetime | None
    by_country: dict[str, int] = field(default_factory=dict)
    warnings: list[dict[str, str]] = field(default_factory=list)
    """Accepted numbers that may not get the SMS (a landline or a mobile, VoIP...): input and reason."""


def check_send_at(send_at: datetime | None, now: datetime) -> str | None:
    """Why ``send_at`` cannot be a dispatch's send time (None: it can, or there is none: now)."""
    if send_at is None:
        return None
    if send_at.tzinfo is None:
        return _("Give the time with a time zone, e.g. 2026-12-01T09:00:00+01:00.")
    if send_at < now - SEND_AT_GRACE:
        return _("The send time has already passed. Choose a later time, or none to send at once.")
    if send_at > now + SEND_AT_HORIZON:
        return _("The send time is more than a year ahead. Choose a time within a year.")
    return None


def split_numbers(typed: str) -> list[str]:
    """What people paste: commas, semicolons, new lines; spaces inside a number are kept."""
    return [item.strip() for item in SEPARATORS.split(typed) if item.strip()]


def optout_link(public_url: str, token: str) -> str:
    return f"{public_url.rstrip('/')}/u/{token}"


def optout_tokens(count: int) -> list[str]:
    """Short random tokens for the opt-out links, 72 bits each (9 random bytes are 12 characters
    of URL-safe base64, no padding), from one call to the random source."""
    encoded = base64.urlsafe_b64encode(secrets.token_bytes(TOKEN_LENGTH * 3 // 4 * count)).decode()
    return [encoded[start : start + TOKEN_LENGTH] for start in range(0, len(encoded), TOKEN_LENGTH)]


def render_text(text: str, public_url: str, token: str | None) -> str:
    return text.replace(OPTOUT_PLACEHOLDER, optout_link(public_url, token or "")) if token else text


def analyse_for_sending(text: str, public_url: str) -> TextAnalysis:
    """Parts and encoding of the text as recipients get it: the opt-out link expanded."""
    sample = render_text(text, public_url, "x" * TOKEN_LENGTH) if OPTOUT_PLACEHOLDER in text else text
    analysis = check_text(sample)
    if sample != text:
        check_text(text)  # the 750-character limit is on what the customer wrote
    return analysis


_country_by_code: dict[str, str | None] = {}


def country_of(e164: str) -> str | None:
    """The destination country; by calling code where that names one country (fast), else
    through phonenumbers."""
    for length in (1, 2, 3):
        code = e164[1 : 1 + length]
        if code in _country_by_code:
            region = _country_by_code[code]
            return region if region else region_of(e164)
        regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(int(code))
        if regions:
            _country_by_code[code] = regions[0] if len(regions) == 1 else None
            return regions[0] if len(regions) == 1 else region_of(e164)
    return None


def _request_hash(session: Session, actor: Actor, request: DispatchRequest, now: datetime) -> str:
    """HMAC-SHA256 of the request under the account's request key: the same request gives the
    same value in one account, and nothing can be guessed from it without the key (an unkeyed
    hash gave away recipients' numbers to anyone who tried a series)."""
    body = json.dumps(
        [request.sender, request.text, list(request.numbers), sorted(request.group_ids),
         request.send_at.isoformat() if request.send_at else None],
        ensure_ascii=False,
    )
    key = vault_of(session).account_key(session, actor.account_id, REQUEST_PURPOSE, now=now)
    return hmac.new(key, body.encode(), "sha256").hexdigest()


KEYED_PREFIX = "h1:"


def stored_idempotency_key(session: Session, account_id: int, key: str, *, now: datetime) -> str:
    """What is stored for a client's Idempotency-Key: an HMAC under the account's request key.
    A client may choose anything as its key (a number, a name), and stored in clear it would
    outlive every erasure; keyed, it still finds the first dispatch of a retry."""
    secret = vault_of(session).account_key(session, account_id, REQUEST_PURPOSE, now=now)
    return KEYED_PREFIX + hmac.new(secret, b"idempotency-key\0" + key.encode(), "sha256").hexdigest()


def key_clear_idempotency_keys(session: Session, *, now: datetime, batch: int = 1000) -> int:
    """The data step of ``govsms db upgrade`` for dispatches from before: their Idempotency-Keys
    are replaced by the keyed form, a batch per call (the caller commits; 0: nothing left)."""
    table = _DISPATCHES
    rows = session.execute(
        select(table.c.id, table.c.account_id, table.c.idempotency_key)
        .where(table.c.idempotency_key.is_not(None), table.c.idempotency_key.not_like(KEYED_PREFIX + "%"))
        .order_by(table.c.id).limit(batch)
    ).all()
    if rows:
        session.execute(
            _DISPATCHES.update().where(table.c.id == bindparam("row_id")).values(idempotency_key=bindparam("keyed")),
            [{"row_id": row_id, "keyed": stored_idempotency_key(session, account_id, key, now=now)} for row_id, account_id, key in rows],
        )
    return len(rows)


def _known_subject_ids(session: Session, account_id: int, indexes: Iterable[bytes]) -> list[int]:
    """The subjects that exist for these blind indexes (none is made: a look is not a write)."""
    wanted = list(indexes)
    found: list[int] = []
    with vault_of(session).key_store(session) as store:
        for start in range(0, len(wanted), CHUNK):
            found.extend(row[0] for row in rows_in(
                store, "SELECT id FROM subject_key WHERE account_id = {p} AND blind_index {in}", [account_id], wanted[start : start + CHUNK]
            ))
    return found


def _group_numbers(session: Session, actor: Actor, group_ids: Sequence[int], now: datetime) -> list[str]:
    numbers: list[str] = []
    for group_id in dict.fromkeys(group_ids):
        get_group(session, actor, group_id)
        last = 0
        while True:
            contacts = session.execute(
                select(Contact).join(GroupMember, col(GroupMember.contact_id) == col(Contact.id))
                .where(col(GroupMember.group_id) == group_id, owned_by(Contact, actor), col(Contact.id) > last)
                .order_by(col(Contact.id)).limit(CHUNK)
            ).scalars().all()
            if not contacts:
                break
            # A member that cannot be read is recorded as such (decrypt_many) and not sent to.
            numbers.extend(view.number for view in decrypt_many(session, actor, contacts, now=now) if not view.unreadable)
            assert contacts[-1].id is not None  # a stored row
            last = contacts[-1].id
    return numbers


def create_dispatch(session: Session, actor: Actor, request: DispatchRequest, *, public_url: str, now: datetime) -> DispatchSummary:
    require(actor, Permission.SEND)
    if request.idempotency_key:
        refuse_control(request.idempotency_key, "idempotency_key")
        if len(request.idempotency_key) > MAX_IDEMPOTENCY_KEY:
            raise InvalidInput(
                _("The Idempotency-Key is too long."), fields={"idempotency_key": _("Use at most %(count)d characters.") % {"count": MAX_IDEMPOTENCY_KEY}}
            )
        if (existing := _idempotent_answer(session, actor, request, now)) is not None:
            return existing
    errors: dict[str, str] = {}
    analysis: TextAnalysis | None = None
    try:
        analysis = analyse_for_sending(request.text, public_url)
    except InvalidInput as refused:
        errors.update(refused.fields)
    region = account_region(session, actor)
    sender: SenderChoice | None = None
    try:
        sender = resolve_sender(session, actor, request.sender, now=now, region=region)
    except InvalidInput as refused:
        errors.update(refused.fields)
    send_at = request.send_at or now
    if (refused_time := check_send_at(request.send_at, now)) is not None:
        errors["send_at"] = refused_time
    if errors:
        raise InvalidInput(_("The SMS was not sent."), fields=errors)
    assert analysis is not None and sender is not None

    raw = [*request.numbers, *_group_numbers(session, actor, request.group_ids, now)]
    if not raw:
        raise InvalidInput(_("The SMS was not sent."), fields={"to": _("Give at least one recipient.")})
    if len(raw) > MAX_RECIPIENTS:
        raise InvalidInput(_("The SMS was not sent."), fields={"to": _("At most %(max)d recipients per dispatch.") % {"max": MAX_RECIPIENTS}})
    prices = price_table(session)
    invalid: list[dict[str, str]] = []
    warnings: dict[str, dict[str, str]] = {}  # e164 -> input and reason
    recipients: dict[str, str] = {}  # e164 -> country, first occurrence kept
    for item, parsed in zip(raw, parse_recipients(raw, region), strict=True):  # landlines and the like refused
        e164 = parsed.e164
        if e164 is None:
            invalid.append({"input": item, "reason": parsed.reason or ""})
            continue
        if e164 in recipients:
            continue
        country = country_of(e164)
        if country not in prices:
            invalid.append({"input": item, "reason": _("No price for this destination (%(country)s); ask your provider.") % {"country": country or "?"}})
            continue
        recipients[e164] = country
        if parsed.warning:
            warnings[e164] = {"input": item, "reason": parsed.warning}
    vault = vault_of(session)
    indexes = vault.blind_indexes(session, actor.account_id, recipients, now=now)
    blocked = blocked_numbers(session, actor.account_id, recipients, now=now, indexes=indexes)
    accepted = {number: country for number, country in recipients.items() if number not in blocked}
    by_country: dict[str, int] = {}
    cost = 0
    for country in accepted.values():
        by_country[country] = by_country.get(country, 0) + 1
        cost += prices[country].per_part_minor * analysis.parts
    status = DispatchStatus.SCHEDULED if send_at > now else DispatchStatus.QUEUED
    summary = DispatchSummary(
        dispatch_id=None, accepted=len(accepted), blocked=len(blocked), invalid=invalid, parts=analysis.parts,
        encoding=analysis.encoding, characters=analysis.characters, cost_minor=cost, currency="SEK",
        can_reply=sender.can_reply, status=status, send_at=send_at, by_country=by_country,
        warnings=[warning for number, warning in warnings.items() if number in accepted],
    )
    if request.dry_run or not accepted:
        # The summary tells whether each number is blocked: a read of what the account knows of
        # them, recorded like one (naming the people it knows; it makes no one new). So does the
        # refusal when every number is blocked: its event is committed with the 422 (recorded).
        record_event(
            session, actor, Action.DISPATCH_PREVIEWED, now=now, subjects=_known_subject_ids(session, actor.account_id, indexes.values()),
            details={"accepted": len(accepted), "blocked": len(blocked), "invalid": len(invalid), "parts": analysis.parts},
        )
    if request.dry_run:
        return summary
    if not accepted:
        # The reasons, not the numbers (an error holds no personal data): "a landline number...".
        reasons = " ".join(dict.fromkeys(item["reason"] for item in invalid[:100]))
        raise InvalidInput(
            _("No recipient can get this SMS: every number is invalid, has no price, or is blocked."),
            fields={"to": " ".join(filter(None, [_("Give at least one valid number that is not blocked."), reasons]))}, recorded=True,
        )
    account_key = vault.account_key(session, actor.account_id, DATA_PURPOSE, now=now)
    # Core statements built once, not the ORM: one dispatch per API request is the hot path.
    row = dict(
        account_id=actor.account_id, created_by=actor.label, channel=request.channel, sender=sender.stored,
        sender_subject_id=sender.subject.id if sender.subject else None, text_ct=b"", encoding=analysis.encoding, parts=analysis.parts,
        accepted=len(accepted), blocked=len(blocked), invalid=len(invalid), cost_minor=cost, currency="SEK", status=status, send_at=send_at,
        idempotency_key=request.idempotency_key,
        request_hash=_request_hash(session, actor, request, now) if request.idempotency_key else None,
        created_at=now,
    )
    if request.idempotency_key:
        row["idempotency_key"] = stored_idempotency_key(session, actor.account_id, request.idempotency_key, now=now)
        # ON CONFLICT DO NOTHING: a concurrent request with the same key that commits first is
        # waited for and its answer is ours; the database never refuses (and so never quotes) the key.
        taken = insert_unless_taken(session, _DISPATCHES, row)
        if taken is None:
            if (existing := _idempotent_answer(session, actor, request, now)) is not None:
                return existing
            raise Conflict(_("This Idempotency-Key is being used by another request. Try again in a moment."))
        dispatch_id = taken
    else:
        dispatch_id = session.execute(INSERT_DISPATCH, row).scalar_one()
    text_ct = seal_field(account_key, DISPATCH_TEXT, actor.account_id, dispatch_id, request.text)
    sender_ct = seal_sender(sender.subject, dispatch_id, sender.value) if sender.subject else None
    session.execute(SET_DISPATCH_TEXT, {"dispatch": dispatch_id, "text": text_ct, "sealed_sender": sender_ct})
    subjects = vault.subjects(session, actor.account_id, list(accepted), now=now, indexes={number: indexes[number] for number in accepted})
    costs = {country: price.per_part_minor * analysis.parts for country, price in prices.items()}
    constants = {"dispatch_id": dispatch_id, "account_id": actor.account_id, "parts": analysis.parts, "status": MessageStatus(status),
                 "attempts": 0, "due_at": send_at, "created_at": now}

    def rows(tokens: Iterable[str | None]) -> Iterator[tuple[Any, ...]]:
        # Built while the database takes the earlier ones (one streaming COPY on PostgreSQL).
        for (number, country), token in zip(accepted.items(), tokens):  # noqa: B905 - tokens may be an endless repeat(None)
            subject = subjects[number]
            sender_value, sender_kind = sender.for_recipient(number)
            yield (subject.id, subject.seal(MESSAGE_RECIPIENT, number), sender_value, sender_kind.value,
                   country, costs[country], token)

    for attempt in range(TOKEN_ATTEMPTS):
        if OPTOUT_PLACEHOLDER not in request.text:  # no tokens, nothing that can collide
            copy_rows(session, _MESSAGES, MESSAGE_COLUMNS, rows(itertools.repeat(None)), constants=constants)
            break
        tokens = optout_tokens(len(accepted))
        try:
            with session.begin_nested():
                copy_rows(session, _MESSAGES, MESSAGE_COLUMNS, rows(tokens), constants=constants)
            break
        except IntegrityError:
            # Two 72-bit opt-out tokens met (next to impossible, but cheap to handle): new tokens.
            if attempt == TOKEN_ATTEMPTS - 1:
                raise
    blocked_subjects = _known_subject_ids(session, actor.account_id, [indexes[number] for number in blocked]) if blocked else []
    record_event(
        session, actor, Action.DISPATCH_CREATED, now=now, target=("dispatch", dispatch_id),
        subjects=[*(subject.id for subject in subjects.values()), *blocked_subjects],
        details={"accepted": len(accepted), "blocked": len(blocked), "invalid": len(invalid), "parts": analysis.parts},
    )
    summary.dispatch_id = dispatch_id
    return summary


def _idempotent_answer(session: Session, actor: Actor, request: DispatchRequest, now: datetime) -> DispatchSummary | None:
    """The dispatch an earlier request with this Idempotency-Key made, if any. One from before
    fingerprints were keyed has none (the upgrade dropped it): its key alone answers."""
    assert request.idempotency_key is not None
    stored = stored_idempotency_key(session, actor.account_id, request.idempotency_key, now=now)
    existing = session.execute(  # the clear key: a row from before keys were stored keyed
        scoped(Dispatch, actor).where(col(Dispatch.idempotency_key).in_([stored, request.idempotency_key]))
        .order_by(col(Dispatch.id))
    ).scalars().first()
    if existing is None:
        return None
    # Either answer tells whether this request (its sender, text and recipients) is the earlier
    # one: each is a read of that dispatch, in the access log (the 409's event is kept).
    if existing.request_hash is not None and existing.request_hash != _request_hash(session, actor, request, now):
        record_event(session, actor, Action.DISPATCH_KEY_CONFLICT, now=now, target=("dispatch", existing.id))
        raise Conflict(_("This Idempotency-Key was used for a different request. Use a new key for a new dispatch."), recorded=True)
    record_event(session, actor, Action.DISPATCH_REPLAYED, now=now, target=("dispatch", existing.id))
    return summary_of(existing)


def summary_of(dispatch: Dispatch) -> DispatchSummary:
    return DispatchSummary(
        dispatch_id=dispatch.id, accepted=dispatch.accepted, blocked=dispatch.blocked, invalid=[], parts=dispatch.parts,
        encoding=dispatch.encoding, characters=0, cost_minor=dispatch.cost_minor, currency=dispatch.currency,
        can_reply=True, status=dispatch.status, send_at=dispatch.send_at,
    )
