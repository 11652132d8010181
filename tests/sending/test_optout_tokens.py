"""Opt-out links (issue 10, item 9): 72-bit tokens of 12 URL-safe characters, a per-address
limit on /u/, expiry with the storage time of sent SMS, hostile tokens. Both backends."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from litestar.testing import TestClient
from sqlalchemy import func, select, update
from sqlmodel import Session

from govsms.auth import Role
from govsms.audit.models import AuditEvent
from govsms.retention.models import RetentionLimit
from govsms.sending.dispatch import TOKEN_LENGTH, analyse_for_sending, optout_link, optout_tokens
from govsms.sending.models import OutboundMessage
from govsms.sending.pricing import seed_default_prices
from tests.factories import make_account, make_api_key, make_user, now
from tests.web_helpers import csrf_token, login

URL_SAFE = re.compile(r"[A-Za-z0-9_-]+")


def test_tokens_are_72_bits_in_12_url_safe_characters() -> None:
    assert TOKEN_LENGTH == 12
    tokens = optout_tokens(5000)
    assert len(tokens) == 5000 and len(set(tokens)) == 5000
    assert all(len(token) == 12 and URL_SAFE.fullmatch(token) for token in tokens)
    assert set("".join(tokens)) == set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")  # 6 bits a character
    assert optout_tokens(0) == [] and len(optout_tokens(1)) == 1
    assert len(optout_link("https://sms.example.se", tokens[0])) == len("https://sms.example.se/u/") + 12


def test_the_text_analysis_counts_the_whole_link() -> None:
    url = "https://sms.example.se"
    link = len(optout_link(url, "x" * 12))
    fits = "a" * (160 - link) + "_BLOCKSMSLINK_"
    assert analyse_for_sending(fits, url).parts == 1 and analyse_for_sending(fits, url).characters == 160
    assert analyse_for_sending("a" + fits, url).parts == 2


def sent_with_link(client: TestClient, session: Session, *, text: str = "Rea! Stopp: _BLOCKSMSLINK_") -> tuple[dict[str, str], OutboundMessage]:
    seed_default_prices(session, now=now())
    account = make_account(session, name="Butiken i Åre")
    _, key = make_api_key(session, account, roles={Role.SENDER})
    headers = {"Authorization": f"Bearer {key}"}
    sent = client.post("/api/v1/messages", json={"from": "Butiken", "to": ["0701234567"], "text": text}, headers=headers)
    assert sent.status_code == 201, sent.text
    message = session.execute(select(OutboundMessage).where(OutboundMessage.dispatch_id == sent.json()["dispatch_id"])).scalar_one()
    return headers, message


def test_a_dispatch_gets_12_character_tokens_and_the_link_works(client: TestClient, session: Session) -> None:
    _, message = sent_with_link(client, session)
    assert len(message.optout_token) == 12 and URL_SAFE.fullmatch(message.optout_token)  # type: ignore[arg-type]
    page = client.get(f"/u/{message.optout_token}")
    assert page.status_code == 200 and "Butiken i Åre" in page.text


def test_the_send_page_says_how_long_the_link_is(client: TestClient, session: Session) -> None:
    user, password = make_user(session, make_account(session), roles={Role.SENDER})
    login(client, user.email, password)
    length = len(optout_link(client.app.state.settings.public_url, "x" * TOKEN_LENGTH))
    hint = client.get("/send").text.split('id="text-help"')[1].split("</p>")[0]
    assert f"{length} " in hint and "_BLOCKSMSLINK_" in hint


def age(session: Session, message: OutboundMessage, days: float) -> None:
    """Make the message as old as if it had been sent ``days`` ago."""
    moment = now() - timedelta(days=days)
    session.execute(
        update(OutboundMessage).where(OutboundMessage.id == message.id)
        .values(created_at=moment, due_at=moment, submitted_at=moment, status="delivered")
    )
    session.flush()


def opted_out_events(session: Session) -> int:
    return session.execute(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "blocklist.opted_out")).scalar_one()


def test_a_link_expires_with_the_storage_time_of_sent_sms(client: TestClient, session: Session) -> None:
    headers, message = sent_with_link(client, session)
    token = message.optout_token
    age(session, message, 89)
    assert client.get(f"/u/{token}").status_code == 200  # the default storage time is 90 days
    age(session, message, 91)
    expired = client.get(f"/u/{token}")
    assert expired.status_code == 410
    assert "Länken har gått ut" in expired.text and "This link has expired" in expired.text
    assert "Butiken i Åre" not in expired.text and "<form" not in expired.text.split("<main")[1]
    events = opted_out_events(session)
    refused = client.post(f"/u/{token}", data={"_csrf_token": csrf_token(client, "/login")})
    assert refused.status_code == 410 and "Butiken i Åre" not in refused.text
    assert opted_out_events(session) == events
    assert client.post("/api/v1/blocklist/search", json={"number": "0701234567"}, headers=headers).json()["blocked"] is False
    # The operator's shorter storage time shortens the link's life as well.
    session.add(RetentionLimit(category="outbound_messages", days=10, updated_by="operator", updated_at=now()))
    session.flush()
    age(session, message, 9)
    assert client.get(f"/u/{token}").status_code == 200
    age(session, message, 11)
    assert client.get(f"/u/{token}").status_code == 410


def test_a_scheduled_message_link_counts_from_sending(client: TestClient, session: Session) -> None:
    """A message created long ago but sent today (scheduled) keeps its link for the full time."""
    _, message = sent_with_link(client, session)
    session.execute(
        update(OutboundMessage).where(OutboundMessage.id == message.id)
        .values(created_at=now() - timedelta(days=200), due_at=now() - timedelta(days=1), submitted_at=now() - timedelta(days=1))
    )
    session.flush()
    assert client.get(f"/u/{message.optout_token}").status_code == 200


def test_an_old_8_character_token_still_works_until_it_expires(client: TestClient, session: Session) -> None:
    headers, message = sent_with_link(client, session)
    session.execute(update(OutboundMessage).where(OutboundMessage.id == message.id).values(optout_token="Ab3-_x9Z"))
    session.flush()
    assert client.get("/u/Ab3-_x9Z").status_code == 200
    done = client.post("/u/Ab3-_x9Z", data={"_csrf_token": csrf_token(client, "/login")})
    assert done.status_code == 200 and "Du får inga fler sms" in done.text
    assert client.post("/api/v1/blocklist/search", json={"number": "0701234567"}, headers=headers).json()["blocked"] is True
    age(session, message, 91)
    assert client.get("/u/Ab3-_x9Z").status_code == 410


HOSTILE = [
    "A" * 11, "A" * 13, "A" * 9, "A" * 16, "A" * 4000, "ÅÄÖåäöÅÄÖåäö", "AAAAAAAAAAA%00", "%00" * 12, "AAAAAA.AAAAA",
    "..%2F..%2Fetc", "%20AAAAAAAAAAAA", "AAAAAAAAAAA%0A", "١١١١١١١١١١١١", "AAAAAAAAAAA'", "' OR 1=1 --",
    "%F0%9F%98%80" * 3, "AAAAAAAAAAA%FF",
]


@pytest.mark.parametrize("token", HOSTILE)
def test_hostile_tokens_are_not_found(client: TestClient, token: str) -> None:
    for method in ("GET", "POST"):
        response = client.request(method, f"/u/{token}", data={"_csrf_token": csrf_token(client, "/login")} if method == "POST" else None)
        assert response.status_code == 404, (method, token, response.status_code)


def test_too_many_lookups_from_one_address_get_429(client: TestClient, session: Session) -> None:
    headers, message = sent_with_link(client, session)
    limit = client.app.state.settings.optout_lookups_per_minute
    assert 5 <= limit <= 120
    for attempt in range(limit):
        guess = optout_tokens(1)[0]
        assert client.get(f"/u/{guess}").status_code == 404, attempt
    limited = client.get(f"/u/{message.optout_token}")  # even the right token, now
    assert limited.status_code == 429 and 1 <= int(limited.headers["retry-after"]) <= 60
    assert "Butiken i Åre" not in limited.text and "<h1>" in limited.text
    post = client.post(f"/u/{message.optout_token}", data={"_csrf_token": csrf_token(client, "/login")})
    assert post.status_code == 429 and "retry-after" in post.headers
    assert client.post("/api/v1/blocklist/search", json={"number": "0701234567"}, headers=headers).json()["blocked"] is False
    assert client.get("/login").status_code == 200  # other pages are not limited


def test_the_limiter_counts_per_address_and_an_ipv6_network_as_one() -> None:
    from govsms.web.ratelimit import AddressLimiter, address_key

    limiter = AddressLimiter(per_minute=3, max_addresses=1000)
    clock = [1000.0]
    limiter.clock = lambda: clock[0]  # type: ignore[method-assign]
    assert [limiter.hit("192.0.2.1") for _ in range(3)] == [None, None, None]
    wait = limiter.hit("192.0.2.1")
    assert wait is not None and 1 <= wait <= 60
    assert limiter.hit("192.0.2.2") is None  # another address
    assert address_key("2001:db8:1:2::1") == address_key("2001:db8:1:2:ffff:ffff:ffff:ffff")  # one /64
    assert address_key("2001:db8:1:3::1") != address_key("2001:db8:1:2::1")
    assert address_key("::ffff:192.0.2.1") == address_key("192.0.2.1")
    assert address_key("not an address") == "not an address"
    for suffix in ("1", "2", "3"):
        assert limiter.hit(f"2001:db8:9:9::{suffix}") is None
    assert limiter.hit("2001:db8:9:9::4") is not None  # same /64: the fourth is refused
    clock[0] += 61
    assert limiter.hit("192.0.2.1") is None  # a minute later
    for n in range(5000):  # many addresses: memory stays bounded
        limiter.hit(f"10.0.{n // 256}.{n % 256}")
    assert len(limiter) <= 1000
