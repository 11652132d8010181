"""Group names and descriptions are free text a customer may fill with names: they are stored
sealed under the account's data key, unique per account through a keyed index of the normalised
name, sorted after decryption, and groups named in clear before are sealed by ``govsms db upgrade``
(or when they are next read). Both backends."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from litestar.testing import TestClient
from sqlalchemy import text
from sqlmodel import Session

from govsms.accounts.models import Account
from govsms.auth import Role
from govsms.contacts import groups
from govsms.contacts.models import ContactGroup
from govsms.db import make_engine, make_session_factory, session_scope
from govsms.errors import Conflict, InvalidInput, NotFound
from govsms.keys.ring import load_key_ring
from govsms.keys.store import Vault
from govsms.migrate import upgrade
from tests.conftest import (
    BACKENDS, TEST_MASTER_KEYS, TEST_SECRET_KEY, TEST_SIGNING_KEY, drop_postgres_database, fresh_database_url, make_settings,
)
from tests.cli import govsms
from tests.factories import make_account, make_api_key, make_user, now, system
from tests.web_helpers import login

NAME, DESCRIPTION = "Vårdnadshavare till Elvira Gunnarsdotter", "Ring Elviras pappa 070-765 43 21"
BEFORE_SEALING = "a10b0c0d0e03"


def stored_row(session: Session, group_id: int) -> dict[str, object]:
    row = session.execute(text("SELECT * FROM contact_group WHERE id = :id"), {"id": group_id}).mappings().one()
    return dict(row)


def readable(row: dict[str, object], value: str) -> bool:
    return any(
        value.encode() in (bytes(field) if isinstance(field, (bytes, memoryview)) else str(field).encode())
        for field in row.values() if field is not None
    )


def test_name_and_description_are_stored_sealed(session: Session) -> None:
    actor = system(make_account(session))
    group = groups.create_group(session, actor, name=NAME, description=DESCRIPTION, now=now())
    assert (group.name, group.description) == (NAME, DESCRIPTION)
    row = stored_row(session, group.id)
    for value in (NAME, "Gunnarsdotter", DESCRIPTION, "765 43 21"):
        assert not readable(row, value), f"{value!r} readable in contact_group"
    assert [(summary.group.name, summary.group.description) for summary in groups.list_groups(session, actor)] == [(NAME, DESCRIPTION)]
    assert groups.get_group(session, actor, group.id).name == NAME
    groups.update_group(session, actor, group.id, name="Elviras klass", description="", now=now())
    row = stored_row(session, group.id)
    assert not readable(row, "Elviras klass") and not readable(row, "Gunnarsdotter")
    assert (groups.get_group(session, actor, group.id).name, groups.get_group(session, actor, group.id).description) == ("Elviras klass", "")


def test_a_name_is_unique_per_account_whatever_its_case_and_spacing(session: Session) -> None:
    mine, theirs = system(make_account(session)), system(make_account(session))
    first = groups.create_group(session, mine, name="Styrelsen", now=now())
    for same in ("Styrelsen", "styrelsen", "  STYRELSEN ", "Styrelsen\t"):
        with pytest.raises(Conflict):
            groups.create_group(session, mine, name=same, now=now())
    other = groups.create_group(session, mine, name="Personal", now=now())
    with pytest.raises(Conflict):
        groups.update_group(session, mine, other.id, name="styrelsen", now=now())
    groups.update_group(session, mine, first.id, name="STYRELSEN", now=now())  # its own name, other case: allowed
    assert groups.get_group(session, mine, first.id).name == "STYRELSEN"
    theirs_group = groups.create_group(session, theirs, name="Styrelsen", now=now())  # another account: free
    # The index is keyed per account: the same name leaves no common trace between accounts.
    assert stored_row(session, first.id)["name_index"] != stored_row(session, theirs_group.id)["name_index"]
    groups.delete_group(session, mine, first.id, now=now())
    groups.create_group(session, mine, name="Styrelsen", now=now())  # a deleted group's name is free again


def test_groups_are_sorted_by_their_decrypted_names(session: Session) -> None:
    actor = system(make_account(session))
    for name in ("Örebro", "anställda", "Bollklubben", "Ängelholm", "Anhöriga"):
        groups.create_group(session, actor, name=name, now=now())
    names = [summary.group.name for summary in groups.list_groups(session, actor)]
    assert names == sorted(names, key=lambda name: (name.casefold(), name)) and len(names) == 5


def test_another_accounts_group_is_not_found(session: Session) -> None:
    mine, theirs = system(make_account(session)), system(make_account(session))
    their_group = groups.create_group(session, theirs, name=NAME, now=now())
    with pytest.raises(NotFound):
        groups.get_group(session, mine, their_group.id)
    with pytest.raises(NotFound):
        groups.update_group(session, mine, their_group.id, name="Kapad", now=now())
    assert groups.list_groups(session, mine) == []
    assert groups.get_group(session, theirs, their_group.id).name == NAME


def test_a_group_whose_name_does_not_decrypt_is_shown_as_such(session: Session, client: TestClient) -> None:
    """A name moved in from another group (or altered) does not decrypt: that group says so,
    the others are listed as usual, and the access log has an error event naming the row."""
    account = make_account(session)
    actor = system(account)
    first = groups.create_group(session, actor, name="Första", now=now())
    second = groups.create_group(session, actor, name="Andra", now=now())
    moved = stored_row(session, first.id)["name_ct"]
    session.execute(text("UPDATE contact_group SET name_ct = :moved WHERE id = :id"), {"moved": moved, "id": second.id})
    shown = {summary.group.id: summary.group for summary in groups.list_groups(session, actor, now=now())}
    assert shown[first.id].name == "Första" and not shown[first.id].unreadable
    assert shown[second.id].unreadable and shown[second.id].name == "cannot be read"
    events = session.execute(text(
        "SELECT target_type, target_id FROM audit_event WHERE action = 'data.unreadable' AND account_id = :account"
    ), {"account": account.id}).all()
    assert ("contact_group", str(second.id)) in [tuple(event) for event in events]
    _key, secret = make_api_key(session, account, roles={Role.SENDER})
    listed = client.get("/api/v1/groups", headers={"Authorization": f"Bearer {secret}"})
    assert listed.status_code == 200
    assert {group["id"]: group["unreadable"] for group in listed.json()} == {first.id: False, second.id: True}
    user, password = make_user(session, account, roles={Role.SENDER}, language="en")
    login(client, user.email, password)
    for path in ("/groups", f"/groups/{second.id}", "/contacts", "/send"):
        page = client.get(path)
        assert page.status_code == 200 and "cannot be read" in page.text, path
    renamed = groups.update_group(session, actor, second.id, name="Andra igen", now=now())  # a new name mends it
    assert groups.get_group(session, actor, renamed.id).name == "Andra igen"


@pytest.mark.parametrize("bad", ["", "   ", "x" * 101, "a\x00b", "\ud800"])
def test_bad_names_are_refused(session: Session, bad: str) -> None:
    actor = system(make_account(session))
    with pytest.raises(InvalidInput):
        groups.create_group(session, actor, name=bad, now=now())


def test_the_api_shows_names_in_clear_and_stores_them_sealed(client: TestClient, session: Session) -> None:
    account = make_account(session)
    _key, secret = make_api_key(session, account, roles={Role.SENDER})
    headers = {"Authorization": f"Bearer {secret}"}
    created = client.post("/api/v1/groups", json={"name": NAME, "description": DESCRIPTION}, headers=headers)
    assert created.status_code == 201 and created.json()["name"] == NAME
    group_id = created.json()["id"]
    assert not readable(stored_row(session, group_id), "Gunnarsdotter")
    again = client.post("/api/v1/groups", json={"name": NAME.upper()}, headers=headers)
    assert again.status_code == 409
    assert client.get(f"/api/v1/groups/{group_id}", headers=headers).json()["description"] == DESCRIPTION
    renamed = client.patch(f"/api/v1/groups/{group_id}", json={"name": "Elviras klass"}, headers=headers)
    assert renamed.status_code == 200 and renamed.json()["name"] == "Elviras klass"
    assert [group["name"] for group in client.get("/api/v1/groups", headers=headers).json()] == ["Elviras klass"]
    assert client.post("/api/v1/groups", json={"name": "x" * 101}, headers=headers).status_code == 422
    other = make_account(session)
    _other_key, other_secret = make_api_key(session, other, roles={Role.SENDER})
    assert client.get(f"/api/v1/groups/{group_id}", headers={"Authorization": f"Bearer {other_secret}"}).status_code == 404


# -- groups named in clear before names were sealed ------------------------------------------------

# Two names that differ only in case were allowed before: both stay, and both are still found.
LEGACY = [("Föräldrar till Elvira Gunnarsdotter", "Elviras pappa 070-765 43 21"), ("Styrelsen", ""), ("STYRELSEN", "versaler")]


def _plant_clear_groups(url: str) -> int:
    """A database as the release before left it: groups with clear names."""
    upgrade(url, BEFORE_SEALING)
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO account (name, org_number, billing_address, is_provider, is_active, default_region, timezone, created_at)"
            " VALUES ('Gammal kommun', '', '', false, true, 'SE', 'Europe/Stockholm', '2026-01-01 00:00:00')"
        ))
        account_id = connection.execute(text("SELECT id FROM account WHERE name = 'Gammal kommun'")).scalar_one()
        for name, description in LEGACY:
            connection.execute(
                text("INSERT INTO contact_group (account_id, name, description, created_at) VALUES (:account, :name, :description, '2026-01-01 00:00:00')"),
                {"account": account_id, "name": name, "description": description},
            )
    engine.dispose()
    return account_id


@pytest.mark.parametrize("backend", BACKENDS)
def test_db_upgrade_seals_the_names_stored_in_clear_before(backend: str, tmp_path: Path) -> None:
    url = fresh_database_url(backend, tmp_path)
    try:
        account_id = _plant_clear_groups(url)
        env = {key: value for key, value in os.environ.items() if not key.startswith("GOVSMS_")}
        env.update(GOVSMS_DATA_DIR=str(tmp_path / "var"), GOVSMS_DATABASE_URL=url, GOVSMS_MASTER_KEYS=TEST_MASTER_KEYS,
                   GOVSMS_SECRET_KEY=TEST_SECRET_KEY, GOVSMS_AUDIT_SIGNING_KEY=TEST_SIGNING_KEY)
        result = govsms(env, "db", "upgrade")
        assert result.returncode == 0, result.stderr
        assert "3 group names" in result.stdout
        engine = make_engine(url)
        factory = make_session_factory(engine, vault=Vault(load_key_ring(make_settings(tmp_path))))
        with session_scope(factory) as session:
            for row in session.execute(text("SELECT * FROM contact_group")).mappings():
                for name, description in LEGACY:
                    assert not readable(dict(row), name) and not (description and readable(dict(row), description))
            actor = system(session.get(Account, account_id))  # type: ignore[arg-type]
            shown = {(summary.group.name, summary.group.description) for summary in groups.list_groups(session, actor)}
            assert shown == set(LEGACY)
            with pytest.raises(Conflict):
                groups.create_group(session, actor, name="Föräldrar till Elvira Gunnarsdotter", now=now())
        engine.dispose()
        again = govsms(env, "db", "upgrade")
        assert again.returncode == 0 and "group names" not in again.stdout  # nothing left to seal
        if backend == "sqlite":
            database = Path(url.removeprefix("sqlite:///"))
            raw = b"".join(file.read_bytes() for file in database.parent.glob(database.name + "*"))
            assert b"Gunnarsdotter" not in raw and b"765 43 21" not in raw
    finally:
        if backend == "postgresql":
            drop_postgres_database(url)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_group_still_in_clear_is_sealed_when_it_is_read(backend: str, tmp_path: Path) -> None:
    """Upgraded without the data step (Alembic run by hand): reading the groups seals them."""
    url = fresh_database_url(backend, tmp_path)
    try:
        account_id = _plant_clear_groups(url)
        upgrade(url)
        engine = make_engine(url)
        factory = make_session_factory(engine, vault=Vault(load_key_ring(make_settings(tmp_path))))
        with session_scope(factory) as session:
            actor = system(session.get(Account, account_id))  # type: ignore[arg-type]
            shown = sorted(summary.group.name for summary in groups.list_groups(session, actor))
            assert shown == sorted(name for name, _description in LEGACY)
        with session_scope(factory) as session:
            rows = [dict(row) for row in session.execute(text("SELECT * FROM contact_group")).mappings()]
            assert rows and all(row["name_ct"] and row["name_index"] for row in rows)
            assert not any(readable(row, "Gunnarsdotter") for row in rows)
            assert session.get(ContactGroup, rows[0]["id"]) is not None
        engine.dispose()
    finally:
        if backend == "postgresql":
            drop_postgres_database(url)
