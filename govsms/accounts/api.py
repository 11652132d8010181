"""HTTP API of the accounts domain: who am I (for checking a key)."""

from __future__ import annotations

from typing import Any

from litestar import Request, get

from govsms.web.guards import logged_in


@get("/api/v1/me", guards=[logged_in], sync_to_thread=False, tags=["account"], summary="The account and roles behind this key")
def me(request: Request[Any, Any, Any]) -> dict[str, Any]:
    actor = request.scope["user"]
    return {
        "account": actor.account_name,
        "kind": actor.kind,
        "name": actor.display_name,
        "roles": sorted(role.value for role in actor.roles),
        "permissions": sorted(permission.value for permission in actor.permissions),
    }


ROUTES = [me]
