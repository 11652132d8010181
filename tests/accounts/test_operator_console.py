"""The operator console checks what it is given (issue 15, item 10; Done-when #5): Swedish
organisation numbers (format and check digit), prices with a decimal comma for an ISO country code
from phonenumbers' list, refusals with reasons that keep what was typed; accounts edited, suspended
(nobody in them can log in or send) and reactivated. On both backends."""

from __future__ import annotations

import html
import re

import pytest
from litestar.testing import TestClient
from sqlmodel import Session

from govsms.accounts.customers import luhn_ok, normalise_org_number, org_number_problem
from govsms.accounts.models import Account
from govsms.auth import Role
from govsms.errors import InvalidInput
from govsms.i18n import current_language
from govsms.sending.models import Price
from govsms.sending.pricing import checked_country, kronor_to_minor, ore_to_minor, seed_default_prices
from tests import sensitive
from tests.factories import audit_events, make_account, make_api_key, make_user, now
from tests.web_helpers import login, post_form


def operator(client: TestClient, session: Session) -> Account:
    provider = make_account(session, name="Leverantören AB", is_provider=True)
    user, password = make_user(session, provider, roles={Role.OPERATOR})
    login(client, user.email, password)
    return provider


def value_of(page: str, name: str) -> str | None:
    match = re.search(rf'<input id="{name}" name="{name}"[^>]*?value="([^"]*)"', page, re.S)
    return html.unescape(match.group(1)) if match else None


def error_of(page: str, name: str) -> str:
    match = re.search(rf'<p class="field-error" id="{name}-error">([^<]*)</p>', page)
    return html.unescape(match.group(1)) if match else ""


@pytest.fixture
def english() -> object:
    token = current_language.set("en")
    yield
    current_language.reset(token)


def test_org_numbers_are_checked_for_format_and_check_digit(english: object) -> None:
    assert luhn_ok("5560160680") and not luhn_ok("5560160681")
    assert normalise_org_number(" 5560160680 ") == normalise_org_number("556016-0680") == "556016-0680"
    assert normalise_org_number("") == ""
    for typed in ("1234", "556016-068", "556016-06800", "55601-60680", "556016 0680", "abcdef-ghij", "５５６０１６-０６８０", "556016-0680\x00"):
        with pytest.raises(InvalidInput) as refused:
            normalise_org_number(typed)
        assert refused.value.fields["org_number"], typed
    assert "NNNNNN-NNNN" in (org_number_problem("1234") or "")
    assert "check digit" in (org_number_problem("556016-0681") or "")


def test_prices_take_a_decimal_comma_and_a_known_country(english: object) -> None:
    assert [kronor_to_minor(typed) for typed in ("0,45", "0.45", "1", "1,5", "12,50", " 0,45 kr")] == [45, 45, 100, 150, 1250, 45]
    for typed in ("", "0,455", "1e400", "nan", "-1", "1 000", "٠,٤٥", "0,4,5", "10000000", "1001"):
        with pytest.raises(InvalidInput) as refused:
            kronor_to_minor(typed)
        assert refused.value.fields["price"], typed
    assert [ore_to_minor(typed) for typed in ("45", "0", "100000")] == [45, 0, 100_000]
    for typed in ("0,45", "-5", "", "4 5", "100001", "٤٥"):
        with pytest.raises(InvalidInput):
            ore_to_minor(typed)
    assert checked_country(" se ") == "SE" and checked_country("IS") == "IS"
    for typed, reason in (("XX", "XX is not a country code"), ("ZZ", "not a country code"), ("Sverige", "two letters"), ("S", "two letters"),
                          ("", "two letters"), ("S\x00", "two letters"), ("ÅÄ", "two letters")):
        with pytest.raises(InvalidInput) as refused:
            checked_country(typed)
        assert reason in refused.value.fields["country"], typed


def test_the_operator_refuses_org_number_1234_and_keeps_the_form(client: TestClient, session: Session) -> None:
    operator(client, session)
    form = {"name": "Region Östergötland", "org_number": "1234", "billing_email": "faktura@region.example",
            "first_admin_email": "it@region.example", "first_admin_name": "Iris IT", "first_admin_password": sensitive.register("Första-admin-lösen-2026")}
    refused = post_form(client, "/operator/accounts", form, token_from="/operator/accounts")
    assert refused.status_code == 422
    assert "NNNNNN-NNNN" in error_of(refused.text, "org_number") and "tio siffror" in error_of(refused.text, "org_number")
    assert value_of(refused.text, "org_number") == "1234" and value_of(refused.text, "name") == "Region Östergötland"
    assert value_of(refused.text, "first_admin_email") == "it@region.example" and value_of(refused.text, "first_admin_password") == ""
    check_digit = post_form(client, "/operator/accounts", {**form, "org_number": "556016-0681"}, token_from="/operator/accounts")
    assert check_digit.status_code == 422 and "kontrollsiffra" in error_of(check_digit.text, "org_number")
    assert "Region Östergötland" not in client.get("/operator/accounts").text.split("<tbody>")[1]
    created = post_form(client, "/operator/accounts", {**form, "org_number": "5560160680"}, token_from="/operator/accounts")
    assert created.status_code == 303
    account = session.exec(__import__("sqlmodel").select(Account).where(Account.name == "Region Östergötland")).one()
    assert account.org_number == "556016-0680"


def test_the_operator_refuses_country_xx_and_keeps_the_input(client: TestClient, session: Session) -> None:
    operator(client, session)
    refused = post_form(client, "/operator/prices", {"country": "XX", "price": "0,45"}, token_from="/operator/prices")
    assert refused.status_code == 422
    assert "XX är ingen landskod" in error_of(refused.text, "country") and not error_of(refused.text, "price")
    assert value_of(refused.text, "country") == "XX" and value_of(refused.text, "price") == "0,45"
    both = post_form(client, "/operator/prices", {"country": "Sverige", "price": "0,455"}, token_from="/operator/prices")
    assert both.status_code == 422 and error_of(both.text, "country") and "decimalkomma" in error_of(both.text, "price")
    assert value_of(both.text, "price") == "0,455" and value_of(both.text, "country") == "Sverige"
    assert session.get(Price, "XX") is None
    saved = post_form(client, "/operator/prices", {"country": "fi", "price": "0,62"}, token_from="/operator/prices")
    assert saved.status_code == 303
    session.expire_all()
    price = session.get(Price, "FI")
    assert price is not None and price.per_part_minor == 62
    listing = client.get(saved.headers["location"]).text
    assert "Finland" in listing and "0,62" in listing and "Priset sparades" in listing


def test_the_operator_edits_an_account_and_keeps_what_was_typed(client: TestClient, session: Session) -> None:
    operator(client, session)
    customer = make_account(session, name="Kommunen i Åre", org_number="212000-2346")
    make_account(session, name="Grannkommunen")
    page = client.get(f"/operator/accounts/{customer.id}")
    assert page.status_code == 200 and value_of(page.text, "org_number") == "212000-2346"
    assert f'href="/operator/accounts/{customer.id}"' in client.get("/operator/accounts").text
    form = {"name": "Åre kommun", "org_number": "1234", "billing_address": "Box 1, 830 13 Åre", "billing_email": "inte en adress",
            "admin_email": "", "ops_email": ""}
    refused = post_form(client, f"/operator/accounts/{customer.id}", form, token_from="/operator/accounts")
    assert refused.status_code == 422
    assert error_of(refused.text, "org_number") and error_of(refused.text, "billing_email")
    assert value_of(refused.text, "name") == "Åre kommun" and value_of(refused.text, "org_number") == "1234"
    taken = post_form(client, f"/operator/accounts/{customer.id}", {**form, "org_number": "212000-2346", "billing_email": "", "name": "grannkommunen"},
                      token_from="/operator/accounts")
    assert taken.status_code == 409 and error_of(taken.text, "name")
    saved = post_form(client, f"/operator/accounts/{customer.id}", {**form, "org_number": "2120002346", "billing_email": "f@are.example"},
                      token_from="/operator/accounts")
    assert saved.status_code == 303
    session.expire_all()
    account = session.get(Account, customer.id)
    assert account is not None and (account.name, account.org_number, account.billing_email) == ("Åre kommun", "212000-2346", "f@are.example")
    [event] = audit_events(session, "account.updated", customer.id)
    assert "Box 1" not in (event.details or "") and "billing_address" in (event.details or "")


def test_hostile_account_ids_and_fields(client: TestClient, session: Session) -> None:
    operator(client, session)
    customer = make_account(session)
    assert client.get("/operator/accounts/999999").status_code == 404
    assert client.get("/operator/accounts/2147483648").status_code in (400, 404, 422)
    assert client.get("/operator/accounts/0").status_code in (400, 404, 422)
    assert post_form(client, "/operator/accounts/999999", {"name": "x"}, token_from="/operator/accounts").status_code == 404
    assert post_form(client, "/operator/accounts/999999/status", {"action": "suspend", "confirm": "yes"}, token_from="/operator/accounts").status_code == 404
    for bad in ({"name": "a\x00b"}, {"name": ""}, {"name": "x" * 201}, {"name": "ok", "org_number": "\x1b[31m"}, {"name": "ok", "billing_address": "x" * 501}):
        response = post_form(client, f"/operator/accounts/{customer.id}", bad, token_from="/operator/accounts")
        assert response.status_code == 422 and 'class="field-error"' in response.text, bad
    odd = post_form(client, f"/operator/accounts/{customer.id}/status", {"action": "delete"}, token_from="/operator/accounts")
    assert odd.status_code == 422
    for bad in ({"country": "S\x00", "price": "1"}, {"country": "SE", "price": "\x00"}, {"country": "x" * 10_000, "price": "9" * 10_000}, {}):
        response = post_form(client, "/operator/prices", bad, token_from="/operator/prices")
        assert response.status_code == 422 and 'class="field-error"' in response.text, bad


def test_a_suspended_account_cannot_log_in_or_send_until_reactivated(client: TestClient, session: Session) -> None:
    seed_default_prices(session, now=now())
    provider = make_account(session, name="Leverantören AB", is_provider=True)
    op, op_password = make_user(session, provider, roles={Role.OPERATOR})
    customer = make_account(session, name="Skolan i Byn")
    sender, sender_password = make_user(session, customer, roles={Role.SENDER})
    _, key = make_api_key(session, customer, roles={Role.SENDER})
    other = make_account(session, name="Andra kommunen")
    _, other_key = make_api_key(session, other, roles={Role.SENDER})
    body = {"from": "Skolan", "to": ["0701234567"], "text": "Hej", "dry_run": True}
    assert client.post("/api/v1/messages", json=body, headers={"Authorization": f"Bearer {key}"}).status_code == 201
    login(client, op.email, op_password)
    first = post_form(client, f"/operator/accounts/{customer.id}/status", {"action": "suspend"}, token_from="/operator/accounts")
    assert first.status_code == 200 and "Ja, stäng av kontot" in first.text  # the second step
    session.expire_all()
    assert session.get(Account, customer.id).is_active  # type: ignore[union-attr]
    done = post_form(client, f"/operator/accounts/{customer.id}/status", {"action": "suspend", "confirm": "yes"}, token_from="/operator/accounts")
    assert done.status_code == 303
    assert "avstängt" in client.get(done.headers["location"]).text
    assert "Avstängt" in client.get("/operator/accounts").text
    assert len(audit_events(session, "account.suspended", customer.id)) == 1
    provider_refused = post_form(client, f"/operator/accounts/{provider.id}/status", {"action": "suspend", "confirm": "yes"}, token_from="/operator/accounts")
    assert provider_refused.status_code == 409
    post_form(client, "/logout", {}, token_from="/")

    refused = post_form(client, "/login", {"email": sender.email, "password": sender_password})
    assert refused.status_code != 303 and "avstängt" in refused.text
    assert client.post("/api/v1/messages", json=body, headers={"Authorization": f"Bearer {key}"}).status_code == 401
    assert client.post("/api/v1/messages", json=body, headers={"Authorization": f"Bearer {other_key}"}).status_code == 201  # another account sends

    login(client, op.email, op_password)
    back = post_form(client, f"/operator/accounts/{customer.id}/status", {"action": "reactivate"}, token_from="/operator/accounts")
    assert back.status_code == 303
    post_form(client, "/logout", {}, token_from="/")
    login(client, sender.email, sender_password)
    assert client.post("/api/v1/messages", json=body, headers={"Authorization": f"Bearer {key}"}).status_code == 201


def test_a_suspended_account_s_queued_messages_are_not_sent(session: Session, connection, vault) -> None:  # type: ignore[no-untyped-def]
    from govsms.accounts.customers import set_account_active
    from govsms.accounts.login import actor_for_user
    from govsms.db import make_session_factory
    from govsms.sending.models import OutboundMessage
    from govsms.sending.outbox import Outbox
    from govsms.sending.transports.loopback import LoopbackTransport
    from tests.factories import make_dispatch, system

    seed_default_prices(session, now=now())
    provider = make_account(session, name="Leverantören AB", is_provider=True)
    accounts = [make_account(session, name=name) for name in ("Avstängda kommunen", "Andra kommunen")]
    dispatches = []
    for account in accounts:
        user, _ = make_user(session, account, roles={Role.SENDER})
        dispatches.append(make_dispatch(session, actor_for_user(user, account), numbers=["0701234567", "0702345678"]).dispatch_id)
    set_account_active(session, system(provider), accounts[0].id, active=False, now=now())  # type: ignore[arg-type]
    session.flush()
    submitted: list[int] = []

    class Recording(LoopbackTransport):
        def submit(self, batch):  # type: ignore[no-untyped-def]
            submitted.extend(item.message_id for item in batch)
            return super().submit(batch)

    outbox = Outbox(make_session_factory(connection, vault=vault), Recording(report_delay=0), public_url="https://sms.example.se")
    while outbox.run_once():
        pass
    session.expire_all()
    rows = {dispatch: session.exec(__import__("sqlmodel").select(OutboundMessage).where(OutboundMessage.dispatch_id == dispatch)).all()
            for dispatch in dispatches}
    assert {(row.status, row.reason) for row in rows[dispatches[0]]} == {("failed", "account_suspended")}
    assert not {row.id for row in rows[dispatches[0]]} & set(submitted)
    assert {row.id for row in rows[dispatches[1]]} <= set(submitted)  # another account's SMS go
