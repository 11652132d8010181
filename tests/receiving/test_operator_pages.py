"""The operator's receiving pages, on both backends: keywords assigned per shared number (then an
SMS with it routes to the account), refused with a reason when reserved, taken, overlong, with
control characters, on an unknown number or account (the reasons as the
Swedish page gives them); the unrouted queue shows counts only, and
one SMS's text on a POST, audited; a customer's user gets nothing of it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from litestar.testing import TestClient
from sqlalchemy import select
from sqlmodel import Session

from govsms.audit.models import AuditEvent
from govsms.auth import Role
from govsms.receiving.models import InboundKeyword
from govsms.receiving.service import route_inbound
from tests import sensitive
from tests.factories import make_account, make_user, now
from tests.web_helpers import login, post_form

NUMBER = sensitive.register("+46701234567")


def operator_client(client: TestClient, session: Session):  # type: ignore[no-untyped-def]
    provider = make_account(session, is_provider=True)
    operator, password = make_user(session, provider, roles={Role.OPERATOR})
    login(client, operator.email, password)
    return provider, operator


def test_keywords_are_assigned_used_and_removed(client: TestClient, session: Session) -> None:
    operator_client(client, session)
    customer = make_account(session, name="Skolan i Åre")
    added = post_form(client, "/operator/keywords", {"shared_number": "72323", "keyword": " Skolå ", "account_id": str(customer.id)},
                      token_from="/operator/keywords")
    assert added.status_code == 303
    page = client.get("/operator/keywords").text
    assert "SKOLÅ" in page and "Skolan i Åre" in page
    message = route_inbound(session, source_e164=NUMBER, destination="72323", text="skolå Sjuk idag", transport="smpp", provider_ref=None,
                            parts=1, now=now())
    assert message is not None and message.account_id == customer.id and message.routed_by == "keyword"
    taken = post_form(client, "/operator/keywords", {"shared_number": "72323", "keyword": "SKOLÅ", "account_id": str(customer.id)},
                      token_from="/operator/keywords")
    assert taken.status_code == 409 and "används redan på 72323" in taken.text
    elsewhere = post_form(client, "/operator/keywords", {"shared_number": "1963", "keyword": "skolå", "account_id": str(customer.id)},
                          token_from="/operator/keywords")
    assert elsewhere.status_code == 303  # unique per number only
    row = session.execute(select(InboundKeyword).where(InboundKeyword.shared_number == "72323")).scalar_one()
    removed = post_form(client, "/operator/keywords", {"remove": str(row.id)}, token_from="/operator/keywords")
    assert removed.status_code == 303
    events = select(AuditEvent).where(AuditEvent.target_type == "inbound_keyword").order_by(AuditEvent.seq)
    assert [event.action for event in session.execute(events).scalars()] == [
        "inbound_keyword.added", "inbound_keyword.added", "inbound_keyword.removed",
    ]


@pytest.mark.parametrize(("fields", "reason"), [
    ({"keyword": "stopp"}, "STOPP är reserverat"),
    ({"keyword": "Hjälp"}, "HJÄLP är reserverat"),
    ({"keyword": "x" * 40}, "högst 32 tecken"),
    ({"keyword": "två ord"}, "ett ord"),
    ({"keyword": "ab\x00c"}, "ett ord"),
    ({"keyword": "ab\u202ec"}, "ett ord"),
    ({"keyword": "<script>"}, "bara bokstäver, siffror och bindestreck"),
    ({"keyword": ""}, "Skriv ett nyckelord"),
    ({"shared_number": "0701234567"}, "delade numren"),
    ({"account_id": "999999999"}, "kundkonto"),
    ({"account_id": "ett"}, ""),
    ({"account_id": "provider"}, "kundkonto"),
])
def test_hostile_keyword_forms_are_refused_with_a_reason(client: TestClient, session: Session, fields: dict[str, str], reason: str) -> None:
    provider, _ = operator_client(client, session)
    customer = make_account(session)
    data = {"shared_number": "72323", "keyword": "bussen", "account_id": str(customer.id), **fields}
    if data["account_id"] == "provider":
        data["account_id"] = str(provider.id)
    refused = post_form(client, "/operator/keywords", data, token_from="/operator/keywords")
    assert 400 <= refused.status_code < 500 and reason in refused.text
    assert session.execute(select(InboundKeyword)).first() is None


def test_the_unrouted_queue_shows_counts_and_reveals_one_text_audited(client: TestClient, session: Session) -> None:
    provider, operator = operator_client(client, session)
    for text in ("Vem är detta?", "Hallå"):
        routed = route_inbound(session, source_e164=NUMBER, destination="72323", text=text, transport="smpp", provider_ref=None, parts=1,
                               now=now() - timedelta(minutes=1))
        assert routed is not None and routed.account_id == provider.id
    page = client.get("/operator/unrouted").text
    assert "72323" in page and "Vem är detta" not in page and "701234567" not in page
    shown = post_form(client, "/operator/unrouted/reveal", {"message": str(routed.id)}, token_from="/operator/unrouted")
    assert shown.status_code == 200 and "Hallå" in shown.text and "+46 70 *** ** 67" in shown.text and "701234567" not in shown.text
    [event] = session.execute(select(AuditEvent).where(AuditEvent.action == "inbound.revealed")).scalars().all()
    assert event.actor == f"user:{operator.id}" and event.target_id == str(routed.id)
    missing = post_form(client, "/operator/unrouted/reveal", {"message": "99999999"}, token_from="/operator/unrouted")
    assert missing.status_code == 404
    garbage = post_form(client, "/operator/unrouted/reveal", {"message": "1; DROP"}, token_from="/operator/unrouted")
    assert 400 <= garbage.status_code < 500


def test_a_routed_sms_cannot_be_revealed_there_and_customers_get_no_page(client: TestClient, session: Session) -> None:
    operator_client(client, session)
    customer = make_account(session)
    session.add(InboundKeyword(account_id=customer.id, shared_number="72323", keyword="bil", created_at=now()))  # type: ignore[arg-type]
    session.flush()
    routed = route_inbound(session, source_e164=NUMBER, destination="72323", text="bil hej", transport="smpp", provider_ref=None, parts=1,
                           now=now())
    assert routed is not None and routed.account_id == customer.id
    refused = post_form(client, "/operator/unrouted/reveal", {"message": str(routed.id)}, token_from="/operator/unrouted")
    assert refused.status_code == 404 and 'id="revealed"' not in refused.text
    client.cookies.clear()
    user, password = make_user(session, customer, roles={Role.ADMIN})
    login(client, user.email, password)
    for path in ("/operator/keywords", "/operator/unrouted"):
        assert client.get(path).status_code in (403, 404)
