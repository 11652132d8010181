"""The account's own storage times on both backends: capped by the provider's maximum, validated,
set by the admin or the DPO only, audited, and one account's choice never touches another's."""

from __future__ import annotations

import json

import pytest
from sqlmodel import Session

from govsms.auth import Actor, Role
from govsms.errors import Forbidden, InvalidInput, NotFound
from govsms.retention.categories import CATEGORIES
from govsms.retention.service import (
    account_storage_times,
    set_storage_time,
    set_storage_times_for,
    storage_time_in_force,
    storage_times_for,
)
from tests.factories import audit_events, make_account, now, system


def _actor(account, role: Role) -> Actor:  # type: ignore[no-untyped-def]
    return Actor(kind="user", id=1, account_id=account.id, account_name=account.name, roles=frozenset({role}))


def test_without_a_choice_the_providers_maximum_is_in_force(session: Session) -> None:
    account = make_account(session)
    times = {time.category.key: time for time in storage_times_for(session, system(account))}
    assert list(times) == [category.key for category in CATEGORIES]
    for category in CATEGORIES:
        assert times[category.key].chosen is None
        assert storage_time_in_force(session, account.id, category.key) == category.default_days
    with pytest.raises(NotFound):
        storage_time_in_force(session, account.id, "nonsense")


def test_the_choice_is_capped_by_the_providers_maximum(session: Session) -> None:
    provider, account = make_account(session, is_provider=True), make_account(session)
    set_storage_times_for(session, system(account), {"outbound_messages": 60, "contacts": 500}, now=now())
    assert storage_time_in_force(session, account.id, "outbound_messages") == 60
    assert storage_time_in_force(session, account.id, "contacts") == 500  # "until deleted" takes days too
    # The provider lowers its maximum below the choice: the maximum wins at once.
    set_storage_time(session, system(provider), "outbound_messages", 45, now=now())
    assert storage_time_in_force(session, account.id, "outbound_messages") == 45
    time = next(time for time in account_storage_times(session, account.id) if time.category.key == "outbound_messages")
    assert (time.maximum, time.chosen, time.in_force) == (45, 60, 45)
    # ... and raises it again: the account's own choice is back in force.
    set_storage_time(session, system(provider), "outbound_messages", 120, now=now())
    assert storage_time_in_force(session, account.id, "outbound_messages") == 60
    set_storage_time(session, system(provider), "contacts", None, now=now())
    assert storage_time_in_force(session, account.id, "contacts") == 500


def test_choices_are_validated_and_nothing_is_half_saved(session: Session) -> None:
    account = make_account(session)
    actor = system(account)
    with pytest.raises(InvalidInput) as refused:
        set_storage_times_for(
            session, actor,
            {"outbound_messages": 91, "users": 0, "access_log": 364, "nonsense": 5, "contacts": 3651, "inbound_messages": 10},
            now=now(),
        )
    fields = refused.value.fields
    assert set(fields) == {"outbound_messages", "users", "access_log", "nonsense", "contacts"}
    assert fields["outbound_messages"] == "Give a number of days from 1 to 90."
    assert fields["access_log"] == "Give a number of days from 365 to 730."
    assert fields["contacts"] == "Give a number of days from 1 to 3650."
    assert fields["nonsense"] == "No such data category."
    assert storage_time_in_force(session, account.id, "inbound_messages") == 90  # the valid one was not saved either
    for wrong in (True, 2.5, "30"):
        with pytest.raises(InvalidInput, match="not saved"):
            set_storage_times_for(session, actor, {"users": wrong}, now=now())  # type: ignore[dict-item]
    # The maximum itself may be chosen; an only choice (uploads: 1 day) is refused for anything else.
    set_storage_times_for(session, actor, {"outbound_messages": 90, "import_files": 1}, now=now())
    with pytest.raises(InvalidInput):
        set_storage_times_for(session, actor, {"import_files": 2}, now=now())
    assert not next(time for time in account_storage_times(session, account.id) if time.category.key == "import_files").choosable


def test_only_the_admin_and_the_dpo_choose(session: Session) -> None:
    account = make_account(session)
    for role in (Role.ADMIN, Role.DPO):
        set_storage_times_for(session, _actor(account, role), {"users": 10}, now=now())
        assert storage_times_for(session, _actor(account, role))
    for role in (Role.SENDER, Role.AUDITOR, Role.OPERATOR):
        with pytest.raises(Forbidden):
            set_storage_times_for(session, _actor(account, role), {"users": 3}, now=now())
        with pytest.raises(Forbidden):
            storage_times_for(session, _actor(account, role))
    assert storage_time_in_force(session, account.id, "users") == 10


def test_each_change_is_one_audit_event_without_personal_data(session: Session) -> None:
    account = make_account(session)
    actor = _actor(account, Role.DPO)
    set_storage_times_for(session, actor, {"outbound_messages": 30, "users": 30}, now=now())  # users: the maximum, chosen
    set_storage_times_for(session, actor, {"outbound_messages": 30}, now=now())  # unchanged: no event
    set_storage_times_for(session, actor, {"outbound_messages": None}, now=now())  # dropped: the maximum again
    events = audit_events(session, "retention.account_storage_time_changed", account.id)
    assert [(event.target_type, event.target_id, event.actor) for event in events] == [
        ("data_category", "outbound_messages", "user:1"), ("data_category", "users", "user:1"), ("data_category", "outbound_messages", "user:1"),
    ]
    assert [json.loads(event.details) for event in events] == [
        {"before": "maximum", "after": 30, "in_force": 30},
        {"before": "maximum", "after": 30, "in_force": 30},
        {"before": 30, "after": "maximum", "in_force": 90},
    ]
    assert storage_time_in_force(session, account.id, "outbound_messages") == 90


def test_one_accounts_choice_never_touches_another_account(session: Session) -> None:
    first, second = make_account(session), make_account(session)
    set_storage_times_for(session, system(first), {"outbound_messages": 7, "contacts": 100}, now=now())
    set_storage_times_for(session, system(second), {"outbound_messages": 60}, now=now())
    assert storage_time_in_force(session, first.id, "outbound_messages") == 7
    assert storage_time_in_force(session, second.id, "outbound_messages") == 60
    assert storage_time_in_force(session, second.id, "contacts") is None
    set_storage_times_for(session, system(second), {"outbound_messages": None}, now=now())
    assert storage_time_in_force(session, first.id, "outbound_messages") == 7
    assert {time.category.key: time.chosen for time in storage_times_for(session, system(second))}["outbound_messages"] is None
    assert audit_events(session, "retention.account_storage_time_changed", first.id)[0].account_id == first.id
    assert len(audit_events(session, "retention.account_storage_time_changed", second.id)) == 2


def test_a_choice_made_at_the_same_moment_is_a_conflict(session: Session) -> None:
    from sqlalchemy import event, insert

    from govsms.db import table_of
    from govsms.errors import Conflict
    from govsms.retention.models import RetentionChoice

    account = make_account(session)

    def other_request_first(flushing: Session, _context: object, _instances: object) -> None:
        if any(isinstance(row, RetentionChoice) for row in flushing.new):
            flushing.connection().execute(insert(table_of(RetentionChoice)).values(
                account_id=account.id, category="users", days=3, updated_by="user:2", updated_at=now(),
            ))

    event.listen(session, "before_flush", other_request_first)
    try:
        with pytest.raises(Conflict, match="same moment"):
            set_storage_times_for(session, system(account), {"users": 5}, now=now())
    finally:
        event.remove(session, "before_flush", other_request_first)
    assert storage_time_in_force(session, account.id, "users") == 30  # the session goes on: nothing half-written
    assert audit_events(session, "retention.account_storage_time_changed", account.id) == []
