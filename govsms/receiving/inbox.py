"""The inbox: received SMS of the account as conversations, one per person (their data subject in
the account), each message with the SMS of the account it answers. Numbers are masked unless
shown in clear on request; every read of texts or numbers is an event in the access log naming
the people read. Mark as read, the unread count of the navigation, search by number (its blind
index), and replying from the number the SMS arrived on through the ordinary sending path
(priced and checked against the blocklist like any dispatch). The API polls with a cursor (the id).

SMS that found no account (the operator's unrouted queue, kept in the provider's account) are no
conversation: only the operator's queue shows them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, case, func, literal_column, select, update
from sqlalchemy import text as sql
from sqlmodel import Session, col

from govsms.accounts.service import account_region
from govsms.audit.actions import Action
from govsms.audit.record import record_event
from govsms.audit.unreadable import ALTERED, CANNOT_BE_READ, NO_KEY, UnreadableRow, record_unreadable
from govsms.auth import Actor, Permission, require
from govsms.db import rowcount
from govsms.errors import InvalidInput, NotFound
from govsms.i18n import _
from govsms.keys.crypto import Subject
from govsms.keys.store import vault_of
from govsms.paging import Page, clamp_page
from govsms.phone import mask, parse_number, parse_recipient
from govsms.receiving.models import INBOUND_NUMBER, INBOUND_TEXT, InboundMessage, RoutedBy
from govsms.sending.blocklist import blocked_numbers
from govsms.sending.dispatch import DispatchRequest, DispatchSummary, create_dispatch
from govsms.sending.history import open_texts
from govsms.sending.models import OutboundMessage
from govsms.sending.senders import REPLY_NUMBERS, SHARED_REPLY_NUMBER
from govsms.tenancy import owned_by

CONVERSATIONS_PER_PAGE = 25
MESSAGES_PER_PAGE = 50
POLL_DEFAULT = 100
POLL_MAX = 500
PREVIEW = 80
"""Characters of the latest text the conversation list shows."""
REPLY_CHANNELS = ("inbox", "api")
"""The dispatch's channel: a reply from the inbox page, or through the API."""

_MESSAGES = InboundMessage.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Conversation:
    """One person's received SMS in the account, as the list shows it."""

    id: int
    """The person's data subject in the account: the conversation's id in URLs (no number)."""
    number: str
    """Masked (``+46 70 *** ** 67``), in clear when shown on request, or "cannot be read"."""
    latest_at: datetime
    latest_text: str
    """The start of the latest text (at most ``PREVIEW`` characters)."""
    messages: int
    unread: int
    unreadable: bool = False


@dataclass(frozen=True)
class Original:
    """The account's own SMS a reply answers: its dispatch's text, and when it was sent."""

    message_id: int
    dispatch_id: int
    text: str
    sent_at: datetime
    sender: str | None
    """The number it was sent from (72323, 1963, 4560991000 or a virtual number)."""


@dataclass(frozen=True)
class InboundView:
    id: int
    conversation_id: int
    number: str
    """Masked, in clear when asked for (the API, or shown on request), or "cannot be read"."""
    text: str
    destination: str
    """Our number it arrived on."""
    keyword: str | None
    routed_by: str
    stop: bool
    parts: int
    received_at: datetime
    read_at: datetime | None
    original: Original | None
    unreadable: bool = False


@dataclass(frozen=True)
class ConversationView:
    id: int
    number: str
    messages: Page[InboundView]
    unread: int
    in_clear: bool
    can_reply: bool
    """The number is one an SMS can be sent to (not a text the SMSC gave as sender)."""


@dataclass(frozen=True)
class InboundBatch:
    """One page of the API's poll: the messages after the cursor, oldest first."""

    items: list[InboundView]
    cursor: int
    """Give it as ``after`` to get the next page (the last id read; the same cursor when none)."""
    more: bool


def _inbox(actor: Actor) -> ColumnElement[bool]:
    """The account's received SMS that are the inbox's: all but the operator's unrouted queue."""
    return and_(owned_by(InboundMessage, actor), col(InboundMessage.routed_by) != RoutedBy.UNROUTED)


def shown_number(number: str, *, in_clear: bool) -> str:
    """A sender's number as a page shows it: masked unless in clear. A sender the SMSC gave as a
    text (no number) is masked all the same, but for its first character."""
    if in_clear:
        return number
    if number.startswith("+") and number[1:].isdigit() and len(number) > 4:
        try:
            return mask(number)
        except (ValueError, KeyError, IndexError):
            pass
    return number[:1] + "*" * max(len(number) - 1, 3)


def is_reply_number(number: str) -> bool:
    """An E.164 number an SMS can be sent back to."""
    return number.startswith("+") and number[1:].isdigit() and 8 <= len(number) <= 16


@dataclass(frozen=True)
class _Opened:
    number: str | None
    text: str | None


def _open(session: Session, actor: Actor, rows: Sequence[InboundMessage], *, now: datetime) -> dict[int, _Opened]:
    """Numbers and texts of these rows of the account, opened with their people's keys (one
    key-store query); a row that does not open is recorded as unreadable and opens as None."""
    subjects: dict[int, Subject] = vault_of(session).subjects_by_id(session, actor.account_id, {row.subject_id for row in rows})
    opened: dict[int, _Opened] = {}
    unreadable: list[UnreadableRow] = []
    for row in rows:
        assert row.id is not None  # a stored row
        subject = subjects.get(row.subject_id)
        number = subject.unseal_or_none(INBOUND_NUMBER, row.number_ct) if subject is not None else None
        text = subject.unseal_or_none(INBOUND_TEXT, row.text_ct) if subject is not None else None
        if number is None or text is None:
            unreadable.append(UnreadableRow("inbound_message", row.id, row.subject_id, ALTERED if subject else NO_KEY))
        opened[row.id] = _Opened(number, text)
    record_unreadable(session, actor, unreadable, now=now)
    return opened


def _originals(session: Session, actor: Actor, rows: Sequence[InboundMessage], *, now: datetime) -> dict[int, Original]:
    """The account's SMS these replies answer (message id -> it), their texts opened with the
    account's data key: the account's own content, shown beside the reply."""
    wanted = {row.reply_to_message_id for row in rows if row.reply_to_message_id is not None}
    if not wanted:
        return {}
    messages = session.execute(
        select(col(OutboundMessage.id), col(OutboundMessage.dispatch_id), col(OutboundMessage.sender),
               col(OutboundMessage.submitted_at), col(OutboundMessage.created_at))
        .where(owned_by(OutboundMessage, actor), col(OutboundMessage.id).in_(wanted))
    ).all()
    if not messages:
        return {}
    texts = open_texts(session, actor, {row.dispatch_id for row in messages}, now=now)
    return {
        message_id: Original(message_id, dispatch_id, texts.get(dispatch_id, _(CANNOT_BE_READ)), submitted_at or created_at, sender)
        for message_id, dispatch_id, sender, submitted_at, created_at in messages
    }


def _views(session: Session, actor: Actor, rows: Sequence[InboundMessage], *, in_clear: bool, now: datetime) -> list[InboundView]:
    opened = _open(session, actor, rows, now=now)
    originals = _originals(session, actor, rows, now=now)
    views = []
    for row in rows:
        assert row.id is not None  # a stored row
        clear = opened[row.id]
        unreadable = clear.number is None or clear.text is None
        views.append(InboundView(
            id=row.id, conversation_id=row.subject_id,
            number=_(CANNOT_BE_READ) if clear.number is None else shown_number(clear.number, in_clear=in_clear),
            text=_(CANNOT_BE_READ) if clear.text is None else clear.text,
            destination=row.destination, keyword=row.keyword, routed_by=row.routed_by, stop=row.stop, parts=row.parts,
            received_at=row.received_at, read_at=row.read_at,
            original=originals.get(row.reply_to_message_id) if row.reply_to_message_id is not None else None,
            unreadable=unreadable,
        ))
    return views


# -- conversations ---------------------------------------------------------------------------------


def list_conversations(
    session: Session, actor: Actor, *, now: datetime, page: int = 1, per_page: int = CONVERSATIONS_PER_PAGE
) -> Page[Conversation]:
    """The account's conversations, those with unread SMS first, then the newest first; numbers
    masked, the start of each latest text shown. One event names the people listed."""
    require(actor, Permission.INBOX)
    page, per_page = clamp_page(page, per_page)
    inbox = _inbox(actor)
    total = session.execute(select(func.count(func.distinct(col(InboundMessage.subject_id)))).where(inbox)).scalar_one()
    unread = func.sum(case((col(InboundMessage.read_at).is_(None), 1), else_=0))
    latest_at = func.max(col(InboundMessage.received_at))
    groups = session.execute(
        select(col(InboundMessage.subject_id), func.count(), unread, func.max(col(InboundMessage.id)))
        .where(inbox)
        .group_by(col(InboundMessage.subject_id))
        .order_by(case((unread > 0, 0), else_=1), latest_at.desc(), col(InboundMessage.subject_id).desc())
        .offset((page - 1) * per_page).limit(per_page)
    ).all()
    latest_ids = [latest for _subject, _count, _unread, latest in groups]
    rows = {
        row.id: row for row in session.execute(
            select(InboundMessage).where(owned_by(InboundMessage, actor), col(InboundMessage.id).in_(latest_ids))
        ).scalars()
    } if latest_ids else {}
    opened = _open(session, actor, list(rows.values()), now=now)
    items = []
    for subject_id, count, unread_count, latest in groups:
        row, clear = rows[latest], opened[latest]
        text = _(CANNOT_BE_READ) if clear.text is None else clear.text
        items.append(Conversation(
            id=subject_id, number=_(CANNOT_BE_READ) if clear.number is None else shown_number(clear.number, in_clear=False),
            latest_at=row.received_at, latest_text=text if len(text) <= PREVIEW else text[: PREVIEW - 1] + "…",
            messages=count, unread=int(unread_count or 0), unreadable=clear.number is None or clear.text is None,
        ))
    if items:
        record_event(
            session, actor, Action.INBOUND_LISTED, now=now, subjects=[item.id for item in items],
            details={"conversations": len(items), "in_clear": False},
        )
    return Page(items=items, total=total, page=page, per_page=per_page)


def get_conversation(
    session: Session, actor: Actor, conversation_id: int, *, now: datetime, in_clear: bool = False, page: int = 1,
    per_page: int = MESSAGES_PER_PAGE,
) -> ConversationView:
    """One person's SMS to the account, newest first, each with the SMS it answers; the number
    masked unless ``in_clear`` (shown on request). Reading it is an event naming the person
    (``inbound.number_shown`` when in clear). ``NotFound`` for a conversation of another account."""
    require(actor, Permission.INBOX)
    page, per_page = clamp_page(page, per_page)
    inbox = and_(_inbox(actor), col(InboundMessage.subject_id) == conversation_id)
    total, unread = session.execute(
        select(func.count(), func.sum(case((col(InboundMessage.read_at).is_(None), 1), else_=0))).where(inbox)
    ).one()
    if not total:
        raise NotFound(_("No such conversation in your inbox."))
    rows = session.execute(
        select(InboundMessage).where(inbox).order_by(col(InboundMessage.id).desc()).offset((page - 1) * per_page).limit(per_page)
    ).scalars().all()
    views = _views(session, actor, rows, in_clear=in_clear, now=now)
    # The person's number as the latest SMS has it (every SMS of a conversation is from it).
    clear_number = _open_number(session, actor, rows[0] if page == 1 and rows else _latest(session, actor, conversation_id))
    number = _(CANNOT_BE_READ) if clear_number is None else shown_number(clear_number, in_clear=in_clear)
    record_event(
        session, actor, Action.INBOUND_NUMBER_SHOWN if in_clear else Action.INBOUND_VIEWED, now=now,
        target=("conversation", conversation_id), subjects=[conversation_id],
        details={"shown": len(views), "in_clear": in_clear, "answers": sum(1 for view in views if view.original is not None)},
    )
    return ConversationView(
        id=conversation_id, number=number, messages=Page(items=views, total=total, page=page, per_page=per_page),
        unread=int(unread or 0), in_clear=in_clear, can_reply=clear_number is not None and is_reply_number(clear_number),
    )


def _stored_id(row: InboundMessage) -> int:
    assert row.id is not None  # a stored row
    return row.id


def _latest(session: Session, actor: Actor, conversation_id: int) -> InboundMessage:
    """The conversation's latest SMS: its number and the number it arrived on answer a reply."""
    row: InboundMessage | None = session.execute(
        select(InboundMessage).where(_inbox(actor), col(InboundMessage.subject_id) == conversation_id)
        .order_by(col(InboundMessage.id).desc()).limit(1)
    ).scalars().first()
    if row is None:
        raise NotFound(_("No such conversation in your inbox."))
    return row


def _open_number(session: Session, actor: Actor, row: InboundMessage) -> str | None:
    subject = vault_of(session).subjects_by_id(session, actor.account_id, [row.subject_id]).get(row.subject_id)
    return subject.unseal_or_none(INBOUND_NUMBER, row.number_ct) if subject is not None else None


def find_conversation(session: Session, actor: Actor, number: str, *, now: datetime) -> int | None:
    """The conversation of the person with this number (typed as the account's people write
    it), found by the number's blind index; None when they sent the account nothing. The search
    is an event naming the person when the account knows them ("sent nothing" is about them too)."""
    require(actor, Permission.INBOX)
    if not number.strip():
        raise InvalidInput(_("Type the number to search for."), fields={"number": _("Type the number to search for.")})
    parsed = parse_number(number, account_region(session, actor))
    e164 = parsed.e164
    if e164 is None:
        raise InvalidInput(parsed.reason or _("This is not a valid number."), fields={"number": parsed.reason or _("This is not a valid number.")})
    found = vault_of(session).find_subjects(session, actor.account_id, [e164], now=now)
    subject = found.get(e164)
    conversation = None
    if subject is not None:
        conversation = session.execute(
            select(col(InboundMessage.subject_id)).where(_inbox(actor), col(InboundMessage.subject_id) == subject.id).limit(1)
        ).scalar()
    record_event(
        session, actor, Action.INBOUND_SEARCHED, now=now, subjects=[subject.id] if subject is not None else [],
        details={"found": conversation is not None},
    )
    return conversation


# -- read marks ------------------------------------------------------------------------------------


def mark_read(session: Session, actor: Actor, conversation_id: int, *, now: datetime, inbound_id: int | None = None) -> int:
    """Mark a conversation as read, or only its SMS ``inbound_id``; returns how many were unread.
    ``NotFound`` when the account has no such conversation (or no such SMS in it)."""
    require(actor, Permission.INBOX)
    which = and_(_inbox(actor), col(InboundMessage.subject_id) == conversation_id)
    if inbound_id is not None:
        which = and_(which, col(InboundMessage.id) == inbound_id)
    if session.execute(select(col(InboundMessage.id)).where(which).limit(1)).scalar() is None:
        raise NotFound(_("No such conversation in your inbox.") if inbound_id is None else _("No such SMS in this conversation."))
    return rowcount(session.execute(update(InboundMessage).where(which, col(InboundMessage.read_at).is_(None)).values(read_at=now)))


def unread_count(session: Session, actor: Actor) -> int:
    """The account's unread SMS, for the navigation ("Inkorg (3)"): one count on the index of
    (account, read_at). 0 for an actor without the inbox. The provider's own account leaves the
    operator's unrouted queue out (a filter on those rows only)."""
    if not actor.can(Permission.INBOX):
        return 0
    query = select(func.count()).select_from(_MESSAGES).where(owned_by(_MESSAGES, actor), _MESSAGES.c.read_at.is_(None))
    if actor.is_provider:
        query = query.where(_MESSAGES.c.routed_by != RoutedBy.UNROUTED)
    return int(session.execute(query).scalar_one())


# -- the API ---------------------------------------------------------------------------------------


SETTLED_AFTER = timedelta(seconds=60)
"""An SMS received this long ago is past the poll's check for writers still running: the
transaction that stored it (accept_upstream's, seconds at most) is over."""
_XID_SPACE = 2**32
_WRITERS = sql("""
SELECT min(x.transactionid::text::bigint), count(*) - count(x.transactionid)
FROM pg_locks w
LEFT JOIN pg_locks x ON x.pid = w.pid AND x.locktype = 'transactionid' AND x.mode = 'ExclusiveLock' AND x.granted
WHERE w.locktype = 'relation' AND w.mode = 'RowExclusiveLock' AND w.granted AND w.pid <> pg_backend_pid()
  AND w.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND w.relation = 'inbound_message'::regclass
""")
"""The transactions still writing inbound_message (they hold its RowExclusiveLock until they end):
the least of their xids, and how many of them have no xid yet (one taking an id this moment)."""


@dataclass(frozen=True)
class _Writers:
    oldest: int | None
    """The least xid (32-bit) of another transaction still writing inbound SMS; None: none."""
    unnamed: bool
    """Another writer has no xid yet: its order cannot be told."""

    def settled(self, row_xid: int) -> bool:
        """The row was written before every other writer still running took its id."""
        if self.unnamed:
            return False
        return self.oldest is None or 0 < (self.oldest - row_xid) % _XID_SPACE < 2**31


def _writers(session: Session) -> _Writers | None:
    """PostgreSQL: who else is writing inbound SMS right now. None on SQLite, where one writer at
    a time commits ids in their order."""
    if session.get_bind().dialect.name != "postgresql":
        return None
    oldest, unnamed = session.execute(_WRITERS).one()
    return _Writers(None if oldest is None else int(oldest) % _XID_SPACE, bool(unnamed))


def poll_inbound(session: Session, actor: Actor, *, after: int = 0, limit: int = POLL_DEFAULT, now: datetime) -> InboundBatch:
    """The account's SMS received after the cursor ``after`` (an id; 0 from the start), oldest
    first, at most ``limit`` (1..500), numbers and texts in clear. A page that holds any SMS is an
    ``inbound.number_shown`` event naming their people.

    The cursor is the id, so a page read again gives the same SMS. On PostgreSQL ids are taken
    before transactions commit, and a lower id may commit after a higher one: while another
    transaction is still writing inbound SMS, a page ends before the first SMS (received within
    ``SETTLED_AFTER``) that it may have overtaken, so that no SMS committed later falls behind the
    cursor. That SMS comes with a later poll (``more`` is then false)."""
    require(actor, Permission.INBOX)
    if not 0 <= after <= 2**63 - 1:
        raise InvalidInput(_("The cursor is not valid."), fields={"after": _("Give the cursor of the previous page, or 0 to start.")})
    if not 1 <= limit <= POLL_MAX:
        raise InvalidInput(
            _("The limit is not valid."), fields={"limit": _("Give a whole number from 1 to %(max)d.") % {"max": POLL_MAX}}
        )
    writers = _writers(session)  # before the rows are read: one that ends in between still counts
    row_xid: ColumnElement[int] = literal_column("inbound_message.xmin::text::bigint") if writers is not None else literal_column("0")
    found = session.execute(
        select(InboundMessage, row_xid).where(_inbox(actor), col(InboundMessage.id) > after)
        .order_by(col(InboundMessage.id)).limit(limit + 1)
    ).all()
    rows: list[InboundMessage] = []
    more = len(found) > limit
    for row, xid in found[:limit]:
        if writers is not None and row.received_at > now - SETTLED_AFTER and not writers.settled(int(xid)):
            more = False  # this one and what follows come with a later poll
            break
        rows.append(row)
    views = _views(session, actor, rows, in_clear=True, now=now)
    if views:
        record_event(
            session, actor, Action.INBOUND_NUMBER_SHOWN, now=now, subjects=sorted({view.conversation_id for view in views}),
            details={"shown": len(views), "in_clear": True, "after": after},
        )
    return InboundBatch(items=views, cursor=views[-1].id if views else after, more=more)


def get_inbound(session: Session, actor: Actor, inbound_id: int, *, now: datetime, in_clear: bool = True) -> InboundView:
    """One SMS of the account (number and text in clear unless ``in_clear`` is False), with the
    SMS it answers; an event naming its person. ``NotFound`` for another account's."""
    require(actor, Permission.INBOX)
    row = session.execute(select(InboundMessage).where(_inbox(actor), col(InboundMessage.id) == inbound_id)).scalars().first()
    if row is None:
        raise NotFound(_("No such SMS in your inbox."))
    view = _views(session, actor, [row], in_clear=in_clear, now=now)[0]
    record_event(
        session, actor, Action.INBOUND_NUMBER_SHOWN if in_clear else Action.INBOUND_VIEWED, now=now,
        target=("inbound_message", inbound_id), subjects=[row.subject_id], details={"shown": 1, "in_clear": in_clear},
    )
    return view


# -- replies ---------------------------------------------------------------------------------------


def reply_sender(destination: str) -> str:
    """What a reply is sent from: the number the SMS arrived on. A shared number (72323, 1963,
    4560991000) is the reply number, switched per recipient by country as any send from 72323;
    a virtual number is sent from as itself (it must still be the account's)."""
    number = destination.strip()
    if number.lstrip("+") in (SHARED_REPLY_NUMBER, *REPLY_NUMBERS.values()):
        return SHARED_REPLY_NUMBER
    return "+" + number.lstrip("+")


def reply(
    session: Session, actor: Actor, text: str, *, public_url: str, now: datetime, conversation_id: int | None = None,
    inbound_id: int | None = None, channel: str = "inbox", idempotency_key: str | None = None,
) -> DispatchSummary:
    """Answer a received SMS (``inbound_id``) or a conversation's latest SMS: one SMS to its
    number, from the number it arrived on, through the ordinary sending path (priced, checked
    against the blocklist, recorded as a dispatch). A number that is blocked (it answered STOP,
    say) is refused with the reason. ``NotFound`` for another account's."""
    require(actor, Permission.INBOX)
    require(actor, Permission.SEND)
    if channel not in REPLY_CHANNELS:
        raise InvalidInput(_("Unknown channel."))
    if (conversation_id is None) == (inbound_id is None):
        raise InvalidInput(_("Name one SMS or one conversation."))
    if inbound_id is not None:
        row = session.execute(select(InboundMessage).where(_inbox(actor), col(InboundMessage.id) == inbound_id)).scalars().first()
        if row is None:
            raise NotFound(_("No such SMS in your inbox."))
    else:
        assert conversation_id is not None
        row = _latest(session, actor, conversation_id)
    number = _open_number(session, actor, row)
    if number is None:
        record_unreadable(session, actor, [UnreadableRow("inbound_message", _stored_id(row), row.subject_id, ALTERED)], now=now)
        raise InvalidInput(_("The sender's number cannot be read, so no reply can be sent."), fields={"text": _(CANNOT_BE_READ)})
    if not is_reply_number(number):
        raise InvalidInput(
            _("This SMS came from a sender name, not a number: it cannot be answered."),
            fields={"text": _("Only an SMS from a phone number can be answered.")},
        )
    if (recipient := parse_recipient(number)).e164 is None:  # an SMS from a landline's SMS service, say
        raise InvalidInput(_("The reply was not sent: this number cannot receive SMS."), fields={"text": recipient.reason or ""})
    if number in blocked_numbers(session, actor.account_id, [number], now=now):
        # That it is blocked is read from the account's list: an event naming the person.
        record_event(
            session, actor, Action.DISPATCH_PREVIEWED, now=now, subjects=[row.subject_id],
            details={"accepted": 0, "blocked": 1, "invalid": 0, "reply": True},
        )
        raise InvalidInput(
            _("The reply was not sent: this number is on your account's blocklist."),
            fields={"text": _("The person asked to get no more SMS from you (they answered STOP, or the number was blocked "
                              "otherwise). Only the person can change that, by asking you to unblock the number.")},
            recorded=True,
        )
    return create_dispatch(
        session, actor, DispatchRequest(sender=reply_sender(row.destination), text=text, numbers=[number], channel=channel,
                                        idempotency_key=idempotency_key),  # the same key again: the same dispatch, billed once
        public_url=public_url, now=now,
    )
