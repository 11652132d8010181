"""Done-when #6 of issue 15, in Chromium: the operator adds a sub-processor today; the customer's
admin sees the banner on every page, follows it to Annex IV, which names the sub-processor "från"
the day 30 days ahead; the account's administrative address is mailed; a sender sees no banner."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect

from govsms.auth import Role
from govsms.clock import LOCAL_TIME
from govsms.dpa import notice, service
from govsms.mail import Mail
from tests.factories import make_account, make_user, now, system
from tests.served import Served, backend, serve  # noqa: F401

DETAILS = {
    "signatory_name": "Åsa Öberg", "signatory_title": "Kommundirektör", "contact_name": "Sören Ärlig",
    "contact_email": "soren@kommun.example", "contact_phone": "", "dpo_name": "", "dpo_email": "",
}


def log_in(page: Page, url: str, email: str, password: str) -> None:
    page.goto(f"{url}/login")
    page.get_by_label("E-postadress").fill(email)
    page.get_by_label("Lösenord").fill(password)
    page.get_by_role("button", name="Logga in").click()
    expect(page).not_to_have_url(re.compile(r"/login"))


def test_a_subprocessor_added_today_is_in_annex_four_from_thirty_days_and_admins_see_the_banner(  # type: ignore[no-untyped-def]
    serve, page: Page, browser, monkeypatch: pytest.MonkeyPatch,
) -> None:
    mailed: list[Mail] = []
    monkeypatch.setattr(notice, "send_mail", lambda _settings, mail: mailed.append(mail))
    served: Served = serve()
    with served.session() as session:
        provider = make_account(session, name="Leverantören AB", org_number="559900-1122", is_provider=True)
        customer = make_account(session, name="Kommunen i Åre", org_number="212000-2346", admin_email="it@are.example")
        service.save_details(session, system(customer), DETAILS, now=now())
        operator, operator_password = make_user(session, provider, roles={Role.OPERATOR})
        admin, admin_password = make_user(session, customer, roles={Role.ADMIN})
        sender, sender_password = make_user(session, customer, roles={Role.SENDER})
        logins = {"operator": (operator.email, operator_password), "admin": (admin.email, admin_password), "sender": (sender.email, sender_password)}
    effective = (now() + timedelta(days=30)).astimezone(LOCAL_TIME).strftime("%Y-%m-%d")

    log_in(page, served.url, *logins["operator"])
    page.goto(f"{served.url}/operator/dpa")
    page.locator("#sp-name").fill("Molnet Norr AB")
    page.locator("#sp-org_number").fill("556777-8888")
    page.locator("#sp-country").fill("SE")
    page.locator("#sp-city").fill("Umeå")
    page.locator("#sp-purpose").fill("Säkerhetskopior")
    page.get_by_role("button", name="Lägg till").click()
    expect(page.get_by_role("status").first).to_contain_text("30 dagars underrättelse")
    expect(page.locator("aside.banners")).to_have_count(0)  # the operator objects to nothing
    page.context.clear_cookies()

    log_in(page, served.url, *logins["admin"])
    banner = page.get_by_role("complementary", name="Meddelanden")
    expect(banner).to_contain_text("Molnet Norr AB")
    expect(banner).to_contain_text(f"anlitas från {effective}")
    page.goto(f"{served.url}/contacts")  # on every page
    expect(page.get_by_role("complementary", name="Meddelanden")).to_contain_text("Molnet Norr AB")
    page.get_by_role("link", name="Avtalets bilaga IV").click()
    annex = page.locator("#annex-4")
    expect(annex.locator("tr", has_text="Molnet Norr AB")).to_contain_text(f"från {effective}")
    page.context.clear_cookies()

    log_in(page, served.url, *logins["sender"])
    expect(page.locator("aside.banners")).to_have_count(0)
    # The account's administrative address got the notice, saying from when.
    assert [mail.to for mail in mailed] == [["it@are.example"]] and effective in mailed[0].body
