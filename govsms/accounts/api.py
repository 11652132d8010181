"""HTTP API of the accounts domain: who am I (for checking a key)."""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from msgspec import Struct

from govsms.web.api import ApiController
from govsms.web.guards import logged_in


class Me(Struct):
    account: str
    kind: str
    """``api_key`` or ``user``."""
    name: str
    roles: list[str]
    permissions: list[str]


class AccountApi(ApiController):
    guards = (logged_in,)
    tags = ("account",)
    common_errors = (401,)

    @get("/api/v1/me", sync_to_thread=False, summary="The account and roles behind this key")
    def me(self, request: Request[Any, Any, Any]) -> Me:
        actor = request.scope["user"]
        return Me(
            account=actor.account_name,
            kind=actor.kind,
            name=actor.display_name,
            roles=sorted(role.value for role in actor.roles),
            permissions=sorted(permission.value for permission in actor.permissions),
        )


ROUTES = [AccountApi]
