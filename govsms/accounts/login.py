"""Logging in and out: password checks with lockout, server-side sessions (and half logins that
wait for the second step, see ``totp``), password change."""

from __future__ import annotations

import hashlib
import logging
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlmodel import Session, col, select

from govsms.auth import Actor, parse_roles
from govsms.clock import LOCAL_TIME
from govsms.db import rowcount
from govsms.accounts.models import Account, LoginSession, User
from govsms.accounts.password import check_password_policy, hash_password, needs_rehash, verify_password
from govsms.accounts.service import account_addresses, normalise_email
from govsms.audit.actions import Action
from govsms.audit.record import record_event
from govsms.errors import InvalidInput, LoginRefused
from govsms.i18n import _
from govsms.textfield import CONTROL

log = logging.getLogger(__name__)


# Sliding expiry is written at most this often, not on every request.
TOUCH_INTERVAL = timedelta(minutes=1)
PENDING_LIFETIME = timedelta(minutes=10)
"""How long a half login (right password, code still due) waits for its second step."""


@dataclass(frozen=True)
class LoginPolicy:
    max_failures: int = 5
    lockout: timedelta = timedelta(minutes=15)
    session_lifetime: timedelta = timedelta(hours=12)


class LoginLimiter:
    """Login attempts per client address and per e-mail address in a sliding minute, in this
    process. Attempts in flight count, so a burst of parallel guesses is cut off before any
    password is checked; a successful login gives its attempt back. Whether an address has a
    login is never told: every address is counted alike."""

    WINDOW = 60.0

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._attempts: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def attempt(self, address: str, email: str) -> int | None:
        """Count an attempt; None if it may go on, else the seconds until one may."""
        keys = (f"ip:{address}", "email:" + hashlib.sha256(normalise_email(email).encode()).hexdigest())
        now = time.monotonic()
        with self._lock:
            if len(self._attempts) > 100_000:
                self._attempts = {k: v for k, v in self._attempts.items() if v and v[-1] > now - self.WINDOW}
            waits = []
            for key in keys:
                recent = [moment for moment in self._attempts.get(key, ()) if moment > now - self.WINDOW]
                self._attempts[key] = recent
                if len(recent) >= self.per_minute:
                    waits.append(int(recent[0] + self.WINDOW - now) + 1)
            if waits:
                return max(waits)
            for key in keys:
                self._attempts[key].append(now)
            return None

    def succeeded(self, address: str, email: str) -> None:
        keys = (f"ip:{address}", "email:" + hashlib.sha256(normalise_email(email).encode()).hexdigest())
        with self._lock:
            for key in keys:
                if self._attempts.get(key):
                    self._attempts[key].pop()


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _locked_message(until: datetime, now: datetime) -> str:
    minutes = max(1, -(-int((until - now).total_seconds()) // 60))
    return _(
        "Too many wrong passwords: this login is locked for %(minutes)d more minutes "
        "(until %(time)s). Wait, or ask an administrator of your account to unlock it."
    ) % {"minutes": minutes, "time": until.astimezone(LOCAL_TIME).strftime("%H:%M")}


@dataclass(frozen=True)
class PasswordCheck:
    """The outcome of checking a password against the hash as it was read (``check_password``)."""

    user_id: int | None
    password_hash: str | None
    correct: bool


def _spellings(email: str) -> set[str]:
    """The forms an address may be stored in: normalised (``normalise_email``), and lower-cased
    as users created before that were stored."""
    return {email.strip().lower(), normalise_email(email)}


def check_password(session: Session, *, email: str, password: str) -> PasswordCheck:
    """Read the user's hash and check the password against it: the slow part of a login (argon2),
    done with a reading session so that no write transaction waits on it."""
    row = None if CONTROL.search(email) else session.exec(
        select(User.id, User.password_hash).where(col(User.email).in_(_spellings(email)), col(User.removed_at).is_(None))
    ).first()
    user_id, password_hash = (row[0], row[1]) if row else (None, None)
    return PasswordCheck(user_id, password_hash, verify_password(password_hash, password))


class UnknownLockouts:
    """Wrong passwords for addresses that have no login, counted in this process like a user's,
    so that they get locked out the same way: a lockout message never tells that a login exists."""

    def __init__(self, size: int = 100_000) -> None:
        self.size = size
        self._state: dict[str, tuple[int, datetime | None]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _key(email: str) -> str:
        return hashlib.sha256(normalise_email(email).encode()).hexdigest()

    def locked_until(self, email: str, now: datetime) -> datetime | None:
        _failures, until = self._state.get(self._key(email), (0, None))
        return until if until is not None and until > now else None

    def failed(self, email: str, policy: LoginPolicy, now: datetime) -> datetime | None:
        """Count a wrong password; the end of the lockout it starts, if it starts one."""
        key = self._key(email)
        with self._lock:
            if len(self._state) >= self.size:
                self._state.clear()
            failures, _until = self._state.get(key, (0, None))
            failures += 1
            if failures >= policy.max_failures:
                self._state[key] = (0, now + policy.lockout)
                return now + policy.lockout
            self._state[key] = (failures, None)
            return None


def authenticate(
    session: Session, *, email: str, password: str, policy: LoginPolicy, now: datetime, checked: PasswordCheck | None = None,
    unknown: UnknownLockouts | None = None,
) -> User:
    """The user whose password this is; otherwise ``LoginRefused`` saying what to do.

    A wrong password counts towards the lockout; the lockout holds even for the right one.
    The failure counter is committed although the login fails, so the caller must commit.
    ``checked``: the password was already checked outside this transaction (``check_password``);
    it is checked again here only if the hash changed since. ``unknown``: addresses without a
    login are locked out like real ones (the web process keeps one).
    """
    # An address with a control character has no login (and PostgreSQL refuses a NUL in a query).
    # A removed user's address has no login any more: refused like an address that never had one.
    user = None if CONTROL.search(email) else session.exec(
        select(User).where(col(User.email).in_(_spellings(email)), col(User.removed_at).is_(None))
    ).first()
    if user is not None:
        refuse_if_locked(session, user, now=now)
    if user is None and unknown is not None and (until := unknown.locked_until(email, now)) is not None:
        raise LoginRefused(_locked_message(until, now))
    if checked is not None and (checked.user_id, checked.password_hash) == ((user.id, user.password_hash) if user else (None, None)):
        correct = checked.correct
    else:
        correct = verify_password(user.password_hash if user else None, password)
    if not correct or user is None:
        if user is not None:
            count_failed_login(session, user, policy=policy, now=now)
        elif unknown is not None and (until := unknown.failed(email, policy, now)) is not None:
            raise LoginRefused(_locked_message(until, now))
        log.info("login failed", extra={"event": "login.failed"})
        raise LoginRefused(_("Wrong e-mail address or password. Check both and try again."))
    account = session.get(Account, user.account_id)
    if account is not None and not account.is_active:  # told after the right password only
        raise LoginRefused(_("Your organisation's account is suspended: nobody in it can log in or send. Contact your SMS provider."))
    if not user.is_active or account is None:
        raise LoginRefused(_("This login is disabled. Ask an administrator of your account."))
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
        session.add(user)
    if first_stage(session, user) == "":
        _logged_in(session, user, account, now=now)
    # else a change of password or the second step is still due: the failure count stays until it is passed.
    return user


def first_stage(session: Session, user: User) -> str:
    """What a right password leads to: a session (``""``); ``password``, the change of a one-time
    password an administrator gave (before any second step); or the code step or enrolment."""
    if user.must_change_password:
        return "password"
    from govsms.accounts.totp import login_stage

    return login_stage(session, user)


def refuse_if_locked(session: Session, user: User, *, now: datetime) -> None:
    """``LoginRefused`` while the user is locked out after wrong passwords or codes."""
    if user.locked_until is not None and user.locked_until > now:
        record_event(session, None, Action.LOGIN_FAILED, now=now, account_id=user.account_id, target=("user", user.id), details={"locked": True})
        raise LoginRefused(_locked_message(user.locked_until, now))


def count_failed_login(session: Session, user: User, *, policy: LoginPolicy, now: datetime, details: dict[str, object] | None = None) -> None:
    """A wrong password or code: counted, and at the limit the login is locked (``LoginRefused``)
    and every half login of the user ends."""
    user.failed_logins += 1
    if user.failed_logins >= policy.max_failures:
        user.locked_until = now + policy.lockout
        user.failed_logins = 0
        session.add(user)
        session.execute(delete(LoginSession).where(col(LoginSession.user_id) == user.id, col(LoginSession.stage) != ""))
        session.flush()
        record_event(session, None, Action.LOGIN_LOCKED, now=now, account_id=user.account_id, target=("user", user.id), details=details)
        log.warning("login locked", extra={"event": "login.locked", "user_id": user.id})
        raise LoginRefused(_locked_message(user.locked_until, now))
    session.add(user)
    session.flush()
    record_event(session, None, Action.LOGIN_FAILED, now=now, account_id=user.account_id, target=("user", user.id), details=details)


def _logged_in(session: Session, user: User, account: Account, *, now: datetime, details: dict[str, object] | None = None) -> None:
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    session.add(user)
    session.flush()
    record_event(session, actor_for_user(user, account), Action.LOGIN, now=now, target=("user", user.id), details=details)
    log.info("login", extra={"event": "login.succeeded", "user_id": user.id})


def start_login_session(session: Session, user: User, *, policy: LoginPolicy, now: datetime, stage: str | None = None) -> str:
    """A new session for the user whose password was right; returns the token for the cookie
    (stored only hashed). ``stage`` (by default what the user's two-step login asks for): ``""``
    a session, ``code`` or ``enrol`` a half login that reaches only that step, for a few minutes."""
    if stage is None:
        stage = first_stage(session, user)
    if stage == "enrol":
        from govsms.accounts.totp import discard_enrolment

        discard_enrolment(session, user)  # a set-up begun earlier is never shown to this login
    token = secrets.token_urlsafe(32)
    assert user.id is not None  # a stored user
    session.add(
        LoginSession(
            token_hash=token_hash(token),
            user_id=user.id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + (policy.session_lifetime if stage == "" else PENDING_LIFETIME),
            stage=stage,
        )
    )
    session.flush()
    return token


@dataclass(frozen=True)
class PendingLogin:
    """A half login: the password was right, the second step (``code`` or ``enrol``) is due."""

    token: str
    stage: str
    user: User


def pending_login(session: Session, token: str, *, now: datetime) -> PendingLogin | None:
    """The half login behind a cookie, or None (unknown, expired, a full session, a disabled user)."""
    row = session.exec(
        select(LoginSession, User, Account)
        .join(User, col(User.id) == LoginSession.user_id)
        .join(Account, col(Account.id) == User.account_id)
        .where(col(LoginSession.token_hash) == token_hash(token), col(LoginSession.stage) != "")
    ).first()
    if row is None:
        return None
    pending, user, account = row
    if pending.expires_at <= now or not user.is_active or not account.is_active:
        return None
    return PendingLogin(token=token, stage=pending.stage, user=user)


def complete_login(session: Session, pending: PendingLogin, *, policy: LoginPolicy, now: datetime, details: dict[str, object] | None = None) -> str:
    """The second step was passed: the half login ends and a session begins (a new token, so a
    token seen during the half login is worth nothing)."""
    account = session.get(Account, pending.user.account_id)
    assert account is not None
    session.execute(delete(LoginSession).where(col(LoginSession.token_hash) == token_hash(pending.token)))
    _logged_in(session, pending.user, account, now=now, details=details)
    return start_login_session(session, pending.user, policy=policy, now=now, stage="")


def actor_for_user(user: User, account: Account) -> Actor:
    assert account.id is not None  # a stored account
    return Actor(
        kind="user",
        id=user.id,
        account_id=account.id,
        account_name=account.name,
        roles=parse_roles(user.roles),
        display_name=user.display_name or user.email,
        language=user.language,
        is_provider=account.is_provider,
        region=account.default_region,
        timezone=account.timezone,
    )


def resolve_login_session(session: Session, token: str, *, policy: LoginPolicy, now: datetime) -> Actor | None:
    """The actor behind a session cookie, or None if the session is unknown, expired or disabled."""
    actor, touch = lookup_login_session(session, token, now=now)
    if touch:
        touch_login_session(session, token, policy=policy, now=now)
    return actor


def lookup_login_session(session: Session, token: str, *, now: datetime) -> tuple[Actor | None, bool]:
    """The actor behind a session cookie (a read), and whether its expiry should slide now."""
    row = session.exec(
        select(LoginSession, User, Account)
        .join(User, col(User.id) == LoginSession.user_id)
        .join(Account, col(Account.id) == User.account_id)
        .where(col(LoginSession.token_hash) == token_hash(token), col(LoginSession.stage) == "")
    ).first()
    if row is None:
        return None, False
    login, user, account = row
    if login.expires_at <= now or not user.is_active or not account.is_active:
        return None, False
    return actor_for_user(user, account), now - login.last_seen_at >= TOUCH_INTERVAL


def touch_login_session(session: Session, token: str, *, policy: LoginPolicy, now: datetime) -> None:
    """Slide the session's expiry (written at most once per ``TOUCH_INTERVAL``)."""
    session.execute(
        update(LoginSession)
        .where(
            col(LoginSession.token_hash) == token_hash(token), col(LoginSession.stage) == "",
            col(LoginSession.last_seen_at) <= now - TOUCH_INTERVAL,
        )
        .values(last_seen_at=now, expires_at=now + policy.session_lifetime)
    )


def end_login_session(session: Session, token: str) -> None:
    session.execute(delete(LoginSession).where(col(LoginSession.token_hash) == token_hash(token)))


def change_password(
    session: Session, actor: Actor, *, current: str, new: str, keep_token: str | None, now: datetime
) -> None:
    """Change the actor's own password; every other session of the user ends."""
    user = session.get(User, actor.user_id)
    if user is None:
        raise LoginRefused(_("Log in again."))
    account = session.get(Account, user.account_id)
    errors: dict[str, str] = {}
    if not verify_password(user.password_hash, current):
        errors["current"] = _("This is not your current password.")
    if problem := check_password_policy(
        new, email=user.email, account_name=account.name if account else "", others=account_addresses(account) if account else ()
    ):
        errors["new"] = problem
    elif new == current:
        errors["new"] = _("Choose a password you have not used here now.")
    if errors:
        raise InvalidInput(_("The password was not changed."), fields=errors)
    user.password_hash = hash_password(new)
    user.password_changed_at = now
    session.add(user)
    others = delete(LoginSession).where(col(LoginSession.user_id) == user.id)
    if keep_token:
        others = others.where(col(LoginSession.token_hash) != token_hash(keep_token))
    session.execute(others)
    session.flush()
    record_event(session, actor, Action.PASSWORD_CHANGED, now=now, target=("user", user.id))


def change_one_time_password(
    session: Session, pending: PendingLogin, *, new: str, repeat: str, policy: LoginPolicy, now: datetime
) -> tuple[str, str]:
    """The ``password`` stage of a login: the user replaces the one-time password an administrator
    gave with one of their own. The half login ends; returns the token of what follows and its
    stage: a session (``""``), or the second step when two-step login is due."""
    user = pending.user
    account = session.get(Account, user.account_id)
    errors: dict[str, str] = {}
    if problem := check_password_policy(
        new, email=user.email, account_name=account.name if account else "", others=account_addresses(account) if account else ()
    ):
        errors["new"] = problem
    elif verify_password(user.password_hash, new):
        errors["new"] = _("Choose a password of your own, not the one you were given.")
    elif new != repeat:
        errors["repeat"] = _("The two passwords differ. Type the same password twice.")
    if errors:
        raise InvalidInput(_("The password was not changed."), fields=errors)
    user.password_hash = hash_password(new)
    user.password_changed_at = now
    user.must_change_password = False
    session.add(user)
    session.flush()
    assert account is not None  # pending_login found the user's active account
    record_event(session, actor_for_user(user, account), Action.PASSWORD_CHANGED, now=now, target=("user", user.id), details={"by": "user"})
    stage = first_stage(session, user)
    if stage == "":
        return complete_login(session, pending, policy=policy, now=now), ""
    end_login_session(session, pending.token)
    return start_login_session(session, user, policy=policy, now=now, stage=stage), stage


def purge_expired_sessions(session: Session, *, now: datetime) -> int:
    result = session.execute(delete(LoginSession).where(col(LoginSession.expires_at) <= now))
    return rowcount(result)
