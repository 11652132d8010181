"""The send page (issue 15 item 3): a preview of the SMS as the recipient gets it (a sample opt-out
link), "send to this group" from a group's page, "Change" on the summary keeps every field, a past
send time is refused with a reason (UI and API), a scheduled dispatch says when it goes. Both
backends."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta

from litestar.testing import TestClient
from sqlmodel import Session

from govsms.auth import Actor, Role
from govsms.clock import FixedClock
from govsms.contacts.groups import add_members, create_group
from govsms.sending.combine import prepare
from govsms.sending.dispatch import DispatchRequest
from govsms.sending.pricing import seed_default_prices
from govsms.sending.ui import SAMPLE_TOKEN
from tests.factories import make_account, make_api_key, make_contact, make_user, system
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
    add_members(session, system(account), ours.id, [make_contact(session, account).id], now=NOW)
    group_page = client.get(f"/groups/{ours.id}").text
    assert f'href="/send?group={ours.id}"' in group_page and "Skicka sms till gruppen" in group_page
    empty = create_group(session, system(account), name="Tom grupp", now=NOW)
    assert "/send?group=" not in client.get(f"/groups/{empty.id}").text  # nothing to send to
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


def test_the_summary_previews_the_sms_without_javascript(client: TestClient, session: Session) -> None:
    sender_in(client, session)
    token = csrf_token(client, "/send")
    text = "Hej <b>alla</b>!\nStopp: _BLOCKSMSLINK_"
    summary = client.post("/send", data={"_csrf_token": token, "sender": "Skolan", "to": "0701234567", "text": text}, files=NO_FILE)
    assert summary.status_code == 200, summary.text[:500]
    bubble = summary.text.split('id="preview-text"')[1].split("</p>")[0]
    assert f"/u/{SAMPLE_TOKEN}" in bubble and "_BLOCKSMSLINK_" not in bubble
    assert "&lt;b&gt;alla&lt;/b&gt;" in bubble and "<b>" not in bubble
    assert 'id="preview-sender">Skolan<' in summary.text and 'id="when">nu<' in summary.text


def test_change_on_the_summary_brings_back_every_field(client: TestClient, session: Session) -> None:
    account = sender_in(client, session)
    first = create_group(session, system(account), name="Klass 1", now=NOW)
    second = create_group(session, system(account), name="Klass 2", now=NOW)
    create_group(session, system(account), name="Klass 3", now=NOW)
    token = csrf_token(client, "/send")
    typed = {"sender": "Skolan", "to": "0701234567\n0702345678", "text": "Utvecklingssamtal på tisdag", "send_at": "2026-11-20T09:30",
             "group_ids": [str(first.id), str(second.id)]}
    summary = client.post("/send", data={"_csrf_token": token, **typed}, files={"file": ("nummer.csv", b"nummer\n0703456789\n", "text/csv")})
    assert summary.status_code == 200, summary.text[:500]
    change = summary.text.split('action="/send/edit"')[1].split("</form>")[0]
    carried = re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', change)
    fields: dict[str, list[str]] = {}
    for name, value in carried:
        fields.setdefault(name, []).append(html.unescape(value))
    assert fields["group_ids"] == [str(first.id), str(second.id)] and fields["upload"][0]
    form = client.post("/send/edit", data={"_csrf_token": token, **{name: values if len(values) > 1 else values[0] for name, values in fields.items()}})
    assert form.status_code == 200
    page = form.text
    assert 'id="sender" name="sender" type="text" list="senders" value="Skolan"' in page
    assert ">0701234567\n0702345678</textarea>" in page and ">Utvecklingssamtal på tisdag</textarea>" in page
    assert 'value="2026-11-20T09:30"' in page
    assert checked_groups(page) == {str(first.id), str(second.id)}
    assert f'name="upload" value="{fields["upload"][0]}" checked' in page  # the file chosen before, kept
    # Sent from the form again, everything is the same: three numbers (two typed, one of the file) and the members.
    again = client.post("/send", data={"_csrf_token": token, **typed, "upload": fields["upload"][0]}, files=NO_FILE)
    assert 'id="accepted">3<' in again.text

    for hostile in ({"text": "x" * 10_000}, {"sender": "\x00\x1b"}, {"send_at": "igår"}, {"upload": "not-a-token"}, {"to": "\u202e" * 50}):
        assert client.post("/send/edit", data={"_csrf_token": token, **hostile}).status_code == 200, hostile
    assert client.post("/send/edit", data={"_csrf_token": token, "group_ids": "abc"}).status_code == 422
    theirs = create_group(session, system(make_account(session)), name="Annan skola", now=NOW)
    foreign = client.post("/send/edit", data={"_csrf_token": token, "group_ids": [str(first.id), str(theirs.id)]})
    assert foreign.status_code == 404 and "Annan skola" not in foreign.text


def test_a_scheduled_send_says_when_it_goes(client: TestClient, session: Session) -> None:
    sender_in(client, session)
    token = csrf_token(client, "/send")
    summary = client.post("/send", data={"_csrf_token": token, "sender": "Skolan", "to": "0701234567", "text": "Hej", "send_at": "2026-11-20T09:30"},
                          files=NO_FILE)
    assert summary.status_code == 200
    assert "2026-11-20 09:30" in summary.text and "Schemalägg 1 sms" in summary.text
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', summary.text.split('action="/send/confirm"')[1]))
    sent = client.post("/send/confirm", data={"_csrf_token": token, **fields}, follow_redirects=False)
    assert sent.status_code == 303 and sent.headers["location"].endswith("?done=scheduled")
    notice = client.get(sent.headers["location"]).text
    assert "Sms:et är schemalagt: det skickas 2026-11-20 09:30." in notice and "på väg" not in notice


def test_a_past_send_time_is_refused_with_a_reason_in_the_form_and_the_api(client: TestClient, session: Session) -> None:
    account = sender_in(client, session)
    token = csrf_token(client, "/send")
    for past in ("2026-11-15T11:30", "2020-01-01T08:00"):  # 11:30 in Stockholm is half an hour ago
        refused = client.post("/send", data={"_csrf_token": token, "sender": "Skolan", "to": "0701234567", "text": "Hej", "send_at": past},
                              files=NO_FILE)
        assert refused.status_code == 422, past
        assert 'id="send_at-error"' in refused.text and "har redan passerat" in refused.text and f'value="{past}"' in refused.text
    soon = client.post("/send", data={"_csrf_token": token, "sender": "Skolan", "to": "0701234567", "text": "Hej", "send_at": "2026-11-15T12:30"},
                       files=NO_FILE)
    assert soon.status_code == 200

    _key, key = make_api_key(session, account, roles={Role.SENDER})
    headers = {"Authorization": f"Bearer {key}"}
    body = {"from": "Skolan", "to": ["0701234567"], "text": "Hej"}
    for past in ((NOW - timedelta(minutes=5)).isoformat(), "2020-01-01T08:00:00+01:00"):
        for dry_run in (True, False):
            answer = client.post("/api/v1/messages", json={**body, "send_at": past, "dry_run": dry_run}, headers=headers)
            assert answer.status_code == 422 and "har redan passerat" in answer.json()["fields"]["send_at"], answer.text
    later = client.post("/api/v1/messages", json={**body, "send_at": (NOW + timedelta(hours=1)).isoformat()}, headers=headers)
    assert later.status_code in (200, 201) and later.json()["status"] == "scheduled"


def test_the_combiner_leaves_a_past_send_time_to_the_full_path_which_refuses_it() -> None:
    actor = Actor(kind="api_key", id=1, account_id=1, account_name="Skolan", roles=frozenset({Role.SENDER}), region="SE")
    request = DispatchRequest(sender="Skolan", text="Hej", numbers=["0701234567"], send_at=NOW - timedelta(minutes=5), channel="api")
    assert prepare(actor, request, public_url="https://sms.example.se", now=NOW) is None
    request.send_at = NOW - timedelta(seconds=30)  # typed to the minute: still "now"
    assert prepare(actor, request, public_url="https://sms.example.se", now=NOW) is not None
    request.send_at = NOW + timedelta(hours=1)
    assert prepare(actor, request, public_url="https://sms.example.se", now=NOW) is not None


def test_a_time_the_autumn_clock_change_shows_twice_is_the_one_still_ahead() -> None:
    """Stockholm, 25 October 2026: 02:00-03:00 comes twice (CEST, then CET). Typed during the second
    pass, 02:55 is the 02:55 still to come, not the one an hour ago."""
    from govsms.sending.ui import _send_at

    second_pass = datetime(2026, 10, 25, 1, 45, tzinfo=UTC)  # 02:45 CET
    assert _send_at("2026-10-25T02:55", "Europe/Stockholm", second_pass) == datetime(2026, 10, 25, 1, 55, tzinfo=UTC)
    first_pass = datetime(2026, 10, 25, 0, 10, tzinfo=UTC)  # 02:10 CEST: the first 02:55 is ahead
    assert _send_at("2026-10-25T02:55", "Europe/Stockholm", first_pass) == datetime(2026, 10, 25, 0, 55, tzinfo=UTC)
    assert _send_at("2026-11-20T09:30", "Europe/Stockholm", first_pass) == datetime(2026, 11, 20, 8, 30, tzinfo=UTC)


def test_a_send_time_more_than_a_year_ahead_is_refused(client: TestClient, session: Session) -> None:
    """A scheduled dispatch keeps its numbers and text until it goes: not for years."""
    account = sender_in(client, session)
    token = csrf_token(client, "/send")
    refused = client.post("/send", data={"_csrf_token": token, "sender": "Skolan", "to": "0701234567", "text": "Hej",
                                         "send_at": "9999-12-31T23:59"}, files=NO_FILE)
    assert refused.status_code == 422 and "mer än ett år fram" in refused.text
    _key, key = make_api_key(session, account, roles={Role.SENDER})
    headers = {"Authorization": f"Bearer {key}"}
    body = {"from": "Skolan", "to": ["0701234567"], "text": "Hej"}
    for ahead, status in ((timedelta(days=400), 422), (timedelta(days=300), 201)):
        answer = client.post("/api/v1/messages", json={**body, "send_at": (NOW + ahead).isoformat()}, headers=headers)
        assert answer.status_code == status, answer.text
