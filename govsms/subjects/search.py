"""The data-subject search: one number, typed in any format, across every holding of the
personal-data registry of the actor's account, with who accessed the person's data (the access
log). The search reads personal data in clear (group names, a blocklist source), so it is itself
an audited read that names the person (SUBJECT_SEARCHED)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlmodel import Session

from govsms.audit.actions import ACTION_LABELS, Action
from govsms.audit.models import AuditEvent, AuditEventSubject
from govsms.audit.record import record_event
from govsms.auth import Actor, Permission, require
from govsms.db import table_of
from govsms.i18n import _
from govsms.paging import Page, clamp_page
from govsms.personal_data import Found, Holding, Person
from govsms.retention.categories import BY_KEY
from govsms.subjects.models import SubjectRequest
from govsms.subjects.person import person_for
from govsms.subjects.requests import link_subject, request_for
from govsms.tenancy import owned_by

StaffNames = Callable[[Session, int], Mapping[str, str]]
"""How the account names its actors (``state.staff_names``: the accounts domain's)."""

HISTORY_PER_PAGE = 50

_EVENTS, _LINKS = table_of(AuditEvent), table_of(AuditEventSubject)


@dataclass(frozen=True)
class CategoryFound:
    """What the account holds about the person in one data category."""

    key: str
    label: str
    """Translated."""
    found: list[Found]


@dataclass(frozen=True)
class Access:
    """One event of the access log that names the person."""

    seq: int
    occurred_at: datetime
    actor: str
    actor_name: str
    action: str
    label: str
    """The action, translated."""


@dataclass(frozen=True)
class SearchResult:
    person: Person
    categories: list[CategoryFound]
    history: Page[Access]
    """Most recent first; the search's own event is not among them."""
    request: SubjectRequest | None = None
    descriptions: dict[str, str] = field(default_factory=dict)
    """Table -> what personal data it holds (the registry's description, translated)."""

    @property
    def empty(self) -> bool:
        """The account holds nothing about the number (the access log aside)."""
        return not self.categories

    @property
    def rows(self) -> int:
        return sum(found.count for category in self.categories for found in category.found)


def _no_names(_session: Session, _account_id: int) -> Mapping[str, str]:
    return {}


def held_about(session: Session, holdings: Sequence[Holding], person: Person) -> list[CategoryFound]:
    """Each holding's ``find`` (those with nothing about the person left out), per category in
    the registry's order of categories. A find with no rows but something to say (a file that
    could not be checked for the number) is kept: "nothing" is not known there."""
    by_category: dict[str, list[Found]] = {}
    for holding in holdings:
        if holding.find is None:
            continue
        found = holding.find(session, person)
        if found is not None and (found.count > 0 or found.lines):
            by_category.setdefault(holding.category, []).append(found)
    order = list(BY_KEY)
    return [
        CategoryFound(key=key, label=_(BY_KEY[key].label) if key in BY_KEY else key, found=found)
        for key, found in sorted(by_category.items(), key=lambda item: order.index(item[0]) if item[0] in order else len(order))
    ]


def access_history(
    session: Session, actor: Actor, subject_id: int | None, *, page: int = 1, per_page: int = HISTORY_PER_PAGE,
    staff_names: StaffNames = _no_names,
) -> Page[Access]:
    """The account's access-log events that name ``subject_id``, most recent first (through the
    index of events by person: its key starts with the subject id)."""
    page, per_page = clamp_page(page, per_page)
    if subject_id is None:
        return Page(items=[], total=0, page=1, per_page=per_page)
    seqs = select(_LINKS.c.seq).where(_LINKS.c.subject_id == subject_id)
    statement = select(_EVENTS.c.seq, _EVENTS.c.occurred_at, _EVENTS.c.actor, _EVENTS.c.action).where(
        owned_by(_EVENTS, actor), _EVENTS.c.seq.in_(seqs),
    )
    total = session.execute(select(func.count()).select_from(statement.subquery())).scalar_one()
    rows = session.execute(statement.order_by(_EVENTS.c.seq.desc()).offset((page - 1) * per_page).limit(per_page)).all()
    names = {**staff_names(session, actor.account_id), "system": "system"}
    labels = {action.value: _(label) for action, label in ACTION_LABELS.items()}
    return Page(
        items=[
            Access(seq=row.seq, occurred_at=row.occurred_at, actor=row.actor, actor_name=names.get(row.actor, row.actor),
                   action=row.action, label=labels.get(row.action, row.action))
            for row in rows
        ],
        total=total, page=page, per_page=per_page,
    )


def search_subject(
    session: Session, actor: Actor, holdings: Sequence[Holding], raw_number: str, *, request_id: int | None = None,
    now: datetime, staff_names: StaffNames = _no_names, page: int = 1,
) -> SearchResult:
    """What the actor's account holds about the person of ``raw_number`` and who accessed it.
    ``request_id``: the data-subject request the search belongs to (NotFound for another
    account's); it is then linked to the person. Recorded as SUBJECT_SEARCHED naming the person
    (none when the account holds no key for the number) and the request."""
    require(actor, Permission.SUBJECTS)
    person = person_for(session, actor, raw_number, now=now)
    request = request_for(session, actor, request_id, "access", now=now) if request_id is not None else None
    categories = held_about(session, holdings, person)
    history = access_history(session, actor, person.subject_id, page=page, staff_names=staff_names)
    subjects = [person.subject_id] if person.subject_id is not None else []
    record_event(
        session, actor, Action.SUBJECT_SEARCHED, now=now, subjects=subjects,
        target=("subject_request", request.reference) if request is not None else None,
        details={"found": sum(found.count for category in categories for found in category.found), "accesses": history.total},
    )
    if request is not None:
        link_subject(session, actor, request, person.subject_id, now=now, blind_index=person.blind_index)
    return SearchResult(
        person=person, categories=categories, history=history, request=request,
        descriptions={holding.table: _(holding.description) for holding in holdings},
    )
