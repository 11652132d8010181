"""Scans the raw database (the SQLite file with its WAL, a pg_dump of PostgreSQL) after storing
known numbers and names every way the service stores them: none may appear in any form."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from govsms.accounts.roles import Role
from govsms.audit.chain import seal_events
from govsms.contacts import groups, importing, service
from govsms.contacts.filereader import write_xlsx
from govsms.dpa.service import get_details, save_details
from govsms.db import make_engine, make_session_factory, session_scope
from govsms.keyring import load_key_ring
from govsms.keystore import Vault
from govsms.migrate import upgrade
from tests.conftest import POSTGRES_URL, create_postgres_database, drop_postgres_database, make_settings
from tests.factories import make_account, make_user, now, system

PEOPLE = [("070-123 45 67", "Åsa Öberglund"), ("+46 73 987 65 43", "Ingrid Märtasdotter"), ("+47 412 34 567", "Ola Nordmannsen")]
IMPORTED = [("0705551122", "Björn Älvstrand"), ("0705551133", "Karin Ödmansdotter")]
FORMS = [
    "+46701234567", "46701234567", "0701234567", "701234567", "070-123 45 67", "070 123 45 67",
    "+46739876543", "739876543", "+4741234567", "41234567", "+46705551122", "705551122", "705551133",
]
NAMES = ["Öberglund", "Märtasdotter", "Nordmannsen", "Älvstrand", "Ödmansdotter", "Signhildsdotter", "Dataskyddsson"]
MOBILE_SENDER = "070-555 77 88"  # a person's mobile number as sender: verified, sent from, listed, opened by the worker
FORMS += ["+46705557788", "46705557788", "0705557788", "705557788", "070-555 77 88", "070 555 77 88"]
DPA_DETAILS = {
    "signatory_name": "Sigrid Signhildsdotter", "signatory_title": "Kommundirektör", "contact_name": "Sigrid Signhildsdotter",
    "contact_email": "sigrid@kommun.example", "dpo_name": "Dag Dataskyddsson", "dpo_email": "dpo@kommun.example",
}


def store_everything(url: str, tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    keys = load_key_ring(settings)
    engine = make_engine(url)
    factory = make_session_factory(engine, vault=Vault(keys))
    with session_scope(factory) as session:
        account = make_account(session)
        make_user(session, account, roles={Role.SENDER})
        actor = system(account)
        group = groups.create_group(session, actor, name="Alla", now=now())
        for number, name in PEOPLE:
            service.create_contact(session, actor, number=number, name=name, note=f"Anteckning om {name}", group_ids=[group.id], now=now())  # type: ignore[list-item]
        content = write_xlsx(IMPORTED, ("Mobil", "Namn"))
        plan = importing.plan_import(session, actor, "lista.xlsx", content, now=now())
        importing.run_import(session, actor, plan, group_name="Importerade", now=now())
        importing.store_upload(session, actor, "väntande Öberglund.xlsx", content, now=now())  # waiting for confirmation
        service.list_contacts(session, actor, now=now())
        service.list_contacts(session, actor, number="0701234567", now=now())
        service.export_contacts(session, actor, file_format="xlsx", now=now())
        save_details(session, actor, DPA_DETAILS, now=now())  # the DPA's signatory and DPO
        get_details(session, actor, now=now())
    plant_mobile_sender(factory, actor)
    with session_scope(factory) as session:
        seal_events(session, keys.audit_signing_seed, now=now())
    engine.dispose()


def plant_mobile_sender(factory, actor) -> None:  # type: ignore[no-untyped-def]
    """A mobile-number sender every way it is stored: its code SMS sent by the worker, verified,
    a dispatch sent from it by the worker, the senders listed (issue 10, items 4 and 8)."""
    from govsms.sending.dispatch import DispatchRequest, create_dispatch
    from govsms.sending.outbox import Outbox
    from govsms.sending.pricing import seed_default_prices
    from govsms.sending.sender_numbers import Outcome, confirm_code, list_sender_numbers, request_code
    from govsms.sending.transports.loopback import LoopbackTransport

    codes: list[bytes] = []

    class Phone(LoopbackTransport):
        def submit(self, batch):  # type: ignore[no-untyped-def]
            codes.extend(match.group() for item in batch for match in [re.search(rb"\d{6}", b"".join(item.parts))] if match)
            return super().submit(batch)

    outbox = Outbox(factory, Phone(report_delay=0), public_url="https://sms.example.se")
    with session_scope(factory) as session:
        seed_default_prices(session, now=now())
        sent = request_code(session, actor, MOBILE_SENDER, now=now())
    assert outbox.run_once() == 1 and codes
    with session_scope(factory) as session:
        assert confirm_code(session, actor, sent.sender_id, codes[-1].decode(), now=now()).outcome is Outcome.VERIFIED
        create_dispatch(session, actor, DispatchRequest(sender=MOBILE_SENDER, text="Hej från min mobil", numbers=["0701234567"]),
                        public_url="https://sms.example.se", now=now())
        list_sender_numbers(session, actor, now=now())
    assert outbox.run_once() == 1
    outbox.apply_reports()


def assert_nothing_readable(blob: bytes, where: str) -> None:
    for needle in [*FORMS, *NAMES]:
        for encoded in {needle.encode("utf-8"), needle.encode("utf-16-le")}:
            assert encoded not in blob, f"{needle!r} readable in {where}"


def test_sqlite_file_holds_no_number_or_name(tmp_path: Path) -> None:
    path = tmp_path / "raw.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    store_everything(url, tmp_path)
    files = [file for file in tmp_path.iterdir() if file.name.startswith("raw.db")]
    assert path in files
    everything = b"".join(file.read_bytes() for file in files)
    assert "Importerade".encode() in everything  # the scan does see what is stored in clear (a group name)
    for file in files:
        assert_nothing_readable(file.read_bytes(), file.name)


@pytest.mark.skipif(not POSTGRES_URL, reason="PostgreSQL variant: set GOVSMS_TEST_POSTGRES_URL to run it")
def test_postgres_dump_holds_no_number_or_name(tmp_path: Path) -> None:
    url = create_postgres_database("govsms_scan")
    try:
        upgrade(url)
        store_everything(url, tmp_path)
        parsed = make_url(url)
        dump = subprocess.run(
            ["pg_dump", "--no-owner", "-h", parsed.host or "127.0.0.1", "-p", str(parsed.port or 5432), "-U", parsed.username or "postgres", parsed.database or ""],
            capture_output=True, check=True, timeout=120,
            env={**os.environ, "PGPASSWORD": parsed.password or ""},
        ).stdout
        assert b"COPY public.contact" in dump and b"COPY public.subject_key" in dump
        assert "Importerade".encode() in dump  # the scan does see what is stored in clear (a group name)
        assert_nothing_readable(dump, "pg_dump")
    finally:
        drop_postgres_database(url)
