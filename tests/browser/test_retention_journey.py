"""In Chromium: the admin shortens the storage time of sent SMS on /settings/retention and sees the
next purge's preview take the old messages, the DPA page then offers a new version and says why,
and that version's Annex II (the PDF, read back with pdftotext) states the new time; a sender has
no way to the page; the DPO places a legal hold on one number and the preview then counts its
messages as held."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from playwright.sync_api import Page, expect

from govsms.accounts.models import Account
from govsms.auth import Actor, Role
from govsms.db import make_engine, make_session_factory, session_scope
from govsms.dpa.service import save_details
from govsms.keys.ring import load_key_ring
from govsms.keys.store import make_vault
from govsms.retention.service import storage_time_in_force
from govsms.sending.pricing import seed_default_prices
from govsms.sending.statistics import roll_up
from tests.browser.conftest import LiveServer
from tests.browser.test_accounts_journey import log_in
from tests.dpa.test_dpa import DETAILS, pdf_text
from tests.factories import make_account, make_user, now
from tests.retention.test_purge import HELD_NUMBER, send


def test_admin_shortens_a_storage_time_and_the_dpa_states_it(live_server: LiveServer, page: Page, browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with live_server.session() as session:
        make_account(session, name="Leverantören AB", org_number="559900-1122", is_provider=True)
        account = make_account(session, name="Kommunen i Åre", org_number="212000-2346")
        account_id = account.id
        admin, admin_password = make_user(session, account, roles={Role.ADMIN})
        sender, sender_password = make_user(session, account, roles={Role.SENDER})
        dpo, dpo_password = make_user(session, account, roles={Role.DPO})
        admin_email, sender_email, dpo_email = admin.email, sender.email, dpo.email
    settings = live_server.settings
    with session_scope(make_session_factory(make_engine(settings.resolved_database_url), vault=make_vault(settings, load_key_ring(settings)))) as session:
        save_details(session, Actor.system(account_id, "Kommunen i Åre"), DETAILS, now=now())  # Annex I, as the DPA journey fills it in
        # Three SMS sent 45 days ago (inside the 90 days of the maximum, past the 30 the admin
        # chooses), their days rolled up into the statistics so that the purge may take them.
        moment = datetime.now(UTC)
        seed_default_prices(session, now=moment - timedelta(days=50))
        send(session, session.get(Account, account_id), ["0701000001", "0701000002", HELD_NUMBER], at=moment - timedelta(days=45))
        roll_up(session, now=moment)

    log_in(page, live_server.url, admin_email, admin_password)
    page.goto(f"{live_server.url}/dpa")
    page.locator("select#lang").select_option("sv")
    page.get_by_role("button", name="Skapa pdf").click()
    expect(page.locator("#version-1")).to_contain_text("Senaste")

    page.get_by_role("navigation", name="Huvudmeny").get_by_role("link", name="Lagringstider").click()
    row = page.locator("#category-outbound_messages")
    expect(row).to_contain_text("90 dagar")
    expect(page.get_by_label("Dagar för Skickade sms")).to_have_attribute("max", "90")  # the browser refuses more
    page.get_by_label("Dagar för Skickade sms").fill("30")
    page.get_by_role("button", name="Spara lagringstider").click()
    expect(page.get_by_role("status").first).to_contain_text("Lagringstiderna är sparade")
    expect(row.locator(".in-force")).to_contain_text("30 dagar")
    expect(row.locator(".next-run")).to_contain_text("Nästa rensning: skulle radera 3")
    expect(page.locator("#holds-link")).to_have_count(0)  # the admin places no legal hold
    with live_server.session() as session:
        assert storage_time_in_force(session, account_id, "outbound_messages") == 30

    page.get_by_role("link", name="Personuppgiftsbiträdesavtal").last.click()
    expect(page.locator("#new-version")).to_contain_text("En ny version finns")
    expect(page.locator("#new-version")).to_contain_text("Bilaga II: lagringstiden för Skickade sms har ändrats från 90 dagar till 30 dagar.")
    with page.expect_popup() as popup:
        page.locator("#preview-sv").click()
    preview = popup.value
    expect(preview.locator("#storage-times tbody tr").first).to_contain_text("Skickade sms")
    expect(preview.locator("#storage-times tbody tr").first).to_contain_text("30 dagar, räknat från sändningen")
    preview.close()
    page.locator("select#lang").select_option("sv")
    page.get_by_role("button", name="Skapa pdf").click()
    expect(page.locator("#version-2")).to_contain_text("Senaste")
    expect(page.locator("#new-version")).to_have_count(0)
    with page.expect_download() as download_info:
        page.locator("#version-2").get_by_role("link", name="Ladda ner pdf").click()
    text = pdf_text(Path(download_info.value.path()).read_bytes(), tmp_path)
    annex_2 = text[text.index("Bilaga II"):]
    assert "30 dagar, räknat från sändningen" in annex_2, annex_2[:2000]
    assert "90 dagar, räknat från sändningen" not in annex_2

    sender_page = browser.new_context(locale="sv-SE").new_page()
    sender_page.set_default_timeout(10_000)
    log_in(sender_page, live_server.url, sender_email, sender_password)
    expect(sender_page.get_by_role("navigation", name="Huvudmeny").get_by_role("link", name="Lagringstider")).to_have_count(0)
    assert sender_page.goto(f"{live_server.url}/settings/retention").status == 403
    sender_page.context.close()

    dpo_page = browser.new_context(locale="sv-SE").new_page()
    dpo_page.set_default_timeout(10_000)
    log_in(dpo_page, live_server.url, dpo_email, dpo_password)
    dpo_page.get_by_role("navigation", name="Huvudmeny").get_by_role("link", name="Lagringstider").click()
    dpo_page.locator("#holds-link").get_by_role("link", name="Bevarandebeslut").click()
    expect(dpo_page.locator("#holds")).to_contain_text("Inget bevarandebeslut gäller")
    dpo_page.get_by_label("Ett nummer").check()
    dpo_page.get_by_label("Nummer", exact=True).fill(HELD_NUMBER)
    dpo_page.get_by_label("Skäl").fill("Tvist om ett utskick")
    dpo_page.get_by_label("Till och med (datum)").fill((now().date() + timedelta(days=60)).isoformat())
    dpo_page.get_by_role("button", name="Lägg bevarandebeslutet").click()
    expect(dpo_page.get_by_role("status").first).to_contain_text("Bevarandebeslutet är lagt")
    expect(dpo_page.locator("#holds tbody tr")).to_have_count(1)
    expect(dpo_page.locator("#holds tbody tr").first).to_contain_text("Ett nummer (bevaras)")
    expect(dpo_page.locator("#holds tbody tr").first).to_contain_text("Tvist om ett utskick")
    assert HELD_NUMBER not in dpo_page.url and HELD_NUMBER not in dpo_page.content()
    dpo_page.get_by_role("link", name="Lagringstider").first.click()
    expect(dpo_page.locator("#category-outbound_messages .next-run")).to_contain_text(
        "Nästa rensning: skulle radera 2; 1 bevaras av ett bevarandebeslut"
    )
    dpo_page.context.close()
