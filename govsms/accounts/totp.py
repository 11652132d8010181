"""Two-step login for staff: TOTP secrets (RFC 6238) sealed per user, enrolment confirmed by a
first code, single-use recovery codes, the code step of a login, an administrator's reset, and
the operator's choice of roles that must use it.

A code is 6 digits for a 30-second step, HMAC-SHA1 as every authenticator app does it; one step
of clock drift either way is accepted, and never a step at or before the last one accepted, so a
code seen over someone's shoulder cannot be used again.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor.totp import TOTP
from sqlalchemy import delete, func, or_, update
from sqlmodel import Session, col, select

from govsms.accounts import login
from govsms.auth import Actor, Permission, Role, format_roles, parse_roles, require
from govsms.accounts.models import USER_TOTP_SECRET, Account, LoginSession, RecoveryCode, RolePolicy, User
from govsms.accounts.password import verify_password
from govsms.accounts.service import get_user, normalise_email
from govsms.audit.actions import Action
from govsms.audit.record import record_event
from govsms.db import rowcount
from govsms.keys.crypto import DecryptionError, seal_field, unseal_field
from govsms.errors import Conflict, InvalidInput, LoginRefused, NotFound
from govsms.i18n import _
from govsms.keys.store import DATA_PURPOSE, vault_of

log = logging.getLogger(__name__)

ISSUER = "govsms"
STEP_SECONDS = 30
DIGITS = 6
DRIFT_STEPS = 1
SECRET_BYTES = 20
RECOVERY_CODE_COUNT = 10
RECOVERY_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
"""32 letters and digits that cannot be mistaken for each other (no 0/O, 1/I): 16 of them are
80 random bits."""
RECOVERY_LENGTH = 16
_TOTP_CODE = re.compile(r"[0-9]{6}")  # ASCII digits only (str.isdigit would take ١٢٣ too)
_RECOVERY_CODE = re.compile(f"[{RECOVERY_ALPHABET}]{{{RECOVERY_LENGTH}}}")


@dataclass(frozen=True)
class Enrolment:
    """What the enrolment page shows: the secret (base32, as apps take it typed) and the
    otpauth:// URI (what a QR code holds)."""

    secret: str
    uri: str


def _account_key(session: Session, user: User, now: datetime) -> bytes:
    return vault_of(session).account_key(session, user.account_id, DATA_PURPOSE, now=now)


def _user_id(user: User) -> int:
    assert user.id is not None  # a stored user: its id is set
    return user.id


def _secret(session: Session, user: User, now: datetime) -> bytes:
    """The user's secret in clear; a value that does not open (copied from another row, altered)
    refuses the login with what to do, never a 500."""
    try:
        return unseal_field(
            _account_key(session, user, now), USER_TOTP_SECRET, user.account_id, _user_id(user), user.totp_secret_ct or b""
        )
    except DecryptionError:
        log.error("totp secret cannot be read", extra={"event": "totp.unreadable", "user_id": user.id})
        raise LoginRefused(
            _("The two-step login of this user cannot be read. Ask an administrator of your account to reset it.")
        ) from None


def _as_actor(session: Session, user: User) -> Actor:
    """The user as the actor of their own events (during a login there is no session yet)."""
    account = session.get(Account, user.account_id)
    assert account is not None
    return login.actor_for_user(user, account)


def _enrolment(secret: bytes, email: str) -> Enrolment:
    uri = TOTP(secret, DIGITS, SHA1(), STEP_SECONDS).get_provisioning_uri(email, ISSUER)
    return Enrolment(secret=base64.b32encode(secret).decode().rstrip("="), uri=uri)


def _matching_step(secret: bytes, code: str, now: datetime, after: int | None) -> int | None:
    """The latest step within the drift whose code this is, if it is later than ``after``."""
    if not _TOTP_CODE.fullmatch(code):
        return None
    generator = TOTP(secret, DIGITS, SHA1(), STEP_SECONDS)
    current = int(now.timestamp()) // STEP_SECONDS
    for step in range(current + DRIFT_STEPS, current - DRIFT_STEPS - 1, -1):
        if (after is None or step > after) and hmac.compare_digest(generator.generate(step * STEP_SECONDS), code.encode()):
            return step
    return None


def _recovery_hash(user: User, code: str) -> str:
    return hashlib.sha256(f"{user.id}|{code}".encode()).hexdigest()


def _new_recovery_codes(session: Session, user: User, now: datetime) -> list[str]:
    session.execute(delete(RecoveryCode).where(col(RecoveryCode.user_id) == user.id))
    codes = ["".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_LENGTH)) for _ in range(RECOVERY_CODE_COUNT)]
    user_id = _user_id(user)
    session.add_all(RecoveryCode(user_id=user_id, code_hash=_recovery_hash(user, code), created_at=now) for code in codes)
    session.flush()
    return ["-".join(code[start : start + 4] for start in range(0, RECOVERY_LENGTH, 4)) for code in codes]


def _clear(session: Session, user: User) -> None:
    user.totp_secret_ct = None
    user.totp_enabled_at = None
    user.totp_last_step = None
    session.add(user)
    session.execute(delete(RecoveryCode).where(col(RecoveryCode.user_id) == user.id))
    session.flush()


# -- enrolment -----------------------------------------------------------------------------------


def begin_enrolment(session: Session, user: User, *, now: datetime, anew: bool = True) -> Enrolment:
    """A new secret for the user, sealed on their row but not in force until a first code confirms
    it. Each start (``anew``: the profile's button) discards a set-up begun before, so a secret
    once shown is never shown again later, to whoever gets there next. ``anew=False`` shows the
    set-up going on (after a wrong code; a reload of a login's enrolment step, whose password step
    discarded any earlier one: ``discard_enrolment``)."""
    if user.totp_enabled_at is not None:
        raise Conflict(_("Two-step login is on already. Turn it off first to set it up anew."))
    if user.totp_secret_ct is not None and not anew:
        return _enrolment(_secret(session, user, now), user.email)
    secret = secrets.token_bytes(SECRET_BYTES)
    user.totp_secret_ct = seal_field(_account_key(session, user, now), USER_TOTP_SECRET, user.account_id, _user_id(user), secret)
    user.totp_last_step = None
    session.add(user)
    session.flush()
    return _enrolment(secret, user.email)


def discard_enrolment(session: Session, user: User) -> None:
    """Forget a set-up begun but not confirmed (a login's password step that leads to enrolment)."""
    if user.totp_enabled_at is None and user.totp_secret_ct is not None:
        user.totp_secret_ct = None
        user.totp_last_step = None
        session.add(user)
        session.flush()


def confirm_enrolment(
    session: Session, user: User, code: str, *, now: datetime, keep_token: str | None = None, password: str | None = None
) -> list[str]:
    """Turn two-step login on with a first valid code; returns the recovery codes, shown once.
    Every other session of the user ends (``keep_token``: this one stays). ``password``: from the
    profile, where the user must give their current password too (a login's enrolment step had
    it just before)."""
    if user.totp_enabled_at is not None:
        raise Conflict(_("Two-step login is on already. Turn it off first to set it up anew."))
    if user.totp_secret_ct is None:
        raise InvalidInput(_("Start the set-up again."), fields={"code": _("Start the set-up again.")})
    if password is not None and not verify_password(user.password_hash, password):
        raise InvalidInput(_("Two-step login is not on yet."), fields={"password": _("This is not your current password.")})
    step = _matching_step(_secret(session, user, now), code.strip(), now, None)
    if step is None:
        raise InvalidInput(
            _("The code does not match."),
            fields={"code": _("Type the 6 digits your app shows now. If it keeps failing, check that the phone's clock is right.")},
        )
    user.totp_enabled_at = now
    user.totp_last_step = step
    session.add(user)
    codes = _new_recovery_codes(session, user, now)
    others = delete(LoginSession).where(col(LoginSession.user_id) == user.id)
    if keep_token:
        others = others.where(col(LoginSession.token_hash) != login.token_hash(keep_token))
    session.execute(others)
    session.flush()
    record_event(session, _as_actor(session, user), Action.TOTP_ENROLLED, now=now, target=("user", user.id))
    return codes


def verify_code(session: Session, user: User, code: str, *, now: datetime) -> str | None:
    """``totp`` or ``recovery_code`` when the code is good (and now used up), else None."""
    if user.totp_enabled_at is None or user.totp_secret_ct is None or len(code) > 64:
        return None
    cleaned = code.strip()
    step = _matching_step(_secret(session, user, now), cleaned, now, user.totp_last_step)
    if step is not None:
        # Conditional, so that two requests with one code cannot both pass (replay in a race).
        used = session.execute(
            update(User)
            .where(col(User.id) == user.id, or_(col(User.totp_last_step).is_(None), col(User.totp_last_step) < step))
            .values(totp_last_step=step)
        )
        return "totp" if rowcount(used) == 1 else None
    recovery = re.sub(r"[\s-]", "", cleaned).upper()
    if not _RECOVERY_CODE.fullmatch(recovery):
        return None
    used = session.execute(
        update(RecoveryCode)
        .where(
            col(RecoveryCode.user_id) == user.id, col(RecoveryCode.code_hash) == _recovery_hash(user, recovery),
            col(RecoveryCode.used_at).is_(None),
        )
        .values(used_at=now)
    )
    if rowcount(used) != 1:
        return None
    record_event(
        session, _as_actor(session, user), Action.RECOVERY_CODE_USED, now=now, target=("user", user.id),
        details={"left": recovery_codes_left(session, user)},
    )
    return "recovery_code"


def recovery_codes_left(session: Session, user: User) -> int:
    return session.exec(
        select(func.count()).select_from(RecoveryCode).where(col(RecoveryCode.user_id) == user.id, col(RecoveryCode.used_at).is_(None))
    ).one()


def log_in_with_code(session: Session, pending: login.PendingLogin, code: str, *, policy: login.LoginPolicy, now: datetime) -> str:
    """The second step of a login: a good code (or recovery code) turns the half login into a
    session (a new token); a wrong one counts like a wrong password. The caller commits even
    when this refuses, so that the count is kept."""
    user = pending.user
    login.refuse_if_locked(session, user, now=now)
    via = verify_code(session, user, code, now=now)
    if via is None:
        login.count_failed_login(session, user, policy=policy, now=now, details={"step": "code"})
        raise LoginRefused(_("Wrong code. Type the 6 digits your app shows now, or one of your recovery codes."))
    return login.complete_login(session, pending, policy=policy, now=now, details={"second_step": via})


# -- turning it off, new recovery codes, resets --------------------------------------------------


def disable_totp(session: Session, actor: Actor, *, password: str, code: str, now: datetime) -> None:
    """The user turns their own two-step login off: their password and a current code prove it is
    them. Refused while one of their roles requires it."""
    user = session.get(User, actor.user_id)
    if user is None or user.totp_enabled_at is None:
        raise Conflict(_("Two-step login is not on."))
    if required_for(session, user):
        raise Conflict(_("Your role requires two-step login, so it cannot be turned off. If you lost your phone, ask an administrator to reset it."))
    if not verify_password(user.password_hash, password):
        raise InvalidInput(_("Two-step login is still on."), fields={"password": _("This is not your current password.")})
    if verify_code(session, user, code, now=now) is None:
        raise InvalidInput(_("Two-step login is still on."), fields={"code": _("Type the 6 digits your app shows now.")})
    _clear(session, user)
    record_event(session, actor, Action.TOTP_DISABLED, now=now, target=("user", user.id))


def renew_recovery_codes(session: Session, actor: Actor, *, code: str, now: datetime) -> list[str]:
    """Ten new recovery codes for the actor (the old ones stop working); a current code proves it."""
    user = session.get(User, actor.user_id)
    if user is None or user.totp_enabled_at is None:
        raise Conflict(_("Two-step login is not on."))
    if verify_code(session, user, code, now=now) != "totp":
        raise InvalidInput(_("No new codes were made."), fields={"code": _("Type the 6 digits your app shows now.")})
    codes = _new_recovery_codes(session, user, now)
    record_event(session, actor, Action.RECOVERY_CODES_RENEWED, now=now, target=("user", user.id))
    return codes


def reset_totp(session: Session, actor: Actor, user_id: int, *, now: datetime) -> User:
    """An administrator turns another user's two-step login off (a lost phone): the user is logged
    out everywhere and sets it up again at the next login where their role requires it."""
    user = get_user(session, actor, user_id)  # the actor's own account only: any other id is not found
    if user.id == actor.user_id:
        raise Conflict(_("Turn your own two-step login off under your profile."))
    was_on = user.totp_enabled_at is not None
    _clear(session, user)
    session.execute(delete(LoginSession).where(col(LoginSession.user_id) == user.id))
    record_event(session, actor, Action.TOTP_RESET, now=now, target=("user", user.id), details={"was_on": was_on})
    return user


def reset_totp_by_email(session: Session, *, email: str, now: datetime) -> User:
    """The operator's reset on the server (CLI), for when no administrator of the account can."""
    user = session.exec(select(User).where(col(User.email).in_({email.strip().lower(), normalise_email(email)}))).first()
    if user is None:
        raise NotFound(_("No user has that e-mail address."))
    was_on = user.totp_enabled_at is not None
    _clear(session, user)
    session.execute(delete(LoginSession).where(col(LoginSession.user_id) == user.id))
    record_event(
        session, None, Action.TOTP_RESET, now=now, account_id=user.account_id, target=("user", user.id), details={"by": "cli", "was_on": was_on}
    )
    return user


# -- the operator's policy -----------------------------------------------------------------------


def required_roles(session: Session) -> frozenset[Role]:
    names = session.exec(select(RolePolicy.role).where(col(RolePolicy.totp_required).is_(True))).all()
    return parse_roles(",".join(names))


def required_for(session: Session, user: User) -> bool:
    return bool(parse_roles(user.roles) & required_roles(session))


def login_stage(session: Session, user: User) -> str:
    """What a right password leads to: a session (``""``), the code step, or enrolment."""
    if user.totp_enabled_at is not None:
        return "code"
    return "enrol" if required_for(session, user) else ""


def set_required_roles(session: Session, actor: Actor | None, roles: set[Role] | frozenset[Role], *, now: datetime) -> frozenset[Role]:
    """Which roles must use two-step login, in every account. Users of those roles without it are
    logged out, so that their next login takes them to enrolment."""
    if actor is not None:
        require(actor, Permission.PLATFORM)
    existing = {row.role: row for row in session.exec(select(RolePolicy)).all()}
    for role in Role:
        row = existing.get(role.value) or RolePolicy(role=role.value, changed_at=now)
        if row.totp_required != (role in roles) or role.value not in existing:
            row.totp_required = role in roles
            row.changed_at = now
            session.add(row)
    session.flush()
    wanted = frozenset(roles)
    if wanted:
        without = session.exec(select(User.id, User.roles).where(col(User.totp_enabled_at).is_(None))).all()
        ids = [user_id for user_id, names in without if parse_roles(names) & wanted]
        for start in range(0, len(ids), 500):
            session.execute(delete(LoginSession).where(col(LoginSession.user_id).in_(ids[start : start + 500])))
    record_event(session, actor, Action.TOTP_REQUIREMENT_CHANGED, now=now, account_id=actor.account_id if actor else None,
                 details={"roles": format_roles(wanted)})
    return wanted


def end_sessions_if_now_required(session: Session, user: User) -> None:
    """After a change of roles: a user who now needs two-step login and has none logs in anew."""
    if user.totp_enabled_at is None and required_for(session, user):
        session.execute(delete(LoginSession).where(col(LoginSession.user_id) == user.id))

