"""In Chromium: a sender imports an XLSX with bad rows, checks the preview, confirms, finds the
contacts in the group; a user of another account sees none of them; the auditor finds the accesses."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page, expect

from govsms.auth import Role
from govsms.contacts.filereader import write_xlsx
from tests.browser.conftest import LiveServer
from tests.browser.test_accounts_journey import log_in
from tests.factories import make_account, make_user

ROWS = [
    ("070-111 22 33", "Åsa Lindström"),
    ("0701112234", "Örjan Berg"),
    ("inte ett nummer", "Fel Felsson"),
    ("0701", "Kort Nummer"),
    ("+46 70 111 22 33", "Åsa igen"),
    ("+47 412 34 567", "Kari Nordmann"),
]


def test_import_with_preview_then_group_and_isolation(live_server: LiveServer, page: Page, tmp_path: Path) -> None:
    with live_server.session() as session:
        mine, theirs = make_account(session, name="Region Ö"), make_account(session, name="Annan Kund AB")
        sender, sender_password = make_user(session, mine, roles={Role.SENDER})
        auditor, auditor_password = make_user(session, mine, roles={Role.AUDITOR})
        stranger, stranger_password = make_user(session, theirs, roles={Role.SENDER})
        logins = {"sender": (sender.email, sender_password), "auditor": (auditor.email, auditor_password), "stranger": (stranger.email, stranger_password)}
    upload = tmp_path / "mottagare.xlsx"
    upload.write_bytes(write_xlsx(ROWS, ("Mobilnummer", "Namn")))

    log_in(page, live_server.url, *logins["sender"])
    page.get_by_role("navigation", name="Huvudmeny").get_by_role("link", name="Kontakter").click()
    page.get_by_role("link", name="Importera från fil").click()
    page.get_by_label("Fil").set_input_files(str(upload))
    page.get_by_role("button", name="Granska filen").click()

    expect(page.get_by_role("heading", name="Granska importen")).to_be_visible()
    expect(page.locator("#valid-count")).to_have_text("3")
    expect(page.locator("#invalid-count")).to_have_text("2")
    expect(page.locator("#duplicate-count")).to_have_text("1")
    invalid = page.locator("#invalid-rows")
    expect(invalid).to_contain_text("inte ett nummer")
    expect(invalid).to_contain_text("Innehåller bokstäver")
    expect(invalid.get_by_role("row").nth(1)).to_contain_text("4")  # the row number as in Excel (header is row 1)
    expect(page.locator("#duplicate-rows")).to_contain_text("+46 70 111 22 33")
    page.screenshot(path=str(tmp_path / "preview.png"), full_page=True)

    page.get_by_label("Namn på ny grupp").fill("Vårdnadshavare")
    page.get_by_role("button", name="Importera 3 nummer").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Vårdnadshavare")
    expect(page.locator("#import-result")).to_contain_text("3 nya kontakter")
    members = page.locator("#members")
    for text in ("+46701112233", "Åsa Lindström", "Örjan Berg", "+4741234567", "Kari Nordmann"):
        expect(members).to_contain_text(text)
    expect(members).not_to_contain_text("Fel Felsson")
    page.screenshot(path=str(tmp_path / "group.png"), full_page=True)
    group_url = page.url.split("?")[0]
    contact_url = members.get_by_role("link", name="+46701112233").get_attribute("href")
    page.get_by_role("button", name="Logga ut").click()

    log_in(page, live_server.url, *logins["stranger"])
    page.goto(f"{live_server.url}/contacts")
    expect(page.get_by_text("Inga kontakter ännu")).to_be_visible()
    page.get_by_label("Sök ett nummer").fill("070-111 22 33")
    page.get_by_role("button", name="Sök").click()
    expect(page.get_by_text("Ingen kontakt har det här numret.")).to_be_visible()
    page.goto(group_url)
    expect(page.get_by_role("heading", level=1)).to_have_text("Hittades inte")
    page.goto(f"{live_server.url}{contact_url}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Hittades inte")
    page.goto(f"{live_server.url}/groups")
    expect(page.get_by_text("Vårdnadshavare")).to_have_count(0)
    page.get_by_role("button", name="Logga ut").click()

    log_in(page, live_server.url, *logins["auditor"])
    page.goto(f"{live_server.url}/audit")
    page.get_by_label("Telefonnummer").fill("0701112233")
    page.get_by_role("button", name="Visa").click()
    rows = page.locator("table tbody")
    expect(rows).to_contain_text("Kontakter importerade")
    expect(rows).to_contain_text("Kontakter listade")
    expect(page.locator("main")).not_to_contain_text("Åsa Lindström")
