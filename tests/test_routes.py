"""Walks every route of the app: tenancy (404 across accounts) and permissions (403), both backends.

A route added later is covered automatically; one whose path parameter this file cannot fill
fails the walk until a mapping is added below.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from litestar import Litestar
from litestar.handlers import HTTPRouteHandler
from litestar.testing import TestClient
from sqlmodel import Session

from govsms.accounts.roles import CUSTOMER_ROLES, Permission, Role, permissions_for
from tests.factories import make_account, make_api_key, make_user
from tests.web_helpers import csrf_token, login

SKIPPED_PREFIXES = ("/static", "/api/schema")


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    handler: HTTPRouteHandler

    @property
    def is_api(self) -> bool:
        return self.path.startswith("/api/")

    @property
    def permissions(self) -> set[Permission]:
        guards = [getattr(guard, "func", guard) for guard in self.handler.resolve_guards()]
        return {guard.permission for guard in guards if hasattr(guard, "permission")}


def endpoints(app: Litestar) -> Iterator[Endpoint]:
    for route in app.routes:
        if route.path.startswith(SKIPPED_PREFIXES):
            continue
        for handler in getattr(route, "route_handlers", []):
            for method in sorted(handler.http_methods - {"OPTIONS", "HEAD"}):
                yield Endpoint(method, route.path, handler)


def fill(path: str, objects: dict[str, int]) -> str:
    for name, value in objects.items():
        path = path.replace(f"{{{name}:int}}", str(value)).replace(f"{{{name}}}", str(value))
    assert "{" not in path, f"tests/test_routes.py: add an object of another account for {path}"
    return path


def request(client: TestClient, endpoint: Endpoint, path: str, headers: dict[str, str]):  # type: ignore[no-untyped-def]
    if endpoint.method == "GET":
        return client.get(path, headers=headers, follow_redirects=False)
    data = {} if endpoint.is_api else {"_csrf_token": csrf_token(client, "/")}
    return client.request(endpoint.method, path, data=data, headers=headers, follow_redirects=False)


def test_no_object_of_account_b_is_reachable_from_account_a(client: TestClient, session: Session) -> None:
    account_a, account_b = make_account(session), make_account(session)
    all_roles = set(CUSTOMER_ROLES)
    user_a, password_a = make_user(session, account_a, roles=all_roles)
    _, key_a = make_api_key(session, account_a, roles=all_roles)
    user_b, _ = make_user(session, account_b, roles={Role.ADMIN})
    key_b, _ = make_api_key(session, account_b)
    objects_b = {"user_id": user_b.id, "key_id": key_b.id}
    login(client, user_a.email, password_a)
    walked = []
    for endpoint in endpoints(client.app):
        if "{" not in endpoint.path:
            continue
        path = fill(endpoint.path, objects_b)  # type: ignore[arg-type]
        headers = {"Authorization": f"Bearer {key_a}"} if endpoint.is_api else {}
        response = request(client, endpoint, path, headers)
        assert response.status_code == 404, f"{endpoint.method} {endpoint.path}: {response.status_code}"
        walked.append(endpoint.path)
    assert "/settings/users/{user_id:int}" in walked and "/settings/api-keys/{key_id:int}/revoke" in walked
    session.refresh(user_b)
    session.refresh(key_b)
    assert user_b.is_active and key_b.revoked_at is None and user_b.roles == "admin"


@pytest.mark.parametrize("role", [role.value for role in CUSTOMER_ROLES])
def test_every_route_needing_a_permission_refuses_roles_without_it(client: TestClient, session: Session, role: str) -> None:
    account = make_account(session)
    user, password = make_user(session, account, roles={Role(role)})
    target, _ = make_user(session, account, roles={Role.ADMIN})
    target_key, _ = make_api_key(session, account)
    granted = permissions_for({Role(role)})
    login(client, user.email, password)
    refused = 0
    for endpoint in endpoints(client.app):
        if endpoint.is_api or not endpoint.permissions or endpoint.permissions <= granted:
            continue
        path = fill(endpoint.path, {"user_id": target.id, "key_id": target_key.id})  # type: ignore[arg-type]
        response = request(client, endpoint, path, {})
        assert response.status_code == 403, f"{role}: {endpoint.method} {endpoint.path} gave {response.status_code}"
        refused += 1
    if Permission.USERS_MANAGE not in granted:
        assert refused > 0


def test_auditor_sees_no_sending_pages(client: TestClient, session: Session) -> None:
    account = make_account(session)
    auditor, password = make_user(session, account, roles={Role.AUDITOR})
    login(client, auditor.email, password)
    nav = client.get("/").text.split('<nav aria-label="Huvudmeny"')[1].split("</nav>")[0]
    sending = {Permission.SEND, Permission.CONTACTS, Permission.MESSAGES_READ, Permission.INBOX, Permission.BLOCKLIST}
    for item in client.app.state.nav:
        if item.permission in sending:
            assert f'href="{item.path}"' not in nav
    for endpoint in endpoints(client.app):
        if not endpoint.is_api and endpoint.permissions & sending and endpoint.method == "GET":
            assert client.get(endpoint.path, follow_redirects=False).status_code == 403
