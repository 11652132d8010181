"""Journeys a person takes in Chromium: an admin adds a sender, who then sees only sending."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from govsms.auth import Role
from tests import sensitive
from tests.browser.conftest import LiveServer
from tests.factories import make_account, make_user


def log_in(page: Page, url: str, email: str, password: str) -> None:
    page.goto(f"{url}/login")
    page.get_by_label("E-postadress").fill(email)
    page.get_by_label("Lösenord").fill(password)
    page.get_by_role("button", name="Logga in").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Välkommen")


def test_admin_creates_sender_who_sees_only_sender_navigation(live_server: LiveServer, page: Page, tmp_path) -> None:  # type: ignore[no-untyped-def]
    with live_server.session() as session:
        account = make_account(session, name="Vårdcentralen Åre AB")
        admin, admin_password = make_user(session, account, roles={Role.ADMIN}, display_name="Åsa Admin")
        admin_email = admin.email

    log_in(page, live_server.url, admin_email, admin_password)
    navigation = page.get_by_role("navigation", name="Huvudmeny")
    expect(navigation.get_by_role("link", name="Användare")).to_be_visible()
    expect(page.get_by_text("Vårdcentralen Åre AB").first).to_be_visible()

    navigation.get_by_role("link", name="Användare").click()
    sender_password = sensitive.register("Sändarens-långa-lösen-åäö")
    page.get_by_label("E-postadress").fill("soren@vardcentralen.example")
    page.get_by_label("Namn", exact=True).fill("Sören Sändare")
    page.get_by_label("Första lösenord").fill(sender_password)
    page.get_by_label("Avsändare").check()
    page.get_by_role("button", name="Skapa användare").click()
    expect(page.get_by_role("status")).to_contain_text("Användaren skapades.")
    expect(page.get_by_role("cell", name="soren@vardcentralen.example")).to_be_visible()
    page.screenshot(path=str(tmp_path / "users.png"), full_page=True)

    page.get_by_role("button", name="Logga ut").click()
    expect(page.get_by_role("heading", name="Logga in i govsms")).to_be_visible()

    log_in(page, live_server.url, "soren@vardcentralen.example", sender_password)
    navigation = page.get_by_role("navigation", name="Huvudmeny")
    links = [link.inner_text() for link in navigation.get_by_role("link").all()]
    assert links == ["Översikt", "Skicka sms", "Skickat", "Inkorg", "Blockeringslista", "Statistik", "Kontakter", "Grupper"], links
    expect(page.get_by_text("Avsändare").first).to_be_visible()
    page.goto(f"{live_server.url}/settings/users")
    expect(page.get_by_role("heading", level=1)).to_have_text("Inte tillåtet")


def test_wrong_passwords_lock_the_login_and_the_page_says_so(live_server: LiveServer, page: Page) -> None:
    with live_server.session() as session:
        user, password = make_user(session, make_account(session))
        email = user.email
    page.goto(f"{live_server.url}/login")
    for _ in range(5):
        page.get_by_label("E-postadress").fill(email)
        page.get_by_label("Lösenord").fill("fel-lösenord-igen")
        page.get_by_role("button", name="Logga in").click()
    expect(page.get_by_role("alert")).to_contain_text("inloggningen är låst i 15 minuter")
    page.get_by_label("Lösenord").fill(password)
    page.get_by_role("button", name="Logga in").click()
    expect(page.get_by_role("alert")).to_contain_text("låst")


def test_required_two_step_login_enrol_then_log_in_with_a_code(live_server: LiveServer, page: Page, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import time

    from govsms.accounts.totp import set_required_roles
    from tests.accounts.test_totp import rfc6238
    from tests.factories import now

    with live_server.session() as session:
        account = make_account(session, name="Region Gävleborg")
        admin, password = make_user(session, account, roles={Role.ADMIN}, display_name="Åsa Admin")
        email = admin.email
        set_required_roles(session, None, {Role.ADMIN}, now=now())

    page.goto(f"{live_server.url}/login")
    page.get_by_label("E-postadress").fill(email)
    page.get_by_label("Lösenord").fill(password)
    page.get_by_role("button", name="Logga in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Ställ in tvåstegsinloggning")
    expect(page.get_by_text("Din roll kräver tvåstegsinloggning")).to_be_visible()
    expect(page.locator(".qr svg")).to_be_visible()
    page.screenshot(path=str(tmp_path / "enrol.png"), full_page=True)
    secret = sensitive.register(page.locator("#totp-secret").inner_text().replace(" ", ""))
    page.goto(f"{live_server.url}/settings/users")  # nothing else is reachable before enrolment
    expect(page.get_by_role("heading", name="Logga in i govsms")).to_be_visible()
    page.goto(f"{live_server.url}/login/enrol")
    page.get_by_label("Kod från appen").fill(rfc6238(secret, time.time()))
    page.get_by_role("button", name="Slå på tvåstegsinloggning").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Dina reservkoder")
    assert page.locator("li.recovery-code").count() == 10
    page.get_by_role("link", name="Jag har sparat dem: fortsätt").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Välkommen")

    page.get_by_role("button", name="Logga ut").click()
    page.get_by_label("E-postadress").fill(email)
    page.get_by_label("Lösenord").fill(password)
    page.get_by_role("button", name="Logga in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Tvåstegsinloggning")
    page.get_by_label("Kod från din autentiseringsapp").fill("000000" if rfc6238(secret, time.time()) != "000000" else "111111")
    page.get_by_role("button", name="Logga in").click()
    expect(page.get_by_role("alert")).to_contain_text("Fel kod")
    page.get_by_label("Kod från din autentiseringsapp").fill(rfc6238(secret, time.time() + 30))  # the enrolment's code is used up
    page.get_by_role("button", name="Logga in").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Välkommen")
