"""The API documentation works offline (issue 15 item 12): the page at /api/schema is rendered
here from the OpenAPI schema, with no script and no address outside the service in it; no
renderer that loads assets from a CDN (Swagger UI, ReDoc, ...) is served."""

from __future__ import annotations

import re

from litestar.testing import TestClient


def test_the_api_docs_page_names_no_address_outside_the_service(client: TestClient) -> None:
    schema = client.get("/api/schema/openapi.json").json()
    for path in ("/api/schema", "/api/schema/docs"):
        page = client.get(path)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html"), path
        html = page.text
        # Nothing fetched or linked from elsewhere: every src and href stays in the service.
        assert "<script" not in html.lower()
        assert re.findall(r"(?i)https?:|//[a-z0-9.-]+\.[a-z]{2,}", html) == []
        references = re.findall(r'(?:src|href|action)="([^"]*)"', html)
        assert references and all(ref.startswith(("/", "#")) and not ref.startswith("//") for ref in references), references
        assert 'href="/static/app.css"' in html
        # It documents every operation of the schema, in the page's language (Swedish by default).
        for route, item in schema["paths"].items():
            for method in item:
                if method in ("get", "post", "put", "patch", "delete"):
                    assert f"<code>{method.upper()} {route}</code>" in html, (method, route)
        assert 'lang="sv"' in html
    for renderer in ("swagger", "redoc", "elements", "rapidoc", "stoplight", "scalar"):
        assert client.get(f"/api/schema/{renderer}").status_code == 404, renderer
