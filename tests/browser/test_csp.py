"""In Chromium: the main pages work under the Content-Security-Policy, and none of them makes the
browser report a violation (an inline script, style or event handler it had to block)."""

from __future__ import annotations

from playwright.sync_api import ConsoleMessage, Page, expect
from sqlalchemy import select

from govsms.auth import CUSTOMER_ROLES
from govsms.db import make_engine, make_session_factory, session_scope
from govsms.keys.ring import load_key_ring
from govsms.keys.store import make_vault
from govsms.sending.dispatch import DispatchRequest, create_dispatch
from govsms.sending.models import OutboundMessage
from govsms.sending.pricing import seed_default_prices
from tests.browser.conftest import LiveServer
from tests.browser.test_accounts_journey import log_in
from tests.dpa.test_dpa import provider_and_customer
from tests.factories import make_user, now, system

CONTENT_SECURITY_POLICY = "default-src 'self'; frame-ancestors 'none'"
# Every violation the page sees, whatever reports it (the event, or Chromium's console line).
RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__violations.push(event.violatedDirective + " " + (event.blockedURI || "inline"));
});
"""

PAGES = [
    "/", "/send", "/contacts", "/contacts/import", "/groups", "/messages", "/blocklist", "/audit", "/dpa",
    "/dpa/preview?lang=sv", "/settings/users", "/settings/api-keys", "/settings/profile", "/api/schema",
]


def test_no_page_reports_a_policy_violation(live_server: LiveServer, page: Page) -> None:
    settings = live_server.settings
    vault = make_vault(settings, load_key_ring(settings))
    with session_scope(make_session_factory(make_engine(settings.resolved_database_url), vault=vault)) as session:
        seed_default_prices(session, now=now())
        _, account = provider_and_customer(session)
        user, password = make_user(session, account, roles=set(CUSTOMER_ROLES))
        email = user.email
        create_dispatch(
            session, system(account), DispatchRequest(sender="Butiken", text="Stopp: _BLOCKSMSLINK_", numbers=["0701234567"]),
            public_url=live_server.url, now=now(),
        )
        token = session.execute(select(OutboundMessage.optout_token)).scalars().first()
    console: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            console.append(message.text)

    page.on("console", on_console)
    page.add_init_script(RECORD_VIOLATIONS)
    opened = page.goto(f"{live_server.url}/login")
    assert opened is not None and opened.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    log_in(page, live_server.url, email, password)
    for path in PAGES:
        response = page.goto(f"{live_server.url}{path}")
        assert response is not None and response.status == 200, path
        assert response.headers.get("content-security-policy") == CONTENT_SECURITY_POLICY, path
        page.wait_for_load_state("networkidle")
        assert page.evaluate("window.__violations") == [], path
        if path == "/send":  # the live counter (a script from /static) still works
            page.get_by_label("Meddelande", exact=True).fill("Hej 😀")
            expect(page.locator("#counter")).to_contain_text("UCS-2")
        if path == "/dpa/preview?lang=sv":  # its stylesheet loaded: the preview is laid out, not bare
            assert page.evaluate("getComputedStyle(document.body).maxWidth") != "none"
        if path == "/settings/profile":  # the two-step login's QR code (inline SVG) is no violation
            page.get_by_role("button", name="Ställ in tvåstegsinloggning").click()
            expect(page.locator("svg.segno")).to_be_visible()
            assert page.evaluate("window.__violations") == [], "two-step set-up"
    recipient = page.context.browser.new_context().new_page()  # type: ignore[union-attr]
    recipient.on("console", on_console)
    recipient.add_init_script(RECORD_VIOLATIONS)
    optout = recipient.goto(f"{live_server.url}/u/{token}")
    assert optout is not None and optout.status == 200 and optout.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert recipient.evaluate("window.__violations") == []
    recipient.context.close()
    assert console == [], console

    # The check sees a violation when there is one: a style attribute set from outside is blocked.
    page.evaluate("document.body.setAttribute('style', 'color: red')")
    page.wait_for_timeout(200)
    assert page.evaluate("window.__violations") != [] and console != []
