"""`govsms demo` (what `make run` starts): seeds once, prints the logins, every one works in
Chromium, Ctrl-C stops it cleanly, and a second start keeps the data."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from playwright.sync_api import Page, expect

from tests import sensitive
from tests.browser.conftest import free_port

GOVSMS = Path(sys.executable).parent / "govsms"
LOGIN_LINE = re.compile(r"^\s+(admin|sender|dpo|auditor|operator)\s+(\S+@\S+)\s+(\S+)\s+\(", re.MULTILINE)


def start_demo(data_dir: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("GOVSMS_")}
    env.update(GOVSMS_DATA_DIR=str(data_dir), PYTHONUNBUFFERED="1")
    process = subprocess.Popen(
        [str(GOVSMS), "demo", "--port", str(port)], env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.05)
    process.kill()
    raise AssertionError(f"govsms demo did not start:\n{log.read_text()}")


def stop(process: subprocess.Popen[bytes]) -> int:
    process.send_signal(signal.SIGINT)
    return process.wait(timeout=30)


def test_demo_logins_work_and_data_survives_a_restart(page: Page, tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    first = start_demo(tmp_path / "var", port, tmp_path / "first.log")
    try:
        output = (tmp_path / "first.log").read_text()
        logins = {role: (email, sensitive.register(password)) for role, email, password in LOGIN_LINE.findall(output)}
        assert set(logins) == {"admin", "sender", "dpo", "auditor", "operator"}, output
        assert oct((tmp_path / "var" / "keys.json").stat().st_mode & 0o777) == "0o600"
        for _role, (email, password) in logins.items():
            page.goto(f"{url}/login")
            page.get_by_label("E-postadress").fill(email)
            page.get_by_label("Lösenord").fill(password)
            page.get_by_role("button", name="Logga in").click()
            expect(page.get_by_role("heading", level=1)).to_contain_text("Välkommen")
            page.get_by_role("button", name="Logga ut").click()
            expect(page.get_by_role("heading", name="Logga in i govsms")).to_be_visible()
    finally:
        assert stop(first) == 0
    second = start_demo(tmp_path / "var", port, tmp_path / "second.log")
    try:
        output = (tmp_path / "second.log").read_text()
        assert "exists already" in output and not LOGIN_LINE.search(output)
        email, password = logins["admin"]
        page.goto(f"{url}/login")
        page.get_by_label("E-postadress").fill(email)
        page.get_by_label("Lösenord").fill(password)
        page.get_by_role("button", name="Logga in").click()
        expect(page.get_by_role("navigation", name="Huvudmeny").get_by_role("link", name="Användare")).to_be_visible()
    finally:
        assert stop(second) == 0
    log_text = (tmp_path / "first.log").read_text() + (tmp_path / "second.log").read_text()
    for _, password in logins.values():
        assert log_text.count(password) <= 1  # printed once on the console, never logged
