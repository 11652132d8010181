"""The DPA on both backends: annexes from live configuration, PDFs in Swedish and English read
back with pdftotext, versions when the registry or a storage time changes, acceptance by admins
only, audit events carrying the PDF's hash, and no way into another account's agreements."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from litestar.testing import TestClient
from sqlalchemy import select
from sqlmodel import Session

from govsms.accounts.login import actor_for_user
from govsms.auth import Role
from govsms.audit.models import AuditEvent
from govsms.dpa import registry, service
from govsms.dpa.annexes import ProviderNotConfigured, build_annexes
from govsms.errors import Conflict, Forbidden, InvalidInput, NotFound
from govsms.i18n import _, language
from govsms.keys.ring import KeyRing
from govsms.retention.categories import CATEGORIES, describe_days
from govsms.retention.service import set_storage_time
from govsms.settings import Settings
from tests.factories import make_account, make_api_key, make_user, now, system
from tests.web_helpers import login, post_form

DETAILS = {
    "signatory_name": "Åsa Öberg", "signatory_title": "Förvaltningschef", "contact_name": "Sören Ärlig",
    "contact_email": "soren@kommun.example", "contact_phone": "", "dpo_name": "Dagny Dataskydd", "dpo_email": "dpo@kommun.example",
}


def pdf_text(pdf: bytes, tmp_path: Path) -> str:
    if shutil.which("pdftotext") is None:
        if os.environ.get("GOVSMS_REQUIRE_ALL_TESTS"):
            pytest.fail("pdftotext (poppler-utils) is missing")
        pytest.skip("pdftotext (poppler-utils) is not installed")
    path = tmp_path / "dpa.pdf"
    path.write_bytes(pdf)
    text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout
    return " ".join(text.split())  # table cells wrap: compare words, not line breaks


def provider_and_customer(session: Session):  # type: ignore[no-untyped-def]
    provider = make_account(session, name="Leverantören AB", org_number="559900-1122", is_provider=True)
    customer = make_account(session, name="Kommunen Väst", org_number="212000-1234")
    registry.add_subprocessor(
        session, system(provider), name="Operatören Ab", org_number="556111-2222", country="SE", city="Göteborg",
        purpose="Levererar sms (SMSC)", now=now(),
    )
    service.save_details(session, system(customer), DETAILS, now=now())
    return provider, customer


def test_annexes_come_from_configuration(session: Session, settings: Settings, keys: KeyRing) -> None:
    provider, customer = provider_and_customer(session)
    set_storage_time(session, system(provider), "outbound_messages", 45, now=now())
    annexes = build_annexes(session, settings, keys, customer)
    assert annexes["provider"]["name"] == "Leverantören AB" and annexes["customer"]["org_number"] == "212000-1234"
    days = {entry["key"]: entry["days"] for entry in annexes["categories"]}
    assert days["outbound_messages"] == 45 and days["contacts"] is None and set(days) == {c.key for c in CATEGORIES}
    assert [entry["name"] for entry in annexes["subprocessors"]] == ["Operatören Ab"]
    assert annexes["transfers_outside_eea"] is False
    measures = {entry["key"]: entry for entry in annexes["measures"]}
    assert measures["key_management"] == {"key": "key_management", "master_keys": len(keys.master_keys), "separate_keystore": False}
    assert measures["access_control"]["lockout_failures"] == settings.login_max_failures
    # Annex III claims automatic deletion only where a job does it today (the nightly purge, and
    # the uploads' quarter-hourly one).
    assert measures["retention"]["categories"] == ["outbound_messages", "inbound_messages", "import_files", "access_log", "users", "statistics"]
    # Another deployment, another annex: a separate key store, a stricter login policy, hosting abroad.
    other = settings.model_copy(update={"keystore_url": "sqlite:///keys.db", "login_max_failures": 3, "hosting_country": "US"})
    changed = build_annexes(session, other, keys, customer)
    measures = {entry["key"]: entry for entry in changed["measures"]}
    assert measures["key_management"]["separate_keystore"] is True and measures["access_control"]["lockout_failures"] == 3
    assert changed["transfers_outside_eea"] is True


def test_pdf_in_swedish_and_english(session: Session, settings: Settings, keys: KeyRing, tmp_path: Path) -> None:
    provider, customer = provider_and_customer(session)
    set_storage_time(session, system(provider), "outbound_messages", 45, now=now())  # configuration, not the default
    actor = system(customer)
    swedish, created = service.generate(session, settings, keys, actor, lang="sv", now=now())
    assert created and swedish.number == 1
    _name, pdf = service.download(session, actor, swedish.id, now=now())  # type: ignore[arg-type]
    assert pdf.startswith(b"%PDF") and hashlib.sha256(pdf).hexdigest() == swedish.pdf_sha256
    text = pdf_text(pdf, tmp_path)
    assert "Personuppgiftsbiträdesavtal" in text and "Kommunen Väst" in text and "212000-1234" in text
    assert "Åsa Öberg" in text and "Förvaltningschef" in text and "Sören Ärlig" in text  # å ä ö come through
    assert "Leverantören AB" in text and "Operatören Ab" in text and "Göteborg" in text
    info = subprocess.run(["pdfinfo", "-"], input=pdf, capture_output=True, check=True).stdout.decode()
    pages = int(info.split("Pages:")[1].split()[0])
    assert pages > 5
    assert re.search(r"Tagged:\s+yes", info) and "Personuppgiftsbiträdesavtal – Kommunen Väst" in info  # PDF/UA: tagged, titled
    for page in (1, pages):
        assert f"Sida {page} av {pages}" in text
    assert swedish.content_sha256 in text
    with language("sv"):
        for category in CATEGORIES:  # every data category with the storage time in force
            days = 45 if category.key == "outbound_messages" else category.default_days
            stated = describe_days(days) + (f", {_(category.counted_from)}" if days is not None else "")
            assert _(category.label) in text and stated in text, (category.key, stated)
        assert "45 dagar, räknat från sändningen" in text and describe_days(None) in text
    english, _created = service.generate(session, settings, keys, actor, lang="en", now=now())
    text = pdf_text(service.download(session, actor, english.id, now=now())[1], tmp_path)  # type: ignore[arg-type]
    assert "Data processing agreement" in text and "Kommunen Väst" in text and "Page 1 of" in text
    assert "Sent SMS" in text and "45 days, counted from sending" in text and "Annex IV" in text


def test_new_version_when_registry_or_storage_time_changes(session: Session, settings: Settings, keys: KeyRing, tmp_path: Path) -> None:
    provider, customer = provider_and_customer(session)
    actor = system(customer)
    first, _ = service.generate(session, settings, keys, actor, lang="sv", now=now())
    same, created = service.generate(session, settings, keys, actor, lang="sv", now=now())
    assert same.id == first.id and not created  # nothing changed: the same document
    assert not service.dpa_status(session, settings, keys, actor).new_version_available

    registry.add_subprocessor(
        session, system(provider), name="Reservoperatören AB", org_number="556333-4444", country="NO", city="Oslo",
        purpose="Reservväg för sms", now=now(),
    )
    set_storage_time(session, system(provider), "inbound_messages", 60, now=now())
    status = service.dpa_status(session, settings, keys, actor)
    assert status.new_version_available
    kinds = {(change.kind, change.subject) for change in status.changes}
    assert ("subprocessor_added", "Reservoperatören AB") in kinds and ("storage_time", "inbound_messages") in kinds

    second, created = service.generate(session, settings, keys, actor, lang="sv", now=now())
    assert created and second.number == 2
    text = pdf_text(service.download(session, actor, second.id, now=now())[1], tmp_path)  # type: ignore[arg-type]
    assert "Reservoperatören AB" in text and "Oslo" in text and "60 dagar" in text
    _, old_pdf = service.download(session, actor, first.id, now=now())  # type: ignore[arg-type]
    assert hashlib.sha256(old_pdf).hexdigest() == first.pdf_sha256 != second.pdf_sha256
    assert "Reservoperatören" not in pdf_text(old_pdf, tmp_path)
    assert not service.dpa_status(session, settings, keys, actor).new_version_available


def test_acceptance_is_for_admins_and_audited_with_the_hash(session: Session, settings: Settings, keys: KeyRing) -> None:
    _, customer = provider_and_customer(session)
    admin, _pw = make_user(session, customer, roles={Role.ADMIN})
    admin_actor = actor_for_user(admin, customer)
    version, _ = service.generate(session, settings, keys, admin_actor, lang="sv", now=now())
    for role in (Role.SENDER, Role.DPO, Role.AUDITOR):
        user, _pw = make_user(session, customer, roles={role})
        other = actor_for_user(user, customer)
        with pytest.raises(Forbidden):
            service.accept(session, other, version.id, name="X", title="Y", confirmed=True, now=now())  # type: ignore[arg-type]
        if role != Role.SENDER:
            assert service.list_versions(session, other)[0].id == version.id  # they may read
    with pytest.raises(InvalidInput) as refused:
        service.accept(session, admin_actor, version.id, name="Åsa Öberg", title="", confirmed=False, now=now())  # type: ignore[arg-type]
    assert set(refused.value.fields) == {"title", "confirm"}
    service.accept(session, admin_actor, version.id, name="Åsa Öberg", title="Förvaltningschef", confirmed=True, now=now())  # type: ignore[arg-type]
    with pytest.raises(Conflict):
        service.accept(session, admin_actor, version.id, name="Åsa Öberg", title="Förvaltningschef", confirmed=True, now=now())  # type: ignore[arg-type]
    assert service.acceptance_of(session, admin_actor, version, now=now()) == {"name": "Åsa Öberg", "title": "Förvaltningschef"}
    events = {
        event.action: json.loads(event.details)
        for event in session.execute(select(AuditEvent).where(AuditEvent.account_id == customer.id)).scalars()
    }
    assert events["dpa.generated"]["document"] == events["dpa.accepted"]["document"] == f"sha256:{version.pdf_sha256}"
    assert "Öberg" not in json.dumps(events)


def test_only_the_newest_version_can_be_accepted(session: Session, settings: Settings, keys: KeyRing) -> None:
    provider, customer = provider_and_customer(session)
    actor = system(customer)
    first, _ = service.generate(session, settings, keys, actor, lang="sv", now=now())
    second, _ = service.generate(session, settings, keys, actor, lang="en", now=now())
    with pytest.raises(Conflict):
        service.accept(session, actor, first.id, name="Åsa Öberg", title="Chef", confirmed=True, now=now())  # type: ignore[arg-type]
    # Back to Swedish: the old Swedish version cannot be accepted any more, so a new one is made.
    third, created = service.generate(session, settings, keys, actor, lang="sv", now=now())
    assert created and third.number == 3 and third.pdf_sha256 != first.pdf_sha256  # the version number is printed
    assert service.accept(session, actor, third.id, name="Åsa Öberg", title="Chef", confirmed=True, now=now()).accepted_at  # type: ignore[arg-type]
    assert service.generate(session, settings, keys, actor, lang="sv", now=now()) == (third, False)
    assert second.accepted_at is None


def test_generation_needs_the_details_and_the_provider(session: Session, settings: Settings, keys: KeyRing) -> None:
    customer = make_account(session)
    with pytest.raises(ProviderNotConfigured) as missing:
        service.generate(session, settings, keys, system(customer), lang="sv", now=now())
    assert "GOVSMS_PROVIDER_NAME" in missing.value.fields["provider"] and missing.value.status_code == 409
    configured = settings.model_copy(update={"provider_name": "Leverantören AB", "provider_org_number": "559900-1122"})
    with pytest.raises(InvalidInput) as refused:
        service.generate(session, configured, keys, system(customer), lang="sv", now=now())
    assert {"signatory_name", "contact_email"} <= set(refused.value.fields)
    with pytest.raises(InvalidInput):
        service.save_details(session, system(customer), {**DETAILS, "contact_email": "inte en adress"}, now=now())
    with pytest.raises(InvalidInput):
        service.generate(session, configured, keys, system(customer), lang="de", now=now())


def test_another_account_cannot_see_the_agreements(client: TestClient, session: Session, settings: Settings, keys: KeyRing) -> None:
    _, customer = provider_and_customer(session)
    version, _ = service.generate(session, settings, keys, system(customer), lang="sv", now=now())
    other = make_account(session)
    user, password = make_user(session, other, roles={Role.ADMIN})
    with pytest.raises(NotFound):
        service.download(session, actor_for_user(user, other), version.id, now=now())  # type: ignore[arg-type]
    assert service.list_versions(session, actor_for_user(user, other)) == []
    login(client, user.email, password)
    assert client.get(f"/dpa/versions/{version.id}/pdf").status_code == 404
    page = client.get("/dpa").text
    assert version.pdf_sha256 not in page and "Åsa Öberg" not in page
    _, key = make_api_key(session, other, roles={Role.ADMIN})
    response = client.get(f"/api/v1/dpa/versions/{version.id}/pdf", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 404
    assert client.get("/api/v1/dpa", headers={"Authorization": f"Bearer {key}"}).json()["versions"] == []


def test_pages_and_api(client: TestClient, session: Session, settings: Settings) -> None:
    _, customer = provider_and_customer(session)
    admin, password = make_user(session, customer, roles={Role.ADMIN})
    login(client, admin.email, password)
    page = client.get("/dpa")
    assert page.status_code == 200 and "Åsa Öberg" in page.text and "Inget avtal har skapats än" in page.text
    preview = client.get("/dpa/preview?lang=en")
    assert preview.status_code == 200 and "Annex II" in preview.text and "Kommunen Väst" in preview.text
    assert post_form(client, "/dpa/details", {**DETAILS, "contact_email": "fel"}, token_from="/dpa").status_code == 422
    assert post_form(client, "/dpa/generate", {"lang": "sv"}, token_from="/dpa").headers["location"] == "/dpa?done=generated"
    page = client.get("/dpa").text
    assert "Godkänn version 1" in page
    version = service.list_versions(session, system(customer))[0]
    download = client.get(f"/dpa/versions/{version.id}/pdf")
    assert download.headers["content-type"] == "application/pdf" and hashlib.sha256(download.content).hexdigest() == version.pdf_sha256
    accepted = post_form(client, f"/dpa/versions/{version.id}/accept", {"name": "Åsa Öberg", "title": "Chef", "confirm": "yes"}, token_from="/dpa")
    assert accepted.status_code == 303
    assert "Version 1 godkändes" in client.get("/dpa").text
    _, key = make_api_key(session, customer, roles={Role.AUDITOR})
    status = client.get("/api/v1/dpa", headers={"Authorization": f"Bearer {key}"}).json()
    assert status["accepted_version"] == 1 and status["versions"][0]["pdf_sha256"] == version.pdf_sha256
    pdf = client.get("/api/v1/dpa/pdf?lang=sv", headers={"Authorization": f"Bearer {key}"})
    assert pdf.status_code == 200 and pdf.headers["x-document-sha256"] == hashlib.sha256(pdf.content).hexdigest() == version.pdf_sha256
    assert client.get("/api/v1/dpa/pdf?lang=en", headers={"Authorization": f"Bearer {key}"}).status_code == 404
    assert client.post("/api/v1/dpa/versions", json={"lang": "en"}, headers={"Authorization": f"Bearer {key}"}).status_code == 403
    _, admin_key = make_api_key(session, customer, roles={Role.ADMIN})
    made = client.post("/api/v1/dpa/versions", json={"lang": "en"}, headers={"Authorization": f"Bearer {admin_key}"})
    assert made.status_code == 201 and made.json()["number"] == 2 and made.json()["created"] is True
    again = client.post("/api/v1/dpa/versions", json={"lang": "en"}, headers={"Authorization": f"Bearer {admin_key}"})
    assert again.status_code == 200 and again.json()["number"] == 2
    english = client.get("/api/v1/dpa/pdf?lang=en", headers={"Authorization": f"Bearer {key}"})
    assert english.status_code == 200 and english.headers["x-dpa-version"] == "2"
    _, sender_key = make_api_key(session, customer, roles={Role.SENDER})
    for path in ("/api/v1/dpa", "/api/v1/dpa/pdf", f"/api/v1/dpa/versions/{version.id}/pdf"):
        assert client.get(path, headers={"Authorization": f"Bearer {sender_key}"}).status_code == 403, path
    actions = [event.action for event in session.execute(select(AuditEvent).where(AuditEvent.account_id == customer.id).order_by(AuditEvent.seq)).scalars()]
    assert actions.count("dpa.downloaded") == 3 and "dpa.details_viewed" in actions


def test_operator_edits_registry_and_storage_times(client: TestClient, session: Session) -> None:
    provider = make_account(session, name="Leverantören AB", org_number="559900-1122", is_provider=True)
    operator, password = make_user(session, provider, roles={Role.OPERATOR})
    login(client, operator.email, password)
    assert "Underbiträden och lagringstider" in client.get("/operator/dpa").text
    added = post_form(
        client, "/operator/subprocessors", {"name": "Nya Operatören AB", "org_number": "556", "country": "se", "city": "Luleå", "purpose": "SMSC"},
        token_from="/operator/dpa",
    )
    assert added.status_code == 303
    bad = post_form(client, "/operator/subprocessors", {"name": "", "country": "XX", "purpose": ""}, token_from="/operator/dpa")
    assert bad.status_code == 422 and 'aria-invalid="true"' in bad.text
    assert post_form(client, "/operator/retention", {"category": "outbound_messages", "days": "30"}, token_from="/operator/dpa").status_code == 303
    assert post_form(client, "/operator/retention", {"category": "outbound_messages", "days": "0"}, token_from="/operator/dpa").status_code == 422
    assert post_form(client, "/operator/retention", {"category": "outbound_messages", "days": ""}, token_from="/operator/dpa").status_code == 422
    page = client.get("/operator/dpa").text
    assert "Nya Operatören AB" in page and "30 dagar" in page
    entry = registry.active_subprocessors(session)[0]
    assert entry.country == "SE"
    assert post_form(client, "/operator/subprocessors", {"remove": str(entry.id)}, token_from="/operator/dpa").status_code == 303
    assert registry.active_subprocessors(session) == []


def test_audit_details_take_a_document_hash_only_as_such() -> None:
    from govsms.audit.record import _check_details

    digest = hashlib.sha256(b"x").hexdigest()
    _check_details({"document": f"sha256:{digest}", "version": 3})
    for refused in ({"other": f"sha256:{digest}"}, {"document": "sha256:0701234567"}, {"document": digest}):
        with pytest.raises(ValueError):
            _check_details(refused)


def test_annex_three_says_what_is_deleted_automatically(session: Session, settings: Settings, keys: KeyRing) -> None:
    _, customer = provider_and_customer(session)
    actor = system(customer)
    with language("sv"):
        html = service.preview(session, settings.model_copy(update={"scheduler_enabled": True}), keys, actor, lang="sv", now=now())
        assert ("Ett schemalagt jobb raderar dem automatiskt för: Skickade sms, Mottagna sms, Uppladdade mottagarfiler, Åtkomstlogg, "
                "Kundens användare, Statistik;") in html
        html = service.preview(session, settings.model_copy(update={"scheduler_enabled": False}), keys, actor, lang="sv", now=now())
        assert "Automatisk gallring är avstängd" in html and "schemalagt jobb" not in html


def test_transfers_outside_the_eea_need_a_safeguard(session: Session, settings: Settings, keys: KeyRing, tmp_path: Path) -> None:
    provider, customer = provider_and_customer(session)
    with pytest.raises(InvalidInput) as refused:
        registry.add_subprocessor(session, system(provider), name="Cloud Inc", country="US", city="Seattle", purpose="Backup",
                                  org_number="", now=now())
    assert set(refused.value.fields) == {"safeguard"}
    registry.add_subprocessor(session, system(provider), name="Cloud Inc", country="US", city="Seattle", purpose="Backup",
                              org_number="", safeguard="EU-kommissionens standardavtalsklausuler (2021/914)", now=now())
    version, _ = service.generate(session, settings, keys, system(customer), lang="sv", now=now())
    assert json.loads(version.annexes)["transfers_outside_eea"] is True
    text = pdf_text(service.download(session, system(customer), version.id, now=now())[1], tmp_path)  # type: ignore[arg-type]
    assert "standardavtalsklausuler (2021/914)" in text and "utanför EU/EES" in text and "Seattle" in text
    assert "inga Personuppgifter till länder utanför EU/EES" not in text


def test_annex_three_states_the_password_rules_and_two_step_login(session: Session, settings: Settings, keys: KeyRing) -> None:
    """The agreement's security measures say what the product enforces: common and guessable
    passwords refused, two-step login, and the roles the provider requires it for."""
    from govsms.accounts.totp import set_required_roles

    _, customer = provider_and_customer(session)
    actor = system(customer)
    with language("en"):
        html = service.preview(session, settings, keys, actor, lang="en", now=now())
        assert "lists of common passwords" in html and "two-step login (TOTP (RFC 6238)" in html
        assert "it is required for the roles" not in html
    set_required_roles(session, None, {Role.ADMIN, Role.DPO}, now=now())
    with language("sv"):
        html = service.preview(session, settings, keys, actor, lang="sv", now=now())
        assert "vanliga lösenord" in html and "den krävs för rollerna admin, dpo" in html
