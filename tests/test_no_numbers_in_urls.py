"""No number in a URL (issue 10, item 5): proxies, access logs and browser histories keep URLs, so
a phone number is never a query or path parameter of any route (API or page), never in a link or
in a form that GETs. Searches by number POST it in the body. This walks the whole app, so a route
or template added later is covered too.

A date is no number: ``from``/``to`` typed as dates (``format: date`` in the schema, a
``datetime.date`` annotation or a string the handler declares ``format="date"`` and parses, an
``<input type="date">``, a link to such a route) may stand in an address, as the statistics'
range does; the same names typed as anything else are caught as before."""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import pytest
from litestar import Litestar, get
from litestar.handlers import HTTPRouteHandler
from litestar.enums import ParamType
from litestar.params import BodyKwarg, ParameterKwarg, QueryParameter
from litestar.typing import FieldDefinition
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
    found, operations = numbers_in_schema(schema)
    assert operations > 20  # the walk saw the API (contacts, groups, messages, blocklist, audit, DPA)
    assert not found, "numbers in URLs; search with POST and a JSON body instead:\n" + "\n".join(found)


def schema_is_a_date(schema: dict[str, Any]) -> bool:
    """``{"type": "string", "format": "date"}``, or a choice of that and null (an optional date)."""
    for key in ("oneOf", "anyOf"):
        if key in schema:
            choices = [choice for choice in schema[key] if choice.get("type") != "null"]
            return bool(choices) and all(schema_is_a_date(choice) for choice in choices)
    return schema.get("type") == "string" and schema.get("format") == "date"


def numbers_in_schema(schema: dict[str, Any]) -> tuple[list[str], int]:
    found = []
    operations = 0
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            operations += 1
            for parameter in [*item.get("parameters", []), *operation.get("parameters", [])]:
                if parameter["in"] not in ("query", "path", "cookie") or schema_is_a_date(parameter.get("schema", {})):
                    continue
                if names_a_number(parameter["name"]):
                    found.append(f"{method.upper()} {path}: {parameter['in']} parameter {parameter['name']!r}")
    return found, operations


def test_the_schema_check_lets_dates_by_and_nothing_else() -> None:
    def schema(parameter_schema: dict[str, Any]) -> dict[str, Any]:
        parameter = {"name": "from", "in": "query", "schema": parameter_schema}
        return {"paths": {"/x": {"get": {"responses": {}, "parameters": [parameter, {**parameter, "name": "to"}]}}}}

    date_schema = {"type": "string", "format": "date"}
    for allowed in (date_schema, {"oneOf": [date_schema, {"type": "null"}]}):
        assert numbers_in_schema(schema(allowed))[0] == [], allowed
    for caught in ({"type": "string"}, {"type": "string", "format": "date-time-ish"}, {"type": "integer"},
                   {"oneOf": [date_schema, {"type": "string"}]}, {"oneOf": [{"type": "null"}]}, {}):
        assert len(numbers_in_schema(schema(caught))[0]) == 2, caught


def handlers(app: Litestar) -> Iterator[tuple[str, HTTPRouteHandler]]:
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            if isinstance(handler, HTTPRouteHandler):
                yield route.path, handler


def test_no_route_reads_a_number_from_its_url(app: Litestar) -> None:
    """Every handler, pages included (they are not in the schema): no parameter named like a number
    comes from the query string or the path."""
    found = numbers_read_from_urls(app)
    assert not found, "numbers read from URLs:\n" + "\n".join(found)


def field_is_a_date(field: FieldDefinition) -> bool:
    """``date`` or ``date | None``; or a string declared ``format="date"`` (a page that parses it
    itself, to give the form back with a reason instead of a bare 400)."""
    annotation = field.annotation
    if typing.get_origin(annotation) is Annotated:
        annotation = typing.get_args(annotation)[0]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        kinds = [kind for kind in typing.get_args(annotation) if kind is not type(None)]
    else:
        kinds = [annotation]
    if kinds and all(isinstance(kind, type) and issubclass(kind, date) for kind in kinds):
        return True
    return kinds == [str] and getattr(field.kwarg_definition, "format", None) == "date"


def url_parameters(handler: HTTPRouteHandler) -> Iterator[tuple[str, FieldDefinition]]:
    """The handler's parameters read from the query string or the path, by their name there."""
    dependencies = set(handler.resolve_dependencies())
    for name, field in handler.parsed_fn_signature.parameters.items():
        if name in NOT_IN_THE_URL or name in dependencies:
            continue
        kwarg = field.kwarg_definition
        if isinstance(kwarg, BodyKwarg) or getattr(kwarg, "header", None) or getattr(kwarg, "cookie", None):
            continue
        if isinstance(kwarg, ParameterKwarg) and kwarg.param_type in (ParamType.HEADER, ParamType.COOKIE):
            continue
        # Litestar's own order: ``QueryParameter(name=...)`` renames; the older ``query=`` too.
        yield getattr(kwarg, "name", None) or getattr(kwarg, "query", None) or name, field


def numbers_read_from_urls(app: Litestar) -> list[str]:
    return [
        f"{sorted(handler.http_methods)} {path}: {in_url!r}"
        for path, handler in handlers(app)
        for in_url, field in url_parameters(handler)
        if names_a_number(in_url) and not field_is_a_date(field)
    ]


def test_the_route_check_lets_dates_by_and_nothing_else() -> None:
    """The send API's ``from`` (a sender, maybe a mobile number) is caught if it ever moves into
    a URL; a ``from``/``to`` typed as a date is not."""

    @get("/dates", sync_to_thread=False)
    def dates(start: Annotated[date, QueryParameter(name="from")], end: Annotated[date | None, QueryParameter(name="to")] = None,
              day: Annotated[str, QueryParameter(name="until", format="date")] = "",
              page: Annotated[str, QueryParameter(name="from_day", format="date")] = "") -> str:
        return ""

    @get("/sender", sync_to_thread=False)
    def sender(sender: Annotated[str, QueryParameter(name="from")]) -> str:
        return ""

    @get("/undeclared", sync_to_thread=False)
    def undeclared(start: Annotated[str | None, QueryParameter(name="from")] = None,
                   to: Annotated[int, QueryParameter()] = 0) -> str:
        return ""

    @get("/mixed", sync_to_thread=False)
    def mixed(start: Annotated[date | str, QueryParameter(name="from")] = "",
              end: Annotated[str, QueryParameter(name="to", format="date-time")] = "") -> str:
        return ""

    app = Litestar([dates, sender, undeclared, mixed])
    found = numbers_read_from_urls(app)
    assert found == ["['GET'] /sender: 'from'", "['GET'] /undeclared: 'from'", "['GET'] /undeclared: 'to'",
                     "['GET'] /mixed: 'from'", "['GET'] /mixed: 'to'"], found
    with TestClient(app) as client:
        schema = client.get("/schema/openapi.json").json()
    assert sorted(numbers_in_schema(schema)[0]) == sorted([
        "GET /sender: query parameter 'from'", "GET /undeclared: query parameter 'from'", "GET /undeclared: query parameter 'to'",
        "GET /mixed: query parameter 'from'", "GET /mixed: query parameter 'to'",
    ])


def templates() -> Iterator[tuple[str, str]]:
    for file in sorted(TEMPLATES.rglob("*.html")):
        yield str(file.relative_to(TEMPLATES)), file.read_text(encoding="utf-8")


FORM = re.compile(r"<form\b([^>]*)>(.*?)</form>", re.DOTALL | re.IGNORECASE)
FIELD_NAME = re.compile(r"<(?:input|select|textarea|button)\b[^>]*\bname=\"([^\"]+)\"", re.IGNORECASE)
URL = re.compile(r"\b(?:href|action|formaction|src)=\"([^\"]*)\"", re.IGNORECASE)


FIELD = re.compile(r"<(?:input|select|textarea|button)\b[^>]*>", re.IGNORECASE)
DATE_INPUT = re.compile(r"^<input\b[^>]*(?<![\w-])type=\"date\"", re.IGNORECASE)


def date_parameters(app: Litestar) -> dict[str, set[str]]:
    """Per path a GET reaches: the query parameters its handler reads as dates."""
    dates: dict[str, set[str]] = {}
    for path, handler in handlers(app):
        if "GET" in handler.http_methods:
            dates.setdefault(path, set()).update(in_url for in_url, field in url_parameters(handler) if field_is_a_date(field))
    return dates


def numbers_in_template(name: str, text: str, dates: dict[str, set[str]]) -> list[str]:
    found = []
    for attributes, body in FORM.findall(text):
        method = re.search(r"\bmethod=\"(\w+)\"", attributes)
        if method is None or method.group(1).lower() == "get":
            for field in FIELD.findall(body):
                field_name = FIELD_NAME.match(field)
                if field_name and names_a_number(field_name.group(1)) and not DATE_INPUT.match(field):
                    found.append(f"{name}: a GET form sends {field_name.group(1)!r}")
    for url in URL.findall(text):
        path = url.split("?", 1)[0]
        for parameter in re.findall(r"[?&](?:amp;)?([^=&#\s]+)=", url):
            if names_a_number(parameter) and parameter not in dates.get(path, set()):
                found.append(f"{name}: a link carries {parameter!r}: {url}")
    for call in re.findall(r"pager\(([^)]*)\)", text):
        if re.search(r"[\"'&](number|to|phone|msisdn|recipient)=", call):
            found.append(f"{name}: a pager link carries a number: {call}")
    return found


def test_no_template_sends_a_number_in_a_url(app: Litestar) -> None:
    """A form that GETs puts its fields in the address: none holds a number (a date input is
    none); no link carries one (a date to a route that reads it as a date is none)."""
    dates = date_parameters(app)
    assert dates["/statistics.xlsx"] >= {"from", "to"}  # the walk saw the statistics' range
    found = [problem for name, text in templates() for problem in numbers_in_template(name, text, dates)]
    assert not found, "numbers in URLs:\n" + "\n".join(found)


def test_the_template_check_lets_dates_by_and_nothing_else() -> None:
    dates = {"/range": {"from", "to"}}
    allowed = """<form method="get" action="/range"><input name="from" type="date"><input type="date" id="to" name="to"></form>
    <a href="/range?from={{ start }}&amp;to={{ end }}">x</a>"""
    assert numbers_in_template("ok.html", allowed, dates) == []
    caught = """<form method="get" action="/range"><input name="from" type="text"><input name="to"><select name="number"></select>
    <input name="from" data-type="date"></form>
    <form action="/range"><input type="tel" name="to"></form>
    <a href="/send?from={{ sender }}">x</a><a href="/range?number={{ n }}&amp;to={{ d }}">y</a><a href="/range/x?to=1">z</a>"""
    assert numbers_in_template("bad.html", caught, dates) == [
        "bad.html: a GET form sends 'from'", "bad.html: a GET form sends 'to'", "bad.html: a GET form sends 'number'",
        "bad.html: a GET form sends 'from'", "bad.html: a GET form sends 'to'",
        "bad.html: a link carries 'from': /send?from={{ sender }}", "bad.html: a link carries 'number': /range?number={{ n }}&amp;to={{ d }}",
        "bad.html: a link carries 'to': /range/x?to=1",
    ]
