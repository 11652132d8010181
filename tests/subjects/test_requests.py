"""The register of data-subject requests on both backends: references, deadlines (one calendar
month; two more once, with a reason), sealed notes read in clear only as an audited read, the
interface the erasure and the export use (request_for, link_*), due_soon, and nothing of one
account reaches another's DPO."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlmodel import Session

from govsms.auth import Actor, Role
from govsms.errors import Conflict, Forbidden, InvalidInput, NotFound
from govsms.subjects.models import SubjectRequest
from govsms.subjects.requests import (
    add_months,
    due_soon,
    extend_request,
    find_request,
    get_request,
    link_erasure,
    link_export,
    link_subject,
    list_requests,
    register_request,
    request_for,
    update_request,
)
from tests.factories import audit_events, make_account

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)


def dpo(account, user_id: int = 1) -> Actor:  # type: ignore[no-untyped-def]
    return Actor(
        kind="user", id=user_id, account_id=account.id, account_name=account.name, roles=frozenset({Role.DPO}),
        timezone="Europe/Stockholm",
    )


def sender(account) -> Actor:  # type: ignore[no-untyped-def]
    return Actor(kind="user", id=9, account_id=account.id, account_name=account.name, roles=frozenset({Role.SENDER}))


@pytest.mark.parametrize(("received", "months", "due"), [
    (date(2026, 1, 31), 1, date(2026, 2, 28)),
    (date(2028, 1, 31), 1, date(2028, 2, 29)),
    (date(2026, 1, 15), 1, date(2026, 2, 15)),
    (date(2026, 12, 31), 1, date(2027, 1, 31)),
    (date(2026, 3, 31), 2, date(2026, 5, 31)),
    (date(2026, 12, 31), 2, date(2027, 2, 28)),
    (date(2026, 2, 28), 2, date(2026, 4, 28)),
])
def test_calendar_months(received: date, months: int, due: date) -> None:
    assert add_months(received, months) == due


def test_register_numbers_per_account_and_year_and_sets_the_deadline(session: Session) -> None:
    account, other = make_account(session), make_account(session)
    actor = dpo(account)
    first = register_request(session, actor, kind="access", received_on=date(2026, 1, 31), now=NOW)
    second = register_request(session, actor, kind="erasure", now=NOW)
    last_year = register_request(session, actor, kind="objection", received_on=date(2025, 12, 30), now=NOW)
    theirs = register_request(session, dpo(other), kind="access", now=NOW)
    assert (first.reference, second.reference, last_year.reference) == ("DSR-2026-0001", "DSR-2026-0002", "DSR-2025-0001")
    assert theirs.reference == "DSR-2026-0001"
    assert first.due_on == date(2026, 2, 28) and first.status == "open"
    assert second.received_on == date(2026, 3, 10) and second.due_on == date(2026, 4, 10)
    events = audit_events(session, "subject_request.registered", account.id)
    assert [(event.target_type, event.target_id) for event in events] == [
        ("subject_request", "DSR-2026-0001"), ("subject_request", "DSR-2026-0002"), ("subject_request", "DSR-2025-0001"),
    ]
    assert json.loads(events[0].details) == {"request": first.id, "kind": "access"}


def test_the_received_day_is_the_accounts_local_day(session: Session) -> None:
    account = make_account(session)
    late_evening_utc = datetime(2026, 3, 10, 23, 30, tzinfo=UTC)  # 00:30 on the 11th in Stockholm
    request = register_request(session, dpo(account), kind="access", now=late_evening_utc)
    assert request.received_on == date(2026, 3, 11)


@pytest.mark.parametrize(("fields", "field"), [
    ({"kind": "deletion"}, "kind"),
    ({"kind": ""}, "kind"),
    ({"kind": "access", "received_on": date(2026, 3, 11)}, "received_on"),
    ({"kind": "access", "received_on": date(1999, 1, 1)}, "received_on"),
    ({"kind": "access", "notes": "x" * 4001}, "notes"),
    ({"kind": "access", "notes": "called \x00 twice"}, "notes"),
    ({"kind": "access", "notes": "bell \x07"}, "notes"),
])
def test_hostile_registrations_are_refused_by_field(session: Session, fields: dict[str, object], field: str) -> None:
    account = make_account(session)
    with pytest.raises(InvalidInput) as refused:
        register_request(session, dpo(account), now=NOW, **fields)  # type: ignore[arg-type]
    assert field in refused.value.fields
    assert list_requests(session, dpo(account), now=NOW).total == 0


def test_only_the_dpo_keeps_the_register(session: Session) -> None:
    account = make_account(session)
    with pytest.raises(Forbidden):
        register_request(session, sender(account), kind="access", now=NOW)
    with pytest.raises(Forbidden):
        list_requests(session, sender(account), now=NOW)
    assert due_soon(session, sender(account), now=NOW).count == 0


def test_notes_are_sealed_and_reading_them_is_audited(session: Session) -> None:
    account = make_account(session)
    actor = dpo(account)
    request = register_request(session, actor, kind="access", notes="Anna Svensson called\nwants everything", now=NOW)
    raw = session.execute(text("SELECT notes_ct FROM subject_request WHERE id = :id"), {"id": request.id}).scalar_one()
    assert raw and b"Anna" not in bytes(raw) and b"Svensson" not in bytes(raw)
    assert not audit_events(session, "subject_request.viewed", account.id)
    listed = list_requests(session, actor, now=NOW).items[0]
    assert listed.notes is None  # the list opens no notes
    view = get_request(session, actor, request.id, now=NOW)  # type: ignore[arg-type]
    assert view.notes == "Anna Svensson called\nwants everything"
    viewed = audit_events(session, "subject_request.viewed", account.id)
    assert len(viewed) == 1 and viewed[0].target_id == request.reference
    assert "Anna" not in viewed[0].details
    update_request(session, actor, request.id, notes="", now=NOW)  # type: ignore[arg-type]
    assert get_request(session, actor, request.id, now=NOW).notes == ""  # type: ignore[arg-type]


def test_notes_moved_to_another_request_do_not_open(session: Session) -> None:
    account = make_account(session)
    actor = dpo(account)
    one = register_request(session, actor, kind="access", notes="secret one", now=NOW)
    two = register_request(session, actor, kind="access", notes="secret two", now=NOW)
    session.execute(text("UPDATE subject_request SET notes_ct = :ct WHERE id = :id"), {"ct": one.notes_ct, "id": two.id})
    session.expire_all()
    view = get_request(session, actor, two.id, now=NOW)  # type: ignore[arg-type]
    assert view.notes == "" and view.notes_unreadable


def test_extension_once_with_a_reason(session: Session) -> None:
    account = make_account(session)
    actor = dpo(account)
    request = register_request(session, actor, kind="access", received_on=date(2026, 1, 31), now=NOW)
    assert request.id is not None
    with pytest.raises(InvalidInput) as refused:
        extend_request(session, actor, request.id, "   ", now=NOW)
    assert "extension_reason" in refused.value.fields
    with pytest.raises(InvalidInput):
        extend_request(session, actor, request.id, "r" * 201, now=NOW)
    extended = extend_request(session, actor, request.id, "Many systems to search", now=NOW)
    assert (extended.status, extended.extended_until, extended.extension_reason) == ("extended", date(2026, 4, 28), "Many systems to search")
    with pytest.raises(InvalidInput) as again:
        extend_request(session, actor, request.id, "Once more", now=NOW)
    assert "extension_reason" in again.value.fields
    assert extended.extended_until == date(2026, 4, 28)
    updated = audit_events(session, "subject_request.updated", account.id)
    assert json.loads(updated[-1].details) == {"request": request.id, "extended": True}


def test_status_changes(session: Session) -> None:
    account = make_account(session)
    actor = dpo(account)
    request = register_request(session, actor, kind="rectification", now=NOW)
    assert request.id is not None
    for bad in ("extended", "closed", "DONE", ""):
        with pytest.raises(InvalidInput):
            update_request(session, actor, request.id, status=bad, now=NOW)
    done = update_request(session, actor, request.id, status="done", now=NOW)
    assert done.status == "done" and done.closed_at == NOW
    with pytest.raises(InvalidInput):  # a closed request is not extended
        extend_request(session, actor, request.id, "late", now=NOW)
    reopened = update_request(session, actor, request.id, status="open", now=NOW)
    assert reopened.status == "open" and reopened.closed_at is None
    extend_request(session, actor, request.id, "Complex", now=NOW)
    update_request(session, actor, request.id, status="refused", now=NOW)
    assert update_request(session, actor, request.id, status="open", now=NOW).status == "extended"


def test_request_for_and_links(session: Session) -> None:
    account, other = make_account(session), make_account(session)
    actor = dpo(account)
    created = request_for(session, actor, None, "erasure", now=NOW)
    assert (created.kind, created.status, created.received_on, created.reference) == ("erasure", "open", date(2026, 3, 10), "DSR-2026-0001")
    assert created.id is not None
    assert request_for(session, actor, created.id, "access", now=NOW).id == created.id
    with pytest.raises(NotFound):
        request_for(session, dpo(other), created.id, "erasure", now=NOW)
    with pytest.raises(NotFound):
        request_for(session, actor, 987654, "erasure", now=NOW)
    link_subject(session, actor, created, 4242, now=NOW)
    link_subject(session, actor, created, None, now=NOW)  # no key: the link stays
    assert created.subject_id == 4242
    link_export(session, actor, created, "tok", now=NOW)
    assert created.export_id == "tok" and created.status == "open"
    link_erasure(session, actor, created, 17, now=NOW)
    assert (created.erasure_id, created.status, created.closed_at) == (17, "done", NOW)
    with pytest.raises(NotFound):
        link_subject(session, dpo(other), created, 1, now=NOW)
    session.expire_all()
    stored = find_request(session, actor, created.id)
    assert (stored.subject_id, stored.export_id, stored.erasure_id, stored.status) == (4242, "tok", 17, "done")
    done = audit_events(session, "subject_request.updated", account.id)[-1]
    assert done.target_id == "DSR-2026-0001" and json.loads(done.subject_ids) == [4242]


def test_list_pages_and_filters(session: Session) -> None:
    account = make_account(session)
    actor = dpo(account)
    for day in range(1, 8):
        register_request(session, actor, kind="access", received_on=date(2026, 1, day), now=NOW)
    page = list_requests(session, actor, page=2, per_page=3, now=NOW)
    assert page.total == 7 and page.pages == 3 and [view.request.reference for view in page.items] == [
        "DSR-2026-0004", "DSR-2026-0003", "DSR-2026-0002",
    ]
    assert all(view.overdue for view in page.items)  # due in February, now is March
    assert list_requests(session, actor, status="overdue", now=NOW).total == 7
    update_request(session, actor, page.items[0].request.id, status="done", now=NOW)  # type: ignore[arg-type]
    assert list_requests(session, actor, status="done", now=NOW).total == 1
    assert list_requests(session, actor, status="open", now=NOW).total == 6
    with pytest.raises(InvalidInput):
        list_requests(session, actor, status="nonsense", now=NOW)


def test_due_soon_counts_due_within_seven_days_and_overdue(session: Session) -> None:
    account, other = make_account(session), make_account(session)
    actor = dpo(account)
    today = date(2026, 3, 10)
    overdue = register_request(session, actor, kind="access", received_on=date(2026, 2, 9), now=NOW)  # due 9 March
    due_today = register_request(session, actor, kind="access", received_on=date(2026, 2, 10), now=NOW)
    due_in_7 = register_request(session, actor, kind="access", received_on=date(2026, 2, 17), now=NOW)
    register_request(session, actor, kind="access", received_on=date(2026, 2, 18), now=NOW)  # due in 8 days
    closed = register_request(session, actor, kind="access", received_on=date(2026, 2, 1), now=NOW)
    update_request(session, actor, closed.id, status="done", now=NOW)  # type: ignore[arg-type]
    extended = register_request(session, actor, kind="access", received_on=date(2026, 2, 8), now=NOW)
    extend_request(session, actor, extended.id, "Complex", now=NOW)  # type: ignore[arg-type]
    register_request(session, dpo(other), kind="access", received_on=date(2026, 2, 1), now=NOW)
    soon = due_soon(session, actor, now=NOW)
    assert (soon.count, soon.overdue) == (3, 1)
    assert [view.request.id for view in soon.requests] == [overdue.id, due_today.id, due_in_7.id]
    assert due_in_7.due_on == today + timedelta(days=7)
    assert due_soon(session, dpo(other), now=NOW).count == 1


def test_another_accounts_dpo_sees_nothing(session: Session) -> None:
    account, other = make_account(session), make_account(session)
    request = register_request(session, dpo(account), kind="access", notes="private", now=NOW)
    assert request.id is not None
    stranger = dpo(other, user_id=2)
    assert list_requests(session, stranger, now=NOW).total == 0
    for call in (
        lambda: get_request(session, stranger, request.id, now=NOW),  # type: ignore[arg-type]
        lambda: update_request(session, stranger, request.id, notes="mine", now=NOW),  # type: ignore[arg-type]
        lambda: extend_request(session, stranger, request.id, "mine", now=NOW),  # type: ignore[arg-type]
        lambda: link_erasure(session, stranger, request, 1, now=NOW),
        lambda: link_export(session, stranger, request, "x", now=NOW),
    ):
        with pytest.raises(NotFound):
            call()
    assert not audit_events(session, "subject_request.viewed", other.id)
    assert get_request(session, dpo(account), request.id, now=NOW).notes == "private"


def test_references_stay_unique_when_dpos_register_at_the_same_moment(own_database_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Eight registrations at once in one account: each gets its own number, none is lost (on
    PostgreSQL the loser of a race on the unique reference takes the next number)."""
    import threading

    from govsms.db import make_engine, make_session_factory, session_scope
    from govsms.keys.ring import load_key_ring
    from govsms.keys.store import Vault
    from tests.conftest import make_settings

    engine = make_engine(own_database_url)
    factory = make_session_factory(engine, vault=Vault(load_key_ring(make_settings(tmp_path))))
    with session_scope(factory) as session:
        account = make_account(session)
        actor = dpo(account)
    start, failures, references = threading.Barrier(8), [], []

    def register() -> None:
        try:
            start.wait()
            with session_scope(factory) as session:
                references.append(register_request(session, actor, kind="access", now=NOW).reference)
        except Exception as error:  # noqa: BLE001 - reported below
            failures.append(error)

    threads = [threading.Thread(target=register) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    engine.dispose()
    assert failures == []
    assert sorted(references) == [f"DSR-2026-{n:04d}" for n in range(1, 9)]


def test_numbering_goes_past_9999_in_a_year(session: Session) -> None:
    account = make_account(session)
    actor = dpo(account)
    session.add(SubjectRequest(
        account_id=account.id, reference="DSR-2026-9999", kind="access", status="open", received_on=date(2026, 1, 2),
        due_on=date(2026, 2, 2), created_by="user:1", created_at=NOW, updated_at=NOW,
    ))
    session.flush()
    assert register_request(session, actor, kind="access", now=NOW).reference == "DSR-2026-10000"
    assert register_request(session, actor, kind="access", now=NOW).reference == "DSR-2026-10001"  # not 9999 again
    assert register_request(session, dpo(make_account(session)), kind="access", now=NOW).reference == "DSR-2026-0001"


def test_a_closed_request_takes_no_new_work(session: Session) -> None:
    account = make_account(session)
    actor = dpo(account)
    done = register_request(session, actor, kind="access", now=NOW)
    refused = register_request(session, actor, kind="erasure", now=NOW)
    update_request(session, actor, done.id, status="done", now=NOW)
    update_request(session, actor, refused.id, status="refused", now=NOW)
    for closed in (done, refused):
        with pytest.raises(Conflict, match="closed"):
            request_for(session, actor, closed.id, "erasure", now=NOW)
        with pytest.raises(Conflict, match="closed"):
            link_subject(session, actor, closed, 4242, now=NOW)
        with pytest.raises(Conflict, match="closed"):
            link_export(session, actor, closed, "tok", now=NOW)
    assert (done.subject_id, done.export_id) == (None, None)
    update_request(session, actor, done.id, status="open", now=NOW)  # reopened, it takes work again
    assert request_for(session, actor, done.id, "access", now=NOW).id == done.id


def test_a_request_about_one_person_is_refused_for_another(session: Session) -> None:
    account = make_account(session)
    actor = dpo(account)
    request = register_request(session, actor, kind="access", now=NOW)
    link_subject(session, actor, request, 4242, now=NOW)
    link_subject(session, actor, request, 4242, now=NOW)  # the same person again
    with pytest.raises(Conflict) as another:
        link_subject(session, actor, request, 4343, now=NOW)
    assert another.value.message == "This request is about another person: register a new one."
    assert request.subject_id == 4242


def test_an_erasure_closes_only_an_erasure_request(session: Session) -> None:
    account = make_account(session)
    actor = dpo(account)
    access = register_request(session, actor, kind="access", now=NOW)
    erasure = register_request(session, actor, kind="erasure", now=NOW)
    link_erasure(session, actor, access, 17, now=NOW)
    link_erasure(session, actor, erasure, 18, now=NOW)
    assert (access.erasure_id, access.status, access.closed_at) == (17, "open", None)
    assert (erasure.erasure_id, erasure.status, erasure.closed_at) == (18, "done", NOW)

