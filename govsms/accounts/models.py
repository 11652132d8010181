"""Tables of the accounts domain: customer accounts, users, login sessions, API keys, recovery
codes of the two-step login and the operator's policy per role."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import LargeBinary
from sqlalchemy import false as sa_false
from sqlmodel import Column, Field, SQLModel

from govsms.clock import DEFAULT_TIMEZONE
from govsms.db import UTCDateTime
from govsms.keys.crypto import SealedField
from govsms.tenancy import AccountOwned


def _utc(**kwargs: Any) -> Any:
    """A UTC time column (``UTCDateTime``); typed ``Any`` like SQLModel's own ``Field``, so that it
    can stand as the default of a ``datetime`` attribute."""
    return Field(sa_column=Column(UTCDateTime(), **kwargs))


class Account(SQLModel, table=True):
    """A customer organisation (or the provider itself). Holds billing details only (G2)."""

    __tablename__ = "account"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200, unique=True)
    """The organisation's name, as on invoices and in the DPA."""
    org_number: str = Field(default="", max_length=32)
    """Swedish organisationsnummer or another registration number."""
    billing_address: str = Field(default="", max_length=500)
    billing_email: str | None = Field(default=None, max_length=254)
    billing_reference: str | None = Field(default=None, max_length=100)
    admin_email: str | None = Field(default=None, max_length=254)
    """Optional address for administrative notices (G2)."""
    ops_email: str | None = Field(default=None, max_length=254)
    """Optional address for operational notices (G2)."""
    is_provider: bool = Field(default=False)
    """The provider's own account: its users are operators of the platform."""
    is_active: bool = Field(default=True)
    default_region: str = Field(default="SE", max_length=2)
    """Region used to read national numbers such as 070-123 45 67."""
    timezone: str = Field(default=DEFAULT_TIMEZONE, max_length=64)
    """IANA name of the zone pages show this account's times in; a name not known here reads as
    Europe/Stockholm (``govsms.clock.zone``)."""
    stop_confirmation_text: str | None = Field(default=None, max_length=320)
    """The SMS confirming a STOP reply (sent free of charge from the number the STOP came in on);
    None: no confirmation."""
    created_at: datetime = _utc(nullable=False)


class User(AccountOwned, table=True):
    """A person who logs in to the admin UI on behalf of one account."""

    __tablename__ = "app_user"

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=254, unique=True)
    """Login name, stored lower-case."""
    display_name: str = Field(default="", max_length=200)
    password_hash: str = Field(max_length=255)
    """argon2id hash; the password itself is never stored or logged."""
    roles: str = Field(default="", max_length=100)
    """Comma-separated role names (see ``roles.Role``)."""
    language: str = Field(default="sv", max_length=5)
    is_active: bool = Field(default=True)
    failed_logins: int = Field(default=0)
    """Wrong passwords since the last successful login."""
    locked_until: datetime | None = _utc(nullable=True)
    last_login_at: datetime | None = _utc(nullable=True)
    password_changed_at: datetime = _utc(nullable=False)
    must_change_password: bool = Field(default=False, sa_column_kwargs={"server_default": sa_false()})
    """An administrator reset the password to a one-time one: the next login reaches nothing but
    the change of password (the ``password`` stage of a half login)."""
    created_at: datetime = _utc(nullable=False)
    totp_secret_ct: bytes | None = Field(default=None, sa_column=Column(LargeBinary(), nullable=True))
    """The TOTP secret (RFC 6238), sealed under the account's data key and bound to this row; set
    when an enrolment starts, cleared when two-step login is turned off or reset."""
    totp_enabled_at: datetime | None = _utc(nullable=True)
    """When a first valid code confirmed the enrolment: from then on a login takes a code."""
    totp_last_step: int | None = Field(default=None)
    """The time step (Unix time // 30) of the last code accepted: no code of that step or an
    earlier one is accepted again (replay)."""
    removed_at: datetime | None = _utc(nullable=True)
    """When an admin removed the user: the login is gone at once, and the row (with its e-mail
    address and name) is deleted when the storage time of ``users`` is up after this."""


class LoginSession(SQLModel, table=True):
    """A server-side login: the cookie holds a random token, the table only its SHA-256."""

    __tablename__ = "login_session"

    token_hash: str = Field(primary_key=True, max_length=64)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    created_at: datetime = _utc(nullable=False)
    last_seen_at: datetime = _utc(nullable=False)
    expires_at: datetime = _utc(nullable=False, index=True)
    stage: str = Field(default="", max_length=8, sa_column_kwargs={"server_default": ""})
    """Empty for a login; ``code`` or ``enrol`` while the password was right but the second step
    is still due: such a row is nobody's session (it reaches nothing but that step)."""


class ApiKey(AccountOwned, table=True):
    """A named key for the HTTP API; shown once, stored as a SHA-256 hash, revocable."""

    __tablename__ = "api_key"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100)
    prefix: str = Field(max_length=16)
    """The first characters of the key, so a person can tell keys apart."""
    key_hash: str = Field(max_length=64, unique=True)
    roles: str = Field(default="sender", max_length=100)
    created_by_user_id: int | None = Field(default=None, foreign_key="app_user.id")
    created_at: datetime = _utc(nullable=False)
    last_used_at: datetime | None = _utc(nullable=True)
    revoked_at: datetime | None = _utc(nullable=True)


class RecoveryCode(SQLModel, table=True):
    """One of the ten single-use codes that stand in for a TOTP code; only its SHA-256 is kept
    (the code holds 80 random bits, so the hash cannot be reversed by guessing)."""

    __tablename__ = "recovery_code"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    code_hash: str = Field(max_length=64)
    created_at: datetime = _utc(nullable=False)
    used_at: datetime | None = _utc(nullable=True)


class RolePolicy(SQLModel, table=True):
    """The operator's security policy for one role, the same in every account."""

    __tablename__ = "role_policy"

    role: str = Field(primary_key=True, max_length=20)
    totp_required: bool = Field(default=False)
    """Users with this role must use two-step login: one without it is sent to enrolment after
    the password and reaches nothing else until enrolled."""
    changed_at: datetime = _utc(nullable=False)


# Sealed columns: the table and column names are part of every stored value's associated data.
USER_TOTP_SECRET = SealedField("app_user", "totp_secret")
"""``User.totp_secret_ct``: under the account's data key, bound to the user's row."""
