"""In Chromium (issue 12 item 4): the sender opens /statistics, downloads the Excel file (its days
and totals match the roll-up), opens a day and finds an SMS by number."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import openpyxl
from playwright.sync_api import Page, expect

from govsms.auth import Actor, Role
from govsms.clock import zone
from govsms.db import make_engine, make_session_factory, session_scope
from govsms.keys.ring import load_key_ring
from govsms.keys.store import make_vault
from govsms.sending.dispatch import DispatchRequest, create_dispatch
from govsms.sending.pricing import seed_default_prices
from govsms.sending.statistics import local_day, report, roll_up
from tests.browser.conftest import LiveServer
from tests.browser.test_accounts_journey import log_in
from tests.factories import make_account, make_user, now, system


def _session(live_server: LiveServer):  # type: ignore[no-untyped-def]
    """A session with the served app's vault (the dispatches seal their numbers and text)."""
    settings = live_server.settings
    return session_scope(make_session_factory(make_engine(settings.resolved_database_url), vault=make_vault(settings, load_key_ring(settings))))


def test_sender_downloads_the_statistics_and_finds_an_sms_of_a_day(live_server: LiveServer, page: Page, tmp_path: Path) -> None:
    with _session(live_server) as session:
        seed_default_prices(session, now=now())
        account, other = make_account(session, name="Skolan i Kiruna"), make_account(session)
        for sender, numbers in ((account, ["0701234567", "0702345678", "0703456789"]), (other, ["0701234567"])):
            create_dispatch(session, system(sender), DispatchRequest(sender="Skolan", text="Skolan stänger 12.00 idag.", numbers=numbers),
                            public_url=live_server.url, now=now())
        roll_up(session, now=now())
        user, password = make_user(session, account, roles={Role.SENDER})
        email, account_id = user.email, account.id
    log_in(page, live_server.url, email, password)
    expect(page.locator("#month-messages")).to_have_text("3")
    page.get_by_role("navigation", name="Huvudmeny").get_by_role("link", name="Statistik").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Statistik")
    expect(page.locator("#total-messages")).to_have_text("3")
    expect(page.locator("#statistics-chart rect")).not_to_have_count(0)
    page.screenshot(path=str(tmp_path / "statistics.png"), full_page=True)

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Ladda ner som Excel").click()
    path = tmp_path / "statistik.xlsx"
    download_info.value.save_as(path)
    rows = list(openpyxl.load_workbook(path).active.iter_rows(values_only=True))  # type: ignore[union-attr]
    today = local_day(now(), zone(None))
    with live_server.session() as session:
        figures = report(session, Actor.system(account_id, "Skolan i Kiruna"), start=today.replace(day=1), end=today)
    assert rows[0][:3] == ("Dag", "Meddelanden", "Delar")
    assert [row[0].date() for row in rows[1:-1]] == [today.replace(day=1) + timedelta(days=offset) for offset in range(today.day)]  # type: ignore[union-attr]
    assert [row[1] for row in rows[1:-1]] == [row.messages for row in figures.rows]
    assert rows[-1][0] == "Totalt" and rows[-1][1:4] == (3, figures.totals.parts, figures.totals.cost_minor / 100)

    page.get_by_role("link", name=today.isoformat()).click()
    expect(page.locator("#day-messages tbody tr")).to_have_count(3)
    page.get_by_label("Nummer", exact=True).fill("070-234 56 78")
    page.get_by_role("button", name="Sök").click()
    expect(page.locator("#day-messages tbody tr")).to_have_count(1)
    expect(page.locator("#day-messages tbody")).to_contain_text("+46 70 *** ** 78")
    assert "number=" not in page.url and "2345678" not in page.url
    page.screenshot(path=str(tmp_path / "day.png"), full_page=True)
