"""Two-step login (TOTP, RFC 6238) with recovery codes: enrolment, login, replay, drift, lockout,
the operator's requirement per role and an administrator's reset (both backends).

Codes are computed here with the RFC's own algorithm from the secret the enrolment page shows."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import struct
import time
from datetime import datetime, timedelta

import pytest
from litestar.testing import TestClient
from sqlmodel import Session, select

from govsms.accounts import login, totp
from govsms.accounts.login import LoginLimiter
from govsms.accounts.models import LoginSession, RecoveryCode, User
from govsms.auth import Role
from govsms.audit.models import AuditEvent
from govsms.errors import Conflict, InvalidInput, LoginRefused, NotFound
from tests import sensitive
from tests.factories import audit_events, make_account, make_user, now
from tests.cli import cli_env, govsms  # noqa: F401  (fixture)
from tests.test_routes import endpoints
from tests.web_helpers import post_form
from tests.web_helpers import login as log_in

POLICY = login.LoginPolicy(max_failures=5, lockout=timedelta(minutes=15), session_lifetime=timedelta(hours=1))
SECRET_ON_PAGE = re.compile(r'id="totp-secret"[^>]*>([A-Z2-7 ]+)<')
RECOVERY_ON_PAGE = re.compile(r'<li class="recovery-code"><code>([^<]+)</code>')


def rfc6238(secret: str, at: float, *, digits: int = 6, step: int = 30, raw: bytes | None = None) -> str:
    """RFC 6238 (HMAC-SHA1, RFC 4226 dynamic truncation), written here from the RFC."""
    key = raw if raw is not None else base64.b32decode(secret.replace(" ", "") + "=" * (-len(secret.replace(" ", "")) % 8))
    digest = hmac.new(key, struct.pack(">Q", int(at // step)), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = (struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF) % 10**digits
    return f"{value:0{digits}d}"


def test_the_code_helper_is_rfc_6238() -> None:
    seed = b"12345678901234567890"  # RFC 6238 Appendix B, SHA-1
    assert rfc6238("", 59, digits=8, raw=seed) == "94287082"
    assert rfc6238("", 1111111109, digits=8, raw=seed) == "07081804"
    assert rfc6238("", 2000000000, digits=8, raw=seed) == "69279037"


def enrol(session: Session, user: User, at: datetime) -> tuple[str, list[str]]:
    """Turn TOTP on for ``user`` at ``at``; the secret and the recovery codes."""
    enrolment = totp.begin_enrolment(session, user, now=at)
    codes = totp.confirm_enrolment(session, user, rfc6238(enrolment.secret, at.timestamp()), now=at)
    sensitive.register(enrolment.secret)
    for code in codes:
        sensitive.register(code)
    return enrolment.secret, codes


# -- service level -------------------------------------------------------------------------------


def test_enrolment_seals_the_secret_bound_to_the_user(session: Session) -> None:
    account = make_account(session)
    user, _ = make_user(session, account, roles={Role.ADMIN})
    other, _ = make_user(session, account, roles={Role.DPO})
    moment = now()
    enrolment = totp.begin_enrolment(session, user, now=moment)
    assert enrolment.uri.startswith("otpauth://totp/") and f"secret={enrolment.secret.replace(' ', '')}" in enrolment.uri
    assert "issuer=govsms" in enrolment.uri and "digits=6" in enrolment.uri and "period=30" in enrolment.uri
    raw = base64.b32decode(enrolment.secret.replace(" ", ""))
    assert len(raw) >= 20
    session.refresh(user)
    assert user.totp_secret_ct and raw not in user.totp_secret_ct and enrolment.secret.encode() not in user.totp_secret_ct
    assert user.totp_enabled_at is None  # not on until a first code confirms it
    # Shown again only where the same set-up goes on (a wrong code, a reload of the login's step);
    # each start makes a new secret, and the one before no longer confirms (review, second round).
    assert totp.begin_enrolment(session, user, now=moment, anew=False).secret == enrolment.secret
    abandoned = enrolment
    enrolment = totp.begin_enrolment(session, user, now=moment)
    assert enrolment.secret != abandoned.secret
    sensitive.register(abandoned.secret)
    stale = rfc6238(abandoned.secret, moment.timestamp())
    if stale != rfc6238(enrolment.secret, moment.timestamp()):
        with pytest.raises(InvalidInput):
            totp.confirm_enrolment(session, user, stale, now=moment)
    with pytest.raises(InvalidInput):
        totp.confirm_enrolment(session, user, "000000" if rfc6238(enrolment.secret, moment.timestamp()) != "000000" else "111111", now=moment)
    codes = totp.confirm_enrolment(session, user, rfc6238(enrolment.secret, moment.timestamp()), now=moment)
    assert len(codes) == 10 and len(set(codes)) == 10
    session.refresh(user)
    assert user.totp_enabled_at is not None
    stored = session.exec(select(RecoveryCode).where(RecoveryCode.user_id == user.id)).all()
    assert len(stored) == 10
    for code in codes:
        assert all(code not in row.code_hash and code.replace("-", "") not in row.code_hash for row in stored)
    with pytest.raises(Conflict):
        totp.begin_enrolment(session, user, now=moment)
    # The sealed secret copied onto another user's row does not open there.
    other.totp_secret_ct = user.totp_secret_ct
    other.totp_enabled_at = moment
    session.add(other)
    session.flush()
    later = moment + timedelta(minutes=5)
    with pytest.raises(LoginRefused, match="cannot be read"):
        totp.verify_code(session, other, rfc6238(enrolment.secret, later.timestamp()), now=later)


def test_drift_of_one_step_and_no_replay(session: Session) -> None:
    user, _ = make_user(session, make_account(session), roles={Role.DPO})
    start = now()
    secret, _codes = enrol(session, user, start)
    at = start + timedelta(minutes=10)
    earlier = rfc6238(secret, at.timestamp() - 30)
    assert totp.verify_code(session, user, earlier, now=at) == "totp"  # one step behind: the phone's clock is late
    assert totp.verify_code(session, user, earlier, now=at) is None  # the same code again: replay
    current = rfc6238(secret, at.timestamp())
    assert totp.verify_code(session, user, current, now=at) == "totp"
    assert totp.verify_code(session, user, current, now=at + timedelta(seconds=5)) is None  # still its window: replay
    ahead = rfc6238(secret, at.timestamp() + 30)
    assert totp.verify_code(session, user, ahead, now=at) == "totp"  # one step ahead
    assert totp.verify_code(session, user, current, now=at) is None  # older than the last one used
    later = at + timedelta(minutes=10)
    for outside in (later.timestamp() - 60, later.timestamp() + 60, later.timestamp() - 3600):
        code = rfc6238(secret, outside)
        if code not in {rfc6238(secret, later.timestamp() + shift) for shift in (-30, 0, 30)}:
            assert totp.verify_code(session, user, code, now=later) is None
    assert totp.verify_code(session, user, rfc6238(secret, later.timestamp()), now=later) == "totp"


def test_recovery_codes_work_once_each(session: Session) -> None:
    user, _ = make_user(session, make_account(session), roles={Role.ADMIN})
    start = now()
    secret, codes = enrol(session, user, start)
    at = start + timedelta(minutes=1)
    assert totp.verify_code(session, user, codes[0], now=at) == "recovery_code"
    assert totp.verify_code(session, user, codes[0], now=at) is None
    assert totp.verify_code(session, user, f"  {codes[1].lower().replace('-', ' ')} ", now=at) == "recovery_code"
    assert totp.recovery_codes_left(session, user) == 8
    used = audit_events(session, "user.recovery_code_used")
    assert len(used) == 2 and all(event.target_id == str(user.id) for event in used)
    everything = " ".join(event.details for event in session.exec(select(AuditEvent)).all())
    assert secret.replace(" ", "") not in everything and not any(code in everything for code in codes)


def test_disable_needs_password_and_code_and_is_refused_when_the_role_requires_it(session: Session) -> None:
    account = make_account(session)
    user, password = make_user(session, account, roles={Role.SENDER})
    start = now()
    secret, _codes = enrol(session, user, start)
    actor = login.actor_for_user(user, account)
    at = start + timedelta(minutes=2)
    with pytest.raises(InvalidInput):
        totp.disable_totp(session, actor, password="fel-lösen-123", code=rfc6238(secret, at.timestamp()), now=at)
    with pytest.raises(InvalidInput):
        totp.disable_totp(session, actor, password=password, code="123", now=at)
    totp.set_required_roles(session, None, {Role.SENDER}, now=at)
    with pytest.raises(Conflict):
        totp.disable_totp(session, actor, password=password, code=rfc6238(secret, at.timestamp()), now=at)
    totp.set_required_roles(session, None, set(), now=at)
    later = at + timedelta(minutes=1)
    totp.disable_totp(session, actor, password=password, code=rfc6238(secret, later.timestamp()), now=later)
    session.refresh(user)
    assert user.totp_enabled_at is None and user.totp_secret_ct is None
    assert session.exec(select(RecoveryCode).where(RecoveryCode.user_id == user.id)).first() is None
    assert len(audit_events(session, "user.totp_disabled")) == 1 and len(audit_events(session, "user.totp_enrolled")) == 1


def test_admin_resets_a_user_of_the_same_account_only(session: Session) -> None:
    account_a, account_b = make_account(session), make_account(session)
    admin_a, _ = make_user(session, account_a, roles={Role.ADMIN})
    user_a, _ = make_user(session, account_a, roles={Role.DPO})
    user_b, _ = make_user(session, account_b, roles={Role.DPO})
    enrol(session, user_a, now())
    enrol(session, user_b, now())
    admin = login.actor_for_user(admin_a, account_a)
    with pytest.raises(NotFound):
        totp.reset_totp(session, admin, user_b.id, now=now())  # type: ignore[arg-type]
    session.refresh(user_b)
    assert user_b.totp_enabled_at is not None
    with pytest.raises(Conflict):
        totp.reset_totp(session, admin, admin_a.id, now=now())  # type: ignore[arg-type]
    token = login.start_login_session(session, user_a, policy=POLICY, now=now(), stage="")
    totp.reset_totp(session, admin, user_a.id, now=now())  # type: ignore[arg-type]
    session.refresh(user_a)
    assert user_a.totp_enabled_at is None and user_a.totp_secret_ct is None
    assert login.resolve_login_session(session, token, policy=POLICY, now=now()) is None  # logged out everywhere
    reset = audit_events(session, "user.totp_reset")
    assert [(event.actor, event.target_id, event.account_id) for event in reset] == [(f"user:{admin_a.id}", str(user_a.id), account_a.id)]


# -- through the UI ------------------------------------------------------------------------------


def _enrolled_admin(session: Session):  # type: ignore[no-untyped-def]
    account = make_account(session)
    user, password = make_user(session, account, roles={Role.ADMIN})
    secret, codes = enrol(session, user, now())
    return account, user, password, secret, codes


def test_login_takes_a_code_and_the_half_login_reaches_nothing(client: TestClient, session: Session) -> None:
    _account, user, password, secret, _codes = _enrolled_admin(session)
    first = post_form(client, "/login", {"email": user.email, "password": password, "next": "/settings/users"})
    assert first.status_code == 303 and first.headers["location"].startswith("/login/code")
    pending = session.exec(select(LoginSession).where(LoginSession.user_id == user.id)).all()
    assert [row.stage for row in pending] == ["code"]
    assert pending[0].expires_at <= now() + timedelta(minutes=15)
    # With the password alone nothing is reachable: every page answers as it does to nobody.
    anonymous = TestClient(client.app)
    walked = 0
    with anonymous:
        for endpoint in endpoints(client.app):
            if "{" in endpoint.path or endpoint.method != "GET" or endpoint.path.startswith("/login"):
                continue
            response = client.get(endpoint.path, follow_redirects=False)
            assert response.status_code == anonymous.get(endpoint.path, follow_redirects=False).status_code, endpoint.path
            if response.status_code == 303:
                assert response.headers["location"].startswith("/login"), endpoint.path
            walked += response.status_code in (303, 401)
    assert walked > 10
    code_page = client.get("/login/code")
    assert code_page.status_code == 200 and 'name="code"' in code_page.text
    wrong = post_form(client, "/login/code", {"code": "12345a"}, token_from="/login/code")
    assert wrong.status_code == 401 and "code" in wrong.text.lower()
    right = post_form(client, "/login/code", {"code": rfc6238(secret, time.time() + 30), "next": "/settings/users"}, token_from="/login/code")
    assert right.status_code == 303 and right.headers["location"] == "/settings/users"
    assert client.get("/settings/users", follow_redirects=False).status_code == 200
    rows = session.exec(select(LoginSession).where(LoginSession.user_id == user.id)).all()
    assert [row.stage for row in rows] == [""]  # the half login is gone; a new token was issued
    assert rows[0].token_hash != pending[0].token_hash
    assert len(audit_events(session, "user.logged_in")) == 1


def test_code_page_without_a_half_login_goes_to_login(client: TestClient) -> None:
    assert client.get("/login/code", follow_redirects=False).headers["location"].startswith("/login")
    refused = post_form(client, "/login/code", {"code": "123456"})
    assert refused.status_code in (303, 401)
    assert "govsms_session=" not in refused.headers.get("set-cookie", "") or "Max-Age=0" in refused.headers.get("set-cookie", "")


def test_recovery_code_logs_in_once(client: TestClient, session: Session) -> None:
    _account, user, password, _secret, codes = _enrolled_admin(session)
    log_in(client, user.email, password)
    assert post_form(client, "/login/code", {"code": codes[3]}, token_from="/login/code").status_code == 303
    post_form(client, "/logout", {}, token_from="/")
    log_in(client, user.email, password)
    assert post_form(client, "/login/code", {"code": codes[3]}, token_from="/login/code").status_code == 401
    assert len(audit_events(session, "user.recovery_code_used")) == 1


def test_wrong_codes_count_towards_the_lockout_across_password_logins(client: TestClient, session: Session) -> None:
    _account, user, password, secret, _codes = _enrolled_admin(session)
    wrong = "000000" if rfc6238(secret, time.time()) != "000000" else "999999"
    log_in(client, user.email, password)
    for _ in range(2):
        assert post_form(client, "/login/code", {"code": wrong}, token_from="/login/code").status_code == 401
    log_in(client, user.email, password)  # the right password again does not wipe the count
    for _ in range(2):
        assert post_form(client, "/login/code", {"code": wrong}, token_from="/login/code").status_code == 401
    locked = post_form(client, "/login/code", {"code": wrong}, token_from="/login/code")
    assert locked.status_code == 401 and ("låst" in locked.text or "locked" in locked.text)
    session.refresh(user)
    assert user.locked_until is not None
    assert session.exec(select(LoginSession).where(LoginSession.user_id == user.id)).first() is None
    again = post_form(client, "/login", {"email": user.email, "password": password})
    assert again.status_code == 401 and "låst" in again.text


def test_code_attempts_are_rate_limited_like_passwords(client: TestClient, session: Session) -> None:
    _account, user, password, _secret, _codes = _enrolled_admin(session)
    client.app.state.login_limiter = LoginLimiter(3)
    log_in(client, user.email, password)
    statuses = [post_form(client, "/login/code", {"code": "000001"}, token_from="/login/code").status_code for _ in range(3)]
    assert statuses[:2] == [401, 401] and statuses[2] == 429


@pytest.mark.parametrize("code", ["1" * 5000, "12\x0034", "١٢٣٤٥٦", "１２３４５６", "", "%00", "zz-zz-zz-zz"])
def test_hostile_codes_are_wrong_codes_not_errors(client: TestClient, session: Session, code: str) -> None:
    _account, user, password, _secret, _codes = _enrolled_admin(session)
    log_in(client, user.email, password)
    response = post_form(client, "/login/code", {"code": code}, token_from="/login/code")
    assert response.status_code in (401, 422), response.status_code


@pytest.mark.parametrize("code", ["1" * 5000, "12\x0034", "١٢٣٤٥٦", "", "ZZZZ-ZZZZ-ZZZZ-ZZZZ"])
def test_hostile_codes_in_enrolment_and_profile_forms_are_refused_with_a_reason(client: TestClient, session: Session, code: str) -> None:
    account = make_account(session)
    user, password = make_user(session, account, roles={Role.SENDER})
    log_in(client, user.email, password)
    post_form(client, "/settings/profile/totp/start", {}, token_from="/settings/profile")
    assert post_form(client, "/settings/profile/totp/confirm", {"code": code}, token_from="/settings/profile").status_code == 422
    session.refresh(user)
    assert user.totp_enabled_at is None
    secret, _codes = enrol(session, user, now())  # this ends the user's sessions: log in again, with a code
    log_in(client, user.email, password)
    assert post_form(client, "/login/code", {"code": rfc6238(secret, time.time() + 30)}, token_from="/login/code").status_code == 303
    for path in ("/settings/profile/totp/disable", "/settings/profile/totp/recovery-codes"):
        response = post_form(client, path, {"password": password, "code": code}, token_from="/settings/profile")
        assert response.status_code == 422, path
    session.refresh(user)
    assert user.totp_enabled_at is not None
    totp.set_required_roles(session, None, {Role.DPO}, now=now())
    dpo, dpo_password = make_user(session, account, roles={Role.DPO})
    other = TestClient(client.app)
    with other:
        log_in(other, dpo.email, dpo_password)
        assert post_form(other, "/login/enrol", {"code": code}, token_from="/login/enrol").status_code == 422


def test_required_role_goes_to_enrolment_and_can_do_nothing_else(client: TestClient, session: Session) -> None:
    account = make_account(session)
    admin, password = make_user(session, account, roles={Role.ADMIN})
    sender, sender_password = make_user(session, account, roles={Role.SENDER})
    early = TestClient(client.app)
    with early:
        log_in(early, admin.email, password)
        assert early.get("/", follow_redirects=False).status_code == 200
        totp.set_required_roles(session, None, {Role.ADMIN, Role.DPO}, now=now())
        assert early.get("/", follow_redirects=False).status_code == 303  # sessions of admins without TOTP ended
    assert totp.required_roles(session) == {Role.ADMIN, Role.DPO}
    first = post_form(client, "/login", {"email": admin.email, "password": password})
    assert first.status_code == 303 and first.headers["location"].startswith("/login/enrol")
    for path in ("/", "/settings/users", "/settings/profile", "/settings/api-keys"):
        assert client.get(path, follow_redirects=False).headers["location"].startswith("/login"), path
    page = client.get("/login/enrol")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    secret = SECRET_ON_PAGE.search(page.text).group(1)  # type: ignore[union-attr]
    sensitive.register(secret.replace(" ", ""))
    assert "otpauth://totp/" in page.text
    assert post_form(client, "/login/enrol", {"code": "12"}, token_from="/login/enrol").status_code == 422
    done = post_form(client, "/login/enrol", {"code": rfc6238(secret, time.time())}, token_from="/login/enrol")
    assert done.status_code == 200 and done.headers["cache-control"] == "no-store"
    codes = RECOVERY_ON_PAGE.findall(done.text)
    assert len(codes) == 10
    assert client.get("/", follow_redirects=False).status_code == 200
    assert len(audit_events(session, "user.totp_enrolled")) == 1
    other = TestClient(client.app)
    with other:
        assert log_in(other, sender.email, sender_password).headers["location"] == "/"  # senders are not required


def test_any_user_turns_it_on_and_off_in_the_profile(client: TestClient, session: Session) -> None:
    account = make_account(session)
    user, password = make_user(session, account, roles={Role.SENDER})
    log_in(client, user.email, password)
    start = post_form(client, "/settings/profile/totp/start", {}, token_from="/settings/profile")
    assert start.status_code == 200 and start.headers["cache-control"] == "no-store"
    secret = SECRET_ON_PAGE.search(start.text).group(1)  # type: ignore[union-attr]
    sensitive.register(secret.replace(" ", ""))
    assert post_form(client, "/settings/profile/totp/confirm", {"code": "x", "password": password}, token_from="/settings/profile").status_code == 422
    confirmed = post_form(
        client, "/settings/profile/totp/confirm", {"code": rfc6238(secret, time.time()), "password": password}, token_from="/settings/profile"
    )
    assert confirmed.status_code == 200 and len(RECOVERY_ON_PAGE.findall(confirmed.text)) == 10
    session.refresh(user)
    assert user.totp_enabled_at is not None
    refused = post_form(
        client, "/settings/profile/totp/disable", {"password": "fel-lösen-123", "code": rfc6238(secret, time.time() + 30)},
        token_from="/settings/profile",
    )
    assert refused.status_code == 422
    off = post_form(
        client, "/settings/profile/totp/disable", {"password": password, "code": rfc6238(secret, time.time() + 30)},
        token_from="/settings/profile",
    )
    assert off.status_code == 303
    session.refresh(user)
    assert user.totp_enabled_at is None


def test_admin_reset_through_the_ui_and_not_across_accounts(client: TestClient, session: Session) -> None:
    account_a, account_b = make_account(session), make_account(session)
    admin, password = make_user(session, account_a, roles={Role.ADMIN})
    user_a, _ = make_user(session, account_a, roles={Role.DPO})
    user_b, _ = make_user(session, account_b, roles={Role.DPO})
    enrol(session, user_a, now())
    enrol(session, user_b, now())
    log_in(client, admin.email, password)
    assert "totp/reset" in client.get(f"/settings/users/{user_a.id}").text
    across = post_form(client, f"/settings/users/{user_b.id}/totp/reset", {}, token_from="/settings/users")
    assert across.status_code == 404
    session.refresh(user_b)
    assert user_b.totp_enabled_at is not None
    reset = post_form(client, f"/settings/users/{user_a.id}/totp/reset", {}, token_from="/settings/users")
    assert reset.status_code == 303
    session.refresh(user_a)
    assert user_a.totp_enabled_at is None
    assert len(audit_events(session, "user.totp_reset")) == 1


def test_operator_sets_the_required_roles_in_the_console(client: TestClient, session: Session) -> None:
    provider = make_account(session, is_provider=True)
    operator, password = make_user(session, provider, roles={Role.OPERATOR})
    log_in(client, operator.email, password)
    page = client.get("/operator/security")
    assert page.status_code == 200 and 'name="roles"' in page.text
    saved = post_form(client, "/operator/security", {"roles": ["admin", "dpo", "nonsense"]}, token_from="/operator/security")
    assert saved.status_code == 303
    assert totp.required_roles(session) == {Role.ADMIN, Role.DPO}
    assert len(audit_events(session, "platform.totp_required_changed")) == 1


def test_cli_requires_per_role_and_resets(cli_env: dict[str, str]) -> None:  # noqa: F811
    assert govsms(cli_env, "init").returncode == 0 and govsms(cli_env, "account", "create", "Kommunen").returncode == 0
    strong = sensitive.register("Blåbär-Kanot-Fyrtorn-9")
    created = govsms(cli_env, "user", "create", "--account", "Kommunen", "--email", "it@kommun.example", "--role", "admin", stdin=strong + "\n")
    assert created.returncode == 0
    required = govsms(cli_env, "user", "require-totp", "--role", "admin", "--role", "dpo")
    assert required.returncode == 0 and "admin, dpo" in required.stdout
    shown = govsms(cli_env, "user", "require-totp")
    assert shown.returncode == 0 and "admin, dpo" in shown.stdout  # shows the setting
    none = govsms(cli_env, "user", "require-totp", "--none")
    assert none.returncode == 0 and "no role" in none.stdout
    assert govsms(cli_env, "user", "reset-totp", "--email", "it@kommun.example").returncode == 0
    assert govsms(cli_env, "user", "reset-totp", "--email", "nobody@kommun.example").returncode == 2


# -- second round: a new secret per start, and the password to turn it on -----------------------------


def test_each_start_of_enrolment_shows_a_new_secret(client: TestClient, session: Session) -> None:
    """A set-up begun once is not shown again later: not by the profile's button, and not on the
    enrolment step of a later login with the password alone."""
    account = make_account(session)
    user, password = make_user(session, account, roles={Role.SENDER})
    log_in(client, user.email, password)
    first = SECRET_ON_PAGE.search(post_form(client, "/settings/profile/totp/start", {}, token_from="/settings/profile").text).group(1)  # type: ignore[union-attr]
    again = SECRET_ON_PAGE.search(post_form(client, "/settings/profile/totp/start", {}, token_from="/settings/profile").text).group(1)  # type: ignore[union-attr]
    sensitive.register(first.replace(" ", ""))
    sensitive.register(again.replace(" ", ""))
    assert first != again
    stale = rfc6238(first, time.time())
    if stale != rfc6238(again, time.time()):
        refused = post_form(client, "/settings/profile/totp/confirm", {"code": stale, "password": password}, token_from="/settings/profile")
        assert refused.status_code == 422
        assert SECRET_ON_PAGE.search(refused.text).group(1) == again  # type: ignore[union-attr]  (a wrong code keeps the set-up)
    # The role now requires it: someone with the password alone logs in and reaches enrolment.
    totp.set_required_roles(session, None, {Role.SENDER}, now=now())
    with TestClient(client.app) as intruder:
        assert post_form(intruder, "/login", {"email": user.email, "password": password}).headers["location"].startswith("/login/enrol")
        shown = SECRET_ON_PAGE.search(intruder.get("/login/enrol").text).group(1)  # type: ignore[union-attr]
        sensitive.register(shown.replace(" ", ""))
        assert shown not in (first, again)
        assert SECRET_ON_PAGE.search(intruder.get("/login/enrol").text).group(1) == shown  # type: ignore[union-attr]  (a reload keeps it)
    with TestClient(client.app) as later:
        assert post_form(later, "/login", {"email": user.email, "password": password}).headers["location"].startswith("/login/enrol")
        fresh = SECRET_ON_PAGE.search(later.get("/login/enrol").text).group(1)  # type: ignore[union-attr]
        sensitive.register(fresh.replace(" ", ""))
        assert fresh != shown
        done = post_form(later, "/login/enrol", {"code": rfc6238(fresh, time.time())}, token_from="/login/enrol")
        assert done.status_code == 200 and len(RECOVERY_ON_PAGE.findall(done.text)) == 10  # no password asked again here


def test_turning_it_on_in_the_profile_needs_the_current_password(client: TestClient, session: Session) -> None:
    account = make_account(session)
    user, password = make_user(session, account, roles={Role.SENDER})
    log_in(client, user.email, password)
    start = post_form(client, "/settings/profile/totp/start", {}, token_from="/settings/profile")
    assert 'name="password"' in start.text and 'autocomplete="current-password"' in start.text
    secret = SECRET_ON_PAGE.search(start.text).group(1)  # type: ignore[union-attr]
    sensitive.register(secret.replace(" ", ""))
    for wrong in ({}, {"password": ""}, {"password": "fel-lösen-123"}, {"password": password + "\x00"}):
        refused = post_form(client, "/settings/profile/totp/confirm", {"code": rfc6238(secret, time.time()), **wrong}, token_from="/settings/profile")
        assert refused.status_code == 422, wrong
        assert 'id="password-error"' in refused.text
        assert SECRET_ON_PAGE.search(refused.text).group(1) == secret  # type: ignore[union-attr]
        session.refresh(user)
        assert user.totp_enabled_at is None
    confirmed = post_form(
        client, "/settings/profile/totp/confirm", {"code": rfc6238(secret, time.time()), "password": password}, token_from="/settings/profile"
    )
    assert confirmed.status_code == 200 and len(RECOVERY_ON_PAGE.findall(confirmed.text)) == 10
    session.refresh(user)
    assert user.totp_enabled_at is not None
    assert len(audit_events(session, "user.totp_enrolled")) == 1
