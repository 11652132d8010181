"""Walks every route of the app: tenancy (404 across accounts) and permissions (403), both backends.

A route added later is covered automatically; one whose path parameter this file cannot fill
fails the walk until a mapping is added below.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from litestar import Litestar
from litestar.handlers import HTTPRouteHandler
from litestar.testing import TestClient
from sqlalchemy import select
from sqlmodel import Session

from govsms.accounts.models import ApiKey, User
from govsms.auth import CUSTOMER_ROLES, Permission, Role, permissions_for
from govsms.contacts import groups, importing, service
from govsms.dpa.models import DPA_VERSION_DETAILS, DPA_VERSION_PDF, DpaVersion
from govsms.keys.crypto import seal_field
from govsms.keys.store import vault_of
from govsms.receiving.models import InboundMessage
from govsms.retention.models import LegalHold
from govsms.sending.dispatch import DispatchRequest, create_dispatch
from govsms.sending.models import Dispatch, OutboundMessage, SenderNumber
from govsms.sending.pricing import seed_default_prices
from govsms.sending.sender_numbers import request_code
from govsms.subjects.erasure_models import SubjectErasure
from govsms.subjects.models import SubjectExport
from govsms.subjects.requests import register_request
from govsms.receiving.forwarding import create_rule
from govsms.receiving.forwarding_models import ForwardingRule
from tests.factories import make_account, make_api_key, make_user, now, system
from tests.receiving.inbox_helpers import stored_inbound
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
        body = {"number": "0701234567", "name": "x", "contact_ids": [contact_id], "text": "x"}
        return client.request(endpoint.method, path, params=params, json=body, headers=headers, follow_redirects=False)
    data = {"_csrf_token": csrf_token(client, "/"), "name": "x", "number": "0701234567", "contact_id": str(contact_id), "text": "x"}
    return client.request(endpoint.method, path, data=data, headers=headers, follow_redirects=False)


def objects_of(session: Session, account, *, person: str = "Björn", group_name: str = "B-gruppen", number: str = "0709876543") -> dict[str, object]:  # type: ignore[no-untyped-def]
    """One object of every kind a path can name, in the given account."""
    user, _ = make_user(session, account, roles={Role.ADMIN})
    key, _ = make_api_key(session, account)
    actor = system(account)
    contact = service.create_contact(session, actor, number=number, name=person, now=now())
    group = groups.create_group(session, actor, name=group_name, now=now())
    groups.add_members(session, actor, group.id, [contact.id], now=now())  # type: ignore[arg-type]
    token = importing.store_upload(session, actor, "b.csv", b"nummer\n0701234567\n", now=now())
    seed_default_prices(session, now=now())
    dispatch = create_dispatch(
        session, actor, DispatchRequest(sender="Kund B", text="Hej", numbers=[number], send_at=now() + timedelta(days=1)),
        public_url="http://x", now=now(),
    )
    sender = request_code(session, actor, "0705557788", now=now())  # a mobile number waiting for its code
    hold = LegalHold(account_id=account.id, reason="Tvist", until=now().date() + timedelta(days=30), created_by="system", created_at=now())
    session.add(hold)
    erasure = SubjectErasure(account_id=account.id, blind_index=bytes(16), status="done", actor="system", started_at=now(), finished_at=now())
    session.add(erasure)
    session.flush()
    subject_request = register_request(session, actor, kind="access", notes="B:s anteckning", now=now())
    export = SubjectExport(
        id=f"export-of-{account.id}", account_id=account.id, request_id=subject_request.id, sha256="0" * 64, content_ct=b"sealed",
        language="sv", created_by="system", created_at=now(), expires_at=now() + timedelta(days=30),
    )
    session.add(export)
    session.flush()
    inbound = stored_inbound(session, account, "+46" + number.lstrip("0"), "B:s svar")  # a received SMS: its conversation and its id
    rule_id = create_rule(session, actor, trigger="all", emails="b@example.se", mode="full", mobile="", now=now())
    return {
        "user_id": user.id, "key_id": key.id, "contact_id": contact.id, "group_id": group.id, "token": token,
        "dispatch_id": dispatch.dispatch_id, "version_id": dpa_version(session, account).id, "sender_id": sender.sender_id,
        "hold_id": hold.id, "erasure_id": erasure.id, "request_id": subject_request.id, "export_id": export.id,
        "conversation_id": inbound.subject_id, "inbound_id": inbound.id, "account_id": account.id,
        "rule_id": rule_id, "outbound_id": session.execute(
            select(OutboundMessage.id).where(OutboundMessage.dispatch_id == dispatch.dispatch_id)
        ).scalars().first(),
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
        expected = 403 if Permission.PLATFORM in endpoint.permissions else 404  # the operator's pages (an account's id) refuse a customer first
        assert response.status_code == expected, f"{endpoint.method} {endpoint.path}: {response.status_code}"
        walked.append(endpoint.path)
    for expected in (
        "/settings/users/{user_id:int}", "/contacts/{contact_id:int}", "/api/v1/groups/{group_id:int}/members",
        "/contacts/import/{token:str}", "/messages/{dispatch_id:int}/cancel", "/api/v1/dispatches/{dispatch_id:int}",
        "/dpa/versions/{version_id:int}/pdf", "/dpa/versions/{version_id:int}/accept", "/api/v1/dpa/versions/{version_id:int}/pdf",
        "/settings/senders/{sender_id:int}/confirm", "/settings/senders/{sender_id:int}/remove",
        "/settings/retention/holds/{hold_id:int}/end", "/api/v1/retention/holds/{hold_id:int}",
        "/subjects/requests/{request_id:int}", "/api/v1/subjects/requests/{request_id:int}", "/subjects/exports/{export_id:str}",
        "/api/v1/subjects/exports/{export_id:str}",
        "/inbox/{conversation_id:int}", "/inbox/{conversation_id:int}/reveal", "/inbox/{conversation_id:int}/read",
        "/inbox/{conversation_id:int}/reply", "/api/v1/inbound/{inbound_id:int}", "/api/v1/inbound/{inbound_id:int}/reply",
        "/inbox/forwarding/{rule_id:int}/disable", "/inbox/forwarding/{rule_id:int}/remove",
        "/messages/{dispatch_id:int}/messages/{outbound_id:int}",
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
    inbound_b = session.get(InboundMessage, objects_b["inbound_id"])
    session.refresh(inbound_b)
    assert inbound_b.read_at is None  # type: ignore[union-attr]  # not marked read from account A
    assert session.execute(select(Dispatch).where(Dispatch.account_id == account_a.id)).first() is None  # no reply sent from account A
    assert session.get(ForwardingRule, objects_b["rule_id"]).enabled  # type: ignore[union-attr]  # not turned off or removed from account A


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


# -- ids in query strings and bodies ----------------------------------------------------------------

ID_NAME = re.compile(r"^\w+_ids?$")
FORM_FIELD = re.compile(r"\bform_\w+\(data, \"(\w+_ids?)\"\)|body\.get\(\"(\w+_ids?)\"")
CALL = re.compile(r"\b(_?[a-z]\w*)\(")
OBJECT_OF_ID = {
    "group_id": "group_id", "group_ids": "group_id", "contact_id": "contact_id", "contact_ids": "contact_id",
    "dispatch_id": "dispatch_id", "user_id": "user_id", "key_id": "key_id", "version_id": "version_id", "sender_id": "sender_id",
    "request_id": "request_id", "message_id": "inbound_id",
}
"""Which object of account B an id named so in a query string or a body is filled with."""
PLATFORM_IDS = {"account_id"}
"""Ids only the operator's pages take (the platform, not a tenant): refused to a customer with 403."""


def _source(function: Any) -> str:
    try:
        return inspect.getsource(inspect.unwrap(function))
    except (OSError, TypeError):
        return ""


def _body_fields(annotation: Any) -> list[str]:
    """The fields of a typed request body (a dataclass, a msgspec Struct or a pydantic model)."""
    if dataclasses.is_dataclass(annotation):
        return [field.name for field in dataclasses.fields(annotation)]
    return list(getattr(annotation, "__struct_fields__", None) or getattr(annotation, "model_fields", None) or [])


def id_inputs(endpoint: Endpoint) -> tuple[dict[str, str], dict[str, str]]:
    """The ids a route takes outside its path: ``(query, body)``, each a name -> its parameter's
    name in the query string or body. Read from the handler's parsed signature (query
    parameters), its body type's fields, and, for an untyped form or JSON body, the fields its
    code (and the module functions it calls) reads with ``form_*(data, "...")`` or ``body.get``."""
    function = endpoint.handler.fn
    while hasattr(function, "func"):  # run in a thread: litestar's AsyncCallable keeps the handler as .func
        function = function.func
    signature = endpoint.handler.parsed_fn_signature
    path_names = set(re.findall(r"{(\w+)", endpoint.path))
    query = {name: name for name in signature.parameters if ID_NAME.match(name) and name not in path_names}
    body: dict[str, str] = {}
    if "data" in signature.parameters:
        annotation = signature.parameters["data"].annotation
        body.update((name, name) for name in _body_fields(annotation) if ID_NAME.match(name))
        source = _source(function)
        module = inspect.getmodule(inspect.unwrap(function))
        called = [getattr(module, name) for name in set(CALL.findall(source)) if inspect.isfunction(getattr(module, name, None))]
        for text in [source, *map(_source, called)]:
            body.update((name, name) for match in FORM_FIELD.finditer(text) for name in match.groups() if name)
    return query, body


def _as_value(name: str, object_id: int, *, form: bool) -> Any:
    if name.endswith("_ids"):
        return [str(object_id)] if form else [object_id]
    return str(object_id) if form else object_id


def test_no_id_of_account_b_in_a_query_string_or_body_reaches_account_b(client: TestClient, session: Session) -> None:
    """Acting as account A, every route that takes an id outside its path (``?group_id=``,
    ``?dispatch_id=``, ``contact_ids``, ``group_ids`` ...) is given account B's object: it answers
    404 (or 422 naming the field), reveals nothing of B and changes nothing of B. A route whose id
    this walk cannot fill fails it."""
    account_a, account_b = make_account(session), make_account(session)
    all_roles = set(CUSTOMER_ROLES)
    granted = permissions_for(all_roles)
    user_a, password_a = make_user(session, account_a, roles=all_roles)
    _, key_a = make_api_key(session, account_a, roles=all_roles)
    objects_a = objects_of(session, account_a, person="Anna", group_name="A-gruppen", number="0701112233")
    objects_b = objects_of(session, account_b)
    b_contact = service.get_contact(session, system(account_b), objects_b["contact_id"], now=now())  # type: ignore[arg-type]
    b_secrets = ("Björn", "B-gruppen", b_contact.number, b_contact.number.replace("+46", "0"))
    login(client, user_a.email, password_a)
    walked = []
    for endpoint in endpoints(client.app):
        query_ids, body_ids = id_inputs(endpoint)
        if not (query_ids or body_ids) or not endpoint.handler.resolve_guards():
            continue
        route = f"{endpoint.method} {endpoint.path}"
        if set(query_ids) | set(body_ids) <= PLATFORM_IDS:
            assert not endpoint.permissions <= granted, f"{route}: takes an account id but a customer may call it"
            continue
        for name in [*query_ids, *body_ids]:
            assert name in OBJECT_OF_ID, f"tests/test_routes.py: {route} takes the id '{name}': add an object of account B for it"
        path = fill(endpoint.path, objects_a)  # type: ignore[arg-type]
        for name in [*query_ids, *body_ids]:
            response = _request_with_id(client, endpoint, path, key_a, name, objects_b[OBJECT_OF_ID[name]], query=name in query_ids)  # type: ignore[arg-type]
            assert response.status_code in (404, 422), f"{route} with account B's {name}: {response.status_code}"
            if response.status_code == 422 and endpoint.is_api:
                assert name in response.json().get("fields", {}), f"{route}: 422 for another reason than {name}: {response.text[:300]}"
            for secret in b_secrets:
                assert secret not in response.text, f"{route} with account B's {name} reveals B's data"
            walked.append((endpoint.method, endpoint.path, name))
    for expected in (
        ("GET", "/api/v1/contacts", "group_id"), ("GET", "/api/v1/messages", "dispatch_id"),
        ("POST", "/api/v1/messages", "group_ids"), ("POST", "/api/v1/groups/{group_id:int}/members", "contact_ids"),
        ("DELETE", "/api/v1/groups/{group_id:int}/members", "contact_ids"), ("POST", "/contacts", "group_ids"),
        ("GET", "/contacts/export", "group_id"), ("POST", "/api/v1/messages/search", "dispatch_id"),
    ):
        assert expected in walked, f"not walked: {expected}"
    account_b_unchanged(session, account_b, objects_b)


def _request_with_id(client: TestClient, endpoint: Endpoint, path: str, key: str, name: str, object_id: int, *, query: bool):  # type: ignore[no-untyped-def]
    """A request that is valid but for the id of account B (named ``name``)."""
    headers = {"Authorization": f"Bearer {key}"} if endpoint.is_api else {}
    params = {name: _as_value(name, object_id, form=True)} if query else {}
    if endpoint.method == "GET":
        return client.get(path, params=params, headers=headers, follow_redirects=False)
    if endpoint.is_api and _takes_a_file(endpoint):  # an upload: a valid file beside the id
        files = {"file": ("a.csv", b"nummer\n0701234567\n", "text/csv")}
        return client.request(endpoint.method, path, data={name: str(object_id)}, files=files, headers=headers, follow_redirects=False)
    if endpoint.is_api:
        body: dict[str, Any] = {"number": "0701234567", "name": "x", "from": "Kund A", "text": "Hej"}
        if not query:
            body[name] = _as_value(name, object_id, form=False)
        return client.request(endpoint.method, path, params=params, json=body, headers=headers, follow_redirects=False)
    data: dict[str, Any] = {
        "_csrf_token": csrf_token(client, "/"), "name": "x", "number": "0701234567", "sender": "Kund A", "text": "Hej",
        "group_name": "", "send_at": "",
    }
    if not query:
        data[name] = _as_value(name, object_id, form=True)
    files = {"file": ("a.csv", b"nummer\n0701234567\n", "text/csv")} if _takes_a_file(endpoint) else None
    return client.request(endpoint.method, path, params=params, data=data, files=files, headers=headers, follow_redirects=False)


def _takes_a_file(endpoint: Endpoint) -> bool:
    data = endpoint.handler.parsed_fn_signature.parameters.get("data")
    kwarg = data and data.kwarg_definition
    return getattr(getattr(kwarg, "media_type", None), "value", None) == "multipart/form-data"


def account_b_unchanged(session: Session, account_b, objects_b: dict[str, Any]) -> None:  # type: ignore[no-untyped-def]
    session.expire_all()
    contact = service.get_contact(session, system(account_b), objects_b["contact_id"], now=now())
    assert contact.name == "Björn" and list(contact.group_ids) == [objects_b["group_id"]]  # type: ignore[attr-defined]
    assert [summary.members for summary in groups.list_groups(session, system(account_b))] == [1]
    assert session.get(Dispatch, objects_b["dispatch_id"]).status == "scheduled"  # type: ignore[union-attr]
