"""The send page (issue 15 item 3): a preview of the SMS as the recipient gets it (a sample opt-out
link), "send to this group" from a group's page, "Change" on the summary keeps every field, a past
send time is refused with a reason (UI and API), a scheduled dispatch says when it goes. Both
backends."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from litestar.testing import TestClient
from sqlmodel import Session

from govsms.auth import Role
from govsms.clock import FixedClock
from govsms.contacts.groups import create_group
from govsms.sending.pricing import seed_default_prices
from govsms.sending.ui import SAMPLE_TOKEN
from tests.factories import make_account, make_user, system
from tests.web_helpers import csrf_token, login

NOW = datetime(2026, 11, 15, 11, 0, tzinfo=UTC)
"""12:00 in Stockholm."""
NO_FILE = {"file": ("", b"", "application/octet-stream")}


def sender_in(client: TestClient, session: Session):  # type: ignore[no-untyped-def]
    client.app.state.clock = FixedClock(NOW)
    seed_default_prices(session, now=NOW)
    account = make_account(session)
    user, password = make_user(session, account, roles={Role.SENDER})
    login(client, user.email, password)
    return account


def checked_groups(page: str) -> set[str]:
    return set(re.findall(r'name="group_ids" value="(\d+)" checked', page))


def test_a_group_page_link_opens_the_form_with_that_group_chosen_and_no_other_accounts(client: TestClient, session: Session) -> None:
    account = sender_in(client, session)
    ours = create_group(session, system(account), name="Föräldrar 7B", now=NOW)
    other = create_group(session, system(make_account(session)), name="Annan skola", now=NOW)
    page = client.get("/send", params={"group": ours.id})
    assert page.status_code == 200 and checked_groups(page.text) == {str(ours.id)}
    assert checked_groups(client.get("/send").text) == set()
    foreign = client.get("/send", params={"group": other.id})
    assert foreign.status_code == 200 and checked_groups(foreign.text) == set() and "Annan skola" not in foreign.text
    for hostile in ("abc", "0", "-1", "99999999999999999999999", "1\x00", ""):
        assert client.get("/send", params={"group": hostile}).status_code in (200, 400), hostile


def test_the_form_previews_the_sms_with_a_sample_opt_out_link(client: TestClient, session: Session) -> None:
    sender_in(client, session)
    token = csrf_token(client, "/send")
    empty = client.get("/send").text.split('id="preview-text"')[1].split("</p>")[0]
    assert "(ingen text än)" in empty
    text = "Hej <b>alla</b>!\nStopp: _BLOCKSMSLINK_"
    # The form as "Change" brings it back previews the text before any script runs.
    form = client.post("/send/edit", data={"_csrf_token": token, "sender": "Skolan", "to": "0701234567", "text": text})
    assert form.status_code == 200
    bubble = form.text.split('id="preview-text"')[1].split("</p>")[0]
    assert f"/u/{SAMPLE_TOKEN}" in bubble and "_BLOCKSMSLINK_" not in bubble
    assert "&lt;b&gt;alla&lt;/b&gt;" in bubble and "<b>" not in bubble  # shown as typed, never as markup
    assert 'id="preview-sender">Skolan<' in form.text
