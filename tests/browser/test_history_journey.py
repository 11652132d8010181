"""In Chromium (issue 15, Done-when #2): a sender sends with _BLOCKSMSLINK_, opens the dispatch in
the history and sees its text, shows one recipient's SMS with their own opt-out link, and the
recipient (a new browser context: not logged in) follows that link and opts out; the number is
then blocked; the dashboard shows the month's messages, parts and cost. Both backends."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

from playwright.sync_api import Page, expect

from govsms.auth import Role
from tests.factories import make_account, make_user
from tests.served import Served, backend, serve  # noqa: F401

TEXT = "Simskolan börjar måndag 18.00. Inga fler sms: _BLOCKSMSLINK_"


def log_in(page: Page, url: str, email: str, password: str) -> None:
    page.goto(f"{url}/login")
    page.get_by_label("E-postadress").fill(email)
    page.get_by_label("Lösenord").fill(password)
    page.get_by_role("button", name="Logga in").click()
    expect(page).not_to_have_url(re.compile(r"/login"))


def test_send_find_the_text_in_history_and_the_recipient_opts_out(serve, page: Page, browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    served: Served = serve()
    with served.session() as session:
        account = make_account(session, name="Simhallen i Umeå")
        user, password = make_user(session, account, roles={Role.SENDER})
        email = user.email
    log_in(page, served.url, email, password)

    page.goto(f"{served.url}/send")
    page.get_by_label("Från").fill("Simhallen")
    page.get_by_label("Nummer", exact=True).fill("070-123 45 67\n0702345678")
    page.get_by_label("Meddelande").fill(TEXT)
    page.get_by_role("button", name="Fortsätt till sammanfattningen").click()
    expect(page.locator("#accepted")).to_have_text("2")
    page.get_by_role("button", name="Skicka 2 sms").click()
    expect(page.get_by_role("status")).to_contain_text("på väg")

    # The history: the dispatch's text in the list and on its page, every opt-out link masked.
    page.get_by_role("navigation", name="Huvudmeny").get_by_role("link", name="Skickat").click()
    row = page.locator("#dispatches tbody tr").first
    expect(row).to_contain_text("Simskolan börjar måndag 18.00.")
    expect(row.locator(".dispatch-state")).to_have_text("Väntar på att skickas")
    page.screenshot(path=str(tmp_path / "history.png"), full_page=True)
    row.get_by_role("link").first.click()
    expect(page.locator("#dispatch-text")).to_contain_text("Simskolan börjar måndag 18.00. Inga fler sms:")
    expect(page.locator("#dispatch-text")).to_contain_text("/u/************")
    expect(page.locator("#messages tbody tr")).to_have_count(2)
    page.screenshot(path=str(tmp_path / "dispatch.png"), full_page=True)

    # One recipient's SMS as they got it: the number in clear (readable) and their own link.
    masked_row = page.locator("#messages tbody tr").filter(has_text="*** ** 67")
    masked_row.get_by_role("button", name=re.compile(r"^Visa text till \+46 70 \*\*\* \*\* 67$")).click()
    expect(page.locator("#shown-recipient")).to_have_text("+46 70 123 45 67")
    shown = page.locator("#shown-text").inner_text()
    match = re.fullmatch(r"Simskolan börjar måndag 18\.00\. Inga fler sms: (\S+/u/([A-Za-z0-9_-]{12}))", shown.strip())
    assert match, shown
    link = match.group(1)
    page.screenshot(path=str(tmp_path / "shown.png"), full_page=True)

    # The recipient's phone: not logged in. The link names the public address; the test's server
    # listens elsewhere, so the same path is opened on it.
    recipient = browser.new_context(locale="sv-SE").new_page()
    recipient.goto(served.url + urlsplit(link).path)
    expect(recipient.get_by_role("heading", level=1)).to_contain_text("Stoppa sms från Simhallen i Umeå")
    recipient.get_by_role("button", name="Ja, stoppa sms").click()
    expect(recipient.locator("#done-sv")).to_contain_text("Du får inga fler sms från Simhallen i Umeå")
    recipient.context.close()

    page.goto(f"{served.url}/blocklist")
    page.get_by_label("Nummer").fill("0701234567")
    page.get_by_role("button", name="Kontrollera").click()
    expect(page.locator("#check-result")).to_contain_text("Blockerat sedan")
    page.get_by_label("Nummer").fill("0702345678")
    page.get_by_role("button", name="Kontrollera").click()
    expect(page.locator("#check-result")).to_have_text("Inte blockerat.")  # the other recipient's link was not used

    # The dashboard: this month's figures (two SMS of one part at 0,45 kr).
    page.goto(f"{served.url}/")
    expect(page.locator('[data-figure="messages"]')).to_have_text(re.compile(r"^\s*2\s*$"))
    expect(page.locator('[data-figure="parts"]')).to_have_text(re.compile(r"^\s*2\s*$"))
    expect(page.locator('[data-figure="cost"]')).to_contain_text("0,90")
    page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
