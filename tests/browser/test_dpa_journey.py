"""In Chromium: an admin fills in the DPA form, previews, generates, downloads and accepts; the
auditor then finds both events in /audit with the downloaded file's SHA-256."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path

from playwright.sync_api import Page, expect

from govsms.auth import Actor, Role
from govsms.clock import LOCAL_TIME
from govsms.dpa.registry import add_subprocessor
from tests.browser.conftest import LiveServer
from tests.browser.test_accounts_journey import log_in
from tests.factories import make_account, make_user, now, system


def test_admin_generates_downloads_and_accepts_auditor_sees_the_hash(live_server: LiveServer, page: Page, browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with live_server.session() as session:
        provider = make_account(session, name="Leverantören AB", org_number="559900-1122", is_provider=True)
        provider_id = provider.id
        add_subprocessor(session, system(provider), name="Operatören AB", org_number="556111-2222", country="SE", city="Stockholm",
                         purpose="Levererar sms", now=now())
        account = make_account(session, name="Kommunen i Åre", org_number="212000-2346")
        admin, admin_password = make_user(session, account, roles={Role.ADMIN})
        auditor, auditor_password = make_user(session, account, roles={Role.AUDITOR})
        admin_email, auditor_email = admin.email, auditor.email

    log_in(page, live_server.url, admin_email, admin_password)
    page.get_by_role("navigation", name="Huvudmeny").get_by_role("link", name="Personuppgiftsbiträdesavtal").click()
    expect(page.locator("#no-version")).to_contain_text("Inget avtal har skapats än")
    page.get_by_label("Undertecknarens namn").fill("Åsa Öberg")
    page.get_by_label("Undertecknarens titel").fill("Kommundirektör")
    page.get_by_label("Kontaktperson", exact=True).fill("Sören Ärlig")
    page.get_by_label("Kontaktpersonens e-post").fill("soren@are")  # passes the browser's check, not ours
    page.get_by_role("button", name="Spara uppgifterna").click()
    expect(page.locator("#contact_email-error")).to_contain_text("namn@exempel.se")
    page.get_by_label("Kontaktpersonens e-post").fill("soren@are.example")
    page.get_by_role("button", name="Spara uppgifterna").click()
    expect(page.get_by_role("status").first).to_contain_text("Uppgifterna är sparade")

    with page.expect_popup() as popup:
        page.locator("#preview-sv").click()
    preview = popup.value
    expect(preview.locator("#annex-2")).to_contain_text("Skickade sms")
    expect(preview.locator("#annex-1")).to_contain_text("Åsa Öberg, Kommundirektör")
    expect(preview.locator("#annex-4")).to_contain_text("Operatören AB")
    preview.close()

    page.locator("select#lang").select_option("sv")
    page.get_by_role("button", name="Skapa pdf").click()
    expect(page.get_by_role("status").first).to_contain_text("En ny version är skapad")
    with page.expect_download() as download_info:
        page.locator("#version-1").get_by_role("link", name="Ladda ner pdf").click()
    path = tmp_path / "avtal.pdf"
    download_info.value.save_as(path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert path.read_bytes().startswith(b"%PDF")
    expect(page.locator("#version-1 code")).to_have_text(digest)

    expect(page.get_by_label("Ditt namn")).to_have_value("Åsa Öberg")  # prefilled from the signatory
    page.get_by_label("Jag godkänner avtalet för Kommunen i Åre").check()
    page.get_by_role("button", name="Godkänn för Kommunen i Åre").click()
    expect(page.locator("#accepted")).to_contain_text("Version 1 godkändes")
    expect(page.locator("#accepted")).to_contain_text("Åsa Öberg, Kommundirektör, för Kommunen i Åre")
    page.screenshot(path=str(tmp_path / "dpa.png"), full_page=True)

    # The operator engages a new sub-processor: the admin's page says a new version is due and why.
    with live_server.session() as session:
        add_subprocessor(session, Actor.system(provider_id, "Leverantören AB"), name="Reservoperatören AB", org_number="556333-4444", country="NO", city="Oslo",
                         purpose="Reservväg för sms", now=now())
    page.reload()
    expect(page.locator("#new-version")).to_contain_text("En ny version finns")
    effective = (now() + timedelta(days=30)).astimezone(LOCAL_TIME).strftime("%Y-%m-%d")  # after the DPA's notice (clause 6.2)
    expect(page.locator("#new-version")).to_contain_text(f"Bilaga IV: nytt underbiträde Reservoperatören AB, från {effective}.")
    page.locator("select#lang").select_option("sv")
    page.get_by_role("button", name="Skapa pdf").click()
    expect(page.locator("#version-2")).to_contain_text("Senaste")
    expect(page.locator("#version-1")).to_contain_text("Godkänd")
    expect(page.locator("#new-version")).to_have_count(0)
    with page.expect_download() as again:
        page.locator("#version-1").get_by_role("link", name="Ladda ner pdf").click()
    assert hashlib.sha256(Path(again.value.path()).read_bytes()).hexdigest() == digest  # the old version, unchanged

    auditor_page = browser.new_context(locale="sv-SE").new_page()
    auditor_page.set_default_timeout(10_000)
    log_in(auditor_page, live_server.url, auditor_email, auditor_password)
    auditor_page.goto(f"{live_server.url}/audit")
    generated = auditor_page.locator("tr", has_text="PUB-avtal skapat").filter(has_text=f"dokument sha256:{digest}")
    accepted = auditor_page.locator("tr", has_text="PUB-avtal godkänt").filter(has_text=f"dokument sha256:{digest}")
    expect(generated).to_have_count(1)  # version 1's generation (version 2 has another hash)
    expect(accepted).to_have_count(1)
    expect(auditor_page.locator("#dpa-accept")).to_have_count(0)
    auditor_page.goto(f"{live_server.url}/dpa")  # the auditor reads, cannot accept
    expect(auditor_page.locator("#accepted")).to_contain_text("Version 1 godkändes")
    expect(auditor_page.get_by_role("button", name="Spara uppgifterna")).to_have_count(0)
    auditor_page.context.close()
