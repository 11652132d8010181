"""Sent history: dispatches (their texts, their states) and their messages, numbers and opt-out links
masked unless explicitly (and audibly) shown in clear; cancelling a scheduled dispatch."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import ColumnElement, and_, func, literal, select, union_all, update
from sqlmodel import Session, col

from govsms.accounts.service import account_region
from govsms.auth import Actor, Permission, require
from govsms.audit.actions import Action
from govsms.audit.record import record_event
from govsms.db import rowcount
from govsms.errors import Conflict, InvalidInput, NotFound
from govsms.i18n import N_, _
from govsms.keys.crypto import DecryptionError, unseal_field
from govsms.keys.store import DATA_PURPOSE, vault_of
from govsms.paging import Page, clamp_page
from govsms.phone import mask, parse_number
from govsms.sending.dispatch import OPTOUT_PLACEHOLDER, TOKEN_LENGTH, optout_link
from govsms.sending.models import DISPATCH_TEXT, MESSAGE_RECIPIENT, Dispatch, OutboundMessage
from govsms.sending.status import HANDED_OVER, OPEN, WAITING, DispatchState, DispatchStatus, MessageStatus, dispatch_state
from govsms.audit.unreadable import ALTERED, CANNOT_BE_READ, NO_KEY, UnreadableRow, record_unreadable
from govsms.sending.senders import open_senders
from govsms.tenancy import get_scoped, owned_by, scoped

STATUSES = tuple(MessageStatus)
STATUS_LABELS: dict[str, str] = {
    MessageStatus.SCHEDULED: N_("scheduled"), MessageStatus.QUEUED: N_("queued"), MessageStatus.SENDING: N_("sending"),
    MessageStatus.SENT: N_("sent"), MessageStatus.DELIVERED: N_("delivered"), MessageStatus.FAILED: N_("failed"),
    MessageStatus.EXPIRED: N_("expired"), MessageStatus.UNKNOWN: N_("unknown"), MessageStatus.BLOCKED: N_("blocked"),
    MessageStatus.CANCELLED: N_("cancelled"),
}


def status_label(value: str) -> str:
    """A message status as the reader's language says it."""
    return _(STATUS_LABELS.get(value, value))
"""What each status is called on the pages. ``unknown``: sent, but no delivery report came within
``message_unknown_hours`` (final; a later report still settles it)."""

STATES = tuple(DispatchState)
STATE_LABELS: dict[str, str] = {
    DispatchState.SCHEDULED: N_("Scheduled"), DispatchState.QUEUED: N_("Waiting to be sent"), DispatchState.SENDING: N_("Sending"),
    DispatchState.SENT: N_("Sent, awaiting delivery reports"), DispatchState.DONE: N_("Completed"), DispatchState.CANCELLED: N_("Cancelled"),
}


def state_label(value: str) -> str:
    """A dispatch's state as the reader's language says it."""
    return _(STATE_LABELS.get(value, value))


@dataclass(frozen=True)
class MessageView:
    id: int
    recipient: str
    """Masked (``+46 70 *** ** 67``) unless shown in clear on request."""
    sender: str
    country: str
    status: str
    reason: str | None
    parts: int
    cost_minor: int
    submitted_at: datetime | None
    done_at: datetime | None
    unreadable: bool = False
    """The recipient cannot be read (no key, or a value that does not decrypt): ``recipient``
    says so, and the row is an error event in the access log."""
    dispatch_id: int = 0
    created_at: datetime | None = None
    link: str | None = None
    """The message's opt-out token masked (``Ab**********``): its own link, not the link itself;
    None when its text has no opt-out link."""


@dataclass(frozen=True)
class ShownMessage:
    """One message as its recipient got it, shown in clear on request (recorded)."""

    id: int
    recipient: str
    """E.164, or "cannot be read"."""
    text: str
    """The text with the recipient's own opt-out link."""
    unreadable: bool = False


def get_dispatch(session: Session, actor: Actor, dispatch_id: int) -> Dispatch:
    require(actor, Permission.MESSAGES_READ)
    return get_scoped(session, Dispatch, dispatch_id, actor, missing=_("No such dispatch in your account."))


def status_counts(session: Session, dispatch_id: int) -> dict[str, int]:
    return status_counts_of(session, [dispatch_id]).get(dispatch_id, {})


def status_counts_of(session: Session, dispatch_ids: list[int]) -> dict[int, dict[str, int]]:
    """Messages by status for each dispatch of a page, in one query."""
    counts: dict[int, dict[str, int]] = {}
    if dispatch_ids:
        rows = session.execute(
            select(col(OutboundMessage.dispatch_id), col(OutboundMessage.status), func.count())
            .where(col(OutboundMessage.dispatch_id).in_(dispatch_ids))
            .group_by(col(OutboundMessage.dispatch_id), col(OutboundMessage.status))
        )
        for dispatch_id, status, count in rows:
            counts.setdefault(dispatch_id, {})[status] = count
    return counts


def _sealed_senders(
    session: Session, actor: Actor, dispatch_ids: set[int], unreadable: list[UnreadableRow] | None = None
) -> tuple[dict[int, str], dict[int, int | None]]:
    """The mobile-number senders of these dispatches of the account, opened in one go:
    (dispatch id -> E.164, dispatch id -> the sender's subject id); those that do not open while
    their key is there are added to ``unreadable``."""
    if not dispatch_ids:
        return {}, {}
    rows = cast("Sequence[tuple[int, int | None, bytes | None]]", session.execute(  # stored rows: their ids are set
        select(col(Dispatch.id), col(Dispatch.sender_subject_id), col(Dispatch.sender_ct))
        .where(owned_by(Dispatch, actor), col(Dispatch.id).in_(dispatch_ids), col(Dispatch.sender_ct).is_not(None))
    ).all())
    return open_senders(session, actor.account_id, rows, unreadable), {row[0]: row[1] for row in rows}


def sender_label(number: str | None, *, reveal: bool) -> str:
    if number is None:
        return _("(erased)")
    return number if reveal else mask(number)


def dispatch_senders(session: Session, actor: Actor, dispatches: list[Dispatch], *, now: datetime, reveal: bool = False) -> dict[int, str]:
    """How each dispatch's sender is shown: as chosen, or a mobile number masked (in clear with
    ``reveal``). Showing any mobile number is recorded, naming its person."""
    by_id = {_stored_id(dispatch): dispatch for dispatch in dispatches}
    sealed = {dispatch_id for dispatch_id, dispatch in by_id.items() if dispatch.sender is None}
    unreadable: list[UnreadableRow] = []
    opened, subjects = _sealed_senders(session, actor, sealed, unreadable)
    record_unreadable(session, actor, unreadable, now=now)  # "cannot be read" (an event), not "(erased)" (a key gone on purpose)
    cannot_be_read = {row.row_id for row in unreadable}
    if subjects:
        record_event(
            session, actor, Action.MESSAGE_NUMBER_SHOWN if reveal else Action.MESSAGES_LISTED, now=now,
            target=("dispatch", dispatches[0].id) if len(dispatches) == 1 else None,
            subjects=[subject for subject in subjects.values() if subject is not None], details={"senders": len(subjects), "in_clear": reveal},
        )
    return {
        dispatch_id: dispatch.sender if dispatch.sender is not None
        else _(CANNOT_BE_READ) if dispatch_id in cannot_be_read else sender_label(opened.get(dispatch_id), reveal=reveal)
        for dispatch_id, dispatch in by_id.items()
    }


def _stored_id(dispatch: Dispatch) -> int:
    assert dispatch.id is not None  # a stored row
    return dispatch.id


def _has(statuses: frozenset[MessageStatus]) -> ColumnElement[bool]:
    """The dispatch (of the outer query) has a message in one of these statuses: one probe of the
    ``(dispatch_id, status)`` index, whatever the number of its messages."""
    return (
        select(literal(1))
        .where(col(OutboundMessage.dispatch_id) == col(Dispatch.id), col(OutboundMessage.status).in_(sorted(statuses)))
        .exists()
    )


def state_is(state: DispatchState) -> ColumnElement[bool]:
    """``status.dispatch_state(...) == state`` in SQL over ``Dispatch``, each state a few EXISTS
    probes per dispatch (keep it with the Python rule; the test runs both over one table)."""
    if state == DispatchState.CANCELLED:
        return col(Dispatch.status) == DispatchStatus.CANCELLED
    live = col(Dispatch.status) != DispatchStatus.CANCELLED
    moving = WAITING | {MessageStatus.SENDING}
    conditions: dict[DispatchState, ColumnElement[bool]] = {
        DispatchState.DONE: ~_has(OPEN),
        DispatchState.SCHEDULED: and_(_has(frozenset({MessageStatus.SCHEDULED})), ~_has(HANDED_OVER | {MessageStatus.QUEUED})),
        DispatchState.QUEUED: and_(_has(frozenset({MessageStatus.QUEUED})), ~_has(HANDED_OVER)),
        DispatchState.SENDING: and_(_has(moving), _has(HANDED_OVER)),
        DispatchState.SENT: and_(_has(OPEN), ~_has(moving)),
    }
    return and_(live, conditions[state])


def list_dispatches(
    session: Session, actor: Actor, *, page: int = 1, per_page: int = 25, state: str | None = None,
    created_between: tuple[datetime | None, datetime | None] | None = None,
) -> Page[Dispatch]:
    """The account's dispatches, newest first; only those in ``state`` (a ``DispatchState``), or
    made between the two instants (either may be open; the end excluded), when given."""
    require(actor, Permission.MESSAGES_READ)
    page, per_page = clamp_page(page, per_page)
    query = scoped(Dispatch, actor)
    if state:
        if state not in STATES:
            raise InvalidInput(_("Unknown status."), fields={"status": _("Choose a status from the list.")})
        query = query.where(state_is(DispatchState(state)))
    if created_between is not None:
        start, end = created_between
        if start is not None:
            query = query.where(col(Dispatch.created_at) >= start)
        if end is not None:
            query = query.where(col(Dispatch.created_at) < end)
    total = session.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    items = session.execute(query.order_by(col(Dispatch.id).desc()).offset((page - 1) * per_page).limit(per_page)).scalars().all()
    return Page(items=list(items), total=total, page=page, per_page=per_page)


def dispatch_states(
    session: Session, dispatches: Sequence[Dispatch], counts: dict[int, dict[str, int]] | None = None,
) -> dict[int, DispatchState]:
    """Where each of these (stored, already read) dispatches is, by its messages (``counts``: their
    ``status_counts_of``, when the caller has read them already)."""
    if counts is None:
        counts = status_counts_of(session, [_stored_id(dispatch) for dispatch in dispatches])
    return {_stored_id(dispatch): dispatch_state(dispatch.status, counts.get(_stored_id(dispatch), {})) for dispatch in dispatches}


TEXT_SUBJECTS = 10
"""How many recipients of each dispatch the event of its text shown names: a personalised text to
one person names them; a text to many names its first few (naming all would read every message)."""


def open_texts(session: Session, actor: Actor, dispatch_ids: Iterable[int], *, now: datetime) -> dict[int, str]:
    """The texts of these dispatches of the account, opened with its data key; one that does not
    open says so and is recorded as unreadable. Recording the read is the caller's."""
    key = vault_of(session).account_key(session, actor.account_id, DATA_PURPOSE, now=now)
    texts: dict[int, str] = {}
    unreadable: list[UnreadableRow] = []
    for dispatch_id, text_ct in session.execute(
        select(col(Dispatch.id), col(Dispatch.text_ct)).where(owned_by(Dispatch, actor), col(Dispatch.id).in_(set(dispatch_ids)))
    ).all():
        try:
            texts[dispatch_id] = unseal_field(key, DISPATCH_TEXT, actor.account_id, dispatch_id, text_ct).decode()
        except (DecryptionError, UnicodeDecodeError):
            texts[dispatch_id] = _(CANNOT_BE_READ)
            unreadable.append(UnreadableRow("dispatch", dispatch_id, None, ALTERED))
    record_unreadable(session, actor, unreadable, now=now)
    return texts


def dispatch_texts(
    session: Session, actor: Actor, dispatch_ids: Sequence[int], *, now: datetime, recorded: bool = True,
) -> dict[int, str]:
    """The texts of these dispatches of the account, as the customer wrote them; one that does not
    open says so and is recorded as unreadable. A text may name its recipient (a personalised
    one), so showing them is one ``messages.listed`` event naming the first ``TEXT_SUBJECTS``
    recipients of each (counts only in its details); ``recorded=False`` when the caller records
    the read itself."""
    require(actor, Permission.MESSAGES_READ)
    if not dispatch_ids:
        return {}
    texts = open_texts(session, actor, dispatch_ids, now=now)
    if recorded and texts:
        record_event(
            session, actor, Action.MESSAGES_LISTED, now=now, target=("dispatch", next(iter(texts))) if len(texts) == 1 else None,
            subjects=_first_recipients(session, actor, list(texts)), details={"texts": len(texts), "in_clear": False},
        )
    return texts


def _first_recipients(session: Session, actor: Actor, dispatch_ids: list[int]) -> list[int]:
    """The people the first ``TEXT_SUBJECTS`` messages of each dispatch went to, in one query (each
    part a short walk of the ``dispatch_id`` index)."""
    parts = [
        select(col(OutboundMessage.subject_id)).where(owned_by(OutboundMessage, actor), col(OutboundMessage.dispatch_id) == dispatch_id)
        .order_by(col(OutboundMessage.id)).limit(TEXT_SUBJECTS).subquery()
        for dispatch_id in dispatch_ids
    ]
    query = union_all(*(select(part.c.subject_id) for part in parts)) if len(parts) > 1 else select(parts[0].c.subject_id)
    return sorted(set(session.execute(query).scalars().all()))


def mask_token(token: str) -> str:
    """An opt-out token as the pages show it until it is asked for: its first two characters."""
    return token[:2] + "*" * (len(token) - 2)


def as_received(text: str, public_url: str, token: str | None) -> str:
    """The text as a recipient gets it: ``_BLOCKSMSLINK_`` becomes the link of ``token`` (masked or
    not, as given; a link of stars for "each recipient's own")."""
    return text.replace(OPTOUT_PLACEHOLDER, optout_link(public_url, token or "*" * TOKEN_LENGTH))


def show_message(session: Session, actor: Actor, dispatch_id: int, message_id: int, *, public_url: str, now: datetime) -> ShownMessage:
    """One message of the dispatch as its recipient got it: the number in clear and the text with
    their own opt-out link (which would stop their SMS: shown only on request), recorded in the
    access log naming the recipient."""
    require(actor, Permission.MESSAGES_READ)
    get_dispatch(session, actor, dispatch_id)
    message = session.execute(
        select(OutboundMessage).where(owned_by(OutboundMessage, actor), col(OutboundMessage.id) == message_id,
                                      col(OutboundMessage.dispatch_id) == dispatch_id)
    ).scalar_one_or_none()
    if message is None:
        raise NotFound(_("No such message in this dispatch."))
    assert message.id is not None  # a stored row
    subject = vault_of(session).subjects_by_id(session, actor.account_id, [message.subject_id]).get(message.subject_id)
    clear = subject.unseal_or_none(MESSAGE_RECIPIENT, message.recipient_ct) if subject is not None else None
    if clear is None:
        record_unreadable(session, actor, [UnreadableRow("outbound_message", message.id, message.subject_id, ALTERED if subject else NO_KEY)], now=now)
    text = dispatch_texts(session, actor, [dispatch_id], now=now, recorded=False).get(dispatch_id, _(CANNOT_BE_READ))  # its event follows
    record_event(
        session, actor, Action.MESSAGE_TEXT_SHOWN, now=now, target=("dispatch", dispatch_id), subjects=[message.subject_id],
        details={"shown": 1, "in_clear": True},  # the text as they got it: with their opt-out link, when it has one
    )
    return ShownMessage(
        id=message.id, recipient=clear if clear is not None else _(CANNOT_BE_READ), unreadable=clear is None,
        text=as_received(text, public_url, message.optout_token) if message.optout_token else text,
    )


def list_messages(
    session: Session, actor: Actor, *, now: datetime, dispatch_id: int | None = None, status: str | None = None,
    created_between: tuple[datetime, datetime] | None = None, number: str | None = None, reveal: bool = False, page: int = 1,
    per_page: int = 50,
) -> Page[MessageView]:
    """Messages of the account, filtered; numbers masked, or in clear when ``reveal`` (audited).
    ``created_between``: the UTC instants a local day begins and ends at (``statistics.day_range``;
    23 or 25 hours apart on the days clocks change), the end excluded.
    A search by ``number`` names the account's person with that number in the event even when
    no message matches: "nothing was sent to them" is about them too."""
    require(actor, Permission.MESSAGES_READ)
    page, per_page = clamp_page(page, per_page)
    searched: list[int] = []
    query = scoped(OutboundMessage, actor)
    if dispatch_id is not None:
        get_dispatch(session, actor, dispatch_id)
        query = query.where(OutboundMessage.dispatch_id == dispatch_id)
    if status:
        if status not in STATUSES:
            raise InvalidInput(_("Unknown status."), fields={"status": _("Choose a status from the list.")})
        query = query.where(OutboundMessage.status == status)
    if created_between is not None:
        start, end = created_between
        query = query.where(OutboundMessage.created_at >= start, OutboundMessage.created_at < end)
    if number:
        parsed = parse_number(number, account_region(session, actor))  # typed as the account's people write it
        e164 = parsed.e164
        if e164 is None:
            raise InvalidInput(parsed.reason or "", fields={"number": parsed.reason or ""})
        found = vault_of(session).find_subjects(session, actor.account_id, [e164], now=now)
        searched = [found[e164].id] if e164 in found else []
        query = query.where(OutboundMessage.subject_id == (searched[0] if searched else -1))
    total = session.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    rows: Sequence[OutboundMessage] = session.execute(
        query.order_by(col(OutboundMessage.id).desc()).offset((page - 1) * per_page).limit(per_page)
    ).scalars().all()
    subjects = vault_of(session).subjects_by_id(session, actor.account_id, [row.subject_id for row in rows])
    senders, sender_subjects = _sealed_senders(session, actor, {row.dispatch_id for row in rows if row.sender is None})
    items = []
    unreadable: list[UnreadableRow] = []
    for row in rows:
        assert row.id is not None  # a stored row
        subject = subjects.get(row.subject_id)
        clear = subject.unseal_or_none(MESSAGE_RECIPIENT, row.recipient_ct) if subject is not None else None
        if clear is None:  # this row is marked; the rest of the page is shown
            unreadable.append(UnreadableRow("outbound_message", row.id, row.subject_id, ALTERED if subject else NO_KEY))
            recipient = _(CANNOT_BE_READ)
        else:
            recipient = clear if reveal else mask(clear)
        items.append(
            MessageView(
                id=row.id, recipient=recipient, country=row.country, status=row.status,
                sender=row.sender if row.sender is not None else sender_label(senders.get(row.dispatch_id), reveal=reveal),
                reason=row.reason, parts=row.parts, cost_minor=row.cost_minor, submitted_at=row.submitted_at, done_at=row.done_at,
                unreadable=clear is None, dispatch_id=row.dispatch_id, created_at=row.created_at,
                link=mask_token(row.optout_token) if row.optout_token else None,
            )
        )
    record_unreadable(session, actor, unreadable, now=now)
    record_event(
        session, actor, Action.MESSAGE_NUMBER_SHOWN if reveal else Action.MESSAGES_LISTED, now=now,
        target=("dispatch", dispatch_id) if dispatch_id else None,
        subjects=[*searched, *(row.subject_id for row in rows), *(subject for subject in sender_subjects.values() if subject is not None)],
        details={"shown": len(rows), "in_clear": reveal, **({"by_number": True} if number else {})},
    )
    return Page(items=items, total=total, page=page, per_page=per_page)


def cancel_dispatch(session: Session, actor: Actor, dispatch_id: int, *, now: datetime) -> int:
    """Cancel what has not been sent of a scheduled dispatch."""
    require(actor, Permission.SEND)
    dispatch = get_dispatch(session, actor, dispatch_id)
    if dispatch.status != DispatchStatus.SCHEDULED or dispatch.send_at <= now:
        raise Conflict(_("Only a dispatch that waits for its send time can be cancelled."))
    cancelled = rowcount(session.execute(
        update(OutboundMessage).where(col(OutboundMessage.dispatch_id) == dispatch.id, col(OutboundMessage.status) == MessageStatus.SCHEDULED)
        .values(status=MessageStatus.CANCELLED, cost_minor=0, done_at=now)
    ))
    dispatch.status = DispatchStatus.CANCELLED
    session.add(dispatch)
    session.flush()
    record_event(session, actor, Action.DISPATCH_CANCELLED, now=now, target=("dispatch", dispatch.id), details={"cancelled": cancelled})
    return cancelled
