"""The API documentation at ``/api/schema``: a page rendered here from the OpenAPI schema, with
no script at all (Litestar's own renderers load Swagger UI, ReDoc and the like from CDNs, which
the Content-Security-Policy forbids and which would run a third party's code beside the API's
key holders). The schema itself is at ``/api/schema/openapi.json`` and ``/api/schema/openapi.yaml``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from litestar import Request
from litestar.openapi.plugins import OpenAPIRenderPlugin
from litestar.plugins.jinja import JinjaTemplateEngine

from govsms.i18n import current_language

METHODS = ("get", "post", "put", "patch", "delete")


@dataclass
class Field:
    name: str
    type: str
    required: bool = False
    where: str = ""
    description: str = ""


@dataclass
class Operation:
    method: str
    path: str
    anchor: str
    summary: str
    description: str
    parameters: list[Field]
    body: list[tuple[str, str]]
    """(media type, schema) of the request body."""
    responses: list[tuple[str, str, str]]
    """(status code, description, what the body is: a schema's type or a media type)."""


@dataclass
class Tag:
    name: str
    operations: list[Operation] = field(default_factory=list)


def type_of(schema: dict[str, Any] | None) -> str:
    """A schema as a short text: ``ContactIn``, ``integer (1..2147483647)``, ``array of string``."""
    if not schema:
        return "any"
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    if schema.get("title") and schema.get("properties"):
        return str(schema["title"])  # a body described where it is used (see schemas_of)
    for combined in ("oneOf", "anyOf", "allOf"):
        if combined in schema:
            text = " | ".join(type_of(part) for part in schema[combined])
            break
    else:
        kind = schema.get("type", "object")
        kinds = [kind] if isinstance(kind, str) else list(kind)
        if "array" in kinds and "items" in schema:
            kinds = [f"array of {type_of(schema['items'])}" if item == "array" else item for item in kinds]
        text = " | ".join(str(item) for item in kinds)
        if schema.get("format"):
            text += f" ({schema['format']})"
    low, high = schema.get("minimum"), schema.get("maximum")
    if low is not None or high is not None:
        text += f" ({_number(low)}..{_number(high)})"
    if "maxLength" in schema:
        text += f" (≤ {schema['maxLength']} characters)"
    return text


def answer_type(response: dict[str, Any]) -> str:
    """What a response's body is: its JSON schema as a short text, another media type by name, or nothing."""
    for media_type, entry in (response.get("content") or {}).items():
        return type_of(entry.get("schema")) if media_type == "application/json" else str(media_type)
    return ""


def _number(value: Any) -> str:
    if value is None:
        return ""
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def operations_by_tag(schema: dict[str, Any]) -> list[Tag]:
    tags: dict[str, Tag] = {}
    for path, item in schema.get("paths", {}).items():
        for method in METHODS:
            operation = item.get(method)
            if not operation:
                continue
            parameters = [
                Field(name=p.get("name", ""), type=type_of(p.get("schema")), required=bool(p.get("required")), where=p.get("in", ""),
                      description=p.get("description", ""))
                for p in operation.get("parameters", [])
            ]
            content = (operation.get("requestBody") or {}).get("content", {})
            body = [(media_type, type_of(entry.get("schema"))) for media_type, entry in content.items()]
            responses = [(str(code), entry.get("description", ""), answer_type(entry)) for code, entry in operation.get("responses", {}).items()]
            anchor = f"{method}-{path}".replace("/", "-").replace("{", "").replace("}", "").strip("-")
            tag = (operation.get("tags") or ["other"])[0]
            tags.setdefault(tag, Tag(tag)).operations.append(Operation(
                method=method.upper(), path=path, anchor=anchor, summary=operation.get("summary", ""),
                description=operation.get("description", ""), parameters=parameters, body=body, responses=responses,
            ))
    return [tags[name] for name in sorted(tags)]


def schemas_of(schema: dict[str, Any]) -> dict[str, list[Field]]:
    """The components, and the request bodies described where they are used under a title."""
    components = dict(schema.get("components", {}).get("schemas", {}))
    for item in schema.get("paths", {}).values():
        for method in METHODS:
            for entry in ((item.get(method) or {}).get("requestBody") or {}).get("content", {}).values():
                body = entry.get("schema") or {}
                if body.get("title") and body.get("properties"):
                    components.setdefault(body["title"], body)
    found = {}
    for name, component in sorted(components.items()):
        required = set(component.get("required", []))
        found[name] = [
            Field(name=key, type=type_of(value), required=key in required, description=value.get("description", ""))
            for key, value in component.get("properties", {}).items()
        ]
    return found


class ApiDocsPlugin(OpenAPIRenderPlugin):
    """``/api/schema`` (the default page) and ``/api/schema/docs``."""

    def __init__(self) -> None:
        super().__init__(path=["/", "/docs"])

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        engine = request.app.template_engine
        assert isinstance(engine, JinjaTemplateEngine)  # the app's (app.py)
        info = openapi_schema.get("info", {})
        html: str = engine.engine.get_template("web/api_docs.html").render(
            actor=None, nav=[], path=request.url.path, lang=current_language.get(), info=info,
            tags=operations_by_tag(openapi_schema), schemas=schemas_of(openapi_schema),
        )
        return html.encode()
