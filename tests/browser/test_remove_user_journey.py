"""Chromium: an admin removes a user through the confirmation page (issue 12 item 3)."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from govsms.auth import Role
from tests.browser.conftest import LiveServer
from tests.browser.test_accounts_journey import log_in
from tests.factories import make_account, make_user


def test_admin_removes_a_user_after_confirming(live_server: LiveServer, page: Page, tmp_path) -> None:  # type: ignore[no-untyped-def]
    with live_server.session() as session:
        account = make_account(session, name="Skolförvaltningen Mora")
        admin, admin_password = make_user(session, account, roles={Role.ADMIN})
        sender, sender_password = make_user(session, account, roles={Role.SENDER})
        admin_email, sender_email = admin.email, sender.email

    log_in(page, live_server.url, admin_email, admin_password)
    page.goto(f"{live_server.url}/settings/users")
    page.get_by_role("link", name=sender_email).click()
    page.get_by_role("link", name="Ta bort användare…").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Ta bort användare")
    expect(page.get_by_text(f"Ta bort {sender_email} från kontot?")).to_be_visible()
    page.get_by_role("button", name="Ja, ta bort användaren").click()
    expect(page.get_by_role("status")).to_contain_text("Användaren togs bort")
    expect(page.get_by_role("cell", name=sender_email)).to_have_count(0)
    page.screenshot(path=str(tmp_path / "removed.png"), full_page=True)

    page.get_by_role("button", name="Logga ut").click()
    page.goto(f"{live_server.url}/login")
    page.get_by_label("E-postadress").fill(sender_email)
    page.get_by_label("Lösenord").fill(sender_password)
    page.get_by_role("button", name="Logga in").click()
    expect(page.get_by_role("alert")).to_contain_text("Fel e-postadress eller lösenord")
