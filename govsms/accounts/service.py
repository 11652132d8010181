"""Customer accounts and their users: create, list, change roles, disable."""

from __future__ import annotations

import re
import secrets
import unicodedata
from datetime import datetime

from sqlalchemy import delete, func, update
from sqlmodel import Session, col, select

from govsms.auth import Actor, CUSTOMER_ROLES, Permission, Role, format_roles, parse_roles, require
from govsms.accounts.models import Account, ApiKey, LoginSession, RecoveryCode, User
from govsms.accounts.password import check_password_policy, hash_password
from govsms.audit.actions import Action
from govsms.audit.record import record_event
from govsms.db import add_unless_taken, rowcount
from govsms.errors import Conflict, InvalidInput, NotFound
from govsms.i18n import LANGUAGES, _, pick_language
from govsms.paging import Page, clamp_page
from govsms.tenancy import owned_by, scoped
from govsms.textfield import single_line

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX_EMAIL = 254
INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zs", "Zl", "Zp"})
"""Control and format characters (zero-width spaces and joiners, soft hyphens, byte-order
marks), unassigned code points and every kind of space: an address holding one looks like
another."""
_SCRIPT_GROUPS = {"HIRAGANA": "CJK", "KATAKANA": "CJK", "HANGUL": "CJK", "IDEOGRAPHIC": "CJK"}


def normalise_email(value: str) -> str:
    """The form an address is stored, compared and looked up in: NFKC (full-width letters,
    ligatures and decomposed letters become the usual ones) and case-folded (``ß`` is ``ss``)."""
    return unicodedata.normalize("NFKC", value.strip()).casefold()


def _scripts(text: str) -> set[str]:
    scripts = set()
    for char in text:
        if unicodedata.category(char).startswith("L"):
            script = unicodedata.name(char, "UNKNOWN").split(" ")[0]
            scripts.add(_SCRIPT_GROUPS.get(script, script))
    return scripts


def clean_email(value: str | None, field: str, errors: dict[str, str]) -> str:
    """A staff or contact address, normalised (``normalise_email``), or "" with the reason in
    ``errors``: an invisible character, or a local part or domain whose letters mix alphabets
    (a Cyrillic ``а`` among Latin letters), is refused, since either makes a look-alike."""
    raw = (value or "").strip()
    if any(unicodedata.category(char) in INVISIBLE_CATEGORIES for char in raw):
        errors[field] = _("The address has an invisible character or a space (such as a zero-width or non-breaking space). Type the address again.")
        return ""
    email = normalise_email(raw)
    if not EMAIL.match(email) or len(email) > MAX_EMAIL:
        errors[field] = _("Enter an e-mail address such as name@example.se.")
        return email
    local, _at, domain = email.rpartition("@")
    if len(_scripts(local)) > 1 or len(_scripts(domain)) > 1:
        errors[field] = _(
            "The address mixes letters of different alphabets (such as Latin and Cyrillic), which makes it look like another address. "
            "Type it in one alphabet."
        )
    return email


def account_region(session: Session, actor: Actor) -> str:
    """The region numbers typed without a country code are read in: the account's default (as the
    actor carries it, else read)."""
    if actor.region:
        return actor.region
    account = session.get(Account, actor.account_id)
    return account.default_region if account else "SE"


def account_addresses(account: Account) -> list[str]:
    """The account's own addresses: a password must not be built on their domains either."""
    return [address for address in (account.billing_email, account.admin_email, account.ops_email) if address]


def _clean_optional_email(value: str | None, field: str, errors: dict[str, str]) -> str | None:
    if not (value or "").strip():
        return None
    return clean_email(value, field, errors) or None


def create_account(
    session: Session,
    *,
    name: str,
    now: datetime,
    org_number: str = "",
    billing_address: str = "",
    billing_email: str | None = None,
    admin_email: str | None = None,
    ops_email: str | None = None,
    is_provider: bool = False,
    actor: Actor,
) -> Account:
    """A customer account holding billing details only; admin/ops e-mail addresses are optional.
    Only the provider's operators (or the system acting for the provider) create accounts."""
    require(actor, Permission.PLATFORM)
    name, org_number, billing_address = (
        single_line(value, field) for value, field in ((name, "name"), (org_number, "org_number"), (billing_address, "billing_address"))
    )
    errors: dict[str, str] = {}
    if not 1 <= len(name) <= 200:
        errors["name"] = _("Enter the organisation's name (at most 200 characters).")
    if len(org_number) > 32:
        errors["org_number"] = _("Use at most %(count)d characters.") % {"count": 32}
    if len(billing_address) > 500:
        errors["billing_address"] = _("Use at most %(count)d characters.") % {"count": 500}
    account = Account(
        name=name,
        org_number=org_number,
        billing_address=billing_address,
        billing_email=_clean_optional_email(billing_email, "billing_email", errors),
        admin_email=_clean_optional_email(admin_email, "admin_email", errors),
        ops_email=_clean_optional_email(ops_email, "ops_email", errors),
        is_provider=is_provider,
        created_at=now,
    )
    if errors:
        raise InvalidInput(_("The account could not be created."), fields=errors)
    # Compared in Python: SQLite's lower() folds ASCII only, and accounts are few.
    if any(existing.casefold() == name.casefold() for existing in session.exec(select(Account.name))):
        raise Conflict(_("An account with this name exists already."), fields={"name": _("Choose another name.")})
    # A conflict-free insert: a create racing this one is refused here, never by the database
    # (whose log would quote the name).
    stored: Account | None = add_unless_taken(session, account)
    if stored is None:
        raise Conflict(_("An account with this name exists already."), fields={"name": _("Choose another name.")})
    account = stored
    if (vault := session.info.get("vault")) is not None:
        vault.create_account_keys(session, account.id, now=now)
    record_event(session, actor, Action.ACCOUNT_CREATED, now=now, account_id=account.id, target=("account", account.id))
    return account


def staff_names(session: Session, account_id: int) -> dict[str, str]:
    """``user:12`` -> how the account knows that actor (its staff and API keys, not data
    subjects): the access log's pages show actors by these names."""
    names = {f"user:{user_id}": name or email for user_id, email, name in session.execute(
        select(col(User.id), col(User.email), col(User.display_name)).where(owned_by(User, account_id))
    )}
    names.update({f"api_key:{key_id}": f"API: {name}" for key_id, name in session.execute(
        select(col(ApiKey.id), col(ApiKey.name)).where(owned_by(ApiKey, account_id))
    )})
    return names


def get_account_by_name(session: Session, name: str) -> Account:
    account = session.exec(select(Account).where(Account.name == name)).first()
    if account is None:
        raise NotFound(_("No account has that name."))
    return account


def list_accounts(session: Session, actor: Actor) -> list[Account]:
    """Every account, by name (``govsms account list``); the provider's operators only."""
    require(actor, Permission.PLATFORM)
    return list(session.exec(select(Account).order_by(Account.name)).all())


def list_account_summaries(session: Session, actor: Actor) -> list[tuple[Account, int]]:
    """Every account with its number of users (removed ones not counted): the operator's overview
    (one query)."""
    require(actor, Permission.PLATFORM)
    users = (
        select(User.account_id, func.count().label("users")).where(col(User.removed_at).is_(None)).group_by(col(User.account_id)).subquery()
    )
    rows = session.exec(
        select(Account, func.coalesce(users.c.users, 0))
        .outerjoin(users, users.c.account_id == Account.id)
        .order_by(col(Account.is_provider).desc(), Account.name)
    ).all()
    return [(account, count) for account, count in rows]


def _validate_roles(account: Account, roles: set[Role] | frozenset[Role]) -> None:
    if not roles:
        raise InvalidInput(_("Choose at least one role."), fields={"roles": _("Choose at least one role.")})
    allowed = {Role.OPERATOR} if account.is_provider else set(CUSTOMER_ROLES)
    if not set(roles) <= allowed:
        raise InvalidInput(
            _("These roles cannot be given in this account."),
            fields={"roles": _("Allowed roles: %(roles)s.") % {"roles": ", ".join(sorted(allowed))}},
        )


def create_user(
    session: Session,
    actor: Actor,
    *,
    email: str,
    password: str,
    roles: set[Role] | frozenset[Role],
    now: datetime,
    display_name: str = "",
    language: str = "sv",
) -> User:
    """A user of the actor's account; the password is checked against the policy and hashed."""
    require(actor, Permission.USERS_MANAGE)
    account = session.get(Account, actor.account_id)
    assert account is not None
    display_name = single_line(display_name, "display_name")
    errors: dict[str, str] = {}
    email = clean_email(email, "email", errors)
    if problem := check_password_policy(password, email=email, account_name=account.name, others=account_addresses(account)):
        errors["password"] = problem
    if language not in LANGUAGES:
        errors["language"] = _("Choose Swedish or English.")
    if errors:
        raise InvalidInput(_("The user could not be created."), fields=errors)
    _validate_roles(account, roles)
    if session.exec(select(User.id).where(col(User.email) == email)).first():
        raise Conflict(
            _("A user with this e-mail address exists already."),
            fields={"email": _("Use another address.")},
        )
    assert account.id is not None  # a stored account
    user = User(
        account_id=account.id,
        email=email,
        display_name=display_name[:200],
        password_hash=hash_password(password),
        roles=format_roles(roles),
        language=language,
        password_changed_at=now,
        created_at=now,
    )
    # A conflict-free insert: a create racing this one with the same address is refused here,
    # never by the database (whose log would quote the address).
    stored: User | None = add_unless_taken(session, user)
    if stored is None:
        raise Conflict(_("A user with this e-mail address exists already."), fields={"email": _("Use another address.")})
    user = stored
    record_event(
        session, actor, Action.USER_CREATED, now=now, account_id=account.id, target=("user", user.id), details={"roles": user.roles}
    )
    return user


def list_users(session: Session, actor: Actor, *, now: datetime, page: int = 1, per_page: int = 50) -> Page[User]:
    """One page of the account's users. Staff e-mail addresses and names are personal data too:
    showing them is a read in the access log (ids and counts only)."""
    require(actor, Permission.USERS_MANAGE)
    page, per_page = clamp_page(page, per_page)
    users = scoped(User, actor).where(col(User.removed_at).is_(None))
    total = session.exec(select(func.count()).select_from(users.subquery())).one()
    items = session.exec(users.order_by(User.email).offset((page - 1) * per_page).limit(per_page)).all()
    record_event(session, actor, Action.USERS_LISTED, now=now, details={"shown": len(items), "page": page})
    return Page(items=list(items), total=total, page=page, per_page=per_page)


def view_user(session: Session, actor: Actor, user_id: int, *, now: datetime) -> User:
    """One user of the account, to show: a read in the access log."""
    user = get_user(session, actor, user_id)
    record_event(session, actor, Action.USER_VIEWED, now=now, target=("user", user.id))
    return user


def get_user(session: Session, actor: Actor, user_id: int) -> User:
    """A user of the actor's own account; any other id is simply not found."""
    require(actor, Permission.USERS_MANAGE)
    user: User | None = session.exec(scoped(User, actor).where(col(User.id) == user_id, col(User.removed_at).is_(None))).first()
    if user is None:
        raise NotFound(_("No such user in your account."))
    return user


def own_user(session: Session, actor: Actor) -> User:
    """The acting person's own login (the profile pages); an API key has none."""
    user = session.get(User, actor.user_id) if actor.user_id is not None else None
    if user is None:
        raise NotFound(_("No such user in your account."))
    return user


def set_language(session: Session, actor: Actor, language: str) -> str:
    """The acting person's language for the pages; one not offered becomes the default. Returns
    the language saved."""
    user = own_user(session, actor)
    user.language = pick_language(language)
    session.add(user)
    return user.language


def _active_admins(session: Session, account_id: int) -> list[User]:
    users = session.exec(select(User).where(owned_by(User, account_id), col(User.is_active).is_(True))).all()
    return [user for user in users if Role.ADMIN in parse_roles(user.roles)]


def _keep_an_admin(session: Session, user: User, *, still_admin: bool) -> None:
    account = session.get(Account, user.account_id)
    if account is None or account.is_provider or still_admin:
        return
    if [admin.id for admin in _active_admins(session, user.account_id)] == [user.id]:
        raise Conflict(_("The account must keep at least one active administrator."))


def update_user_roles(session: Session, actor: Actor, user_id: int, roles: set[Role], *, now: datetime) -> User:
    user = get_user(session, actor, user_id)
    account = session.get(Account, actor.account_id)
    assert account is not None
    _validate_roles(account, roles)
    _keep_an_admin(session, user, still_admin=Role.ADMIN in roles)
    user.roles = format_roles(roles)
    session.add(user)
    session.flush()
    from govsms.accounts.totp import end_sessions_if_now_required  # totp builds on this module

    end_sessions_if_now_required(session, user)
    record_event(session, actor, Action.USER_ROLES_CHANGED, now=now, target=("user", user.id), details={"roles": user.roles})
    return user


def set_user_active(session: Session, actor: Actor, user_id: int, *, active: bool, now: datetime) -> User:
    """Disable (or enable again) a user; disabling ends every login session of that user."""
    user = get_user(session, actor, user_id)
    if not active:
        if user.id == actor.user_id:
            raise Conflict(_("You cannot disable your own login."))
        _keep_an_admin(session, user, still_admin=False)
        for login in session.exec(select(LoginSession).where(LoginSession.user_id == user.id)):
            session.delete(login)
    user.is_active = active
    user.failed_logins = 0
    user.locked_until = None
    session.add(user)
    session.flush()
    record_event(session, actor, Action.USER_ENABLED if active else Action.USER_DISABLED, now=now, target=("user", user.id))
    return user


def remove_user(session: Session, actor: Actor, user_id: int, *, now: datetime) -> User:
    """An admin removes a user of the account: the login ends at once (its sessions are deleted, a
    login is refused like a wrong password) and the user's storage time (category ``users``)
    starts; ``purge_removed_users`` deletes the row when it is up. Not one's own login, nor the
    account's last active administrator. The account's API keys stay (they are the account's)."""
    user = get_user(session, actor, user_id)
    if user.id == actor.user_id:
        raise Conflict(_("You cannot remove your own login."))
    _keep_an_admin(session, user, still_admin=False)
    session.execute(delete(LoginSession).where(col(LoginSession.user_id) == user.id))
    user.removed_at = now
    user.is_active = False
    session.add(user)
    session.flush()
    record_event(session, actor, Action.USER_REMOVED, now=now, target=("user", user.id))
    return user


def purge_removed_users(session: Session, *, account_id: int, before: datetime, limit: int) -> int:
    """Delete up to ``limit`` users of the account removed before ``before``, with their recovery
    codes and login sessions; API keys they made stay the account's (without their maker). Access
    log events keep the user's id, which holds no personal data. Returns how many users went."""
    ids = list(
        session.exec(
            select(User.id)
            .where(owned_by(User, account_id), col(User.removed_at).is_not(None), col(User.removed_at) < before)
            .order_by(col(User.id))
            .limit(limit)
        ).all()
    )
    if not ids:
        return 0
    session.execute(delete(RecoveryCode).where(col(RecoveryCode.user_id).in_(ids)))
    session.execute(delete(LoginSession).where(col(LoginSession.user_id).in_(ids)))
    session.execute(update(ApiKey).where(col(ApiKey.created_by_user_id).in_(ids)).values(created_by_user_id=None))
    result = session.execute(delete(User).where(owned_by(User, account_id), col(User.id).in_(ids)))
    return rowcount(result)


ONE_TIME_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
"""Letters and digits that cannot be mistaken for one another (no i, l, o, 0, 1) when read aloud
or copied by hand: 16 of them are 79 bits."""


def one_time_password() -> str:
    """A random password in four groups of four (``k7qm-x3pt-9fha-2wne``)."""
    while True:
        groups = ["".join(secrets.choice(ONE_TIME_ALPHABET) for _char in range(4)) for _group in range(4)]
        password = "-".join(groups)
        if check_password_policy(password) is None:  # a random one passes but for a freak run of one letter
            return password


def reset_password(session: Session, actor: Actor, user_id: int, *, now: datetime) -> tuple[User, str]:
    """An administrator gives a user of the account a one-time password (returned, to be shown
    once; only its hash is kept): the user's sessions end, a lockout is lifted, and the next login
    reaches nothing but the change of password (``must_change_password``). Not one's own login
    (the profile changes that). Recorded in the access log."""
    user = get_user(session, actor, user_id)
    if user.id == actor.user_id:
        raise Conflict(_("Change your own password under your profile."))
    password = one_time_password()
    user.password_hash = hash_password(password)
    user.password_changed_at = now
    user.must_change_password = True
    user.failed_logins = 0
    user.locked_until = None
    session.add(user)
    session.execute(delete(LoginSession).where(col(LoginSession.user_id) == user.id))
    session.flush()
    record_event(session, actor, Action.PASSWORD_CHANGED, now=now, target=("user", user.id), details={"by": "admin"})
    return user, password


def set_password_by_email(session: Session, *, email: str, password: str, now: datetime) -> User:
    """The operator's reset (CLI): new password, sessions ended, lockout lifted."""
    user = session.exec(select(User).where(col(User.email).in_({email.strip().lower(), normalise_email(email)}))).first()
    if user is None:
        raise NotFound(_("No user has that e-mail address."))
    account = session.get(Account, user.account_id)
    others = account_addresses(account) if account else ()
    if problem := check_password_policy(password, email=user.email, account_name=account.name if account else "", others=others):
        raise InvalidInput(_("The password was not changed."), fields={"password": problem})
    user.password_hash = hash_password(password)
    user.password_changed_at = now
    user.failed_logins = 0
    user.locked_until = None
    session.add(user)
    for login in session.exec(select(LoginSession).where(LoginSession.user_id == user.id)):
        session.delete(login)
    session.flush()
    record_event(session, None, Action.PASSWORD_CHANGED, now=now, account_id=user.account_id, target=("user", user.id), details={"by": "cli"})
    return user
