"""Browser fixtures: Debian's chromium driven by Playwright (no downloaded browser), and the
app served for real on 127.0.0.1 by uvicorn in a thread."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn

from govsms.app import create_app
from govsms.db import make_engine, make_session_factory, session_scope
from govsms.migrate import upgrade
from govsms.settings import Settings
from tests.conftest import make_settings
from tests.web_helpers import free_port

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.browser


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if not CHROMIUM.exists() and os.environ.get("GOVSMS_REQUIRE_ALL_TESTS"):
        raise pytest.UsageError(f"browser tests need {CHROMIUM} (GOVSMS_REQUIRE_ALL_TESTS is set)")
    if not CHROMIUM.exists():
        for item in items:
            if "browser" in item.nodeid:
                item.add_marker(pytest.mark.skip(reason="browser tests need /usr/bin/chromium"))


@dataclass
class LiveServer:
    url: str
    settings: Settings

    def session(self):  # type: ignore[no-untyped-def]
        return session_scope(make_session_factory(make_engine(self.settings.resolved_database_url)))


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[LiveServer]:
    settings = make_settings(tmp_path)
    upgrade(settings.resolved_database_url)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_config=None, access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    yield LiveServer(url=f"http://127.0.0.1:{port}", settings=settings)
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):  # type: ignore[no-untyped-def]
    context = browser.new_context(locale="sv-SE")
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()
