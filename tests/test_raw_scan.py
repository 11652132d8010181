"""Scans the raw database (the SQLite file with its WAL, a pg_dump of PostgreSQL) after storing
known numbers and names every way the service stores them: none may appear in any form. The
app's log output is scanned too, and on PostgreSQL the server's own log (two identical creates
racing must not make it quote a value).

What "every way" means comes from the personal-data registry (``govsms.registry``): each declared
table, and each of its sealed, blind-index and clear columns, must hold something when the scan
runs, so a newly declared table fails here until this test stores data in it."""

from __future__ import annotations

import base64
import io
import logging
import os
import re
import subprocess
import threading
import time
from pathlib import Path

import pytest
from litestar.testing import TestClient
from sqlalchemy import text
from sqlalchemy.engine import make_url

from govsms.auth import Role
from govsms.app import create_app
from govsms.audit.chain import seal_events
from govsms.contacts import groups, importing, service
from govsms.contacts.filereader import write_xlsx
from govsms.dpa.service import get_details, save_details
from govsms.db import make_engine, make_session_factory, session_scope
from govsms.keys.ring import load_key_ring
from govsms.errors import Conflict
from govsms.keys.store import Vault
from govsms.log import TEXT_FORMAT, JsonFormatter, RedactFilter
from govsms.migrate import upgrade
from govsms.registry import all_holdings
from govsms.sending.dispatch import DispatchRequest, create_dispatch
from govsms.sending.pricing import assign_virtual_number
from tests.conftest import POSTGRES_URL, create_postgres_database, drop_postgres_database, make_settings
from tests.factories import make_account, make_api_key, make_user, now, system

PEOPLE = [("070-123 45 67", "Åsa Öberglund"), ("+46 73 987 65 43", "Ingrid Märtasdotter"), ("+47 412 34 567", "Ola Nordmannsen")]
IMPORTED = [("0705551122", "Björn Älvstrand"), ("0705551133", "Karin Ödmansdotter")]
FORMS = [
    "+46701234567", "46701234567", "0701234567", "701234567", "070-123 45 67", "070 123 45 67",
    "+46739876543", "739876543", "+4741234567", "41234567", "+46705551122", "705551122", "705551133",
]
NAMES = ["Öberglund", "Märtasdotter", "Nordmannsen", "Älvstrand", "Ödmansdotter", "Signhildsdotter", "Dataskyddsson"]
# Free text a customer may fill with names and numbers: group names and descriptions.
GROUP_NAME, GROUP_DESCRIPTION = "Föräldrar till Tindra Sörbäcksdotter", "Tindras mamma: 070-417 29 83"
GROUP_RENAMED = "Tindra Sörbäcksdotters klass"
API_GROUP = {"name": "Halvardssons vänner", "description": "Halvard Halvardsson"}
REQUEST_ID = "46709981234"  # a number sent as X-Request-ID
FORMS += [
    "+46704172983", "46704172983", "0704172983", "704172983", "070-417 29 83", "070 417 29 83",
    "+46709981234", "46709981234", "0709981234", "709981234", "070-998 12 34", "070 998 12 34",
]
NAMES += ["Sörbäcksdotter", "Halvardsson"]
MOBILE_SENDER = "070-555 77 88"  # a person's mobile number as sender: verified, sent from, listed, opened by the worker
FORMS += ["+46705557788", "46705557788", "0705557788", "705557788", "070-555 77 88", "070 555 77 88"]
CLEAR_ACCOUNT = "Skanningskommunen"  # an organisation's name, stored in clear: the scan must see it
RACE_EMAIL, RACE_GROUP = "tindra.racing.sorbacksdotter@kommun.example", "Racet om Sörbäcksdotter"
RACE_ACCOUNT, RACE_CONTACT, RACE_VIRTUAL = "Kapplöpningskommunen", "070-512 88 34", "+46766861234"
RACE_IDEMPOTENCY_KEY = "0705128899"  # a client's Idempotency-Key that is a number
FORMS += ["+46705128899", "46705128899", "0705128899", "705128899", "070-512 88 99", "070 512 88 99"]
FORMS += ["+46705128834", "46705128834", "0705128834", "705128834", "070-512 88 34", "070 512 88 34"]
DPA_DETAILS = {
    "signatory_name": "Sigrid Signhildsdotter", "signatory_title": "Kommundirektör", "contact_name": "Sigrid Signhildsdotter",
    "contact_email": "sigrid@kommun.example", "dpo_name": "Dag Dataskyddsson", "dpo_email": "dpo@kommun.example",
}


def store_everything(url: str, tmp_path: Path) -> str:
    """Store everything; returns what the app logged meanwhile (as its log handler writes it)."""
    settings = make_settings(tmp_path)
    keys = load_key_ring(settings)
    engine = make_engine(url)
    factory = make_session_factory(engine, vault=Vault(keys))
    with session_scope(factory) as session:
        account = make_account(session, name=CLEAR_ACCOUNT)
        make_user(session, account, roles={Role.SENDER})
        actor = system(account)
        group = groups.create_group(session, actor, name="Alla", now=now())
        planted = groups.create_group(session, actor, name=GROUP_NAME, description=GROUP_DESCRIPTION, now=now())
        groups.update_group(session, actor, planted.id, name=GROUP_RENAMED, description=GROUP_DESCRIPTION, now=now())  # type: ignore[arg-type]
        groups.create_group(session, actor, name=GROUP_NAME, now=now())  # the old name is free again
        groups.list_groups(session, actor)
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
        _key, api_key = make_api_key(session, account, roles={Role.SENDER})
        plant_the_rest(session, account, actor)
    with app_log() as log, TestClient(create_app(settings, bind=engine)) as client:
        headers = {"Authorization": f"Bearer {api_key}", "X-Request-ID": REQUEST_ID}
        assert client.post("/api/v1/groups", json=API_GROUP, headers=headers).status_code == 201
        assert client.get("/api/v1/groups", headers=headers).status_code == 200
        assert client.get("/api/v1/contacts", headers=headers).status_code == 200
    plant_mobile_sender(factory, actor)
    plant_agreement(factory, settings, keys, actor)
    plant_subject_request(factory, actor)
    plant_erasure(factory, settings, keys, actor)
    plant_forwarding(factory, actor)  # before the SMS arrive: their forwards are planned and run
    plant_inbound(factory, actor)
    run_forwarding(factory, settings)
    with session_scope(factory) as session:
        seal_events(session, keys.audit_signing_seed, now=now())
    engine.dispose()
    return log.getvalue()


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


def plant_inbound(factory, actor) -> None:  # type: ignore[no-untyped-def]
    """Received SMS every way they are stored (issue 14): a reply route written by the worker for
    an SMS from 72323, the reply routed to the account, a STOP, and a part of a concatenated SMS
    still waiting for the rest (sealed under the provider's key)."""
    from govsms.receiving.service import accept_upstream
    from govsms.sending.outbox import Outbox
    from govsms.sending.transports.base import InboundPart
    from govsms.sending.transports.loopback import LoopbackTransport

    with session_scope(factory) as session:
        make_account(session, name="Skanningsleverantören", is_provider=True)
        create_dispatch(session, actor, DispatchRequest(sender="72323", text="Svara gärna", numbers=[PEOPLE[0][0], PEOPLE[1][0]]),
                        public_url="https://sms.example.se", now=now())
    outbox = Outbox(factory, LoopbackTransport(report_delay=0), public_url="https://sms.example.se")
    while outbox.run_once():
        pass
    accept_upstream(factory, [], [
        InboundPart(source="46701234567", destination="72323", text="Ja tack, hälsar Åsa Öberglund", provider_ref="scan-1"),
        InboundPart(source="+46739876543", destination="72323", text="STOPP"),
        InboundPart(source="+4741234567", destination="72323", text="Nordmannsen skriver ", concat=(7, 2, 1), provider_ref="scan-2"),
    ], transport="smpp", now=now())


def plant_forwarding(factory, actor) -> None:  # type: ignore[no-untyped-def]
    """A forwarding rule (issue 14): every SMS of the account, in full, to an address that names a
    person and to a person's mobile number (both sealed in the rule)."""
    from govsms.receiving.forwarding import create_rule

    with session_scope(factory) as session:
        create_rule(session, actor, trigger="all", emails="Sigrid.Signhildsdotter@kommun.example", mode="full", mobile=MOBILE_SENDER,
                    now=now())


def run_forwarding(factory, settings) -> None:  # type: ignore[no-untyped-def]
    """The forwards of the received SMS: the e-mail fails (no mail server: an error code is
    stored), the SMS to the mobile number becomes a dispatch ("Från +46 70 123 45 67: ...")."""
    from govsms.receiving.forwarding import run_forwards

    assert run_forwards(factory, settings, now=now()) >= 2


def plant_the_rest(session, account, actor) -> None:  # type: ignore[no-untyped-def]
    """What the registry declares and the steps above leave empty: a blocked number, a login
    session, a two-step login secret with its recovery codes, a legal hold on a number."""
    from cryptography.hazmat.primitives.hashes import SHA1
    from cryptography.hazmat.primitives.twofactor.totp import TOTP

    from govsms.accounts import totp
    from govsms.accounts.login import LoginPolicy, start_login_session
    from govsms.sending.blocklist import block_number

    block_number(session, actor, PEOPLE[2][0], source="manual", now=now())
    user, _password = make_user(session, account, roles={Role.ADMIN})
    enrolment = totp.begin_enrolment(session, user, now=now())
    secret = base64.b32decode(enrolment.secret + "=" * (-len(enrolment.secret) % 8))
    code = TOTP(secret, totp.DIGITS, SHA1(), totp.STEP_SECONDS).generate(int(now().timestamp())).decode()
    totp.confirm_enrolment(session, user, code, now=now())
    start_login_session(session, user, policy=LoginPolicy(), now=now())
    from datetime import timedelta

    from govsms.retention.models import LegalHold

    session.add(LegalHold(
        account_id=account.id, blind_index=bytes(range(16)), reason="Tvist om faktura", until=now().date() + timedelta(days=30),
        created_by="user:1", created_at=now(),
    ))


def plant_agreement(factory, settings, keys, actor) -> None:  # type: ignore[no-untyped-def]
    """The DPA generated and accepted by its signatory (the version keeps the details and the
    acceptance), a dispatch with an idempotency key (its keyed fingerprint), and a delivery report
    that finds no message yet (``pending_report``)."""
    from govsms.dpa import service as dpa
    from govsms.sending.reports import apply_delivery_reports
    from govsms.sending.transports.base import DeliveryReport, ReportStatus

    with session_scope(factory) as session:
        make_account(session, name="Leverantören AB", org_number="559900-1122", is_provider=True)
        version, _created = dpa.generate(session, settings, keys, actor, lang="sv", now=now(), holdings=all_holdings())
        assert version.id is not None
        dpa.accept(session, actor, version.id, name=DPA_DETAILS["signatory_name"], title="Kommundirektör", confirmed=True, now=now())
        request = DispatchRequest(
            sender="Kommunen", text="Hej Tindra. Inga fler sms: _BLOCKSMSLINK_", numbers=[PEOPLE[0][0]], idempotency_key=RACE_IDEMPOTENCY_KEY,
        )
        create_dispatch(session, actor, request, public_url="https://sms.example.se", now=now())
    apply_delivery_reports(factory, [DeliveryReport(provider_id="okänd-1", status=ReportStatus.DELIVERED, done_at=now())])


def plant_subject_request(factory, actor) -> None:  # type: ignore[no-untyped-def]
    """A data-subject request with notes naming the person, and its access export (the ZIP of
    every value about them, kept sealed for download)."""
    from govsms.subjects.export import create_export
    from govsms.subjects.person import person_for
    from govsms.subjects.requests import extend_request, register_request

    with session_scope(factory) as session:
        request = register_request(session, actor, kind="access", notes=f"Samtal med {PEOPLE[0][1]}, {PEOPLE[0][0]}", now=now())
        extend_request(session, actor, request.id, "Uppgifter i flera system", now=now())  # in clear: the form says to name no one
        person = person_for(session, actor, PEOPLE[0][0], now=now())
        create_export(session, actor, all_holdings(), person, request.id, language="sv", now=now())


def plant_erasure(factory, settings, keys, actor) -> None:  # type: ignore[no-untyped-def]
    """An erasure of one contact (its progress row and signed receipt; the key's shred log)."""
    from govsms.subjects.erasure import Sealer, erase_subject

    erase_subject(factory, actor, all_holdings(), PEOPLE[1][0], sealer=Sealer(keys=keys, witness_path=settings.audit_witness_file), now=now())


def assert_every_holding_stored(url: str) -> None:
    """Each table the registry declares, and each column it names, holds something: the scan saw
    every way personal data is stored (``contact_group``'s clear columns only hold groups made
    before names were sealed, and the upgrade seals them)."""
    engine = make_engine(url)
    empty = []
    with engine.connect() as connection:
        for holding in all_holdings():
            if not connection.execute(text(f"SELECT count(*) FROM {holding.table}")).scalar():
                empty.append(holding.table)
            for column in holding.columns:
                if (holding.table, column) in {("contact_group", "clear_name"), ("contact_group", "clear_description")}:
                    continue
                if not connection.execute(text(f"SELECT count(*) FROM {holding.table} WHERE {column} IS NOT NULL")).scalar():
                    empty.append(f"{holding.table}.{column}")
    engine.dispose()
    assert not empty, f"the scan stored nothing in {empty}: store personal data there too"


class app_log:
    """The app's log output while the block runs, through the handler ``configure_logging`` sets
    up (the mask included), in both formats."""

    def __enter__(self) -> io.StringIO:
        self.stream = io.StringIO()
        self.handlers = []
        for formatter in (logging.Formatter(TEXT_FORMAT), JsonFormatter()):
            handler = logging.StreamHandler(self.stream)
            handler.addFilter(RedactFilter())
            handler.setFormatter(formatter)
            self.handlers.append(handler)
            logging.getLogger().addHandler(handler)
        return self.stream

    def __exit__(self, *_exc: object) -> None:
        for handler in self.handlers:
            logging.getLogger().removeHandler(handler)


def assert_nothing_readable(blob: bytes, where: str) -> None:
    for needle in [*FORMS, *NAMES]:
        for encoded in {needle.encode("utf-8"), needle.encode("utf-16-le")}:
            assert encoded not in blob, f"{needle!r} readable in {where}"


def test_sqlite_file_holds_no_number_or_name(tmp_path: Path) -> None:
    path = tmp_path / "raw.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    logged = store_everything(url, tmp_path)
    assert_every_holding_stored(url)
    files = [file for file in tmp_path.iterdir() if file.name.startswith("raw.db")]
    assert path in files
    everything = b"".join(file.read_bytes() for file in files)
    assert CLEAR_ACCOUNT.encode() in everything  # the scan does see what is stored in clear (an organisation's name)
    for file in files:
        assert_nothing_readable(file.read_bytes(), file.name)
    assert "POST /api/v1/groups 201" in logged  # the scan does see the app's log
    assert_nothing_readable(logged.encode(), "the app's log")


@pytest.mark.skipif(not POSTGRES_URL, reason="PostgreSQL variant: set GOVSMS_TEST_POSTGRES_URL to run it")
def test_postgres_dump_holds_no_number_or_name(tmp_path: Path) -> None:
    url = create_postgres_database("govsms_scan")
    server_log = postgres_server_log()
    try:
        upgrade(url)
        logged = store_everything(url, tmp_path)
        assert_every_holding_stored(url)
        race_identical_creates(url, tmp_path)
        parsed = make_url(url)
        dump = subprocess.run(
            [
                "pg_dump", "--no-owner", "-h", parsed.host or "127.0.0.1", "-p", str(parsed.port or 5432), "-U", parsed.username or "postgres",
                parsed.database or "",
            ],
            capture_output=True, check=True, timeout=120,
            env={**os.environ, "PGPASSWORD": parsed.password or ""},
        ).stdout
        for holding in all_holdings():
            assert f"COPY public.{holding.table} ".encode() in dump, f"{holding.table} is not in the dump"
        assert CLEAR_ACCOUNT.encode() in dump  # the scan does see what is stored in clear (an organisation's name)
        assert_nothing_readable(dump, "pg_dump")
        assert "POST /api/v1/groups 201" in logged
        assert_nothing_readable(logged.encode(), "the app's log")
        written = server_log.written()
        for value in (RACE_EMAIL, RACE_GROUP, RACE_ACCOUNT, RACE_VIRTUAL, "766861234", GROUP_NAME, GROUP_RENAMED, API_GROUP["name"], REQUEST_ID,
                      RACE_IDEMPOTENCY_KEY):
            assert value.encode() not in written, f"{value!r} in the PostgreSQL server log"
        assert_nothing_readable(written, "the PostgreSQL server log")
    finally:
        drop_postgres_database(url)


class ServerLog:
    """The part of the PostgreSQL server's log written after this object was made."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.start = path.stat().st_size

    def written(self) -> bytes:
        with self.path.open("rb") as log:
            log.seek(self.start)
            return log.read()


def postgres_server_log() -> ServerLog:
    """The server's current log file: ``pg_current_logfile()`` with the logging collector, else
    the Debian cluster's file under /var/log/postgresql (the tests run as root in CI)."""
    from sqlalchemy import create_engine

    assert POSTGRES_URL
    engine = create_engine(make_url(POSTGRES_URL).set(drivername="postgresql+psycopg"))
    with engine.connect() as connection:
        current = connection.execute(text("SELECT pg_current_logfile()")).scalar()
        data_directory = connection.execute(text("SHOW data_directory")).scalar()
        port = connection.execute(text("SHOW port")).scalar()
    engine.dispose()
    candidates = [Path(data_directory) / current] if current else sorted(
        Path("/var/log/postgresql").glob("postgresql-*.log"), key=lambda file: (f"-{port}" not in file.name, -file.stat().st_mtime)
    )
    readable = [file for file in candidates if os.access(file, os.R_OK)]
    if not readable:
        pytest.skip("the PostgreSQL server's log is not readable here (the tests run as root in CI)")
    return ServerLog(readable[0])


def race_identical_creates(url: str, tmp_path: Path) -> None:
    """Two identical creates (a user's e-mail, a group's name, an account's name, a contact, a
    virtual number) at the same moment: the second waits for the first to commit, then is
    refused (409), and the database reports no value."""
    keys = load_key_ring(make_settings(tmp_path))
    engine = make_engine(url)
    factory = make_session_factory(engine, vault=Vault(keys))
    with session_scope(factory) as session:
        account = make_account(session)
    actor = system(account)
    creates = [
        lambda session: make_user(session, account, email=RACE_EMAIL),
        lambda session: groups.create_group(session, actor, name=RACE_GROUP, description=GROUP_DESCRIPTION, now=now()),
        lambda session: make_account(session, name=RACE_ACCOUNT),
        lambda session: service.create_contact(session, actor, number=RACE_CONTACT, name="Tindra", now=now()),
        lambda session: assign_virtual_number(session, actor, account_id=account.id, number=RACE_VIRTUAL, now=now()),
    ]
    for create in creates:
        outcome: list[BaseException | None] = []

        def second(create=create, outcome=outcome) -> None:  # type: ignore[no-untyped-def]  (bound now, not at the loop's end)
            try:
                with session_scope(factory) as session:
                    create(session)
                outcome.append(None)
            except BaseException as error:  # noqa: BLE001  (reported below)
                outcome.append(error)

        with factory() as first:
            create(first)
            racer = threading.Thread(target=second)
            racer.start()
            _wait_for_a_lock_wait(engine)
            first.commit()
        racer.join(30)
        assert outcome and isinstance(outcome[0], Conflict), f"the second create gave {outcome!r}"
    # Two requests with one Idempotency-Key (a client may choose a number as its key): the second
    # waits for the first and gets its dispatch; the database never quotes the key.
    seed_default_prices_once(factory)
    keyed = DispatchRequest(sender="Kommunen", text="Racet", numbers=[RACE_CONTACT], idempotency_key=RACE_IDEMPOTENCY_KEY)
    answers: list[object] = []

    def retry() -> None:
        try:
            with session_scope(factory) as session:
                answers.append(create_dispatch(session, actor, keyed, public_url="https://sms.example.se", now=now()).dispatch_id)
        except BaseException as error:  # noqa: BLE001  (reported below)
            answers.append(error)

    with factory() as first:
        sent = create_dispatch(first, actor, keyed, public_url="https://sms.example.se", now=now())
        racer = threading.Thread(target=retry)
        racer.start()
        _wait_for_a_lock_wait(engine)
        first.commit()
    racer.join(30)
    assert answers == [sent.dispatch_id], f"the retry gave {answers!r}"
    engine.dispose()


def seed_default_prices_once(factory) -> None:  # type: ignore[no-untyped-def]
    from govsms.sending.pricing import seed_default_prices

    with session_scope(factory) as session:
        seed_default_prices(session, now=now())


def _wait_for_a_lock_wait(engine: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    with engine.connect() as connection:  # type: ignore[attr-defined]
        while time.monotonic() < deadline:
            waiting = connection.execute(text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )).scalar()
            connection.rollback()
            if waiting:
                return
            time.sleep(0.05)
    raise AssertionError("the second create never waited for the first")
