"""Hostile input gets a 4xx with a reason, never a 500, on SQLite and PostgreSQL: ids beyond the
databases' ranges, JSON nested 10,000 deep, non-ASCII digits in id fields, control characters in
names, malformed form posts. Routes are walked like tests/test_routes.py, so new ones are covered."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from litestar.params import ParameterKwarg
from litestar.testing import TestClient
from sqlmodel import Session

from govsms.auth import CUSTOMER_ROLES, Permission, Role
from govsms.contacts import groups, service
from govsms.errors import InvalidInput
from govsms.textfield import multi_line, printable, single_line
from govsms.web.params import MAX_ID
from tests.factories import make_account, make_api_key, make_user, now, system
from tests.test_routes import Endpoint, endpoints, fill, objects_of, request
from tests.web_helpers import csrf_token, login

HOSTILE_IDS = [2**31, 2**63, 2**64, -1, 0]
CONTROL = ["a\x00b", "a\x01b", "a\x1bb", "a\x7fb", "a\x85b", "a\x9fb"]
DEEP = ["[" * 10_000 + "]" * 10_000, '{"a":' * 10_000 + "1" + "}" * 10_000]
OBJECT_KEYS = (
    "user_id", "key_id", "contact_id", "group_id", "token", "dispatch_id", "version_id", "sender_id", "hold_id", "request_id", "export_id",
    "erasure_id", "conversation_id", "inbound_id", "rule_id", "account_id",
    "outbound_id",
)
ERROR_TEXT = re.compile(r'<p class="(?:error|field-error)"[^>]*>(.+?)</p>|<section class="card narrow">\s*<h1>.*?</h1>\s*<p>(.+?)</p>', re.S)


def reason(response: Any) -> str:
    """What an answer says is wrong: the JSON message and fields, or the page's error text."""
    if response.headers.get("content-type", "").startswith("application/json"):
        body = response.json()
        return " ".join([body.get("message", ""), *body.get("fields", {}).values()]).strip()
    return " ".join(html.unescape(a or b).strip() for a, b in ERROR_TEXT.findall(response.text))


def assert_refused(response: Any, what: str) -> None:
    assert 400 <= response.status_code < 500, f"{what}: {response.status_code} {response.text[:300]}"
    assert reason(response), f"{what}: {response.status_code} without a reason"


def integer_parameters(endpoint: Endpoint) -> dict[str, tuple[str, int | None, int | None]]:
    """The handler's path and query integers: parameter -> (name in the request, ge, le)."""
    found = {}
    for name, field in endpoint.handler.parsed_fn_signature.parameters.items():
        kwarg = field.kwarg_definition
        if not isinstance(kwarg, ParameterKwarg) or field.annotation is bool:
            continue
        if field.is_non_string_sequence and field.inner_types[0].annotation is int:
            kwarg = field.inner_types[0].kwarg_definition
        elif int not in (field.annotation, *(inner.annotation for inner in field.inner_types)):
            continue
        found[name] = (field.kwarg_definition.name or name, getattr(kwarg, "ge", None), getattr(kwarg, "le", None))
    return found


def objects(customer: dict[str, Any], **overrides: object) -> dict[str, object]:
    return {**{key: customer[key] for key in OBJECT_KEYS}, **overrides}


@pytest.fixture
def customer(client: TestClient, session: Session) -> dict[str, Any]:
    """A logged-in user and an API key with every customer role, and one object of each kind."""
    account = make_account(session)
    user, password = make_user(session, account, roles=set(CUSTOMER_ROLES))
    _, key = make_api_key(session, account, roles=set(CUSTOMER_ROLES))
    login(client, user.email, password)
    return {"account": account, "headers": {"Authorization": f"Bearer {key}"}, **objects_of(session, account)}


def send(client: TestClient, endpoint: Endpoint, path: str, customer: dict[str, Any], params: dict[str, Any]):  # type: ignore[no-untyped-def]
    headers = customer["headers"] if endpoint.is_api else {}
    params = {"contact_ids": customer["contact_id"], **params}
    if endpoint.method == "GET":
        return client.get(path, params=params, headers=headers, follow_redirects=False)
    if endpoint.is_api:
        return client.request(endpoint.method, path, params=params, json={"name": "x", "contact_ids": [1]}, headers=headers, follow_redirects=False)
    data = {"_csrf_token": csrf_token(client, "/"), "name": "x"}
    return client.request(endpoint.method, path, params=params, data=data, follow_redirects=False)


def test_every_path_and_query_integer_is_bounded(client: TestClient) -> None:
    for endpoint in endpoints(client.app):
        for name, (_key, ge, le) in integer_parameters(endpoint).items():
            assert ge is not None and le is not None and le <= MAX_ID, f"{endpoint.method} {endpoint.path}: bound {name} (govsms/web/params.py)"


def walk_hostile_integers(client: TestClient, customer: dict[str, Any], value: int, *, operator: bool) -> int:
    """Each integer a route takes, set to ``value`` out of its bounds: refused, naming the field.
    Routes for the provider's operators are walked as an operator (a customer gets 403 first)."""
    walked = 0
    for endpoint in endpoints(client.app):
        if (Permission.PLATFORM in endpoint.permissions) != operator:
            continue
        for name, (key, ge, le) in integer_parameters(endpoint).items():
            if ge <= value <= le:  # type: ignore[operator]  (a count may be 0)
                continue
            in_path = f"{{{name}:int}}" in endpoint.path
            path = fill(endpoint.path, objects(customer, **({name: value} if in_path else {})))  # type: ignore[arg-type]
            response = send(client, endpoint, path, customer, {} if in_path else {key: value})
            assert_refused(response, f"{endpoint.method} {endpoint.path} {key}={value}")
            if endpoint.is_api:
                assert key in response.json().get("fields", {}), f"{endpoint.method} {endpoint.path}: the answer names {key}: {response.text}"
            else:
                assert key in reason(response), f"{endpoint.path}: the page names {key}"
            walked += 1
    return walked


@pytest.mark.parametrize("value", HOSTILE_IDS)
def test_integers_out_of_range_are_refused_on_every_route(client: TestClient, customer: dict[str, Any], value: int) -> None:
    assert walk_hostile_integers(client, customer, value, operator=False) >= 40


@pytest.mark.parametrize("value", HOSTILE_IDS)
def test_integers_out_of_range_are_refused_on_every_operator_route(
    client: TestClient, session: Session, customer: dict[str, Any], value: int
) -> None:
    provider = make_account(session, is_provider=True)
    operator, password = make_user(session, provider, roles={Role.OPERATOR})
    login(client, operator.email, password)
    assert walk_hostile_integers(client, customer, value, operator=True) >= 1


def test_a_well_formed_id_that_names_nothing_is_404(client: TestClient, customer: dict[str, Any]) -> None:
    for endpoint in endpoints(client.app):
        if ":int}" not in endpoint.path:
            continue
        path = fill(endpoint.path, {**{key: MAX_ID for key in OBJECT_KEYS}, "token": customer["token"]})
        response = request(client, endpoint, path, customer["headers"] if endpoint.is_api else {}, MAX_ID)
        expected = 403 if Permission.PLATFORM in endpoint.permissions else 404  # the operator's pages refuse a customer first
        assert response.status_code == expected, f"{endpoint.method} {endpoint.path}: {response.status_code}"


def test_integers_inside_json_bodies_are_bounded_and_named(client: TestClient, customer: dict[str, Any]) -> None:
    headers, group = customer["headers"], customer["group_id"]
    for path, body, field in (
        ("/api/v1/contacts", {"number": "0701234567", "group_ids": [2**31]}, "group_ids[0]"),
        (f"/api/v1/groups/{group}/members", {"contact_ids": [1, 0]}, "contact_ids[1]"),
        (f"/api/v1/groups/{group}/members", {"contact_ids": [2**64]}, "contact_ids[0]"),
        ("/api/v1/messages", {"from": "Kommunen", "text": "Hej", "group_ids": [2**63]}, "group_ids"),
        ("/api/v1/messages", {"from": "Kommunen", "text": "Hej", "group_ids": [True]}, "group_ids"),
    ):
        response = client.post(path, json=body, headers=headers)
        assert response.status_code == 422 and field in response.json()["fields"], (path, body, response.text)


def test_json_nested_10000_deep_is_refused_with_a_reason(client: TestClient, customer: dict[str, Any]) -> None:
    bodies = 0
    for endpoint in endpoints(client.app):
        data = endpoint.handler.parsed_fn_signature.parameters.get("data")
        if data is None or getattr(data.kwarg_definition, "media_type", "application/json") not in ("application/json", None):
            continue
        path = fill(endpoint.path, objects(customer))  # type: ignore[arg-type]
        headers = {**customer["headers"], "Content-Type": "application/json", "X-CSRFToken": csrf_token(client, "/")}
        for body in DEEP:
            assert_refused(client.request(endpoint.method, path, content=body, headers=headers), f"{endpoint.method} {endpoint.path} deep JSON")
            bodies += 1
    assert bodies >= 16  # the API's bodies, the delivery-report hook and the UI's live counter
    deep_but_readable = '{"from": "Kommunen", "text": "Hej", "to": ["0701234567"], "dry_run": true, "x": ' + "[" * 500 + "]" * 500 + "}"
    assert client.post("/api/v1/messages", content=deep_but_readable, headers={**customer["headers"], "Content-Type": "application/json"}).status_code == 201


@pytest.mark.parametrize("digit", ["²", "١", "1e3", str(2**64)])
def test_id_form_fields_take_ascii_digits_only(client: TestClient, session: Session, customer: dict[str, Any], digit: str) -> None:
    """``"²".isdigit()`` is True but ``int("²")`` fails; ``int("١")`` is 1: neither is an id."""
    contact, group, token, dispatch = customer["contact_id"], customer["group_id"], customer["token"], customer["dispatch_id"]
    for path, field in (
        ("/contacts", "group_ids"), (f"/contacts/{contact}", "group_ids"), (f"/groups/{group}/members/remove", "contact_id"),
        (f"/contacts/import/{token}", "group_id"), ("/send/confirm", "group_ids"), (f"/messages/{dispatch}/reveal", "page"),
    ):
        data = {"_csrf_token": csrf_token(client, "/"), "number": "0701112233", "sender": "Kommunen", "text": "Hej", "to": "0701112233", field: digit}
        assert_refused(client.post(path, data=data, follow_redirects=False), f"{path} {field}={digit!r}")
    data = {"_csrf_token": csrf_token(client, "/"), "sender": "Kommunen", "text": "Hej", "to": "0701112233", "group_ids": digit}
    assert_refused(client.post("/send", data=data, files={"file": ("", b"")}), f"/send group_ids={digit!r}")
    upload = client.post("/api/v1/contacts/import", data={"group_id": digit}, files={"file": ("a.csv", b"nummer\n0701234567\n")}, headers=customer["headers"])
    assert upload.status_code == 422 and "group_id" in upload.json()["fields"]
    assert groups.list_groups(session, system(customer["account"]))[0].members == 1  # nothing was removed or added


@pytest.mark.parametrize("digit", ["²", "١", str(2**64)])
def test_operator_id_fields_take_ascii_digits_only(client: TestClient, session: Session, digit: str) -> None:
    operator, password = make_user(session, make_account(session, is_provider=True), roles={Role.OPERATOR})
    login(client, operator.email, password)
    for path, field in (
        ("/operator/numbers", "account_id"), ("/operator/subprocessors", "remove"), ("/operator/subprocessors", "id"), ("/operator/retention", "days"),
    ):
        data = {
            "_csrf_token": csrf_token(client, "/"), "number": "+46701234599", "name": "X AB", "country": "SE", "purpose": "SMS", "category": "contacts",
            field: digit,
        }
        assert_refused(client.post(path, data=data, follow_redirects=False), f"{path} {field}={digit!r}")
    for price in ("1e400", "inf", "nan", "١"):
        assert_refused(client.post("/operator/prices", data={"_csrf_token": csrf_token(client, "/"), "country": "SE", "price": price}), f"price {price!r}")


@pytest.mark.parametrize("bad", CONTROL)
def test_control_characters_in_names_are_refused_before_the_database(client: TestClient, session: Session, customer: dict[str, Any], bad: str) -> None:
    headers, group, contact = customer["headers"], customer["group_id"], customer["contact_id"]
    for method, path, body in (
        ("POST", "/api/v1/groups", {"name": bad}), ("PATCH", f"/api/v1/groups/{group}", {"name": "G", "description": bad}),
        ("POST", "/api/v1/contacts", {"number": "0701234567", "name": bad}), ("PATCH", f"/api/v1/contacts/{contact}", {"note": bad}),
    ):
        response = client.request(method, path, json=body, headers=headers)
        assert response.status_code == 422 and set(response.json()["fields"]) & {"name", "description", "note"}, (path, response.text)
    for path, data in (
        ("/groups", {"name": bad}), (f"/groups/{group}", {"name": bad}), ("/contacts", {"number": "0701234567", "name": bad}),
        ("/settings/api-keys", {"name": bad, "roles": "sender"}),
        ("/settings/users", {"email": f"x{bad}@example.se", "display_name": "X", "password": "Lösen-ord-123456", "roles": "sender"}),
        ("/settings/users", {"email": "ny@example.se", "display_name": bad, "password": "Lösen-ord-123456", "roles": "sender"}),
        ("/dpa/details", {"signatory_name": bad}), (f"/dpa/versions/{customer['version_id']}/accept", {"name": bad, "title": "IT", "confirm": "yes"}),
        ("/send/confirm", {"sender": "Kommunen", "text": "Hej", "to": "0701234567", "idempotency_key": bad}),
    ):
        assert_refused(client.post(path, data={"_csrf_token": csrf_token(client, "/"), **data}, follow_redirects=False), f"{path} {sorted(data)}")
    assert all(summary.group.name == "B-gruppen" for summary in groups.list_groups(session, system(customer["account"])))


@pytest.mark.parametrize("bad", ["a\x00b", "a\x01b"])
def test_control_characters_in_operator_forms_are_refused(client: TestClient, session: Session, bad: str) -> None:
    operator, password = make_user(session, make_account(session, is_provider=True), roles={Role.OPERATOR})
    login(client, operator.email, password)
    for path, data in (
        ("/operator/accounts", {"name": bad, "first_admin_email": "a@example.se", "first_admin_password": "Lösen-ord-123456"}),
        ("/operator/accounts", {"name": "Ny AB", "billing_email": f"f{bad}@example.se"}),
        ("/operator/subprocessors", {"name": bad, "country": "SE", "purpose": "SMS"}),
        ("/operator/numbers", {"remove": bad}),
    ):
        response = client.post(path, data={"_csrf_token": csrf_token(client, "/"), **data}, follow_redirects=False)
        assert response.status_code < 500 and (response.status_code == 303 or reason(response)), (path, response.status_code)


def test_times_at_the_ends_of_the_calendar_are_refused(client: TestClient, customer: dict[str, Any]) -> None:
    """Year 1 in Stockholm is year 0 in UTC, 9999-12-31 has no next day: neither may reach the database."""
    headers = customer["headers"]
    for since, until in (("0001-01-01", ""), ("", "9999-12-31")):
        assert_refused(client.get("/audit", params={"since": since, "until": until}), f"/audit {since or until}")
    for moment in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "2026-01-01T00:00:00"):
        for field in ("since", "until"):
            response = client.get("/api/v1/audit", params={field: moment}, headers=headers)
            assert response.status_code == 422 and field in response.json()["fields"], (field, moment, response.text)
        response = client.post("/api/v1/messages", json={"from": "Kommunen", "text": "Hej", "to": ["0701234567"], "send_at": moment}, headers=headers)
        assert response.status_code == 422 and "send_at" in response.json()["fields"], (moment, response.text)
    for path in ("/send", "/send/confirm"):
        data = {"_csrf_token": csrf_token(client, "/"), "sender": "Kommunen", "text": "Hej", "to": "0701234567", "send_at": "0001-01-01T00:00"}
        assert_refused(client.post(path, data=data, files={"file": ("", b"")} if path == "/send" else None), f"{path} send_at year 1")
    for day in ("0001-01-01", "9999-12-31"):
        for field in ("from", "to"):
            assert_refused(client.get("/statistics", params={field: day}), f"/statistics {field}={day}")
            assert_refused(client.get("/statistics.xlsx", params={field: day}), f"/statistics.xlsx {field}={day}")
            response = client.get("/api/v1/statistics", params={field: day}, headers=headers)
            assert response.status_code == 422 and field in response.json()["fields"], (field, day, response.text)
        assert_refused(client.get("/statistics/day", params={"day": day}), f"/statistics/day {day}")
        for path in ("/statistics/day/search", "/statistics/day/texts"):
            data = {"_csrf_token": csrf_token(client, "/"), "day": day, "number": "0701234567"}
            assert_refused(client.post(path, data=data, follow_redirects=False), f"{path} {day}")


def test_a_control_character_in_the_login_email_is_a_failed_login(client: TestClient, database_url: str) -> None:
    data = {"_csrf_token": csrf_token(client, "/login"), "email": "a\x00b@example.se", "password": "x"}
    response = client.post("/login", data=data, follow_redirects=False)
    assert response.status_code == 401 and reason(response)


def test_tokens_in_paths_that_cannot_be_ours_are_404(client: TestClient, customer: dict[str, Any]) -> None:
    for path in ("/u/a%00b", "/u/" + "x" * 40, "/contacts/import/a%00b"):
        assert client.get(path).status_code in (404, 405)
        assert client.post(path, data={"_csrf_token": csrf_token(client, "/")}).status_code == 404


def test_a_lone_surrogate_in_json_is_refused(client: TestClient, customer: dict[str, Any]) -> None:
    response = client.post("/api/v1/groups", content='{"name": "a\\ud800b"}', headers={**customer["headers"], "Content-Type": "application/json"})
    assert_refused(response, "lone surrogate")


def test_malformed_form_posts_never_fail_on_our_side(client: TestClient, customer: dict[str, Any]) -> None:
    """Every UI form: empty, every field twice, a file where text belongs, JSON instead of a form."""
    fields = ["name", "number", "note", "group_ids", "group_id", "contact_id", "roles", "active", "page", "status", "sender", "text", "to",
              "send_at", "email", "display_name", "password", "title", "confirm", "action", "description", "lang", "language", "upload"]
    posted = 0
    for endpoint in endpoints(client.app):
        if endpoint.is_api or endpoint.method != "POST" or endpoint.path.startswith(("/hooks", "/login", "/logout")):
            continue
        path = fill(endpoint.path, objects(customer))  # type: ignore[arg-type]
        token = csrf_token(client, "/")
        for kind, options in (
            ("empty", {"data": {"_csrf_token": token}}),
            ("repeated", {"content": "&".join([f"_csrf_token={token}", *(f"{field}={value}" for field in fields for value in ("1", "x"))]),
                          "headers": {"Content-Type": "application/x-www-form-urlencoded"}}),
            ("file for text", {"data": {"_csrf_token": token}, "files": {field: ("f.txt", b"1") for field in ("name", "text", "number", "group_ids")}}),
            ("json", {"json": {"name": ["x"], "group_ids": {"a": 1}}, "headers": {"X-CSRFToken": token}}),
        ):
            response = client.post(path, follow_redirects=False, **options)  # type: ignore[arg-type]
            assert response.status_code < 500, f"{endpoint.path} {kind}: {response.status_code}"
            if response.status_code >= 400:
                assert_refused(response, f"{endpoint.path} {kind}")
            posted += 1
    assert posted >= 80


def test_text_helpers_refuse_control_characters_and_tidy_whitespace() -> None:
    assert single_line("  Anna\t Berg\r\n ", "name") == "Anna Berg"
    assert multi_line(" rad ett\nrad två\t. ", "note") == "rad ett\nrad två\t."
    assert printable("An\x00na\x1b Berg") == "Anna Berg"
    for bad in [*CONTROL, "a\ud800b"]:
        for helper in (single_line, multi_line):
            with pytest.raises(InvalidInput) as refused:
                helper(bad, "name")
            assert "name" in refused.value.fields


def test_names_keep_what_users_expect(session: Session) -> None:
    actor = system(make_account(session))
    group = groups.create_group(session, actor, name="Skolans\tföräldrar\n", description="rad\nett", now=now())
    assert group.name == "Skolans föräldrar" and group.description == "rad ett"
    contact = service.create_contact(session, actor, number="0701234567", name=" Åsa\nÖberg ", note="rad ett\nrad två", now=now())
    assert (contact.name, contact.note) == ("Åsa Öberg", "rad ett\nrad två")
