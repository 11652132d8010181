"""Walks every route of the app: tenancy (404 across accounts) and permissions (403), both backends.

A route added later is covered automatically; one whose path parameter this file cannot fill
fails the walk until a mapping is added below.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from dataclasses import dataclass

import pytest
from litestar import Litestar
from litestar.handlers import HTTPRouteHandler
from litestar.testing import TestClient
from sqlmodel import Session

from govsms.auth import CUSTOMER_ROLES, Permission, Role, permissions_for
from govsms.accounts.models import ApiKey, User
from govsms.contacts import groups, importing, service
from govsms.keys.crypto import seal_field
from govsms.dpa.models import DPA_VERSION_DETAILS, DPA_VERSION_PDF, DpaVersion
from govsms.keys.store import vault_of
from govsms.sending.dispatch import DispatchRequest, create_dispatch
from govsms.sending.models import Dispatch, SenderNumber
from govsms.sending.pricing import seed_default_prices
from govsms.sending.sender_numbers import request_code
from tests.factories import make_account, make_api_key, make_user, now, system
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
        for kind in (":int", ":str", ""):
            path = path.replace(f"{{{name}{kind}}}", str(value))
    assert "{" not in path, f"tests/test_routes.py: add an object of another account for {path}"
    return path


def request(client: TestClient, endpoint: Endpoint, path: str, headers: dict[str, str], contact_id: int = 0):  # type: ignore[no-untyped-def]
    """One request that passes input validation, so what answers is the handler's own check."""
    params = {"contact_ids": contact_id}
    if endpoint.method == "GET":
        return client.get(path, params=params, headers=headers, follow_redirects=False)
    if endpoint.is_api:
        body = {"number": "0701234567", "name": "x", "contact_ids": [contact_id]}
        return client.request(endpoint.method, path, params=params, json=body, headers=headers, follow_redirects=False)
    data = {"_csrf_token": csrf_token(client, "/"), "name": "x", "number": "0701234567", "contact_id": str(contact_id)}
    return client.request(endpoint.method, path, data=data, headers=headers, follow_redirects=False)


def objects_of(session: Session, account) -> dict[str, object]:  # type: ignore[no-untyped-def]
    """One object of every kind a path can name, in the given account."""
    user, _ = make_user(session, account, roles={Role.ADMIN})
    key, _ = make_api_key(session, account)
    actor = system(account)
    contact = service.create_contact(session, actor, number="0709876543", name="Björn", now=now())
    group = groups.create_group(session, actor, name="B-gruppen", now=now())
    groups.add_members(session, actor, group.id, [contact.id], now=now())  # type: ignore[arg-type]
    token = importing.store_upload(session, actor, "b.csv", b"nummer\n0701234567\n", now=now())
    seed_default_prices(session, now=now())
    dispatch = create_dispatch(
        session, actor, DispatchRequest(sender="Kund B", text="Hej", numbers=["0709876543"], send_at=now() + timedelta(days=1)),
        public_url="http://x", now=now(),
    )
    sender = request_code(session, actor, "0705557788", now=now())  # a mobile number waiting for its code
    return {
        "user_id": user.id, "key_id": key.id, "contact_id": contact.id, "group_id": group.id, "token": token,
        "dispatch_id": dispatch.dispatch_id, "version_id": dpa_version(session, account).id, "sender_id": sender.sender_id,
    }


def dpa_version(session: Session, account) -> DpaVersion:  # type: ignore[no-untyped-def]
    """A stored DPA version (rendering a real PDF here would only cost time)."""
    key = vault_of(session).account_key(session, account.id, "data", now=now())
    version = DpaVersion(
        account_id=account.id, number=1, language="sv", template_version="test", annexes="{}", annexes_sha256="0" * 64,
        details_ct=seal_field(key, DPA_VERSION_DETAILS, account.id, 1, b"{}"), content_sha256="0" * 64,
        pdf_ct=seal_field(key, DPA_VERSION_PDF, account.id, 1, b"%PDF-1.7"), pdf_sha256="0" * 64,
        created_by="system", created_at=now(),
    )
    session.add(version)
    session.flush()
    return version


def test_no_object_of_account_b_is_reachable_from_account_a(client: TestClient, session: Session) -> None:
    account_a, account_b = make_account(session), make_account(session)
    all_roles = set(CUSTOMER_ROLES)
    user_a, password_a = make_user(session, account_a, roles=all_roles)
    _, key_a = make_api_key(session, account_a, roles=all_roles)
    objects_b = objects_of(session, account_b)
    login(client, user_a.email, password_a)
    walked = []
    for endpoint in endpoints(client.app):
        if "{" not in endpoint.path or not endpoint.handler.resolve_guards():
            continue  # public pages (the opt-out link) are reachable by design
        path = fill(endpoint.path, objects_b)  # type: ignore[arg-type]
        headers = {"Authorization": f"Bearer {key_a}"} if endpoint.is_api else {}
        response = request(client, endpoint, path, headers, objects_b["contact_id"])  # type: ignore[arg-type]
        assert response.status_code == 404, f"{endpoint.method} {endpoint.path}: {response.status_code}"
        walked.append(endpoint.path)
    for expected in (
        "/settings/users/{user_id:int}", "/contacts/{contact_id:int}", "/api/v1/groups/{group_id:int}/members",
        "/contacts/import/{token:str}", "/messages/{dispatch_id:int}/cancel", "/api/v1/dispatches/{dispatch_id:int}",
        "/dpa/versions/{version_id:int}/pdf", "/dpa/versions/{version_id:int}/accept", "/api/v1/dpa/versions/{version_id:int}/pdf",
        "/settings/senders/{sender_id:int}/confirm", "/settings/senders/{sender_id:int}/remove",
    ):
        assert expected in walked
    user_b, key_b = session.get(User, objects_b["user_id"]), session.get(ApiKey, objects_b["key_id"])
    session.refresh(user_b)
    session.refresh(key_b)
    assert user_b.is_active and key_b.revoked_at is None and user_b.roles == "admin"  # type: ignore[union-attr]
    assert service.get_contact(session, system(account_b), objects_b["contact_id"], now=now()).name == "Björn"  # type: ignore[arg-type]
    assert groups.list_groups(session, system(account_b))[0].members == 1
    assert session.get(Dispatch, objects_b["dispatch_id"]).status == "scheduled"  # not cancelled from account A
    assert session.get(DpaVersion, objects_b["version_id"]).accepted_at is None  # not accepted from account A
    assert session.get(SenderNumber, objects_b["sender_id"]) is not None  # not removed from account A


@pytest.mark.parametrize("role", [role.value for role in CUSTOMER_ROLES])
def test_every_route_needing_a_permission_refuses_roles_without_it(client: TestClient, session: Session, role: str) -> None:
    account = make_account(session)
    user, password = make_user(session, account, roles={Role(role)})
    objects = objects_of(session, account)
    granted = permissions_for({Role(role)})
    login(client, user.email, password)
    refused = 0
    for endpoint in endpoints(client.app):
        if endpoint.is_api or not endpoint.permissions or endpoint.permissions <= granted:
            continue
        path = fill(endpoint.path, objects)  # type: ignore[arg-type]
        response = request(client, endpoint, path, {}, objects["contact_id"])  # type: ignore[arg-type]
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
        if not endpoint.is_api and endpoint.permissions & sending and endpoint.method == "GET" and "{" not in endpoint.path:
            assert client.get(endpoint.path, follow_redirects=False).status_code == 403
