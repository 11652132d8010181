"""The personal-data registry covers every table that holds personal data: a table with a subject
id, a sealed (``*_ct``) column or a blind index and no declaration fails here; each declaration
names a real table, real columns and a real retention category."""

from __future__ import annotations

import re

from dataclasses import replace

from sqlalchemy import Column, Integer, LargeBinary, MetaData, Table
from sqlmodel import Session

from govsms.dpa import service
from govsms.dpa.annexes import build_annexes, changes_between
from govsms.i18n import language
from govsms.keys.ring import KeyRing
from govsms.models import metadata
from govsms.personal_data import Holding, Link
from govsms.registry import all_holdings
from govsms.retention.categories import BY_KEY
from govsms.settings import Settings
from tests.dpa.test_dpa import provider_and_customer
from tests.factories import now, system

# Column names that mark personal data: a data subject's id, a sealed field, a keyed hash.
MARKERS = re.compile(r"(^|_)subject_ids?$|_ct$|(^|_)blind_index$|_index$")


def marked_columns(table: Table) -> list[str]:
    return [column.name for column in table.columns if MARKERS.search(column.name)]


def undeclared(schema: MetaData, holdings: tuple[Holding, ...]) -> dict[str, list[str]]:
    """Tables whose columns mark personal data and that no holding declares, with those columns."""
    declared = {holding.table for holding in holdings}
    return {
        table.name: marked_columns(table)
        for table in schema.sorted_tables
        if marked_columns(table) and table.name not in declared
    }


def test_every_table_with_personal_data_is_declared() -> None:
    missing = undeclared(metadata, all_holdings())
    assert not missing, f"declare these tables in their domain's personal_data.py (govsms.personal_data.Holding): {missing}"


def test_a_new_table_with_a_sealed_column_fails_the_check() -> None:
    scratch = MetaData()
    for table in metadata.sorted_tables:
        table.to_metadata(scratch)
    Table("voicemail", scratch, Column("id", Integer, primary_key=True), Column("text_ct", LargeBinary))
    Table("court_order", scratch, Column("id", Integer, primary_key=True), Column("blind_index", LargeBinary))
    Table("call_route", scratch, Column("id", Integer, primary_key=True), Column("subject_id", Integer))
    assert undeclared(scratch, all_holdings()) == {
        "voicemail": ["text_ct"], "court_order": ["blind_index"], "call_route": ["subject_id"],
    }


def test_declarations_name_real_tables_columns_and_categories() -> None:
    holdings = all_holdings()
    tables = [holding.table for holding in holdings]
    assert len(tables) == len(set(tables)), "a table is declared twice"
    for holding in holdings:
        assert holding.table in metadata.tables, f"{holding.table}: no such table"
        table = metadata.tables[holding.table]
        for column in holding.columns:
            assert column in table.columns, f"{holding.table}.{column}: no such column"
        assert holding.category in BY_KEY, f"{holding.table}: no retention category {holding.category!r}"
        assert holding.description
        if holding.via:
            assert holding.via in metadata.tables, f"{holding.table}: via {holding.via!r} is no table"
        if holding.link is Link.SUBJECT_ID:
            assert holding.subject_columns, f"{holding.table}: linked by subject id, but names no such column"
        if holding.link is Link.BLIND_INDEX:
            assert holding.blind_indexes, f"{holding.table}: linked by blind index, but names none"


def test_declarations_name_every_marked_column() -> None:
    """A declared table names each of its subject-id, sealed and blind-index columns, so a column
    added later is not left out of what iterates the registry."""
    for holding in all_holdings():
        missing = set(marked_columns(metadata.tables[holding.table])) - set(holding.columns)
        assert not missing, f"{holding.table}: {sorted(missing)} not declared"


def test_annex_two_says_what_the_registry_holds(session: Session, settings: Settings, keys: KeyRing) -> None:
    """Annex II lists, under each category, what the registry declares is held in it; a newly
    declared table shows there, and the DPA page tells the customer that Annex II changed."""
    _, customer = provider_and_customer(session)
    holdings = all_holdings()
    annexes = build_annexes(session, settings, keys, customer, holdings=holdings)
    held = {entry["key"]: entry["held"] for entry in annexes["categories"]}
    for holding in holdings:
        assert holding.description in held[holding.category]
    assert held["statistics"] == []  # a category no personal-data table holds: named, with nothing listed
    with language("sv"):
        html = service.preview(session, settings, keys, system(customer), lang="sv", now=now(), holdings=holdings)
    assert "Gruppers namn och beskrivningar" in html and "Avtalets undertecknare, kontaktperson och dataskyddsombud" in html
    inbox = replace(holdings[0], table="inbound_note", category="inbound_messages", description="Notes on received SMS (encrypted)")
    later = build_annexes(session, settings, keys, customer, holdings=(*holdings, inbox))
    assert [(change.kind, change.subject) for change in changes_between(annexes, later)] == [("processing", "inbound_messages")]
    # Without the registry (an older caller) Annex II is what it was: the categories and their times.
    assert all("held" not in entry for entry in build_annexes(session, settings, keys, customer)["categories"])


def test_declared_purges_run(session: Session) -> None:
    """Each purge a holding declares takes a session and ``now`` and says how many rows went."""
    purges = [holding.purge for holding in all_holdings() if holding.purge is not None]
    assert purges
    for purge in purges:
        assert purge(session, now=now()) == 0  # nothing stored, nothing expired
