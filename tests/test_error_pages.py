"""Error pages (issue 15 item 5, Done-when #4): 403, 404, 405, CSRF and 500 in the user's language
with the user's navigation, wherever the error was raised (in a handler, by the router before any
route's middleware ran, by the CSRF check after it); the public opt-out page's errors never link
into the service. Both backends."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from litestar.testing import TestClient
from sqlalchemy.engine import Connection
from sqlmodel import Session

from govsms.auth import Role
from tests.conftest import app_on_connection, make_settings
from tests.factories import make_account, make_user
from tests.web_helpers import login

NAV = re.compile(r'<nav aria-label="Huvudmeny"')


def _h1(html: str) -> str:
    match = re.search(r"<h1[^>]*>(.*?)</h1>", html, re.S)
    assert match, html[:500]
    return match.group(1).strip()


def _logged_in(client: TestClient, session: Session, language: str = "sv", roles: set[Role] | None = None) -> None:
    account = make_account(session)
    user, password = make_user(session, account, language=language, roles=roles or {Role.SENDER})
    session.flush()
    login(client, user.email, password)


def test_a_swedish_user_gets_a_swedish_404_with_navigation(client: TestClient, session: Session) -> None:
    _logged_in(client, session)
    # An unknown path: the router refuses it before any route's middleware runs.
    unknown = client.get("/no/such/page")
    assert unknown.status_code == 404
    assert _h1(unknown.text) == "Hittades inte" and "Det finns inget på den här adressen" in unknown.text
    assert NAV.search(unknown.text) and 'href="/send"' in unknown.text and "Logga ut" in unknown.text
    assert '<html lang="sv">' in unknown.text
    # Something that is not there (or another account's): the handler's own 404.
    missing = client.get("/contacts/987654321")
    assert missing.status_code == 404 and _h1(missing.text) == "Hittades inte" and NAV.search(missing.text)


def test_a_csrf_failure_page_is_in_swedish_with_navigation(client: TestClient, session: Session) -> None:
    _logged_in(client, session)
    refused = client.post("/contacts", data={"number": "0701234567"}, follow_redirects=False)  # no CSRF token
    assert refused.status_code == 403
    assert _h1(refused.text) == "Inte tillåtet"
    assert "Formuläret hade gått ut" in refused.text and "The form had expired" not in refused.text
    assert NAV.search(refused.text) and '<html lang="sv">' in refused.text


def test_403_and_405_pages_in_swedish_with_navigation(client: TestClient, session: Session) -> None:
    _logged_in(client, session)
    forbidden = client.get("/settings/users")  # a sender does not manage users
    assert forbidden.status_code == 403 and _h1(forbidden.text) == "Inte tillåtet" and NAV.search(forbidden.text)
    wrong_method = client.delete("/contacts")
    assert wrong_method.status_code == 405
    assert _h1(wrong_method.text) == "Inte möjligt här" and "Method Not Allowed" not in wrong_method.text
    assert NAV.search(wrong_method.text)


def test_an_english_user_gets_english_error_pages(client: TestClient, session: Session) -> None:
    _logged_in(client, session, language="en")
    assert _h1(client.get("/no/such/page").text) == "Not found"
    refused = client.post("/contacts", data={"number": "0701234567"}, follow_redirects=False)
    assert refused.status_code == 403 and "The form had expired" in refused.text
    assert '<nav aria-label="Main"' in refused.text


def test_an_anonymous_visitor_gets_no_navigation_but_a_way_to_log_in(client: TestClient) -> None:
    page = client.get("/no/such/page", headers={"Accept-Language": "sv"})
    assert page.status_code == 404 and _h1(page.text) == "Hittades inte"
    assert "<nav" not in page.text and 'href="/login"' in page.text
    english = client.get("/no/such/page", headers={"Accept-Language": "en-GB,en;q=0.8"})
    assert _h1(english.text) == "Not found"


def test_a_stale_session_cookie_on_an_unknown_path_is_anonymous(client: TestClient) -> None:
    client.cookies.set("govsms_session", "not-a-session")
    page = client.get("/no/such/page")
    assert page.status_code == 404 and "<nav" not in page.text


def test_an_unexpected_error_gets_a_swedish_500_with_navigation(
    client: TestClient, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    _logged_in(client, session)
    from govsms.contacts import groups

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("broken on purpose")

    monkeypatch.setattr(groups, "list_groups", broken)
    page = client.get("/groups")
    assert page.status_code == 500
    assert _h1(page.text) == "Något gick fel" and NAV.search(page.text) and "broken on purpose" not in page.text


def _no_link_into_the_service(html: str) -> None:
    assert "<nav" not in html and "<a " not in html and "<form" not in html, html
    assert '<main id="main" class="public">' in html


def test_the_opt_out_pages_errors_never_link_into_the_service(client: TestClient, session: Session) -> None:
    _logged_in(client, session)  # even for a browser with a session: the page is the recipient's
    for path in ("/u/", "/u/a/b"):
        page = client.get(path)
        assert page.status_code == 404, path
        _no_link_into_the_service(page.text)
        assert "Länken fungerar inte" in page.text and "This link does not work" in page.text
    refused = client.post("/u/sometoken", data={}, follow_redirects=False)  # no CSRF token
    assert refused.status_code == 403
    _no_link_into_the_service(refused.text)
    assert "Sidan hade gått ut" in refused.text and "The page had expired" in refused.text
    wrong_method = client.delete("/u/sometoken")
    assert wrong_method.status_code == 405
    _no_link_into_the_service(wrong_method.text)


def test_the_opt_out_pages_rate_limit_page_never_links_into_the_service(connection: Connection, tmp_path: Path) -> None:
    with TestClient(app_on_connection(make_settings(tmp_path, optout_lookups_per_minute=1), connection)) as client:
        client.get("/u/unknown-token")
        limited = client.get("/u/unknown-token")
    assert limited.status_code == 429 and "Retry-After" in limited.headers
    _no_link_into_the_service(limited.text)
    assert "För många förfrågningar" in limited.text and "Too many requests" in limited.text


def test_a_page_request_resolves_its_session_once(client: TestClient, session: Session) -> None:
    """PageContext resolves the cookie before routing; ActorMiddleware takes its actor (one lookup)."""
    _logged_in(client, session)
    original = client.app.state.resolve_actor
    calls: list[object] = []

    def counting(*args: object) -> object:
        calls.append(args[1:])
        return original(*args)

    client.app.state.resolve_actor = counting
    for path in ("/", "/contacts", "/no/such/page", "/static/app.css"):
        calls.clear()
        assert client.get(path).status_code in (200, 404)
        assert len(calls) == 1, (path, calls)
