"""The register of data-subject requests (GDPR Art. 12(3)): each request the DPO received, its
kind, the date received and the deadline (one calendar month; once, two months more with a
reason), its status, what answered it (the access export, the erasure) and the DPO's notes,
sealed under the account's data key. Reading the notes in clear is an audited read."""

from __future__ import annotations

import calendar
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql import ColumnElement
from sqlmodel import Session, col, select

from govsms.audit.actions import Action
from govsms.audit.record import record_event
from govsms.auth import Actor, Permission, require
from govsms.clock import zone
from govsms.errors import Conflict, InvalidInput, NotFound
from govsms.i18n import N_, _
from govsms.keys.crypto import DecryptionError, seal_field, unseal_field
from govsms.keys.store import DATA_PURPOSE, SubjectKey, vault_of
from govsms.paging import Page, clamp_page
from govsms.subjects.erasure_models import SubjectErasure
from govsms.subjects.models import REQUEST_NOTES, SubjectExport, SubjectRequest
from govsms.tenancy import get_scoped, owned_by, scoped
from govsms.textfield import multi_line, single_line

__all__ = [
    "KINDS", "STATUSES", "SubjectRequest", "RequestView", "DueSoon", "add_months", "request_for", "link_subject",
    "link_erasure", "link_export", "request_subject", "register_request", "list_requests", "get_request", "request_view", "find_request", "update_request",
    "extend_request", "due_soon", "today_for",
]

KINDS: dict[str, str] = {
    "access": N_("Access (Art. 15, 20)"),
    "erasure": N_("Erasure (Art. 17)"),
    "rectification": N_("Rectification (Art. 16)"),
    "objection": N_("Objection (Art. 21)"),
}
STATUSES: dict[str, str] = {
    "open": N_("Open"),
    "extended": N_("Extended"),
    "done": N_("Done"),
    "refused": N_("Refused"),
}
OPEN = ("open", "extended")
CLOSED = ("done", "refused")
NOTES_LENGTH = 4000
REASON_LENGTH = 200
DUE_SOON_DAYS = 7
EXTENSION_MONTHS = 2
MISSING = N_("No such request.")
CLOSED_MESSAGE = N_("This request is closed (done or refused): reopen it, or register a new one.")
ANOTHER_PERSON = N_("This request is about another person: register a new one.")


def add_months(day: date, months: int) -> date:
    """``day`` ``months`` calendar months later; the last day of the month where it is shorter
    (31 January + 1 month: 28 or 29 February)."""
    total = day.month - 1 + months
    year, month = day.year + total // 12, total % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def today_for(actor: Actor, now: datetime) -> date:
    """The day it is in the account's time zone (a request is received on a local day)."""
    return now.astimezone(zone(actor.timezone)).date()


def deadline(request: SubjectRequest) -> date:
    return request.extended_until or request.due_on


def is_overdue(request: SubjectRequest, today: date) -> bool:
    return request.status in OPEN and deadline(request) < today


@dataclass(frozen=True)
class RequestView:
    """A request as a page or the API shows it; ``notes`` only where the read was audited."""

    request: SubjectRequest
    deadline: date
    overdue: bool
    notes: str | None = None
    notes_unreadable: bool = False


def _view(request: SubjectRequest, today: date, notes: str | None = None, unreadable: bool = False) -> RequestView:
    return RequestView(request, deadline(request), is_overdue(request, today), notes, unreadable)


# -- sealed notes --------------------------------------------------------------------------------


def _seal_notes(session: Session, request: SubjectRequest, notes: str, now: datetime) -> bytes | None:
    if not notes:
        return None
    assert request.id is not None
    key = vault_of(session).account_key(session, request.account_id, DATA_PURPOSE, now=now)
    return seal_field(key, REQUEST_NOTES, request.account_id, request.id, notes)


def _open_notes(session: Session, request: SubjectRequest, now: datetime) -> tuple[str, bool]:
    """The notes in clear and whether they failed to open (altered or moved)."""
    if not request.notes_ct:
        return "", False
    assert request.id is not None
    key = vault_of(session).account_key(session, request.account_id, DATA_PURPOSE, now=now)
    try:
        return unseal_field(key, REQUEST_NOTES, request.account_id, request.id, request.notes_ct).decode(), False
    except DecryptionError:
        return "", True


def _clean_notes(notes: str | None) -> str:
    text = multi_line(notes, "notes")
    if len(text) > NOTES_LENGTH:
        message = _("Shorten the notes to %(max)d characters.") % {"max": NOTES_LENGTH}
        raise InvalidInput(message, fields={"notes": message})
    return text


def _check_kind(kind: str) -> str:
    if kind not in KINDS:
        message = _("Choose the kind of request: access, erasure, rectification or objection.")
        raise InvalidInput(message, fields={"kind": message})
    return kind


# -- registering ---------------------------------------------------------------------------------


def _claim_numbering(session: Session, account_id: int, year: int) -> None:
    """PostgreSQL: hold the account's numbering of ``year`` until the transaction ends, so that a
    second registration waits for this one and then takes the next number. (SQLite has one
    writer at a time already.)"""
    if session.get_bind().dialect.name != "postgresql":
        return
    digest = hashlib.sha256(f"subject_request|{account_id}|{year}".encode()).digest()
    session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": int.from_bytes(digest[:8], "big", signed=True)})


def _next_reference(session: Session, account_id: int, year: int) -> str:
    _claim_numbering(session, account_id, year)
    prefix = f"DSR-{year}-"
    # The numeric max: DSR-2026-10000 comes after DSR-2026-9999 (a longer number is a larger one).
    last = session.execute(
        select(SubjectRequest.reference).where(
            owned_by(SubjectRequest, account_id), col(SubjectRequest.reference).startswith(prefix),
        ).order_by(func.length(SubjectRequest.reference).desc(), col(SubjectRequest.reference).desc()).limit(1)
    ).scalar()
    seq = int(last.removeprefix(prefix)) + 1 if last else 1
    return f"{prefix}{seq:04d}"


def _audit(
    session: Session, actor: Actor, action: Action, request: SubjectRequest, now: datetime, **details: object,
) -> None:
    record_event(
        session, actor, action, now=now, target=("subject_request", request.reference),
        subjects=[request.subject_id] if request.subject_id is not None else [],
        details={"request": request.id, **details},
    )


def register_request(
    session: Session, actor: Actor, *, kind: str, received_on: date | None = None, notes: str | None = None,
    subject_id: int | None = None, now: datetime,
) -> SubjectRequest:
    """The DPO registers a request received on ``received_on`` (today unless given; not in the
    future, not before last year); its deadline is one calendar month later."""
    require(actor, Permission.SUBJECTS)
    _check_kind(kind)
    today = today_for(actor, now)
    received = received_on or today
    if received > today:
        message = _("Give the date the request was received: today or earlier.")
        raise InvalidInput(message, fields={"received_on": message})
    if received < date(today.year - 1, 1, 1):
        message = _("Give a date received from %(first)s on.") % {"first": date(today.year - 1, 1, 1).isoformat()}
        raise InvalidInput(message, fields={"received_on": message})
    text = _clean_notes(notes)
    for _attempt in range(5):
        request = SubjectRequest(
            account_id=actor.account_id, reference=_next_reference(session, actor.account_id, received.year), kind=kind,
            status="open", received_on=received, due_on=add_months(received, 1), subject_id=subject_id,
            created_by=actor.label, created_at=now, updated_at=now,
        )
        try:
            with session.begin_nested():
                session.add(request)
                session.flush()
        except IntegrityError:  # another DPO took the same reference at the same moment (a safety net: see _claim_numbering)
            continue
        break
    else:  # pragma: no cover - five collisions in a row
        raise InvalidInput(_("The request could not be numbered; try again."))
    if text:
        request.notes_ct = _seal_notes(session, request, text, now)
        session.add(request)
        session.flush()
    _audit(session, actor, Action.SUBJECT_REQUEST_REGISTERED, request, now, kind=kind)
    return request


def request_for(session: Session, actor: Actor, request_id: int | None, kind: str, *, now: datetime) -> SubjectRequest:
    """The request ``request_id`` of the actor's account (NotFound otherwise; Conflict when it is
    closed: done or refused requests take no new work), or, without an id, a new request of
    ``kind`` received today, registered and audited. A request of another kind is used as it is
    (an access request answered by an erasure stays an access request)."""
    require(actor, Permission.SUBJECTS)
    if request_id is None:
        return register_request(session, actor, kind=kind, now=now)
    request = get_scoped(session, SubjectRequest, request_id, actor, missing=_(MISSING))
    if request.status in CLOSED:
        raise Conflict(_(CLOSED_MESSAGE))
    return request


def _touch(session: Session, request: SubjectRequest, now: datetime) -> None:
    request.updated_at = now
    session.add(request)
    session.flush()


def _about_another(session: Session, request: SubjectRequest, subject_id: int | None, blind_index: bytes | None) -> bool:
    """Whether the request is about someone else than the person of ``subject_id`` /
    ``blind_index``: by the blind index of the number where both are known (the same number is the
    same person, even with a new key after an erasure), else by the subject."""
    assert request.id is not None
    indexes: set[bytes] = set()
    subjects: set[int] = {request.subject_id} if request.subject_id is not None else set()
    for linked_subject, linked_index in [
        *session.execute(select(SubjectExport.subject_id, SubjectExport.blind_index).where(
            owned_by(SubjectExport, request.account_id), col(SubjectExport.request_id) == request.id)).all(),
        *session.execute(select(SubjectErasure.subject_id, SubjectErasure.blind_index).where(
            owned_by(SubjectErasure, request.account_id), col(SubjectErasure.request_id) == request.id)).all(),
    ]:
        if linked_subject is not None:
            subjects.add(linked_subject)
        if linked_index is not None:
            indexes.add(linked_index)
    if blind_index is not None and request.subject_id is not None and not indexes:
        key_index = session.execute(select(SubjectKey.blind_index).where(
            col(SubjectKey.account_id) == request.account_id, col(SubjectKey.id) == request.subject_id)).scalar()
        if key_index is not None:
            indexes.add(key_index)
    if blind_index is not None and indexes:
        return indexes != {blind_index}
    return subject_id is not None and bool(subjects - {subject_id})


def link_subject(
    session: Session, actor: Actor, request: SubjectRequest, subject_id: int | None, *, now: datetime,
    blind_index: bytes | None = None,
) -> None:
    """The request is about ``subject_id`` (None: the account holds no key for the number; the
    link stays as it was). Conflict when the request is closed, or is about another person (its
    subject, or the person of its export or erasure: by ``blind_index``, the number's blind index,
    where given): the work is then done under a new request."""
    require(actor, Permission.SUBJECTS)
    _own(actor, request)
    if request.status in CLOSED:
        raise Conflict(_(CLOSED_MESSAGE))
    if _about_another(session, request, subject_id, blind_index):
        raise Conflict(_(ANOTHER_PERSON))
    if subject_id is None or request.subject_id is not None:
        return
    request.subject_id = subject_id
    _touch(session, request, now)


def link_erasure(session: Session, actor: Actor, request: SubjectRequest, erasure_id: int, *, now: datetime) -> None:
    """The erasure ``erasure_id`` answered the request: an erasure request is done; a request of
    another kind (an access request whose person then asked to be erased) stays as it was, linked.
    Never refused: the erasure is done already (its person was checked by ``link_subject`` before
    it started)."""
    require(actor, Permission.SUBJECTS)
    _own(actor, request)
    request.erasure_id = erasure_id
    changed: dict[str, object] = {"erasure": erasure_id}
    if request.kind == "erasure" and request.status in OPEN:
        request.status = "done"
        request.closed_at = request.closed_at or now
        changed["status"] = "done"
    _touch(session, request, now)
    _audit(session, actor, Action.SUBJECT_REQUEST_UPDATED, request, now, **changed)


def link_export(session: Session, actor: Actor, request: SubjectRequest, export_id: str, *, now: datetime) -> None:
    """The access export ``export_id`` answers the request; its status stays (the DPO closes it
    once handed over). The export's id is a download token: the audit event of the export names
    the request, not it. Conflict when the request is closed or the export is of another person
    than the request's."""
    require(actor, Permission.SUBJECTS)
    _own(actor, request)
    if request.status in CLOSED:
        raise Conflict(_(CLOSED_MESSAGE))
    export = session.get(SubjectExport, export_id)
    if export is not None and export.account_id == request.account_id and _about_another(
        session, request, export.subject_id, export.blind_index,
    ):
        raise Conflict(_(ANOTHER_PERSON))
    request.export_id = export_id
    _touch(session, request, now)


def _own(actor: Actor, request: SubjectRequest) -> None:
    if request.account_id != actor.account_id:
        raise NotFound(_(MISSING))


# -- reading -------------------------------------------------------------------------------------


def list_requests(
    session: Session, actor: Actor, *, status: str | None = None, page: int | None = None, per_page: int | None = None,
    now: datetime,
) -> Page[RequestView]:
    """The account's requests, newest received first; ``status`` "open" also takes extended ones,
    "overdue" the open ones past their deadline. No notes (they are read one request at a time)."""
    require(actor, Permission.SUBJECTS)
    page, per_page = clamp_page(page, per_page)
    today = today_for(actor, now)
    query = scoped(SubjectRequest, actor)
    if status:
        if status == "open":
            query = query.where(col(SubjectRequest.status).in_(OPEN))
        elif status == "overdue":
            query = query.where(col(SubjectRequest.status).in_(OPEN), _deadline_before(today))
        elif status in STATUSES:
            query = query.where(col(SubjectRequest.status) == status)
        else:
            message = _("Choose a status: open, extended, done, refused or overdue.")
            raise InvalidInput(message, fields={"status": message})
    total = session.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    rows = session.exec(
        query.order_by(col(SubjectRequest.received_on).desc(), col(SubjectRequest.id).desc())
        .offset((page - 1) * per_page).limit(per_page)
    ).all()
    return Page(items=[_view(row, today) for row in rows], total=total, page=page, per_page=per_page)


def _deadline_before(day: date) -> ColumnElement[bool]:
    condition: ColumnElement[bool] = func.coalesce(col(SubjectRequest.extended_until), col(SubjectRequest.due_on)) < day
    return condition


def request_subject(session: Session, account_id: int, reference: str) -> int | None:
    """The data subject the account's request ``reference`` is about (None: no such request, or
    not linked to a subject: the account held no key for the number). The access log's filter by
    reference takes it (``app.state.request_subject``) to find the person's events too."""
    return session.execute(
        select(SubjectRequest.subject_id).where(owned_by(SubjectRequest, account_id), col(SubjectRequest.reference) == reference)
    ).scalar()


def find_request(session: Session, actor: Actor, request_id: int) -> SubjectRequest:
    """The row, without reading its notes (no audit event): for links and checks."""
    require(actor, Permission.SUBJECTS)
    return get_scoped(session, SubjectRequest, request_id, actor, missing=_(MISSING))


def request_view(session: Session, actor: Actor, request_id: int, *, now: datetime) -> RequestView:
    """One request without its notes (no audit event): the answer of a change."""
    return _view(find_request(session, actor, request_id), today_for(actor, now))


def get_request(session: Session, actor: Actor, request_id: int, *, now: datetime) -> RequestView:
    """One request with its notes in clear: an audited read (SUBJECT_REQUEST_VIEWED)."""
    request = find_request(session, actor, request_id)
    notes, unreadable = _open_notes(session, request, now)
    _audit(session, actor, Action.SUBJECT_REQUEST_VIEWED, request, now)
    return _view(request, today_for(actor, now), notes, unreadable)


# -- changing ------------------------------------------------------------------------------------


def update_request(
    session: Session, actor: Actor, request_id: int, *, notes: str | None = None, status: str | None = None,
    extension_reason: str | None = None, now: datetime,
) -> SubjectRequest:
    """The DPO changes the notes (None: unchanged; "": none), the status (open, done, refused;
    "extended" only through an extension) and/or extends the deadline by two months with
    ``extension_reason``."""
    request = find_request(session, actor, request_id)
    changed: dict[str, object] = {}
    if extension_reason is not None and extension_reason.strip():
        _extend(request, extension_reason)
        changed["extended"] = True
    if status is not None and status != request.status:
        if status not in STATUSES or status == "extended":
            message = _("Choose a status: open, done or refused (extend the deadline to make it extended).")
            raise InvalidInput(message, fields={"status": message})
        if status == "open":
            request.status = "extended" if request.extended_until else "open"
            request.closed_at = None
        else:
            request.status = status
            request.closed_at = now
        changed["status"] = request.status
    if notes is not None:
        text = _clean_notes(notes)
        request.notes_ct = _seal_notes(session, request, text, now)
        changed["notes"] = True
    if not changed:
        return request
    _touch(session, request, now)
    _audit(session, actor, Action.SUBJECT_REQUEST_UPDATED, request, now, **changed)
    return request


def extend_request(session: Session, actor: Actor, request_id: int, reason: str, *, now: datetime) -> SubjectRequest:
    """Extends the deadline by two months, once, with a reason (Art. 12(3))."""
    if not (reason or "").strip():
        message = _("Give the reason for the extension.")
        raise InvalidInput(message, fields={"extension_reason": message})
    return update_request(session, actor, request_id, extension_reason=reason, now=now)


def _extend(request: SubjectRequest, reason: str) -> None:
    text = single_line(reason, "extension_reason")
    if len(text) > REASON_LENGTH:
        message = _("Shorten the reason to %(max)d characters.") % {"max": REASON_LENGTH}
        raise InvalidInput(message, fields={"extension_reason": message})
    if request.extended_until is not None:
        message = _("The deadline was extended already; it can be extended only once.")
        raise InvalidInput(message, fields={"extension_reason": message})
    if request.status in CLOSED:
        message = _("The request is closed; reopen it before extending its deadline.")
        raise InvalidInput(message, fields={"extension_reason": message})
    request.extended_until = add_months(request.due_on, EXTENSION_MONTHS)
    request.extension_reason = text
    request.status = "extended"


# -- the dashboard -------------------------------------------------------------------------------


@dataclass(frozen=True)
class DueSoon:
    """Open requests whose deadline is within ``days`` days (``overdue`` of them past it)."""

    count: int
    overdue: int
    requests: Sequence[RequestView] = ()


def due_soon(session: Session, actor: Actor, *, now: datetime, days: int = DUE_SOON_DAYS, limit: int = 20) -> DueSoon:
    """The account's open requests due within ``days`` days, overdue ones included, soonest first
    (an actor without Permission.SUBJECTS gets none: the dashboard asks for every role)."""
    if not actor.can(Permission.SUBJECTS):
        return DueSoon(0, 0)
    today = today_for(actor, now)
    horizon = today + timedelta(days=days)
    query = scoped(SubjectRequest, actor).where(col(SubjectRequest.status).in_(OPEN), _deadline_before(horizon + timedelta(days=1)))
    rows = session.exec(
        query.order_by(func.coalesce(col(SubjectRequest.extended_until), col(SubjectRequest.due_on)), col(SubjectRequest.id))
    ).all()
    views = [_view(row, today) for row in rows]
    return DueSoon(len(views), sum(1 for view in views if view.overdue), views[:limit])
