"""Who is acting: a logged-in user, an API key, or the system (CLI, jobs) for one account."""

from __future__ import annotations

from dataclasses import dataclass

from govsms.accounts.roles import Permission, Role, permissions_for


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
