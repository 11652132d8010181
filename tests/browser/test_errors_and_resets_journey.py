"""Chromium (issue 15 items 5, 8, 9): a Swedish user in an English browser gets Swedish error pages
with the navigation (404, CSRF); a group is deleted after its confirmation page; an admin resets a
user's password and the user chooses a new one at the next login."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from govsms.auth import Role
from govsms.contacts import groups
from tests.browser.conftest import LiveServer
from tests.factories import make_account, make_password, make_user, now, system
from tests.served import Served, backend, serve  # noqa: F401


def _log_in(page: Page, url: str, email: str, password: str) -> None:
    page.goto(f"{url}/login")
    page.locator("#email").fill(email)  # the login page is in the browser's language: no user yet
    page.locator("#password").fill(password)
    page.locator("form[action='/login'] button[type=submit]").click()


def test_swedish_error_pages_in_an_english_browser(serve, browser, tmp_path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    live_server: Served = serve()
    with live_server.session() as session:
        account = make_account(session, name="Miljökontoret Orsa")
        user, password = make_user(session, account, roles={Role.SENDER}, language="sv")
        group = groups.create_group(session, system(account), name="Tillsyn 2026", now=now())
        email, group_id = user.email, group.id
    context = browser.new_context(locale="en-US")  # Accept-Language: en-US; the user's language is Swedish
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        _log_in(page, live_server.url, email, password)
        expect(page.get_by_role("heading", level=1)).to_contain_text("Välkommen")

        page.goto(f"{live_server.url}/finns/inte")
        expect(page.get_by_role("heading", level=1)).to_have_text("Hittades inte")
        expect(page.get_by_role("navigation", name="Huvudmeny").get_by_role("link", name="Skicka sms")).to_be_visible()
        page.screenshot(path=str(tmp_path / "404.png"), full_page=True)

        page.goto(f"{live_server.url}/groups/{group_id}")
        page.locator("input[name=_csrf_token]").evaluate_all("inputs => inputs.forEach(input => input.value = 'forged')")
        page.get_by_role("button", name="Spara ändringar").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Inte tillåtet")
        expect(page.get_by_text("Formuläret hade gått ut")).to_be_visible()
        expect(page.get_by_role("navigation", name="Huvudmeny")).to_be_visible()
        page.screenshot(path=str(tmp_path / "csrf.png"), full_page=True)

        page.goto(f"{live_server.url}/groups/{group_id}")
        page.get_by_role("link", name="Radera gruppen…").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Radera gruppen")
        expect(page.get_by_text("Tillsyn 2026")).to_be_visible()
        page.get_by_role("link", name="Avbryt").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Tillsyn 2026")  # nothing deleted
        page.get_by_role("link", name="Radera gruppen…").click()
        page.get_by_role("button", name="Ja, radera gruppen").click()
        expect(page.get_by_role("status")).to_contain_text("Gruppen raderades")
    finally:
        context.close()


def test_admin_resets_a_password_and_the_user_chooses_a_new_one(live_server: LiveServer, page: Page, browser) -> None:  # type: ignore[no-untyped-def]
    with live_server.session() as session:
        account = make_account(session, name="Fritidsförvaltningen Rättvik")
        admin, admin_password = make_user(session, account, roles={Role.ADMIN}, language="sv")
        user, _forgotten = make_user(session, account, roles={Role.SENDER}, language="sv")
        admin_email, user_email, user_id = admin.email, user.email, user.id

    _log_in(page, live_server.url, admin_email, admin_password)
    page.goto(f"{live_server.url}/settings/users/{user_id}")
    page.get_by_role("button", name="Återställ lösenordet").click()
    expect(page.get_by_role("heading", name=re.compile("Engångslösenord för"))).to_be_visible()
    one_time = page.locator("#one-time-password").inner_text()
    assert re.fullmatch(r"[a-z2-9]{4}(-[a-z2-9]{4}){3}", one_time)

    context = browser.new_context(locale="sv-SE")
    other = context.new_page()
    other.set_default_timeout(10_000)
    try:
        _log_in(other, live_server.url, user_email, one_time)
        expect(other.get_by_role("heading", level=1)).to_have_text("Välj ett nytt lösenord")
        other.goto(f"{live_server.url}/send")  # nothing else is open to the one-time password
        expect(other.locator("form[action='/login']")).to_be_visible()
        _log_in(other, live_server.url, user_email, one_time)
        new_password = make_password()
        other.get_by_label("Nytt lösenord").fill(new_password)
        other.get_by_label("Det nya lösenordet igen").fill(new_password)
        other.get_by_role("button", name="Spara lösenordet och fortsätt").click()
        expect(other.get_by_role("heading", level=1)).to_contain_text("Välkommen")
    finally:
        context.close()
