"""The access export on both backends: the ZIP holds data.json (the number, the name, the texts:
every held value decrypted) and report.pdf (pdftotext: the storage times in force, IMY, the
rights); it is kept sealed, downloaded as an audited read, 404 after 30 days or for another
account, purged by its holding's purge and deleted by an erasure of the person."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import Session

from govsms.auth import Actor, Role
from govsms.contacts.groups import add_members, create_group
from govsms.errors import Forbidden, InvalidInput, NotFound
from govsms.registry import all_holdings
from govsms.retention.service import set_storage_times_for
from govsms.sending.dispatch import DispatchRequest, create_dispatch
from govsms.sending.pricing import seed_default_prices
from govsms.subjects.export import create_export, download_export, get_export
from govsms.subjects.export_store import erase_exports, purge_expired_exports
from govsms.subjects.models import SubjectExport
from govsms.subjects.person import person_for
from govsms.subjects.requests import find_request, register_request
from tests.dpa.test_dpa import pdf_text
from tests.factories import audit_events, make_account, make_contact, system

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
NUMBER = "+46701234567"
TEXTS = ("Första: skolan stänger 12.00", "Andra: simhallen är stängd", "Tredje: välkommen på möte")


def dpo(account, user_id: int = 1) -> Actor:  # type: ignore[no-untyped-def]
    return Actor(
        kind="user", id=user_id, account_id=account.id, account_name=account.name, roles=frozenset({Role.DPO}),
        timezone="Europe/Stockholm", region="SE",
    )


def held_person(session: Session):  # type: ignore[no-untyped-def]
    """An account where 070-123 45 67 is a contact in two groups and got 3 SMS."""
    seed_default_prices(session, now=NOW)
    account = make_account(session, name="Kommunen Väst", org_number="212000-1234")
    actor = system(account)
    contact = make_contact(session, account, number="070-123 45 67", name="Åsa Öberg", note="Förälder")
    for name in ("Styrelsen", "Föräldrar 3B"):
        group = create_group(session, actor, name=name, now=NOW)
        add_members(session, actor, group.id, [contact.id], now=NOW)
    for message in TEXTS:
        create_dispatch(
            session, actor, DispatchRequest(sender="Kommunen", text=message, numbers=[NUMBER]), public_url="https://sms.example", now=NOW,
        )
    set_storage_times_for(session, actor, {"outbound_messages": 45}, now=NOW)
    return account


def unzip(content: bytes) -> tuple[dict[str, object], bytes]:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        assert sorted(archive.namelist()) == ["data.json", "report.pdf"]
        return json.loads(archive.read("data.json")), archive.read("report.pdf")


@pytest.mark.parametrize("lang", ["sv", "en"])
def test_the_export_holds_every_value_and_a_report(session: Session, tmp_path: Path, lang: str) -> None:
    account = held_person(session)
    actor = dpo(account)
    person = person_for(session, actor, "070-123 45 67", now=NOW)
    export = create_export(session, actor, all_holdings(), person, None, language=lang, now=NOW, processor="Leverantören AB")
    assert export.expires_at == NOW + timedelta(days=30) and len(export.id) >= 40
    request = find_request(session, actor, export.request_id)
    assert (request.kind, request.reference, request.export_id, request.subject_id) == ("access", "DSR-2026-0001", export.id, person.subject_id)

    # Sealed at rest: nothing of the ZIP in the raw row.
    raw = bytes(session.execute(text("SELECT content_ct FROM subject_export WHERE id = :id"), {"id": export.id}).scalar_one())
    assert b"data.json" not in raw and b"PK" not in raw[:4]

    downloaded = download_export(session, actor, export.id, now=NOW + timedelta(days=29))
    assert downloaded.filename == "DSR-2026-0001.zip"
    assert hashlib.sha256(downloaded.content).hexdigest() == export.sha256
    data, pdf = unzip(downloaded.content)
    assert data["number"] == NUMBER and data["reference"] == "DSR-2026-0001"
    tables = {holding["table"]: holding for holding in data["holdings"]}  # type: ignore[attr-defined]
    contact = tables["contact"]["records"][0]
    assert (contact["number"], contact["name"], contact["note"]) == (NUMBER, "Åsa Öberg", "Förälder")
    assert sorted(contact["groups"]) == ["Föräldrar 3B", "Styrelsen"]
    assert sorted(record["text"] for record in tables["outbound_message"]["records"]) == sorted(TEXTS)
    assert tables["outbound_message"]["category"] == "outbound_messages"

    words = pdf_text(pdf, tmp_path)
    assert "DSR-2026-0001" in words and "Kommunen Väst" in words and "Leverantören AB" in words
    assert "45 " + ("dagar" if lang == "sv" else "days") in words  # the account's own storage time of sent SMS
    assert ("Tills kunden raderar" if lang == "sv" else "Until the customer deletes it") in words  # contacts
    assert "Integritetsskyddsmyndigheten" in words and "www.imy.se" in words
    assert ("artikel 17" if lang == "sv" else "Article 17") in words
    assert "Åsa Öberg" not in words and TEXTS[0] not in words  # the report counts, data.json holds the values

    exported = audit_events(session, "subject.exported", account.id)
    assert len(exported) == 1
    assert (exported[0].target_type, exported[0].target_id) == ("subject_request", "DSR-2026-0001")
    details = json.loads(exported[0].details)
    assert details["document"] == f"sha256:{export.sha256}" and details["language"] == lang
    assert json.loads(exported[0].subject_ids) == [person.subject_id]
    assert "46701234567" not in exported[0].details
    downloads = audit_events(session, "subject.export_downloaded", account.id)
    assert len(downloads) == 1 and downloads[0].target_id == "DSR-2026-0001"
    assert json.loads(downloads[0].subject_ids) == [person.subject_id]


def test_the_export_joins_a_given_request_and_refuses_bad_input(session: Session) -> None:
    account, other = held_person(session), make_account(session)
    actor = dpo(account)
    person = person_for(session, actor, NUMBER, now=NOW)
    request = register_request(session, actor, kind="access", now=NOW)
    with pytest.raises(InvalidInput) as refused:
        create_export(session, actor, all_holdings(), person, request.id, language="de", now=NOW)
    assert "language" in refused.value.fields
    theirs = register_request(session, dpo(other), kind="access", now=NOW)
    with pytest.raises(NotFound):
        create_export(session, actor, all_holdings(), person, theirs.id, language="sv", now=NOW)
    with pytest.raises(NotFound):  # a person of this account, exported by another account's DPO
        create_export(session, dpo(other), all_holdings(), person, None, language="sv", now=NOW)
    with pytest.raises(Forbidden):
        create_export(session, system(account).__class__(
            kind="user", id=5, account_id=account.id, account_name="", roles=frozenset({Role.SENDER}),
        ), all_holdings(), person, None, language="sv", now=NOW)
    export = create_export(session, actor, all_holdings(), person, request.id, language="sv", now=NOW)
    assert export.request_id == request.id
    assert not audit_events(session, "subject.exported", other.id)


def test_the_download_is_gone_for_others_after_expiry_and_after_the_purge(session: Session) -> None:
    account, other = held_person(session), make_account(session)
    actor = dpo(account)
    person = person_for(session, actor, NUMBER, now=NOW)
    export = create_export(session, actor, all_holdings(), person, None, language="en", now=NOW)
    for stranger_call in (
        lambda: download_export(session, dpo(other, 2), export.id, now=NOW),
        lambda: get_export(session, dpo(other, 2), export.id, now=NOW),
        lambda: download_export(session, actor, "no-such-export", now=NOW),
        lambda: download_export(session, actor, export.id, now=NOW + timedelta(days=30)),
    ):
        with pytest.raises(NotFound):
            stranger_call()
    assert len(audit_events(session, "subject.export_downloaded", account.id)) == 0
    assert purge_expired_exports(session, now=NOW + timedelta(days=29)) == 0
    assert purge_expired_exports(session, now=NOW + timedelta(days=30)) >= 1
    assert session.get(SubjectExport, export.id, populate_existing=True) is None


def test_a_zip_moved_to_another_export_row_is_refused(session: Session) -> None:
    account = held_person(session)
    actor = dpo(account)
    person = person_for(session, actor, NUMBER, now=NOW)
    request = register_request(session, actor, kind="access", now=NOW)
    first = create_export(session, actor, all_holdings(), person, request.id, language="sv", now=NOW)
    second = create_export(session, actor, all_holdings(), person, request.id, language="en", now=NOW)
    session.execute(text("UPDATE subject_export SET content_ct = :ct WHERE id = :id"), {"ct": first.content_ct, "id": second.id})
    session.expire_all()
    with pytest.raises(NotFound):
        download_export(session, actor, second.id, now=NOW)
    assert download_export(session, actor, first.id, now=NOW).content


def test_an_erasure_deletes_the_persons_exports(session: Session) -> None:
    account = held_person(session)
    actor = dpo(account)
    person = person_for(session, actor, NUMBER, now=NOW)
    other_person = person_for(session, actor, "+46709999999", now=NOW)
    create_export(session, actor, all_holdings(), person, None, language="sv", now=NOW)
    create_export(session, actor, all_holdings(), person, None, language="en", now=NOW)
    kept = create_export(session, actor, all_holdings(), other_person, None, language="sv", now=NOW)
    assert erase_exports(session, person, limit=1, now=NOW) == 1
    assert erase_exports(session, person, limit=10, now=NOW) == 1
    assert erase_exports(session, person, limit=10, now=NOW) == 0
    session.expire_all()
    assert session.get(SubjectExport, kept.id) is not None


def test_the_worker_purges_expired_exports_every_quarter_hour(session: Session, settings, keys) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy.orm import sessionmaker

    from govsms.clock import FixedClock
    from govsms.scheduler import build_scheduler

    scheduler = build_scheduler(settings, sessionmaker(bind=session.connection(), class_=Session), keys, FixedClock(NOW))
    job = scheduler.get_job("subjects.purge_expired_exports")
    assert job is not None and job.trigger.interval.total_seconds() == 15 * 60
