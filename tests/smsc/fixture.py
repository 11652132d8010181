"""The ``smsc`` fixture: an independent SMPP 3.4 SMSC (``tests/smsc/smsc.js``, node-smpp) in a
separate process, on a free loopback port, logging every submit_sm it receives.

Needs ``node`` and ``npm ci --prefix tests/smsc`` (its ``node_modules``); without them the test is
skipped with a reason that says so. Import it where it is used::

    from tests.smsc.fixture import smsc  # noqa: F401
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "smsc.js"
START_TIMEOUT = 10.0


class Smsc:
    """A running ``smsc.js``. Options are ``smsc.js``'s (``throttle_every=3``,
    ``rate_limit=500``, ``resp_delay_ms=50``, ``receipts=False``, ``receipt_stats={...}``, ...);
    ``restart(**options)`` changes them, keeping the port and the log."""

    host = "127.0.0.1"
    system_id = "govsms"
    password = "s3cret"  # SMPP passwords are at most 8 characters

    def __init__(self, node: str, workdir: Path) -> None:
        self._node = node
        self._workdir = workdir
        self.log_path = workdir / "submits.jsonl"
        self.log_path.touch()
        self.mo_log_path = workdir / "mo.jsonl"
        self.mo_log_path.touch()
        self.port = 0
        self.options: dict[str, Any] = {}
        self._process: subprocess.Popen[bytes] | None = None
        self._starts = 0

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self, **options: Any) -> None:
        if self.running:
            raise RuntimeError("the SMSC is already running")
        self.options.update(options)
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            error = self._spawn()
            if error is None:
                return
            # Restarting on the same port can race the old socket's release; try again briefly.
            if "EADDRINUSE" not in error or time.monotonic() > deadline:
                raise RuntimeError(f"smsc.js did not start: {error}")
            time.sleep(0.1)

    def stop(self, *, kill: bool = False) -> None:
        """Stop the SMSC (SIGTERM, or SIGKILL with ``kill=True``: a crash). Connections drop."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        if process.stdin is not None:
            process.stdin.close()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)

    def restart(self, *, kill: bool = False, **options: Any) -> None:
        """Stop and start again on the same port with the same log (plus any changed options).
        Whatever the old process had not yet answered or receipted is gone, as in a real crash."""
        self.stop(kill=kill)
        self.start(**options)

    def drop_connections(self) -> None:
        """Close every ESME connection but keep listening (SIGUSR2)."""
        if self._process is None:
            raise RuntimeError("the SMSC is not running")
        self._process.send_signal(signal.SIGUSR2)

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    # -- what arrived ------------------------------------------------------------------------

    def received(self) -> list[dict[str, Any]]:
        """Every submit_sm the SMSC received, in order, across restarts: one dict per log line
        (``message_id`` is None and ``command_status`` non-zero for refused ones), with
        ``short_message`` as bytes (the log holds hex)."""
        entries = []
        with self.log_path.open(encoding="utf-8") as log:
            for line in log:
                if not line.endswith("\n"):
                    break  # a line being written right now
                entry = json.loads(line)
                entry["short_message"] = bytes.fromhex(entry["short_message"])
                entries.append(entry)
        return entries

    def accepted(self) -> list[dict[str, Any]]:
        """The received submit_sm that were answered with ESME_ROK."""
        return [entry for entry in self.received() if entry["command_status"] == 0]

    # -- mobile originated SMS ---------------------------------------------------------------

    def deliver(self, *messages: dict[str, Any]) -> None:
        """Originate SMS (``smsc.js``'s "deliver" command): each a dict with ``source`` (digits),
        ``destination``, ``text`` and optionally ``coding`` (gsm7|ucs2|latin1), ``split``
        (udh8|udh16|sar), ``parts``, ``ref``, ``order`` (0-based part indexes in sending order),
        ``payload`` (in message_payload), ``source_ton``."""
        self._command({"cmd": "deliver", "messages": list(messages)})

    def deliver_bulk(self, count: int, *, source_start: int, destination: str, text: str) -> None:
        """``count`` single GSM-7 SMS from ``source_start + i`` with the text ``f"{text} {i}"``."""
        self._command({"cmd": "bulk", "count": count, "source_start": source_start, "destination": destination, "text": text})

    def mo_events(self) -> list[dict[str, Any]]:
        """The mo log: ``queued`` per originated part, ``answered`` per deliver_sm_resp (receipts too)."""
        entries = []
        with self.mo_log_path.open(encoding="utf-8") as log:
            for line in log:
                if not line.endswith("\n"):
                    break
                entries.append(json.loads(line))
        return entries

    def mo_queued(self) -> list[str]:
        """Ids of the originated parts, in the order they were queued."""
        return [entry["id"] for entry in self.mo_events() if entry["event"] == "queued"]

    def mo_acknowledged(self) -> set[str]:
        """Ids of the originated parts answered ESME_ROK."""
        return {e["id"] for e in self.mo_events() if e["event"] == "answered" and e["kind"] == "mo" and e["status"] == 0}

    def mo_answers(self, status: int) -> int:
        """How many deliver_sm of originated SMS were answered with ``status``."""
        return sum(1 for e in self.mo_events() if e["event"] == "answered" and e["kind"] == "mo" and e["status"] == status)

    def _command(self, command: dict[str, Any]) -> None:
        process = self._process
        if process is None or process.stdin is None:
            raise RuntimeError("the SMSC is not running")
        process.stdin.write(json.dumps(command).encode() + b"\n")
        process.stdin.flush()

    # -- internals ---------------------------------------------------------------------------

    def _spawn(self) -> str | None:
        self._starts += 1
        out = self._workdir / f"smsc-{self._starts}.out"
        err = self._workdir / f"smsc-{self._starts}.err"
        args = [
            self._node,
            str(SCRIPT),
            f"--host={self.host}",
            f"--port={self.port}",
            f"--system_id={self.system_id}",
            f"--password={self.password}",
            f"--log={self.log_path}",
            f"--mo_log={self.mo_log_path}",
        ]
        args += [f"--{key}={_option(value)}" for key, value in self.options.items()]
        with out.open("wb") as stdout, err.open("wb") as stderr:
            process = subprocess.Popen(args, cwd=HERE, stdout=stdout, stderr=stderr, stdin=subprocess.PIPE)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if process.poll() is not None:
                return err.read_text(errors="replace").strip() or f"exit code {process.returncode}"
            for line in out.read_text(errors="replace").splitlines():
                if line.startswith("LISTENING "):
                    port = int(line.split()[1])
                    if _accepts(self.host, port):
                        self.port = port
                        self._process = process
                        return None
            time.sleep(0.02)
        process.kill()
        process.wait()
        return f"no LISTENING line within {START_TIMEOUT:.0f} s"


def _option(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, dict):
        return ",".join(f"{key}={item}" for key, item in value.items())
    if isinstance(value, (list, tuple, set)):
        return ",".join(str(item) for item in value)
    return str(value)


def _accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def _requirements() -> str:
    """The node executable, or skip the test saying what is missing (fail instead when
    GOVSMS_REQUIRE_ALL_TESTS is set, as CI does: a missing install step must not pass)."""
    missing = pytest.fail if os.environ.get("GOVSMS_REQUIRE_ALL_TESTS") else pytest.skip
    node = shutil.which("node")
    if node is None:
        missing("the test SMSC needs Node.js: `node` is not on PATH")
    if not (HERE / "node_modules" / "smpp").is_dir():
        missing(f"the test SMSC needs its npm packages: run `npm ci --prefix {os.path.relpath(HERE)}`")
    return node  # type: ignore[return-value]


@pytest.fixture
def smsc(tmp_path: Path) -> Iterator[Smsc]:
    """A fresh SMSC per test (function scope), stopped afterwards."""
    node = _requirements()
    workdir = tmp_path / "smsc"
    workdir.mkdir()
    server = Smsc(node, workdir)
    server.start()
    try:
        yield server
    finally:
        server.stop()
