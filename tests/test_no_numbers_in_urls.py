"""No number in a URL (issue 10, item 5): proxies, access logs and browser histories keep URLs, so
a phone number is never a query or path parameter of any route (API or page), never in a link or
in a form that GETs. Searches by number POST it in the body. This walks the whole app, so a route
or template added later is covered too."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.handlers import HTTPRouteHandler
from litestar.params import BodyKwarg
from litestar.testing import TestClient

import govsms
from govsms.app import create_app
from tests.conftest import make_settings

PHONE_WORDS = {"phone", "phones", "msisdn", "msisdns", "recipient", "recipients", "mobile", "e164", "tel", "cell"}
"""Words that name a phone number wherever they stand in a name."""
ALONE = {"number", "numbers", "to", "from", "sender"}
"""Names that are a phone number when they stand alone (a mobile-number sender is one too)."""
NOT_A_PHONE = {"page", "org", "version", "part", "parts", "serial", "order", "invoice", "house", "street"}
"""What else a ``*_number`` counts: ``page_number`` is no person's."""
TEMPLATES = Path(govsms.__file__).parent / "templates"
NOT_IN_THE_URL = {"request", "scope", "socket", "state", "headers", "cookies", "query", "body", "data"}


def names_a_number(name: str) -> bool:
    """``number``, ``phone_number``, ``phoneNumber``, ``to[]``, ``recipient-msisdn`` ..."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    words = [word for word in re.split(r"[^a-z0-9]+", spaced.lower()) if word]
    if "".join(words) in ALONE or PHONE_WORDS & set(words):
        return True
    return bool({"number", "numbers"} & set(words)) and not set(words) - {"number", "numbers"} <= NOT_A_PHONE


def test_the_name_check_finds_the_usual_spellings() -> None:
    for name in (
        "number", "Number", "phone_number", "phoneNumber", "to", "to[]", "msisdn", "recipient", "recipients", "mobile-number", "from",
        "sender", "sender_number", "to_number", "contactNumber", "numbers",
    ):
        assert names_a_number(name), name
    for name in (
        "page", "page_number", "per_page", "org_number", "dispatch_id", "group_id", "sender_id", "status", "since", "until", "action",
        "lang", "token", "total", "done", "version_id",
    ):
        assert not names_a_number(name), name


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Litestar:
    return create_app(make_settings(tmp_path_factory.mktemp("urls")))


def test_no_api_operation_takes_a_number_in_its_url(app: Litestar) -> None:
    """The published schema: every operation, every parameter that is not a header."""
    with TestClient(app) as client:
        schema = client.get("/api/schema/openapi.json").json()
    found = []
    operations = 0
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            operations += 1
            for parameter in [*item.get("parameters", []), *operation.get("parameters", [])]:
                if parameter["in"] in ("query", "path", "cookie") and names_a_number(parameter["name"]):
                    found.append(f"{method.upper()} {path}: {parameter['in']} parameter {parameter['name']!r}")
    assert operations > 20  # the walk saw the API (contacts, groups, messages, blocklist, audit, DPA)
    assert not found, "numbers in URLs; search with POST and a JSON body instead:\n" + "\n".join(found)


def handlers(app: Litestar) -> Iterator[tuple[str, HTTPRouteHandler]]:
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            if isinstance(handler, HTTPRouteHandler):
                yield route.path, handler


def test_no_route_reads_a_number_from_its_url(app: Litestar) -> None:
    """Every handler, pages included (they are not in the schema): no parameter named like a number
    comes from the query string or the path."""
    found = []
    for path, handler in handlers(app):
        dependencies = set(handler.resolve_dependencies())
        for name, field in handler.parsed_fn_signature.parameters.items():
            if name in NOT_IN_THE_URL or name in dependencies:
                continue
            kwarg = field.kwarg_definition
            if isinstance(kwarg, BodyKwarg) or getattr(kwarg, "header", None) or getattr(kwarg, "cookie", None):
                continue
            in_url = getattr(kwarg, "query", None) or name
            if names_a_number(in_url):
                found.append(f"{sorted(handler.http_methods)} {path}: {in_url!r}")
    assert not found, "numbers read from URLs:\n" + "\n".join(found)


def templates() -> Iterator[tuple[str, str]]:
    for file in sorted(TEMPLATES.rglob("*.html")):
        yield str(file.relative_to(TEMPLATES)), file.read_text(encoding="utf-8")


FORM = re.compile(r"<form\b([^>]*)>(.*?)</form>", re.DOTALL | re.IGNORECASE)
FIELD_NAME = re.compile(r"<(?:input|select|textarea|button)\b[^>]*\bname=\"([^\"]+)\"", re.IGNORECASE)
URL = re.compile(r"\b(?:href|action|formaction|src)=\"([^\"]*)\"", re.IGNORECASE)


def test_no_template_sends_a_number_in_a_url() -> None:
    """A form that GETs puts its fields in the address: none holds a number; no link carries one."""
    found = []
    for name, text in templates():
        for attributes, body in FORM.findall(text):
            method = re.search(r"\bmethod=\"(\w+)\"", attributes)
            if method is None or method.group(1).lower() == "get":
                found += [f"{name}: a GET form sends {field!r}" for field in FIELD_NAME.findall(body) if names_a_number(field)]
        for url in URL.findall(text):
            for parameter in re.findall(r"[?&](?:amp;)?([^=&#\s]+)=", url):
                if names_a_number(parameter):
                    found.append(f"{name}: a link carries {parameter!r}: {url}")
        for call in re.findall(r"pager\(([^)]*)\)", text):
            if re.search(r"[\"'&](number|to|phone|msisdn|recipient)=", call):
                found.append(f"{name}: a pager link carries a number: {call}")
    assert not found, "numbers in URLs:\n" + "\n".join(found)
