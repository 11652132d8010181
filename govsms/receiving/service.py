"""Receiving's core: what transports hand up (delivery reports, inbound SMS and parts of
concatenated ones) stored in one transaction before the SMSC is acknowledged; each SMS routed
(``routing``), stored under the sender's subject key in its account, STOP words acted on, and
forwards planned (``forwarding``).

Exactly once: an SMS or part the SMSC sends again (its acknowledgement was lost) carries the same
(transport, provider_ref) and is not stored twice. Every id is cleaned before it reaches the
database (``clean_id``: no NUL or other control character, which PostgreSQL would refuse and so
refuse the whole batch for ever). Without an id (many SMSCs give none for mobile originated SMS)
nothing tells a re-sent SMS from a new one with the same text: it is stored again (a known
limitation; a possible duplicate is preferred to a loss, for parts of long SMS too)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import sessionmaker
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col

from govsms.accounts.models import Account
from govsms.audit.actions import Action
from govsms.audit.record import EventSpec, record_event, record_events
from govsms.db import DatabaseBusy, bulk_insert, rowcount, session_scope, table_of
from govsms.log import request_id
from govsms.keys.crypto import DecryptionError, seal_field, unseal_field
from govsms.keys.store import DATA_PURPOSE, vault_of
from govsms.receiving import forwarding
from govsms.receiving.models import FRAGMENT_SOURCE, FRAGMENT_TEXT, INBOUND_NUMBER, INBOUND_TEXT, InboundFragment, InboundMessage, RoutedBy
from govsms.receiving.routing import find_routes, is_stop, normalise_destination, normalise_source
from govsms.sending.blocklist import block_index
from govsms.sending.dispatch import country_of
from govsms.sending.models import DISPATCH_TEXT, MESSAGE_RECIPIENT, BlockEntry, Dispatch, OutboundMessage, PendingReport
from govsms.sending.outbox import STOP_CONFIRMATION_CHANNEL
from govsms.sending.reply_routes import PROVIDER_KEYS, provider_indexes, purge_expired_routes
from govsms.sending.reports import REPORT_STATUS
from govsms.sending.status import DispatchStatus, MessageStatus
from govsms.sending.text import analyse
from govsms.sending.transports.base import DeliveryReport, InboundPart, clean_id
from govsms.sending.wire import SenderKind

log = logging.getLogger(__name__)

FRAGMENT_TIMEOUT = timedelta(minutes=10)
"""A concatenated SMS whose parts have not all arrived this long after its first is routed as is."""
TOMBSTONE_LIFETIME = timedelta(hours=24)
"""How long the emptied parts of a joined SMS are kept: a part the SMSC sends again within it (its
acknowledgement was lost, the SMSC retries for hours) is recognised by its id, not stored again."""
MAX_TEXT = 10_000
"""Characters of an inbound SMS kept (255 parts of 153 characters is 39,015: no phone sends that)."""
MAX_CONFIRMATION = 320
MAX_REF = 64
"""inbound_message/inbound_fragment.provider_ref: longer ids are stored as their SHA-256."""
MAX_REPORT_ID = 80
"""pending_report.provider_id."""
_PENDING = table_of(PendingReport)
_FRAGMENTS = table_of(InboundFragment)


@dataclass(frozen=True)
class Routed:
    """What ``simulate_inbound`` says of an SMS: where it went, no number and no text."""

    message_id: int | None
    account_id: int | None
    account_name: str
    routed_by: str
    stop: bool
    duplicate: bool = False


def _clean_text(text: str) -> str:
    """The text as stored: no NUL (PostgreSQL takes none), a lone surrogate (bytes that were no
    text, e.g. a command line's) replaced, at most ``MAX_TEXT`` characters."""
    return text.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")[:MAX_TEXT]


def _duplicate(session: Session, model: type[InboundMessage] | type[InboundFragment], transport: str, provider_ref: str | None) -> bool:
    if provider_ref is None:
        return False
    return session.execute(
        select(col(model.id)).where(col(model.transport) == transport, col(model.provider_ref) == provider_ref).limit(1)
    ).first() is not None


@dataclass(frozen=True)
class Whole:
    """One whole SMS to route (a concatenated one joined): the sender as given."""

    source: str
    destination: str
    text: str
    provider_ref: str | None = None
    parts: int = 1


def route_inbound(
    session: Session, *, source_e164: str, destination: str, text: str, transport: str, provider_ref: str | None, parts: int,
    now: datetime,
) -> InboundMessage | None:
    """Route one whole SMS and store it in its account (virtual number -> keyword -> reply route
    -> the provider's unrouted queue); a STOP word blocks the number for the routed account (and
    queues the account's confirmation SMS, if it has one); forwards are planned for routed SMS
    that are no STOP. ``source_e164``: the sender as given (normalised here). None: this
    (transport, provider_ref) was stored before."""
    stored = route_many(session, [Whole(source_e164, destination, text, provider_ref, parts)], transport=transport, now=now)
    return stored[0] if stored else None


def _known_refs(session: Session, transport: str, refs: list[str]) -> set[str]:
    if not refs:
        return set()
    return {ref for (ref,) in session.execute(
        select(col(InboundMessage.provider_ref)).where(col(InboundMessage.transport) == transport, col(InboundMessage.provider_ref).in_(refs))
    ).tuples() if ref is not None}


def route_many(session: Session, wholes: list[Whole], *, transport: str, now: datetime) -> list[InboundMessage]:
    """``route_inbound`` for a batch, in the session's transaction: one query per kind of route,
    the senders' subjects per account in one call, the rows in one flush and their events in one
    statement. SMS whose (transport, provider_ref) is stored already (or repeated in the batch)
    are left out. Returns the stored SMS in order."""
    transport = transport[:10]
    seen: set[str] = set()
    batch: list[Whole] = []
    for whole in wholes:
        ref = clean_id(whole.provider_ref, MAX_REF)
        if ref is not None and ref in seen:
            continue
        if ref is not None:
            seen.add(ref)
        batch.append(Whole(whole.source, whole.destination, whole.text, ref, whole.parts))
    known = _known_refs(session, transport, sorted(seen))
    batch = [whole for whole in batch if whole.provider_ref is None or whole.provider_ref not in known]
    if not batch:
        return []
    items = [(normalise_source(whole.source), normalise_destination(whole.destination), _clean_text(whole.text)) for whole in batch]
    routes = find_routes(session, items, now=now)
    vault = vault_of(session)
    by_account: dict[int, set[str]] = {}
    for (source, _destination, _text), route in zip(items, routes, strict=True):
        by_account.setdefault(route.account_id, set()).add(source.stored)
    subjects = {account_id: vault.subjects(session, account_id, sorted(numbers), now=now) for account_id, numbers in by_account.items()}
    messages: list[InboundMessage] = []
    for whole, (source, destination, _text), route in zip(batch, items, routes, strict=True):
        subject = subjects[route.account_id][source.stored]
        stop = route.routed_by != RoutedBy.UNROUTED and source.e164 is not None and is_stop(route.text)
        messages.append(InboundMessage(
            account_id=route.account_id, subject_id=subject.id,
            number_ct=subject.seal(INBOUND_NUMBER, source.stored), text_ct=subject.seal(INBOUND_TEXT, route.text),
            destination=destination, keyword=route.keyword, routed_by=route.routed_by, reply_to_message_id=route.reply_to_message_id,
            stop=stop, parts=max(1, whole.parts), transport=transport, provider_ref=whole.provider_ref, received_at=now,
        ))
    session.add_all(messages)
    session.flush()
    record_events(session, [
        EventSpec(None, Action.INBOUND_RECEIVED, now, account_id=message.account_id, target=("inbound_message", message.id),
                  subjects=[message.subject_id], details={"routed_by": message.routed_by, "parts": message.parts, "stop": message.stop},
                  request_id=request_id.get())
        for message in messages
    ])
    for message, (source, destination, _text), route in zip(messages, items, routes, strict=True):
        if message.stop:
            assert source.e164 is not None
            _block_stop(session, message.account_id, source.e164, message.subject_id, destination, now)
        elif route.routed_by != RoutedBy.UNROUTED and source.e164 is not None:
            forwarding.plan_forwards(session, message, route.text, source.e164, now=now)
    return messages


def _block_stop(session: Session, account_id: int, e164: str, subject_id: int, destination: str, now: datetime) -> None:
    """Block the number for the account (source ``stop``): the worker checks the list again
    before each submit, so SMS already queued to it end ``blocked``. A new block sends the
    account's confirmation, if it set one (not billed)."""
    index = vault_of(session).blind_indexes(session, account_id, [e164], now=now)[e164]
    known = session.execute(
        select(col(BlockEntry.id)).where(col(BlockEntry.account_id) == account_id, col(BlockEntry.blind_index) == index)
    ).first()
    if known is not None:
        return
    block_index(session, account_id, index, source="stop", now=now)
    record_event(session, None, Action.BLOCKLIST_ADDED, now=now, account_id=account_id, subjects=[subject_id], details={"source": "stop"})
    account = session.get(Account, account_id)
    text = (account.stop_confirmation_text or "").strip() if account is not None else ""
    if text:
        _queue_confirmation(session, account_id, subject_id, e164, destination, text[:MAX_CONFIRMATION], now)


def _queue_confirmation(session: Session, account_id: int, subject_id: int, e164: str, sender: str, text: str, now: datetime) -> None:
    """The STOP confirmation as a dispatch of one SMS (channel ``stop``, cost 0) from the number
    the STOP came in on, through the outbox like any SMS (which sends it though the number is
    now blocked: the confirmation is the one SMS a STOP asks for)."""
    analysis = analyse(text)
    kind = SenderKind.SHORT_CODE if len(sender) <= 6 else SenderKind.NUMBER
    dispatch = Dispatch(
        account_id=account_id, created_by="stop", channel=STOP_CONFIRMATION_CHANNEL, sender=sender, text_ct=b"",
        encoding=analysis.encoding, parts=analysis.parts, accepted=1, blocked=0, invalid=0, cost_minor=0,
        status=DispatchStatus.QUEUED, send_at=now, created_at=now,
    )
    session.add(dispatch)
    session.flush()
    assert dispatch.id is not None
    account_key = vault_of(session).account_key(session, account_id, DATA_PURPOSE, now=now)
    dispatch.text_ct = seal_field(account_key, DISPATCH_TEXT, account_id, dispatch.id, text)
    subject = vault_of(session).subjects_by_id(session, account_id, [subject_id])[subject_id]
    session.add(OutboundMessage(
        dispatch_id=dispatch.id, account_id=account_id, subject_id=subject_id, recipient_ct=subject.seal(MESSAGE_RECIPIENT, e164),
        sender=sender, sender_kind=kind.value, country=country_of(e164) or "", parts=analysis.parts, cost_minor=0,
        status=MessageStatus.QUEUED, attempts=0, due_at=now, created_at=now,
    ))
    session.flush()


# -- concatenated SMS ------------------------------------------------------------------------------


def _store_fragment(
    session: Session, part: InboundPart, transport: str, now: datetime, *,
    indexes: dict[str, bytes] | None = None, joined: list[tuple[str, Whole]] | None = None, known: set[str] | None = None,
) -> tuple[tuple[bytes, str, int, int], bool] | None:
    """Keep one part of a concatenated SMS (sealed under the provider's key); returns its
    group (source index, destination, reference, total) and whether all its parts are there
    now, or None for a part stored before. ``indexes``: the provider's blind indexes of the
    batch's sources and ``known``: the batch's part ids stored already, if looked up in one go
    (the ids stored here are added); an older SMS joined on the way (another id reusing its
    reference) goes to ``joined``."""
    assert part.concat is not None
    reference, total, sequence = part.concat
    provider_ref = clean_id(part.provider_ref, MAX_REF)
    if known is not None:
        if provider_ref is not None and provider_ref in known:
            return None
    elif _duplicate(session, InboundFragment, transport, provider_ref):
        return None
    source = normalise_source(part.source)
    destination = normalise_destination(part.destination)
    index = (indexes or {}).get(source.stored) or provider_indexes(session, [source.stored], now=now)[source.stored]
    group = (index, destination, reference, total)
    rows = session.execute(
        select(col(InboundFragment.sequence), col(InboundFragment.joined_at), col(InboundFragment.provider_ref)).where(*_in_group(group, waiting=False))
    ).all()
    waiting = {row.sequence for row in rows if row.joined_at is None}
    taken = next((row for row in rows if row.sequence == sequence), None)
    if taken is not None:
        other_sms = provider_ref is not None and taken.provider_ref is not None and taken.provider_ref != provider_ref
        if taken.joined_at is None and not other_sms:
            return None  # the same part again while its SMS waits for the rest: once is enough
        if taken.joined_at is None:
            # Another SMS (another id) reuses the reference while the first waits: the first is routed as it is.
            older = _join_group(session, group, now=now, complete_only=False)
            if older is not None and joined is not None:
                joined.append(older)
            waiting = set()
        elif provider_ref is None or taken.provider_ref is None:
            # Its SMS was joined. Without ids nothing tells a part sent again (a lost acknowledgement)
            # from a new SMS that reuses the reference (phones counting from 0): kept, a possible
            # duplicate rather than a loss.
            log.info("an inbound part without an id matches a joined SMS: kept as a new one", extra={"event": "inbound.fragment_reused"})
        # A new SMS that reuses the reference (a phone counts 0-255): the old one's tombstones go.
        session.execute(delete(InboundFragment).where(*_in_group(group, waiting=False), col(InboundFragment.joined_at).is_not(None)))
    key = vault_of(session).account_key(session, PROVIDER_KEYS, DATA_PURPOSE, now=now)
    session.add(InboundFragment(
        transport=transport, provider_ref=provider_ref, source_index=index,
        source_ct=seal_field(key, FRAGMENT_SOURCE, PROVIDER_KEYS, 0, source.stored), destination=destination,
        reference=reference, total=total, sequence=sequence,
        text_ct=seal_field(key, FRAGMENT_TEXT, PROVIDER_KEYS, 0, _clean_text(part.text)), received_at=now,
    ))
    session.flush()
    if provider_ref is not None and known is not None:
        known.add(provider_ref)
    return group, len(waiting | {sequence}) >= total


def _in_group(group: tuple[bytes, str, int, int], *, waiting: bool = True) -> list[ColumnElement[bool]]:
    """The group's parts (``waiting``: those not joined yet; else the tombstones too)."""
    index, destination, reference, total = group
    condition = [
        col(InboundFragment.source_index) == index, col(InboundFragment.destination) == destination,
        col(InboundFragment.reference) == reference, col(InboundFragment.total) == total,
    ]
    if waiting:
        condition.append(col(InboundFragment.joined_at).is_(None))
    return condition


def _join_group(session: Session, group: tuple[bytes, str, int, int], *, now: datetime, complete_only: bool) -> tuple[str, Whole] | None:
    """Join a group's parts and empty them: when all have arrived, or (``complete_only`` False:
    the timeout) what arrived. Returns (transport, the whole SMS) for the caller to route with
    the rest of its batch (``_route_joined``). Parts that do not open are left out (and logged)."""
    rows = session.execute(select(InboundFragment).where(*_in_group(group)).order_by(col(InboundFragment.sequence))).scalars().all()
    total = group[3]
    if not rows or (complete_only and len({row.sequence for row in rows}) < total):
        return None
    key = vault_of(session).account_key(session, PROVIDER_KEYS, DATA_PURPOSE, now=now)
    texts: list[str] = []
    source = ""
    for row in rows:
        try:
            texts.append(unseal_field(key, FRAGMENT_TEXT, PROVIDER_KEYS, 0, row.text_ct).decode())
            source = source or unseal_field(key, FRAGMENT_SOURCE, PROVIDER_KEYS, 0, row.source_ct).decode()
        except (DecryptionError, UnicodeDecodeError):
            log.warning("an inbound part does not open: left out", extra={"event": "inbound.fragment_unreadable"})
    # Emptied, not deleted yet: a tombstone tells a part sent again from a new SMS (run_receiving_job deletes it).
    # Only parts no other transaction joined meanwhile (a late part's and the minute job's race):
    # if any was, this transaction gives up (rolled back, tried again) rather than route one SMS twice.
    emptied = rowcount(session.execute(
        update(InboundFragment).where(col(InboundFragment.id).in_([row.id for row in rows]), col(InboundFragment.joined_at).is_(None))
        .values(joined_at=now, text_ct=b"", source_ct=b"")
    ))
    if emptied != len(rows):
        raise DatabaseBusy("parts of a concatenated SMS were joined by another transaction meanwhile: try again")
    if not source:
        return None
    first = rows[0]
    return first.transport, Whole(source, first.destination, "".join(texts), None, len(rows))


def _route_joined(session: Session, joined: list[tuple[str, Whole]], *, now: datetime) -> list[InboundMessage]:
    """Route joined SMS in one ``route_many`` per transport."""
    by_transport: dict[str, list[Whole]] = {}
    for transport, whole in joined:
        by_transport.setdefault(transport, []).append(whole)
    return [message for transport, wholes in by_transport.items() for message in route_many(session, wholes, transport=transport, now=now)]


def route_expired_fragments(session: Session, *, now: datetime, timeout: timedelta = FRAGMENT_TIMEOUT, limit: int = 500) -> int:
    """Route the concatenated SMS whose parts have all arrived (in transactions that each saw
    only their own part: joined here, at most a minute later), and what arrived of those whose
    first part is older than ``timeout`` (the rest will not come); returns how many SMS were
    routed."""
    groups = session.execute(
        select(col(InboundFragment.source_index), col(InboundFragment.destination), col(InboundFragment.reference), col(InboundFragment.total))
        .where(col(InboundFragment.joined_at).is_(None))
        .group_by(col(InboundFragment.source_index), col(InboundFragment.destination), col(InboundFragment.reference), col(InboundFragment.total))
        .having(or_(
            func.min(col(InboundFragment.received_at)) <= now - timeout,
            func.count(func.distinct(col(InboundFragment.sequence))) >= col(InboundFragment.total),
        ))
        .limit(limit)
    ).all()
    joined: list[tuple[str, Whole]] = []
    for index, destination, reference, total in groups:
        whole = _join_group(session, (bytes(index), destination, reference, total), now=now, complete_only=False)
        if whole is not None:
            joined.append(whole)
    return len(_route_joined(session, joined, now=now))


# -- what transports hand up -----------------------------------------------------------------------


def store_inbound(session: Session, parts: Iterable[InboundPart], *, transport: str, now: datetime) -> list[InboundMessage]:
    """Store and route the parts in the session's transaction: whole SMS together
    (``route_many``), parts of concatenated ones kept until their SMS is complete. Returns the SMS
    routed."""
    transport = transport[:10]
    wholes: list[Whole] = []
    joined: list[tuple[str, Whole]] = []
    parts = list(parts)
    fragments = [part for part in parts if part.concat is not None and part.concat[1] > 1]
    sources = sorted({normalise_source(part.source).stored for part in fragments})
    indexes = provider_indexes(session, sources, now=now) if sources else {}
    refs = sorted({ref for ref in (clean_id(part.provider_ref, MAX_REF) for part in fragments) if ref is not None})
    known = {ref for (ref,) in session.execute(
        select(col(InboundFragment.provider_ref)).where(col(InboundFragment.transport) == transport, col(InboundFragment.provider_ref).in_(refs))
    ).tuples() if ref is not None} if refs else set()
    for part in parts:
        if part.concat is not None and part.concat[1] > 1:
            stored = _store_fragment(session, part, transport, now, indexes=indexes, joined=joined, known=known)
            whole = _join_group(session, stored[0], now=now, complete_only=True) if stored is not None and stored[1] else None
            if whole is not None:
                joined.append(whole)
        else:
            wholes.append(Whole(part.source, part.destination, part.text, part.provider_ref, 1))
    return [*route_many(session, wholes, transport=transport, now=now), *_route_joined(session, joined, now=now)]


def store_reports(session: Session, reports: list[DeliveryReport], *, now: datetime) -> None:
    """Delivery reports into ``pending_report``: the outbox applies them (it looks every few
    seconds), so a report acknowledged to the SMSC is never only in memory."""
    rows: dict[str, dict[str, object]] = {}
    for report in reports:
        provider_id = clean_id(report.provider_id, MAX_REPORT_ID, cut=True)
        if provider_id is not None:
            rows[provider_id] = {"provider_id": provider_id, "status": REPORT_STATUS[report.status], "received_at": now}
    if rows:
        bulk_insert(session, _PENDING, list(rows.values()), ignore_conflicts=True)


def accept_upstream(
    factory: sessionmaker[Session], reports: list[DeliveryReport], parts: list[InboundPart], *, transport: str, now: datetime,
) -> None:
    """Store delivery reports and inbound SMS (routed, or parts kept) in one transaction and
    commit; raises when it cannot (the transport then does not acknowledge them)."""
    with session_scope(factory) as session:
        store_reports(session, reports, now=now)
        store_inbound(session, parts, transport=transport, now=now)


def simulate_inbound(factory: sessionmaker[Session], *, to: str, from_: str, text: str, now: datetime) -> Routed:
    """An inbound SMS as if the loopback transport had received it (``govsms inbound simulate``,
    the demo's button): stored and routed as ``accept_upstream`` stores and routes what a
    transport hands up."""
    with session_scope(factory) as session:
        [message] = store_inbound(session, [InboundPart(source=from_, destination=to, text=text)], transport="loopback", now=now)
        account = session.get(Account, message.account_id)
        return Routed(
            message_id=message.id, account_id=message.account_id, account_name=account.name if account else "",
            routed_by=message.routed_by, stop=message.stop,
        )


def purge_reply_routes(factory: sessionmaker[Session], *, now: datetime, batch: int = 10_000) -> int:
    """Delete every expired reply route, ``batch`` per transaction; returns how many went."""
    gone = 0
    while True:
        with session_scope(factory) as session:
            count = purge_expired_routes(session, now=now, limit=batch)
        gone += count
        if count < batch:
            return gone


def run_receiving_job(session: Session, *, now: datetime) -> int:
    """The receiving job (every minute): joins and routes complete concatenations (whose parts
    came in concurrent transactions) and what arrived of those older than the timeout, deletes
    the tombstones of parts joined more than ``TOMBSTONE_LIFETIME`` ago and up to 10,000 expired
    reply routes. Returns rows handled."""
    routed = route_expired_fragments(session, now=now)
    tombstones = rowcount(session.execute(
        delete(InboundFragment).where(col(InboundFragment.joined_at).is_not(None), col(InboundFragment.joined_at) <= now - TOMBSTONE_LIFETIME)
    ))
    return routed + tombstones + purge_expired_routes(session, now=now, limit=10_000)
