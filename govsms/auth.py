"""Who acts and what they may do: the actor of a request or job, the permissions, the roles that
bundle them, and ``require``. The core below every domain: it imports nothing of theirs.

Roles are named bundles of permissions; guards and services check permissions, never role names."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from govsms.errors import Forbidden
from govsms.i18n import N_, _


class Permission(StrEnum):
    SEND = "send"
    CONTACTS = "contacts"
    MESSAGES_READ = "messages.read"
    INBOX = "inbox"
    BLOCKLIST = "blocklist"
    STATS = "stats"
    USERS_MANAGE = "users.manage"
    API_KEYS_MANAGE = "api_keys.manage"
    ACCOUNT_SETTINGS = "account.settings"
    DPA_READ = "dpa.read"
    DPA_ACCEPT = "dpa.accept"
    SUBJECTS = "subjects"
    RETENTION = "retention"
    STORAGE_TIMES = "storage_times"
    """The account's own storage times (``/settings/retention``): its admin and its DPO."""
    AUDIT_READ = "audit.read"
    PLATFORM = "platform"


class Role(StrEnum):
    ADMIN = "admin"
    SENDER = "sender"
    DPO = "dpo"
    AUDITOR = "auditor"
    OPERATOR = "operator"


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(
        {
            Permission.USERS_MANAGE,
            Permission.API_KEYS_MANAGE,
            Permission.ACCOUNT_SETTINGS,
            Permission.DPA_READ,
            Permission.DPA_ACCEPT,
            Permission.STATS,
            Permission.STORAGE_TIMES,
            Permission.SUBJECTS,
            Permission.INBOX,  # the organisation's replies (issue 14: /inbox is for senders and admins); replying needs SEND
        }
    ),
    Role.SENDER: frozenset(
        {
            Permission.SEND,
            Permission.CONTACTS,
            Permission.MESSAGES_READ,
            Permission.INBOX,
            Permission.BLOCKLIST,
            Permission.STATS,
        }
    ),
    # The DPO reads the access log of their own account (who accessed a person's data); like the
    # auditor's, nothing AUDIT_READ opens shows a number, a name or a text.
    Role.DPO: frozenset(
        {
            Permission.SUBJECTS,
            Permission.RETENTION,
            Permission.STORAGE_TIMES,
            Permission.BLOCKLIST,
            Permission.DPA_READ,
            Permission.AUDIT_READ,
        }
    ),
    # The auditor reviews who accessed what; no permission here shows message content.
    Role.AUDITOR: frozenset({Permission.AUDIT_READ, Permission.DPA_READ}),
    Role.OPERATOR: frozenset({Permission.PLATFORM}),
}

ROLE_LABELS = {
    Role.ADMIN: N_("Administrator"),
    Role.SENDER: N_("Sender"),
    Role.DPO: N_("Data protection officer"),
    Role.AUDITOR: N_("Auditor"),
    Role.OPERATOR: N_("Provider operator"),
}

ROLE_DESCRIPTIONS = {
    Role.ADMIN: N_(
        "Manages users, API keys and account settings, accepts the data processing agreement, reads replies, and handles data-subject requests."
    ),
    Role.SENDER: N_("Sends SMS, keeps contacts and groups, reads replies and statistics."),
    Role.DPO: N_(
        "Searches, exports and erases a person's data, keeps the register of data-subject requests, "
        "sets storage times and reads the account's access log."
    ),
    Role.AUDITOR: N_("Reviews and verifies the access log; sees no message content."),
    Role.OPERATOR: N_("Runs the platform: customer accounts, prices and connections."),
}

CUSTOMER_ROLES = (Role.ADMIN, Role.SENDER, Role.DPO, Role.AUDITOR)


def permissions_for(roles: frozenset[Role] | set[Role]) -> frozenset[Permission]:
    granted: set[Permission] = set()
    for role in roles:
        granted |= ROLE_PERMISSIONS[role]
    return frozenset(granted)


def parse_roles(value: str) -> frozenset[Role]:
    """Roles stored as a comma-separated column; unknown names are ignored (never granted)."""
    known = {role.value for role in Role}
    return frozenset(Role(name) for name in value.split(",") if name in known)


def format_roles(roles: frozenset[Role] | set[Role] | list[Role]) -> str:
    return ",".join(sorted(role.value for role in roles))


@dataclass(frozen=True)
class Actor:
    kind: str
    """``user``, ``api_key`` or ``system``."""
    id: int | None
    account_id: int
    account_name: str
    roles: frozenset[Role]
    display_name: str = ""
    language: str = "sv"
    is_provider: bool = False
    region: str | None = None
    """The account's default region for numbers typed without a country code, as read when the
    actor was resolved (None: look it up)."""
    timezone: str | None = None
    """The account's time zone (IANA name) pages show times in, as read when the actor was
    resolved (None, or a name not known here: Europe/Stockholm, ``govsms.clock.zone``)."""

    @property
    def permissions(self) -> frozenset[Permission]:
        if self.kind == "system":
            return frozenset(Permission)
        return permissions_for(self.roles)

    def can(self, permission: Permission) -> bool:
        return permission in self.permissions

    @property
    def user_id(self) -> int | None:
        return self.id if self.kind == "user" else None

    @property
    def label(self) -> str:
        """How logs and audit details name the actor: by id, never by e-mail."""
        return f"{self.kind}:{self.id}" if self.id is not None else self.kind

    @classmethod
    def system(cls, account_id: int, account_name: str) -> Actor:
        return cls(kind="system", id=None, account_id=account_id, account_name=account_name, roles=frozenset())

    @classmethod
    def platform(cls) -> Actor:
        """The system acting for the provider, in no customer's account: the CLI and set-up steps
        that create accounts (``account_id`` 0 is no account's)."""
        return cls(kind="system", id=None, account_id=0, account_name="", roles=frozenset())


def require(actor: Actor, permission: Permission) -> None:
    if not actor.can(permission):
        raise Forbidden(_("Your role does not allow this. Ask an administrator of your account."))
