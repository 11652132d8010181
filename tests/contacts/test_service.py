"""Contacts, groups and import at the service level, on both backends."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select
from sqlmodel import Session

from govsms.auth import Role
from govsms.accounts.login import actor_for_user
from govsms.audit.models import AuditEventSubject
from govsms.contacts import groups, importing, service
from govsms.contacts.filereader import write_csv, write_xlsx
from govsms.contacts.models import Contact
from govsms.errors import Conflict, Forbidden, InvalidInput, NotFound
from tests.factories import audit_events, make_account, make_user, now


def sender(session: Session, account=None):  # type: ignore[no-untyped-def]
    account = account or make_account(session)
    user, _ = make_user(session, account, roles={Role.SENDER})
    return actor_for_user(user, account)


def test_create_read_update_delete(session: Session) -> None:
    actor = sender(session)
    group = groups.create_group(session, actor, name="Personal", now=now())
    created = service.create_contact(session, actor, number="070-123 45 67", name="Åsa Öberg", note="Föredrar sms", group_ids=[group.id], now=now())
    assert created.number == "+46701234567" and created.group_ids == (group.id,)
    stored = session.get(Contact, created.id)
    assert b"46701234567" not in stored.number_ct and "Åsa".encode() not in stored.name_ct  # type: ignore[union-attr,operator]
    viewed = service.get_contact(session, actor, created.id, now=now())
    assert (viewed.name, viewed.note) == ("Åsa Öberg", "Föredrar sms")
    with pytest.raises(Conflict):
        service.create_contact(session, actor, number="+46701234567", now=now())
    changed = service.update_contact(session, actor, created.id, number="0702223344", name="Åsa Ö.", now=now())
    assert changed.number == "+46702223344" and changed.name == "Åsa Ö." and changed.note == "Föredrar sms"
    service.delete_contact(session, actor, created.id, now=now())
    with pytest.raises(NotFound):
        service.get_contact(session, actor, created.id, now=now())


def test_bad_number_is_refused_with_reason(session: Session) -> None:
    actor = sender(session)
    with pytest.raises(InvalidInput) as refused:
        service.create_contact(session, actor, number="0701", now=now())
    assert "number" in refused.value.fields


def test_reads_are_audited_with_the_people_shown(session: Session) -> None:
    actor = sender(session)
    first = service.create_contact(session, actor, number="0701111111", name="Ett", now=now())
    second = service.create_contact(session, actor, number="0702222222", name="Två", now=now())
    service.get_contact(session, actor, first.id, now=now())
    page = service.list_contacts(session, actor, now=now())
    assert {view.name for view in page.items} == {"Ett", "Två"}
    viewed = audit_events(session, "contact.viewed")[-1]
    assert viewed.actor == actor.label and json.loads(viewed.subject_ids) == [first.subject_id]
    listed = audit_events(session, "contacts.listed")[-1]
    assert set(json.loads(listed.subject_ids)) == {first.subject_id, second.subject_id}
    linked = session.execute(select(AuditEventSubject.seq).where(AuditEventSubject.subject_id == first.subject_id)).scalars().all()
    assert viewed.seq in linked and listed.seq in linked
    for event in audit_events(session, "contact.viewed") + audit_events(session, "contacts.listed"):
        assert "Ett" not in event.details and "070" not in event.details


def test_search_by_number_finds_exactly_that_contact(session: Session) -> None:
    actor = sender(session)
    for n in range(5):
        service.create_contact(session, actor, number=f"070{n}000000", now=now())
    found = service.list_contacts(session, actor, number="+46 70 300 00 00", now=now())
    assert [view.number for view in found.items] == ["+46703000000"]
    assert service.list_contacts(session, actor, number="0709999999", now=now()).total == 0
    assert audit_events(session, "contacts.searched")


def test_contacts_are_scoped_to_the_account(session: Session) -> None:
    mine, theirs = sender(session), sender(session)
    their_contact = service.create_contact(session, theirs, number="0701234567", now=now())
    their_group = groups.create_group(session, theirs, name="Deras", now=now())
    with pytest.raises(NotFound):
        service.get_contact(session, mine, their_contact.id, now=now())
    with pytest.raises(NotFound):
        service.update_contact(session, mine, their_contact.id, name="x", now=now())
    with pytest.raises(NotFound):
        service.delete_contact(session, mine, their_contact.id, now=now())
    with pytest.raises(NotFound):
        groups.get_group(session, mine, their_group.id)
    with pytest.raises(NotFound):
        service.list_contacts(session, mine, group_id=their_group.id, now=now())
    my_group = groups.create_group(session, mine, name="Mina", now=now())
    with pytest.raises(NotFound):
        groups.add_members(session, mine, my_group.id, [their_contact.id], now=now())
    assert service.list_contacts(session, mine, number="0701234567", now=now()).total == 0
    assert service.list_contacts(session, mine, now=now()).total == 0


def test_auditor_cannot_read_contacts(session: Session) -> None:
    account = make_account(session)
    auditor, _ = make_user(session, account, roles={Role.AUDITOR})
    with pytest.raises(Forbidden):
        service.list_contacts(session, actor_for_user(auditor, account), now=now())


def test_groups_and_members(session: Session) -> None:
    actor = sender(session)
    group = groups.create_group(session, actor, name="Styrelsen", now=now())
    with pytest.raises(Conflict):
        groups.create_group(session, actor, name="Styrelsen", now=now())
    ids = [service.create_contact(session, actor, number=f"07011{n}0000", now=now()).id for n in range(3)]
    assert groups.add_members(session, actor, group.id, ids, now=now()) == 3
    assert groups.add_members(session, actor, group.id, ids[:1], now=now()) == 1  # already a member: no error
    assert [summary.members for summary in groups.list_groups(session, actor)] == [3]
    assert groups.remove_members(session, actor, group.id, ids[:2], now=now()) == 2
    assert service.list_contacts(session, actor, group_id=group.id, now=now()).total == 1
    groups.delete_group(session, actor, group.id, now=now())
    assert service.list_contacts(session, actor, now=now()).total == 3


def import_file(rows: list[tuple[str, str]], fmt: str = "xlsx") -> bytes:
    return (write_xlsx if fmt == "xlsx" else write_csv)(rows, ("Mobilnummer", "Namn"))


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_import_preview_then_import_into_a_group(session: Session, fmt: str) -> None:
    actor = sender(session)
    service.create_contact(session, actor, number="0701000001", name="Finns redan", now=now())
    rows = [("0701000001", "Finns redan"), ("070-100 00 02", "Björn"), ("abc", "Fel"), ("+46701000002", "Dubbel"), ("0701", "Kort"), ("+4741234567", "Norsk")]
    content = import_file(rows, fmt)
    plan = importing.plan_import(session, actor, f"lista.{fmt}", content, now=now())
    assert plan.rows_total == 6 and len(plan.valid) == 3 and plan.existing == 1
    assert [(row.row_number, row.input) for row in plan.invalid] == [(4, "abc"), (6, "0701")]
    assert all(row.reason for row in plan.invalid)
    assert [(row.row_number, row.first_row) for row in plan.duplicates] == [(5, 3)]
    before = service.list_contacts(session, actor, now=now()).total
    result = importing.run_import(session, actor, plan, group_name="Från fil", now=now())
    assert (result.created, result.existing, result.in_group) == (2, 1, 3)
    members = service.list_contacts(session, actor, group_id=result.group_id, now=now())
    assert {view.number for view in members.items} == {"+46701000001", "+46701000002", "+4741234567"}
    assert service.list_contacts(session, actor, now=now()).total == before + 2
    imported = audit_events(session, "contacts.imported")[-1]
    assert len(json.loads(imported.subject_ids)) == 3


def test_import_with_nothing_valid_writes_nothing(session: Session) -> None:
    actor = sender(session)
    plan = importing.plan_import(session, actor, "x.csv", import_file([("abc", "x")], "csv"), now=now())
    with pytest.raises(InvalidInput):
        importing.run_import(session, actor, plan, group_name="Tom", now=now())
    assert groups.list_groups(session, actor) == []


def test_upload_is_kept_encrypted_for_its_account_only(session: Session) -> None:
    actor, other = sender(session), sender(session)
    content = import_file([("0701234567", "Åsa")])
    token = importing.store_upload(session, actor, "kunder_åsa.xlsx", content, now=now())
    assert importing.load_upload(session, actor, token, now=now()) == ("kunder_åsa.xlsx", content)
    with pytest.raises(NotFound):
        importing.load_upload(session, other, token, now=now())


def test_export_is_audited(session: Session) -> None:
    actor = sender(session)
    for n in range(3):
        service.create_contact(session, actor, number=f"07055{n}0000", name=f"Namn {n}", now=now())
    name, content = service.export_contacts(session, actor, file_format="csv", now=now())
    assert name.endswith(".csv") and b"+46705500000" in content and b"Namn 2" in content
    exported = audit_events(session, "contacts.exported")[-1]
    assert len(json.loads(exported.subject_ids)) == 3 and json.loads(exported.details)["rows"] == 3
