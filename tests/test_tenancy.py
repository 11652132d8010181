"""One tenancy mechanism: the account filter is written once, in ``govsms.tenancy``, and every
service read and write of account data goes through its helpers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from govsms.contacts.service import create_contact
from govsms.errors import NotFound
from govsms.tenancy import AccountOwned, delete_scoped, get_scoped, scoped
from tests.factories import make_account, now, system

ROOT = Path(__file__).resolve().parent.parent / "govsms"
HAND_WRITTEN = re.compile(r"(\b[A-Z]\w*|\b\w+\.c)\.account_id\s*==\s*(\w+\.)?account_id\b")
"""A model's or a table's ``account_id`` compared with an account id (the actor's, a job's):
the account filter, which ``govsms.tenancy.owned_by`` writes. Joins (``== Account.id``) and
comparisons of a fetched row (``row.account_id == ...``) are not filters and do not match."""


def test_the_pattern_finds_the_account_filter_and_nothing_else():
    for written in ("Dispatch.account_id == actor.account_id", "GROUPS.c.account_id == keys.account_id", "User.account_id == account_id"):
        assert HAND_WRITTEN.search(written), written
    for other in ("users.c.account_id == Account.id", "row.account_id == account_id", "Account.id == User.account_id"):
        assert not HAND_WRITTEN.search(other), other


def test_no_hand_written_account_filter_outside_the_tenancy_helpers():
    found = [
        f"{path.relative_to(ROOT.parent)}:{number}: {line.strip()}"
        for path in sorted(ROOT.rglob("*.py"))
        if path.name != "tenancy.py"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if HAND_WRITTEN.search(line)
    ]
    assert not found, "use govsms.tenancy (scoped, owned_by, get_scoped, delete_scoped) instead of:\n" + "\n".join(found)


def test_the_account_owned_tables_declare_the_column_as_before():
    from govsms import models  # noqa: F401  (every domain's tables)

    owned = {table.__tablename__ for table in _subclasses(AccountOwned) if hasattr(table, "__table__")}
    assert {"contact", "contact_group", "dispatch", "block_entry", "app_user", "api_key"} <= owned
    for table in _subclasses(AccountOwned):
        if hasattr(table, "__table__"):
            column = table.__table__.c.account_id
            assert column.index and not column.nullable
            assert [key.target_fullname for key in column.foreign_keys] == ["account.id"]


def _subclasses(cls: type) -> list[type]:
    return [sub for direct in cls.__subclasses__() for sub in [direct, *_subclasses(direct)]]


def test_scoped_helpers_never_reach_another_accounts_row(session):
    from govsms.contacts.models import Contact

    actor, other = system(make_account(session)), system(make_account(session))
    mine = create_contact(session, actor, number="0701234567", name="", now=now())
    theirs = create_contact(session, other, number="0701234568", name="", now=now())
    assert [contact.id for contact in session.exec(scoped(Contact, actor)).all()] == [mine.id]
    assert get_scoped(session, Contact, mine.id, actor, missing="none").id == mine.id
    with pytest.raises(NotFound, match="none"):
        get_scoped(session, Contact, theirs.id, actor, missing="none")
    assert session.execute(delete_scoped(Contact, actor).where(Contact.id == theirs.id)).rowcount == 0
    assert session.get(Contact, theirs.id) is not None
