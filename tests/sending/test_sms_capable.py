"""Numbers that cannot receive SMS (issue 15, item 4): landlines, premium-rate, toll-free... are
refused with a reason wherever an SMS recipient is given (typed on /send, the API, contacts, an
import, a forward to a mobile); numbers that may not take SMS (a country where landline and mobile
numbers look alike, VoIP, personal numbers) are accepted with a warning that reaches the user. An
inbound SMS from a landline is still stored (its sender is whatever number it is)."""

from __future__ import annotations

import re

import pytest
from litestar.testing import TestClient
from sqlmodel import Session

from govsms.accounts.login import actor_for_user
from govsms.auth import Role
from govsms.contacts import importing, service
from govsms.contacts.filereader import write_csv
from govsms.errors import InvalidInput
from govsms.i18n import current_language
from govsms.phone import CANNOT_TAKE_SMS, MAY_NOT_TAKE_SMS, parse_number, parse_recipient, parse_recipients
from govsms.receiving.routing import normalise_source
from govsms.sending.pricing import seed_default_prices
from tests.factories import make_account, make_api_key, make_user, now
from tests.web_helpers import csrf_token, login

LANDLINE = "08-123 456 78"
LANDLINE_REASON_SV = "Ett fast telefonnummer: det kan inte ta emot sms. Ange ett mobilnummer."
LANDLINE_REASON_EN = "A landline number: it cannot receive SMS. Give a mobile number."


@pytest.fixture(autouse=True)
def english() -> object:
    token = current_language.set("en")
    yield
    current_language.reset(token)


@pytest.mark.parametrize(
    ("raw", "refused"),
    [
        ("08-123 456 78", "landline"), ("+46812345678", "landline"), ("031-123 45 67", "landline"), ("+49 30 123456", "landline"),
        ("0900-123 45 6", "premium-rate"), ("0939-123 456", "premium-rate"), ("020-123 456", "toll-free"),
        ("0771-123 456", "shared-cost"), ("0740-123 456", "pager"),
    ],
)
def test_numbers_that_cannot_receive_sms_are_refused_with_a_reason(raw: str, refused: str) -> None:
    assert parse_number(raw).ok  # a valid number: looked up, blocked, stored as an inbound sender
    parsed = parse_recipient(raw)
    assert parsed.e164 is None and parsed.reason is not None and refused in parsed.reason and "mobile number" in parsed.reason
    assert raw not in repr(parsed)


@pytest.mark.parametrize(
    ("raw", "warned"),
    [("+4520123456", "look alike"), ("+1 201 555 0123", "look alike"), ("075-123 45 67", "follow-me"), ("010-123 45 67", "company number")],
)
def test_numbers_that_may_not_take_sms_are_accepted_with_a_warning(raw: str, warned: str) -> None:
    parsed = parse_recipient(raw)
    assert parsed.ok and parsed.warning is not None and warned in parsed.warning


def test_mobiles_are_accepted_without_a_warning() -> None:
    parsed = parse_recipients(["070-123 45 67", "+46 73 123 45 67", "+4791234567", "+49 151 12345678", "+358 40 123456", "+44 7400 123456"])
    assert [(item.ok, item.warning) for item in parsed] == [(True, None)] * 6
    assert [item.ok for item in parse_recipients(["", "abc", "0701", "+999123456", "\x00" * 3, "0" * 60])] == [False] * 6


def test_every_type_is_either_refused_warned_or_a_mobile() -> None:
    import phonenumbers

    types = {value for name, value in vars(phonenumbers.PhoneNumberType).items() if name.isupper()}
    assert types - set(CANNOT_TAKE_SMS) - set(MAY_NOT_TAKE_SMS) == {phonenumbers.PhoneNumberType.MOBILE}
    assert not set(CANNOT_TAKE_SMS) & set(MAY_NOT_TAKE_SMS)


def test_an_inbound_sms_from_a_landline_keeps_its_sender() -> None:
    assert normalise_source("+46812345678").e164 == "+46812345678"
    assert normalise_source("46812345678").e164 == "+46812345678"


def sender_account(session: Session):  # type: ignore[no-untyped-def]
    seed_default_prices(session, now=now())
    account = make_account(session)
    user, password = make_user(session, account, roles={Role.SENDER})
    return account, user, password


def test_send_page_refuses_a_landline_with_a_reason_in_swedish(client: TestClient, session: Session) -> None:
    _account, user, password = sender_account(session)
    login(client, user.email, password)
    token = csrf_token(client, "/send")
    summary = client.post(
        "/send", data={"_csrf_token": token, "sender": "Skolan", "to": f"{LANDLINE}\n+4520123456\n0701234567", "text": "Möte kl 18."},
        files={"file": ("", b"", "application/octet-stream")},
    )
    assert summary.status_code == 200, summary.text[:500]
    assert 'id="accepted">2<' in summary.text and 'id="invalid">1<' in summary.text
    invalid = re.search(r'<table id="invalid-rows">.*?</table>', summary.text, re.S)
    assert invalid and LANDLINE in invalid.group(0) and LANDLINE_REASON_SV in invalid.group(0)
    warned = re.search(r'<table id="warning-rows">.*?</table>', summary.text, re.S)
    assert warned and "+4520123456" in warned.group(0) and "fasta nummer och mobilnummer" in warned.group(0)
    assert "0701234567" not in warned.group(0)
    only_landline = client.post(
        "/send", data={"_csrf_token": token, "sender": "Skolan", "to": LANDLINE, "text": "Möte kl 18."},
        files={"file": ("", b"", "application/octet-stream")},
    )
    assert 'id="accepted">0<' in only_landline.text and LANDLINE_REASON_SV in only_landline.text


def test_api_refuses_a_landline_with_a_reason_and_warns_of_a_maybe_mobile(client: TestClient, session: Session) -> None:
    account, _user, _password = sender_account(session)
    _, key = make_api_key(session, account, roles={Role.SENDER})
    headers = {"Authorization": f"Bearer {key}", "Accept-Language": "en"}
    refused = client.post("/api/v1/messages", json={"from": "Skolan", "to": [LANDLINE], "text": "Hej"}, headers=headers)
    assert refused.status_code == 422, refused.text
    assert LANDLINE_REASON_EN in refused.json()["fields"]["to"] and LANDLINE not in refused.text  # the reason, never the number
    dry = client.post(
        "/api/v1/messages", json={"from": "Skolan", "to": [LANDLINE, "+4520123456", "0701234567"], "text": "Hej", "dry_run": True}, headers=headers,
    ).json()
    assert dry["accepted"] == 2 and dry["invalid"] == [{"input": LANDLINE, "reason": LANDLINE_REASON_EN}]
    assert [item["input"] for item in dry["warnings"]] == ["+4520123456"] and "look alike" in dry["warnings"][0]["reason"]
    sent = client.post("/api/v1/messages", json={"from": "Skolan", "to": ["+4520123456", LANDLINE], "text": "Hej"}, headers=headers)
    assert sent.status_code == 201, sent.text
    assert sent.json()["accepted"] == 1 and sent.json()["warnings"][0]["input"] == "+4520123456"
    plain = client.post("/api/v1/messages", json={"from": "Skolan", "to": ["0701234567"], "text": "Hej"}, headers=headers).json()
    assert plain["warnings"] == []


def test_contacts_and_imports_refuse_a_landline_with_a_reason(session: Session) -> None:
    account = make_account(session)
    user, _ = make_user(session, account, roles={Role.SENDER})
    actor = actor_for_user(user, account)
    with pytest.raises(InvalidInput) as refused:
        service.create_contact(session, actor, number=LANDLINE, name="Växeln", now=now())
    assert refused.value.fields["number"] == LANDLINE_REASON_EN
    content = write_csv([(LANDLINE, "Växeln"), ("0701000001", "Åsa"), ("0900-123 45 6", "Betal")], ("Mobilnummer", "Namn"))
    plan = importing.plan_import(session, actor, "lista.csv", content, now=now())
    assert len(plan.valid) == 1
    assert [(row.row_number, row.input, row.reason) for row in plan.invalid][0] == (2, LANDLINE, LANDLINE_REASON_EN)
    assert "premium-rate" in plan.invalid[1].reason and len(plan.invalid) == 2


def test_a_forward_to_a_landline_is_refused_with_a_reason(session: Session) -> None:
    from govsms.receiving.forwarding import create_rule

    seed_default_prices(session, now=now())
    account = make_account(session)
    user, _ = make_user(session, account, roles={Role.ADMIN})
    actor = actor_for_user(user, account)
    with pytest.raises(InvalidInput) as refused:
        create_rule(session, actor, trigger="all", emails="", mode="full", mobile=LANDLINE, now=now())
    assert refused.value.fields["mobile"] == LANDLINE_REASON_EN
    assert create_rule(session, actor, trigger="all", emails="", mode="full", mobile="0701234567", now=now()) > 0


def test_a_reply_to_an_sms_from_a_landline_is_refused_with_the_reason(session: Session) -> None:
    from govsms.receiving.inbox import reply
    from tests.receiving.inbox_helpers import stored_inbound

    seed_default_prices(session, now=now())
    account = make_account(session)
    user, _ = make_user(session, account, roles={Role.SENDER})
    actor = actor_for_user(user, account)
    landline = stored_inbound(session, account, "+46812345678", "Hej från växeln")  # stored whatever the sender's type
    mobile = stored_inbound(session, account, "+46701234567", "Hej")
    with pytest.raises(InvalidInput) as refused:
        reply(session, actor, "Tack!", public_url="https://sms.example.se", now=now(), inbound_id=landline.id)
    assert refused.value.fields["text"] == LANDLINE_REASON_EN and "+46812345678" not in str(refused.value.fields)
    assert reply(session, actor, "Tack!", public_url="https://sms.example.se", now=now(), inbound_id=mobile.id).accepted == 1


def test_an_import_shows_the_landline_refused_and_the_maybe_mobile_warned(client: TestClient, session: Session) -> None:
    account, user, password = sender_account(session)
    content = write_csv([(LANDLINE, "Växeln"), ("+4520123456", "Dansk"), ("0701000001", "Åsa")], ("Mobilnummer", "Namn"))
    _, key = make_api_key(session, account, roles={Role.SENDER})
    found = client.post(
        "/api/v1/contacts/import", data={"dry_run": "true"}, headers={"Authorization": f"Bearer {key}", "Accept-Language": "en"},
        files={"file": ("lista.csv", content, "text/csv")},
    )
    assert found.status_code in (200, 201), found.text
    body = found.json()
    assert body["valid"] == 2 and body["invalid"] == [{"row": 2, "input": LANDLINE, "reason": LANDLINE_REASON_EN}]
    assert [(row["row"], row["input"]) for row in body["warnings"]] == [(3, "+4520123456")] and "look alike" in body["warnings"][0]["reason"]
    login(client, user.email, password)
    preview = client.post(
        "/contacts/import", data={"_csrf_token": csrf_token(client, "/contacts/import")}, files={"file": ("lista.csv", content, "text/csv")},
    )
    assert preview.status_code == 200, preview.text[:300]
    invalid = re.search(r'<table id="invalid-rows">.*?</table>', preview.text, re.S)
    warned = re.search(r'<table id="warning-rows">.*?</table>', preview.text, re.S)
    assert invalid and LANDLINE_REASON_SV in invalid.group(0)
    assert warned and "+4520123456" in warned.group(0) and "0701000001" not in warned.group(0)


def test_a_landline_cannot_be_verified_as_a_sender(session: Session) -> None:
    from govsms.sending.sender_numbers import request_code
    from tests.factories import system

    seed_default_prices(session, now=now())
    account = make_account(session)
    with pytest.raises(InvalidInput) as refused:
        request_code(session, system(account), LANDLINE, now=now())  # the code would go by SMS, and never arrive
    assert refused.value.fields["number"] == LANDLINE_REASON_EN
    assert request_code(session, system(account), "0705557788", now=now()).sender_id
