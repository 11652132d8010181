"""In Chromium (issue 14): a sender sends from 72323; the recipient's reply (simulated as the
loopback transport receives it) appears in /inbox under that SMS, and the sender answers from the
inbox. An admin adds an e-mail forwarding rule: the next reply arrives at a local SMTP server
(aiosmtpd) with number and text; a "notice only" rule's mail holds neither."""

from __future__ import annotations

import email
from email.policy import default as default_policy
from pathlib import Path

import pytest

from playwright.sync_api import Page, expect
from sqlalchemy import select

from govsms.auth import Role
from govsms.i18n import language
from govsms.db import session_scope
from govsms.receiving.forwarding import run_forwards
from govsms.receiving.service import simulate_inbound
from govsms.sending.models import Dispatch
from govsms.sending.outbox import Outbox
from govsms.sending.pricing import seed_default_prices
from govsms.sending.transports.loopback import LoopbackTransport
from tests.browser.test_accounts_journey import log_in
from tests.factories import make_account, make_user, now
from tests.receiving.forwarding_helpers import smtp_server
from tests.served import Served, backend, serve  # noqa: F401

PHONE = "+46701234567"
SHOWN = "+46 70 123 45 67"


@pytest.fixture
def served(serve) -> Served:  # type: ignore[no-untyped-def]
    """The app served on 127.0.0.1 (uvicorn, no worker: the test takes the worker's turns) on each backend."""
    return serve()  # type: ignore[no-any-return]


def _send_queued(factory) -> None:  # type: ignore[no-untyped-def]
    """The worker's turn: the queued SMS go out over loopback (and their reply routes are written)."""
    outbox = Outbox(factory, LoopbackTransport(report_delay=0), public_url="https://sms.example.se")
    while outbox.run_once(now=now()):
        pass


def test_reply_lands_under_its_sms_is_answered_and_forwarded(served: Served, page: Page, browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    live_server = served
    factory = served.factory
    with session_scope(factory) as session:
        seed_default_prices(session, now=now())
        account = make_account(session, name="Förskolan Åre")
        sender, sender_password = make_user(session, account, roles={Role.SENDER})
        admin, admin_password = make_user(session, account, roles={Role.ADMIN})
        account_id, sender_email, admin_email = account.id, sender.email, admin.email

    # The sender sends from 72323.
    log_in(page, live_server.url, sender_email, sender_password)
    page.goto(f"{live_server.url}/send")
    page.get_by_label("Från").fill("72323")
    page.get_by_label("Nummer", exact=True).fill("070-123 45 67")
    page.get_by_label("Meddelande").fill("Föräldramöte tisdag 18.00. Svara JA eller NEJ.")
    page.get_by_role("button", name="Fortsätt till sammanfattningen").click()
    expect(page.locator("#accepted")).to_have_text("1")
    page.get_by_role("button", name="Skicka 1 sms").click()
    expect(page.get_by_role("status")).to_contain_text("på väg")
    _send_queued(factory)

    # The parent answers; the reply is routed to this account, under that SMS.
    routed = simulate_inbound(factory, to="72323", from_=PHONE, text="JA, vi kommer två", now=now())
    assert (routed.account_id, routed.routed_by) == (account_id, "reply")
    page.get_by_role("navigation", name="Huvudmeny").get_by_role("link", name="Inkorg").click()
    expect(page.locator("#conversations")).to_contain_text("JA, vi kommer två")
    expect(page.locator("#conversations")).not_to_contain_text(SHOWN)  # masked in the list
    page.locator("#conversations a").first.click()
    message = page.locator("#messages li").first
    expect(message.locator(".original blockquote")).to_have_text("Föräldramöte tisdag 18.00. Svara JA eller NEJ.")
    expect(message.locator(".text")).to_have_text("JA, vi kommer två")
    page.screenshot(path=str(tmp_path / "conversation.png"), full_page=True)

    # The sender answers from the inbox: a dispatch from the number it arrived on.
    page.locator("#text").fill("Tack, välkomna!")
    page.get_by_role("button", name="Skicka svar").click()
    expect(page.get_by_role("status")).to_contain_text("Svaret är på väg")
    with session_scope(factory) as session:
        dispatches = session.execute(select(Dispatch).where(Dispatch.account_id == account_id).order_by(Dispatch.id)).scalars().all()
    assert len(dispatches) == 2 and dispatches[1].sender == "72323"
    _send_queued(factory)

    # An admin forwards every reply by e-mail, full text.
    admin_page = browser.new_context(locale="sv-SE").new_page()
    admin_page.set_default_timeout(10_000)
    log_in(admin_page, live_server.url, admin_email, admin_password)
    admin_page.goto(f"{live_server.url}/inbox/forwarding")
    admin_page.get_by_label("Vidarebefordra", exact=True).select_option("reply")
    admin_page.get_by_label("E-postadresser (åtskilda med kommatecken)").fill("kansliet@forskolan.example.se")
    admin_page.get_by_label("Hela texten: avsändarens nummer och sms:et").check()
    admin_page.get_by_role("button", name="Lägg till regeln").click()
    expect(admin_page.get_by_role("status")).to_contain_text("Vidarebefordringsregeln är sparad")
    expect(admin_page.locator("#rules")).to_contain_text("kansliet@forskolan.example.se")

    with smtp_server() as box:
        smtp = live_server.settings.model_copy(update={"smtp_host": box.host, "smtp_port": box.port})
        simulate_inbound(factory, to="72323", from_=PHONE, text="Vi tar med kaka", now=now())
        with language("sv"):  # the scheduler's thread speaks Swedish
            assert run_forwards(factory, smtp, now=now()) == 1
        [full] = box.mails
        mail = email.message_from_bytes(full.raw, policy=default_policy)
        assert full.recipients == ["kansliet@forskolan.example.se"]
        assert mail["Subject"] == f"SMS från {SHOWN}"
        body = mail.get_content()  # type: ignore[attr-defined]
        assert "Vi tar med kaka" in body and SHOWN in body

        # The admin switches to a notice only: the next mail holds neither number nor text.
        admin_page.reload()
        admin_page.locator("#rules").get_by_role("button", name="Stäng av").click()
        expect(admin_page.get_by_role("status")).to_contain_text("avstängd")
        admin_page.get_by_label("Vidarebefordra", exact=True).select_option("reply")
        admin_page.get_by_label("E-postadresser (åtskilda med kommatecken)").fill("jour@forskolan.example.se")
        admin_page.get_by_label("Endast avisering: att ett sms har kommit, utan nummer och text").check()
        admin_page.get_by_role("button", name="Lägg till regeln").click()
        expect(admin_page.get_by_role("status")).to_contain_text("Vidarebefordringsregeln är sparad")
        expect(admin_page.locator("#rules")).to_contain_text("Endast avisering")
        simulate_inbound(factory, to="72323", from_=PHONE, text="Kommer Sigge också", now=now())
        with language("sv"):  # the scheduler's thread speaks Swedish
            assert run_forwards(factory, smtp, now=now()) == 1
        notice = box.mails[1]
    assert notice.recipients == ["jour@forskolan.example.se"]
    raw = notice.raw.decode("utf-8", "replace")
    decoded = email.message_from_bytes(notice.raw, policy=default_policy)
    whole = f"{raw}\n{decoded['Subject']}\n{decoded.get_content()}"  # type: ignore[attr-defined]
    for hidden in (PHONE, PHONE.lstrip("+"), "070-123 45 67", "70 123 45 67", "0701234567", "123 45 67", "Kommer Sigge", "Sigge"):
        assert hidden not in whole, hidden
    assert f"{live_server.settings.public_url}/inbox" in whole

    # The rules show what they did.
    admin_page.reload()
    expect(admin_page.locator("#rules")).to_contain_text("Senast vidarebefordrat")
    admin_page.screenshot(path=str(tmp_path / "forwarding.png"), full_page=True)
    admin_page.context.close()
