"""In Chromium (issue 15 item 3): from a group's page "send to this group" opens the form with the
group chosen; the phone preview shows the text as typed with a sample opt-out link; a send time
that has passed is refused with a reason and the form keeps what was typed; the summary says when
a scheduled SMS goes and previews it; "Change" brings every field back; scheduling says when."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from govsms.auth import Role
from govsms.clock import zone
from govsms.contacts.groups import add_members, create_group
from govsms.db import session_scope
from govsms.sending.pricing import seed_default_prices
from govsms.sending.ui import SAMPLE_TOKEN
from tests.browser.test_accounts_journey import log_in
from tests.factories import make_account, make_contact, make_user, now, system
from tests.served import Served, backend, serve  # noqa: F401

TEXT = "Utvecklingssamtal nästa vecka.\nInga fler sms: _BLOCKSMSLINK_"


@pytest.fixture
def served(serve) -> Served:  # type: ignore[no-untyped-def]
    return serve()  # type: ignore[no-any-return]


def test_group_link_preview_past_time_scheduled_summary_and_change_keeps_every_field(served: Served, page: Page, tmp_path: Path) -> None:
    with session_scope(served.factory) as session:
        seed_default_prices(session, now=now())
        account = make_account(session, name="Skolan i Åre")
        group = create_group(session, system(account), name="Föräldrar 7B", now=now())
        other = create_group(session, system(account), name="Personal", now=now())
        members = [make_contact(session, account, number=number).id for number in ("+46701110001", "+46701110002")]
        add_members(session, system(account), group.id, members, now=now())
        user, password = make_user(session, account, roles={Role.SENDER})
        email, group_id, other_id = user.email, group.id, other.id
    local_now = now().astimezone(zone(None))
    past = (local_now - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
    future = (local_now + timedelta(days=2)).replace(hour=9, minute=30)

    log_in(page, served.url, email, password)
    page.goto(f"{served.url}/groups/{group_id}")
    page.get_by_role("link", name="Skicka sms till gruppen").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Skicka sms")
    expect(page.get_by_label("Föräldrar 7B (2)")).to_be_checked()
    expect(page.get_by_label("Personal (0)")).not_to_be_checked()

    page.get_by_label("Från").fill("Skolan")
    page.get_by_label("Nummer", exact=True).fill("070-111 00 03")
    page.get_by_label("Meddelande", exact=True).fill(TEXT)
    preview = page.locator("#preview-text")
    expect(preview).to_contain_text("Utvecklingssamtal nästa vecka.")
    expect(preview).to_contain_text(f"/u/{SAMPLE_TOKEN}")
    expect(preview).not_to_contain_text("_BLOCKSMSLINK_")
    expect(page.locator("#preview-sender")).to_have_text("Skolan")

    # A time that has passed: refused with a reason, everything typed kept.
    page.get_by_label("Skicka senare (frivilligt)").fill(past)
    page.get_by_role("button", name="Fortsätt till sammanfattningen").click()
    expect(page.locator("#send_at-error")).to_contain_text("har redan passerat")
    expect(page.get_by_label("Skicka senare (frivilligt)")).to_have_value(past)
    expect(page.get_by_label("Meddelande", exact=True)).to_have_value(TEXT)
    expect(page.get_by_label("Föräldrar 7B (2)")).to_be_checked()
    page.screenshot(path=str(tmp_path / "past-time.png"), full_page=True)

    # A time ahead: the summary says when it goes and shows the SMS as the recipients get it.
    page.get_by_label("Skicka senare (frivilligt)").fill(future.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_role("button", name="Fortsätt till sammanfattningen").click()
    expect(page.locator("#accepted")).to_have_text("3")
    expect(page.locator("#when")).to_contain_text(future.strftime("%Y-%m-%d 09:30"))
    expect(page.locator("#preview-text")).to_contain_text(f"/u/{SAMPLE_TOKEN}")
    page.screenshot(path=str(tmp_path / "summary.png"), full_page=True)

    # "Change": every field as it was.
    page.get_by_role("button", name="Ändra").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Skicka sms")
    expect(page.get_by_label("Från")).to_have_value("Skolan")
    expect(page.get_by_label("Nummer", exact=True)).to_have_value("070-111 00 03")
    expect(page.get_by_label("Meddelande", exact=True)).to_have_value(TEXT)
    expect(page.get_by_label("Skicka senare (frivilligt)")).to_have_value(future.strftime("%Y-%m-%dT%H:%M"))
    expect(page.get_by_label("Föräldrar 7B (2)")).to_be_checked()
    expect(page.locator(f"#g-{other_id}")).not_to_be_checked()
    expect(page.locator("#preview-text")).to_contain_text("Utvecklingssamtal nästa vecka.")

    page.get_by_role("button", name="Fortsätt till sammanfattningen").click()
    page.get_by_role("button", name="Schemalägg 3 sms").click()
    expect(page.get_by_role("status")).to_contain_text(future.strftime("%Y-%m-%d 09:30"))
    page.screenshot(path=str(tmp_path / "scheduled.png"), full_page=True)
