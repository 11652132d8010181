"""Web security (issue 10, item 9): the API takes bearer keys only and JSON bodies only; every
response carries the security headers; the API documentation loads no third-party script.
Both backends."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from litestar.testing import TestClient
from sqlalchemy import func, select
from sqlalchemy.engine import Connection
from sqlmodel import Session

from govsms.auth import CUSTOMER_ROLES, Role
from govsms.clock import FixedClock
from govsms.app import create_app
from govsms.sending.models import Dispatch
from govsms.sending.pricing import seed_default_prices
from govsms.templating import TEMPLATE_DIR
from tests.conftest import make_settings
from tests.dpa.test_dpa import provider_and_customer
from tests.factories import make_account, make_api_key, make_user, now
from tests.web_helpers import csrf_token, login, post_form

CSP = "default-src 'self'; frame-ancestors 'none'"
MESSAGE = '{"from": "Butiken", "to": ["0701234567"], "text": "Rea på lördag"}'


def dispatches(session: Session) -> int:
    return session.execute(select(func.count()).select_from(Dispatch)).scalar_one()


def logged_in_sender(client: TestClient, session: Session) -> None:
    seed_default_prices(session, now=now())
    user, password = make_user(session, make_account(session), roles={Role.SENDER, Role.ADMIN})
    login(client, user.email, password)


# -- the API: bearer keys only ---------------------------------------------------------------------


def test_a_session_cookie_alone_gets_401_from_the_api(client: TestClient, session: Session) -> None:
    logged_in_sender(client, session)
    assert client.get("/").status_code == 200  # the UI session works
    me = client.get("/api/v1/me")
    assert me.status_code == 401 and me.json()["error"] == "unauthorized"
    assert client.get("/api/v1/contacts").status_code == 401
    for odd in ("/api//v1/me", "/api/v1/me/", "/%61pi/v1/me", "/api/v1/./me"):  # however the path is written
        assert client.get(odd).status_code in (401, 404), odd


def test_a_cross_site_text_plain_post_creates_no_dispatch(client: TestClient, session: Session) -> None:
    """What a page on another port of the same host can send with the user's cookie: a simple
    request (no preflight), text/plain, no CSRF token."""
    logged_in_sender(client, session)
    before = dispatches(session)
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/json"):
        response = client.post("/api/v1/messages", content=MESSAGE, headers={"Content-Type": content_type})
        assert response.status_code == 401, (content_type, response.text)
    assert dispatches(session) == before


def test_the_api_takes_json_bodies_only_with_a_reason(client: TestClient, session: Session) -> None:
    seed_default_prices(session, now=now())
    _, key = make_api_key(session, make_account(session), roles={Role.SENDER})
    bearer = {"Authorization": f"Bearer {key}"}
    before = dispatches(session)
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "", "application/jsonx", "text/json"):
        response = client.post("/api/v1/messages", content=MESSAGE, headers={**bearer, "Content-Type": content_type})
        assert response.status_code == 415, (content_type, response.status_code, response.text)
        assert "application/json" in response.json()["message"], content_type
        assert response.json()["error"] == "unsupported_media_type"
    assert dispatches(session) == before
    for content_type in ("application/json", "application/json; charset=utf-8", "Application/JSON"):
        response = client.post("/api/v1/messages", content=MESSAGE, headers={**bearer, "Content-Type": content_type})
        assert response.status_code == 201, (content_type, response.text)
    assert dispatches(session) == before + 3
    # Every JSON body of the API, not only the messages.
    refused = client.post("/api/v1/groups", content='{"name": "G"}', headers={**bearer, "Content-Type": "text/plain"})
    assert refused.status_code == 415


def test_an_upload_stays_multipart_and_only_there(client: TestClient, session: Session) -> None:
    _, key = make_api_key(session, make_account(session), roles={Role.SENDER})
    bearer = {"Authorization": f"Bearer {key}"}
    upload = client.post(
        "/api/v1/contacts/import", data={"dry_run": "true"}, headers=bearer,
        files={"file": ("a.csv", b"nummer\n0702223344\n", "text/csv")},
    )
    assert upload.status_code == 201 and upload.json()["valid"] == 1
    as_json = client.post("/api/v1/contacts/import", content='{"file": "x"}', headers={**bearer, "Content-Type": "application/json"})
    assert as_json.status_code == 415 and "multipart/form-data" in as_json.json()["message"]
    as_form = client.post("/api/v1/groups", data={"name": "G"}, files={"f": ("a", b"x")}, headers=bearer)
    assert as_form.status_code == 415


def test_the_ui_counter_keeps_working_with_cookie_and_csrf(client: TestClient, session: Session) -> None:
    logged_in_sender(client, session)
    token = csrf_token(client, "/send")
    analysed = client.post("/send/analyse", json={"text": "Hej", "sender": "Skolan"}, headers={"x-csrftoken": token})
    assert analysed.status_code == 201 and analysed.json()["parts"] == 1
    assert client.post("/send/analyse", json={"text": "Hej"}).status_code == 403  # no CSRF token
    plain = client.post("/send/analyse", content='{"text": "Hej"}', headers={"x-csrftoken": token, "Content-Type": "text/plain"})
    assert plain.status_code == 415


# -- security headers --------------------------------------------------------------------------------


def assert_security_headers(response, *, hsts: bool = False) -> None:  # type: ignore[no-untyped-def]
    headers = response.headers
    where = f"{response.request.method} {response.request.url.path} ({response.status_code})"
    assert headers.get("content-security-policy") == CSP, where
    assert headers.get("x-content-type-options") == "nosniff", where
    assert headers.get("referrer-policy") == "no-referrer", where
    if hsts:
        assert re.fullmatch(r"max-age=\d{7,}", headers.get("strict-transport-security", "")), where
    else:
        assert "strict-transport-security" not in headers, where


def test_every_kind_of_response_carries_the_security_headers(client: TestClient, session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    _, key = make_api_key(session, make_account(session), roles={Role.SENDER})
    bearer = {"Authorization": f"Bearer {key}"}
    responses = [
        client.get("/login"),  # a UI page
        client.get("/", follow_redirects=False),  # a redirect
        client.get("/health"),
        client.get("/static/app.css"),
        client.get("/static/send.js"),
        client.get("/static/nothing.css"),  # a static 404
        client.get("/no/such/page"),  # a UI 404
        client.get("/api/v1/nothing"),  # an API 404
        client.get("/api/v1/me"),  # an API 401
        client.get("/api/v1/me", headers=bearer),  # an API 200
        client.post("/api/v1/messages", content="x", headers={**bearer, "Content-Type": "text/plain"}),  # 415
        client.post("/login", data={"email": "a"}),  # a CSRF refusal
        client.get("/u/AAAAAAAAAAAA"),  # the public opt-out page
        client.get("/api/schema"),
        client.get("/api/schema/openapi.json"),
        client.delete("/login"),  # 405
    ]
    from govsms.sending import optout

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(optout, "optout_account_name", broken)
    failed = client.get("/u/AAAAAAAAAAAA")
    assert failed.status_code == 500
    responses.append(failed)
    assert {response.status_code for response in responses} >= {200, 303, 401, 403, 404, 405, 415, 500}
    for response in responses:
        assert_security_headers(response)


def test_hsts_only_when_the_public_url_is_https(tmp_path: Path, connection: Connection) -> None:
    settings = make_settings(tmp_path, public_url="https://sms.example.se")
    with TestClient(create_app(settings, bind=connection)) as secure:
        for path in ("/login", "/health", "/static/app.css", "/no/such/page", "/api/v1/me"):
            assert_security_headers(secure.get(path), hsts=True)


def test_the_api_documentation_loads_no_third_party_script(client: TestClient) -> None:
    docs = client.get("/api/schema")
    assert docs.status_code == 200 and docs.headers["content-type"].startswith("text/html")
    assert "/api/v1/messages" in docs.text and "/api/schema/openapi.json" in docs.text
    assert "<script" not in docs.text.lower() and "style=" not in docs.text.lower() and "<style" not in docs.text.lower()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", docs.text), "an external resource"
    for path in ("/api/schema/swagger", "/api/schema/redoc", "/api/schema/elements", "/api/schema/rapidoc", "/api/schema/scalar"):
        page = client.get(path)
        assert page.status_code == 404 or "<script" not in page.text.lower(), path
    schema = client.get("/api/schema/openapi.json")
    assert schema.status_code == 200 and "/api/v1/messages" in schema.json()["paths"]
    yaml = client.get("/api/schema/openapi.yaml")
    assert yaml.status_code == 200 and "/api/v1/messages:" in yaml.text


INLINE = re.compile(r"""<script(?![^>]*\bsrc=)[^>]*>|<style\b|\sstyle\s*=|\son[a-z]+\s*=|javascript:""", re.IGNORECASE)


PDF_ONLY = {"subjects/export_report.html", "subjects/receipt_document.html"}
"""Templates WeasyPrint renders into a PDF (the access export's report, the erasure receipt); no
handler answers with them as HTML."""


def test_no_template_has_what_the_policy_blocks() -> None:
    """Inline scripts, inline event handlers, style attributes and style elements are blocked by
    the policy; the DPA's print stylesheet is the one exception, in the PDF only (WeasyPrint), and
    so are the documents only ever rendered into PDFs (never served as pages)."""
    found = []
    for template in sorted(TEMPLATE_DIR.rglob("*.html")):
        if template.relative_to(TEMPLATE_DIR).as_posix() in PDF_ONLY:
            continue
        text = template.read_text(encoding="utf-8")
        if template.name == "document.html":
            text = re.sub(r"\{% if pdf %\}\s*<style>.*?</style>\s*\{% else %\}", "", text, flags=re.DOTALL)
        found += [f"{template.relative_to(TEMPLATE_DIR)}: {match.group(0)}" for match in INLINE.finditer(text)]
    assert not found, found


def test_served_pages_have_no_inline_script_or_style(client: TestClient, session: Session) -> None:
    _, account = provider_and_customer(session)  # the DPA preview needs the agreement's parties
    user, password = make_user(session, account, roles=set(CUSTOMER_ROLES))
    login(client, user.email, password)
    for path in ("/", "/send", "/contacts", "/groups", "/messages", "/blocklist", "/audit", "/dpa", "/dpa/preview?lang=sv",
                 "/settings/users", "/settings/api-keys", "/settings/profile", "/contacts/import"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert not INLINE.search(response.text), (path, INLINE.search(response.text).group(0))  # type: ignore[union-attr]
        assert_security_headers(response)


# -- cross-site forms: the Origin check (second round, finding 1) ------------------------------------

FOREIGN = "http://127.0.0.1:9999"


def blocks(session: Session) -> int:
    from govsms.sending.models import BlockEntry

    return session.execute(select(func.count()).select_from(BlockEntry)).scalar_one()


def test_a_foreign_origin_with_an_attackers_csrf_pair_writes_nothing(client: TestClient, session: Session) -> None:
    """The review's attack: the attacker's own anonymous ``govsms_csrf`` pair, set as a cookie
    beside the victim's session by a page on another port of the same host."""
    logged_in_sender(client, session)
    victim = client.cookies.get("govsms_session")
    assert victim
    with TestClient(client.app) as attacker:
        token = csrf_token(attacker, "/login")
        pair = attacker.cookies.get("govsms_csrf")
    forged = {"Cookie": f"govsms_session={victim}; govsms_csrf={pair}"}
    before = blocks(session)
    with TestClient(client.app) as browser:
        for headers in (
            {"Origin": FOREIGN}, {"Origin": "null"}, {"Referer": f"{FOREIGN}/evil.html"}, {"Origin": "http://testserver.local.evil.example"},
            {"Origin": "null", "Sec-Fetch-Site": "same-site"}, {"Origin": "http://testserver.local", "Sec-Fetch-Site": "cross-site"},
            {"Sec-Fetch-Site": "same-site"}, {"Origin": FOREIGN, "Sec-Fetch-Site": "same-origin"},
            # Hostile values: refused with 403, never a 500.
            {"Origin": "http://[::1"}, {"Origin": "http://testserver.local:99999"}, {"Referer": "not a url"}, {"Origin": "javascript:x"},
            {"Origin": "http://testserver.local@evil.example"}, {"Origin": "x" * 5000},
        ):
            refused = browser.post("/blocklist", data={"number": "0701234567", "action": "block", "_csrf_token": token}, headers={**forged, **headers})
            assert refused.status_code == 403, (headers, refused.status_code)
            assert "another site" in refused.text or "en annan webbplats" in refused.text
            assert_security_headers(refused)
        assert blocks(session) == before
        # The same form from the service's own pages, and from a client that sends neither header.
        # Our pages are sent under Referrer-Policy: no-referrer, so a browser says "Origin: null" and vouches
        # with Sec-Fetch-Site.
        for headers in (
            {"Origin": "http://testserver.local"}, {"Referer": "http://testserver.local/blocklist"}, {},
            {"Origin": "null", "Sec-Fetch-Site": "same-origin"}, {"Origin": "http://testserver.local", "Sec-Fetch-Site": "same-origin"},
        ):
            allowed = browser.post("/blocklist", data={"number": "0701234567", "action": "check", "_csrf_token": token}, headers={**forged, **headers})
            assert allowed.status_code == 200, (headers, allowed.status_code)


def test_the_origin_check_covers_login_optout_and_json_forms_not_the_api(client: TestClient, session: Session) -> None:
    user, password = make_user(session, make_account(session), roles={Role.SENDER, Role.ADMIN})
    token = csrf_token(client, "/login")
    foreign = {"Origin": FOREIGN}
    refused = client.post("/login", data={"email": user.email, "password": password, "_csrf_token": token}, headers=foreign, follow_redirects=False)
    assert refused.status_code == 403 and "govsms_session" not in client.cookies
    optout_page = client.post("/u/AAAAAAAAAAAA", data={"_csrf_token": token}, headers=foreign)
    assert optout_page.status_code == 403
    login(client, user.email, password)
    token = csrf_token(client, "/send")
    analysed = client.post("/send/analyse", json={"text": "Hej"}, headers={"x-csrftoken": token, **foreign})
    assert analysed.status_code == 403
    with TestClient(client.app) as swedish:
        swedish.cookies.set("govsms_lang", "sv")
        page = swedish.post("/login", data={"email": "a", "_csrf_token": csrf_token(swedish, "/login")}, headers=foreign)
        assert page.status_code == 403 and "en annan webbplats" in page.text
    # The API takes bearer keys, which no other site's page can send: not refused here.
    seed_default_prices(session, now=now())
    _, key = make_api_key(session, make_account(session), roles={Role.SENDER})
    sent = client.post("/api/v1/messages", content=MESSAGE, headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json", **foreign})
    assert sent.status_code == 201, sent.text


def test_the_public_url_is_the_origin_when_it_is_set(tmp_path: Path, connection: Connection) -> None:
    settings = make_settings(tmp_path, public_url="https://sms.example.se/")
    with TestClient(create_app(settings, bind=connection), base_url="https://testserver.local") as behind_proxy:
        token = csrf_token(behind_proxy, "/login")
        form = {"email": "nobody@example.se", "password": "x" * 12, "_csrf_token": token}
        for own in ("https://sms.example.se", "https://SMS.example.se:443"):
            answer = behind_proxy.post("/login", data=form, headers={"Origin": own})
            assert answer.status_code == 401, own  # the form's own answer (wrong password), not a refusal
        for other in ("https://testserver.local", "http://sms.example.se", "https://sms.example.se:8443", "https://sms.example.se.evil.example"):
            assert behind_proxy.post("/login", data=form, headers={"Origin": other}).status_code == 403, other


def test_logging_in_replaces_the_csrf_cookie(client: TestClient, session: Session) -> None:
    """A token obtained before logging in (by anyone) is not the one the session's forms use."""
    user, password = make_user(session, make_account(session), roles={Role.SENDER})
    before = csrf_token(client, "/login")
    response = login(client, user.email, password)
    assert "govsms_csrf" in response.headers.get("set-cookie", "")
    after = csrf_token(client, "/blocklist")
    assert after != before
    stale = client.post("/blocklist", data={"number": "0701234567", "action": "check", "_csrf_token": before})
    assert stale.status_code == 403


# -- no caching of pages with personal data (second round, finding 2) --------------------------------


def test_pages_and_api_answers_are_not_stored_by_caches(client: TestClient, session: Session) -> None:
    _, key = make_api_key(session, make_account(session), roles={Role.SENDER})
    bearer = {"Authorization": f"Bearer {key}"}
    logged_in_sender(client, session)
    answers = [
        client.get("/"), client.get("/blocklist"), client.get("/login"), client.get("/no/such/page"),
        client.get("/api/v1/me", headers=bearer), client.get("/api/v1/contacts", headers=bearer), client.get("/api/v1/me"),
        client.get("/health"), client.get("/u/AAAAAAAAAAAA"), client.post("/login", data={"email": "a"}), client.delete("/login"),
        client.get("/api/v1/nothing"),
    ]
    for answer in answers:
        assert "no-store" in answer.headers.get("cache-control", ""), (answer.request.url.path, answer.status_code)
        assert_security_headers(answer)
    for path in ("/static/app.css", "/static/send.js"):
        static = client.get(path)
        assert static.status_code == 200 and "no-store" not in static.headers.get("cache-control", ""), path


def test_a_lockout_tells_its_end_in_the_default_time_zone_whoever_is_locked_out(client: TestClient, session: Session) -> None:
    """The login page has no actor yet: a lockout's end is shown in Europe/Stockholm (the default)
    even for a login of an account in Helsinki, so that the message for an address without a login
    (locked out alike) is the same, and tells no one which logins exist, or in which zone."""
    at = (now() - timedelta(hours=3)).replace(second=0, microsecond=0)
    client.app.state.clock = FixedClock(at)
    account = make_account(session)
    account.timezone = "Europe/Helsinki"
    session.add(account)
    session.flush()
    user, _password = make_user(session, account, language="en")
    client.cookies.set("govsms_lang", "en")
    locked = {}
    for email in (user.email, "ingen-sadan@example.org"):
        for _attempt in range(5):
            locked[email] = post_form(client, "/login", {"email": email, "password": "inte-rätt-lösen"})
    until = at + timedelta(minutes=15)
    in_stockholm, in_helsinki = until.astimezone(ZoneInfo("Europe/Stockholm")), until.astimezone(ZoneInfo("Europe/Helsinki"))
    for email, answer in locked.items():
        assert answer.status_code == 401 and "locked for 15 more minutes" in answer.text, email
        assert f"(until {in_stockholm:%H:%M})" in answer.text and f"(until {in_helsinki:%H:%M})" not in answer.text, email
