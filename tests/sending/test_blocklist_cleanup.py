"""The nightly blocklist clean-up: a blocked number leaves the account's groups and contacts; the
report (the account's event) says how many and from which groups, never which number; another
account's groups stay as they were."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlmodel import Session

from govsms.audit.actions import Action
from govsms.contacts.groups import add_members, create_group
from govsms.contacts.models import Contact, GroupMember
from govsms.db import make_session_factory
from govsms.sending import blocklist
from tests.factories import audit_events, linked_subjects, make_account, make_contact, now, system

BLOCKED = "+46701110001"


def _members(session: Session, group_id: int) -> int:
    return session.execute(select(func.count()).select_from(GroupMember).where(GroupMember.group_id == group_id)).scalar_one()


def test_the_clean_up_removes_a_blocked_number_from_two_groups_and_says_so(session: Session) -> None:
    account, other = make_account(session), make_account(session)
    actor, other_actor = system(account), system(other)
    blocked = make_contact(session, account, number=BLOCKED)
    kept = make_contact(session, account, number="+46701110002")
    elsewhere = make_contact(session, other, number=BLOCKED)  # the same number, not blocked by the other account
    school = create_group(session, actor, name="Skolan", now=now())
    club = create_group(session, actor, name="Klubben", now=now())
    foreign = create_group(session, other_actor, name="Skolan", now=now())
    add_members(session, actor, school.id, [blocked.id, kept.id], now=now())
    add_members(session, actor, club.id, [blocked.id], now=now())
    add_members(session, other_actor, foreign.id, [elsewhere.id], now=now())
    blocklist.block_number(session, actor, BLOCKED, source="manual", now=now())
    session.flush()

    report = blocklist.clean_up_blocked(make_session_factory(session.connection(), vault=session.info["vault"]), now=now())

    assert report == {"accounts": 1, "numbers": 1, "memberships": 2}
    assert _members(session, school.id) == 1 and _members(session, club.id) == 0
    assert session.get(Contact, blocked.id, populate_existing=True) is None
    assert session.get(Contact, kept.id, populate_existing=True) is not None
    assert _members(session, foreign.id) == 1  # another account's group untouched
    assert session.get(Contact, elsewhere.id, populate_existing=True) is not None
    (event,) = audit_events(session, Action.BLOCKLIST_CLEANED, account.id)
    assert BLOCKED not in event.details and BLOCKED[1:] not in event.details
    assert linked_subjects(session, event) == {blocked.subject_id}
    assert audit_events(session, Action.BLOCKLIST_CLEANED, other.id) == []

    last = blocklist.last_clean_up(session, actor)
    assert last is not None and last.numbers == 1 and last.groups == sorted([(school.id, "Skolan"), (club.id, "Klubben")])
    assert blocklist.last_clean_up(session, other_actor) is None

    again = blocklist.clean_up_blocked(make_session_factory(session.connection(), vault=session.info["vault"]), now=now())
    assert again == {"accounts": 0, "numbers": 0, "memberships": 0}
    assert len(audit_events(session, Action.BLOCKLIST_CLEANED, account.id)) == 1  # nothing removed: no new event
