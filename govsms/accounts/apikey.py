"""API keys: created and shown once, stored as a SHA-256 hash, named, revocable, last use kept."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import or_, update
from sqlmodel import Session, col, select

from govsms.auth import Actor, CUSTOMER_ROLES, Permission, Role, format_roles, parse_roles, require
from govsms.accounts.models import Account, ApiKey
from govsms.audit.actions import Action
from govsms.audit.record import record_event
from govsms.errors import Conflict, InvalidInput, NotFound
from govsms.i18n import _
from govsms.tenancy import owned_by, scoped
from govsms.textfield import single_line

KEY_PREFIX = "gsk_"
SHOWN_PREFIX_LENGTH = 12
LAST_USED_INTERVAL = timedelta(minutes=1)


def _hash(key: str) -> str:
    # The key carries 256 random bits, so a plain SHA-256 cannot be brute-forced back.
    return hashlib.sha256(key.encode()).hexdigest()


def create_api_key(
    session: Session, actor: Actor, *, name: str, roles: set[Role] | frozenset[Role], now: datetime
) -> tuple[ApiKey, str]:
    """A new key for the actor's account; the clear key is returned once and never stored."""
    require(actor, Permission.API_KEYS_MANAGE)
    name = single_line(name, "name")
    if not 1 <= len(name) <= 100:
        raise InvalidInput(_("The key was not created."), fields={"name": _("Give the key a name (at most 100 characters).")})
    if not roles or not set(roles) <= set(CUSTOMER_ROLES):
        raise InvalidInput(_("The key was not created."), fields={"roles": _("Choose at least one role.")})
    if session.exec(
        select(ApiKey.id).where(owned_by(ApiKey, actor), col(ApiKey.name) == name, col(ApiKey.revoked_at).is_(None))
    ).first():
        raise Conflict(_("An active key with this name exists already."), fields={"name": _("Choose another name.")})
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    api_key = ApiKey(
        account_id=actor.account_id,
        name=name,
        prefix=key[:SHOWN_PREFIX_LENGTH],
        key_hash=_hash(key),
        roles=format_roles(roles),
        created_by_user_id=actor.user_id,
        created_at=now,
    )
    session.add(api_key)
    session.flush()
    record_event(session, actor, Action.API_KEY_CREATED, now=now, target=("api_key", api_key.id), details={"roles": api_key.roles})
    return api_key, key


def list_api_keys(session: Session, actor: Actor) -> list[ApiKey]:
    require(actor, Permission.API_KEYS_MANAGE)
    query = scoped(ApiKey, actor)
    return list(session.exec(query.order_by(col(ApiKey.revoked_at).is_not(None), ApiKey.name)))


def get_api_key(session: Session, actor: Actor, key_id: int) -> ApiKey:
    require(actor, Permission.API_KEYS_MANAGE)
    api_key: ApiKey | None = session.exec(scoped(ApiKey, actor).where(col(ApiKey.id) == key_id)).first()
    if api_key is None:
        raise NotFound(_("No such API key in your account."))
    return api_key


def revoke_api_key(session: Session, actor: Actor, key_id: int, *, now: datetime) -> ApiKey:
    api_key = get_api_key(session, actor, key_id)
    if api_key.revoked_at is None:
        api_key.revoked_at = now
        session.add(api_key)
        session.flush()
        record_event(session, actor, Action.API_KEY_REVOKED, now=now, target=("api_key", api_key.id))
    return api_key


def resolve_api_key(session: Session, key: str, *, now: datetime) -> Actor | None:
    """The actor behind a bearer key, or None if it is unknown, revoked or its account disabled."""
    actor, touch = lookup_api_key(session, key, now=now)
    if touch:
        assert actor is not None and actor.id is not None  # a key to touch was found: a stored row
        touch_api_key(session, actor.id, now=now)
    return actor


def lookup_api_key(session: Session, key: str, *, now: datetime) -> tuple[Actor | None, bool]:
    """The actor behind a bearer key (a read), and whether its last use should be written."""
    if not key.startswith(KEY_PREFIX):
        return None, False
    row = session.exec(
        select(ApiKey, Account).join(Account, col(Account.id) == ApiKey.account_id).where(col(ApiKey.key_hash) == _hash(key))
    ).first()
    if row is None:
        return None, False
    api_key, account = row
    if api_key.revoked_at is not None or not account.is_active:
        return None, False
    assert account.id is not None  # a stored account
    actor = Actor(
        kind="api_key",
        id=api_key.id,
        account_id=account.id,
        account_name=account.name,
        roles=parse_roles(api_key.roles),
        display_name=api_key.name,
        is_provider=account.is_provider,
        region=account.default_region,
        timezone=account.timezone,
    )
    return actor, api_key.last_used_at is None or now - api_key.last_used_at >= LAST_USED_INTERVAL


def touch_api_key(session: Session, key_id: int, *, now: datetime) -> None:
    """Write the key's last use (at most once per ``LAST_USED_INTERVAL``)."""
    session.execute(
        update(ApiKey)
        .where(col(ApiKey.id) == key_id, or_(col(ApiKey.last_used_at).is_(None), col(ApiKey.last_used_at) <= now - LAST_USED_INTERVAL))
        .values(last_used_at=now)
    )
