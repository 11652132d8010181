"""What `make run` (``govsms demo``) writes while it starts: the DPA renderer (WeasyPrint) is
loaded in the background, and the log says it is ready, with no WeasyPrint error, warning or
traceback anywhere in it (issue 15 item 12)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

from govsms.dpa import render
from tests.web_helpers import free_port

GOVSMS = Path(sys.executable).parent / "govsms"
READY = "PDF rendering ready"
TROUBLE = re.compile(r"(?i:weasyprint could not|warm-up failed|cannot be made|traceback)|\b(?:ERROR|CRITICAL)\b|Pango-|GLib-|Fontconfig")
"""A WeasyPrint complaint, a failed warm-up, a traceback, a line logged as an error, or a system
library's warning (fonts, Pango): none belongs in the startup log."""


def test_the_demo_starts_with_pdf_rendering_ready_and_no_weasyprint_error(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("GOVSMS_")}
    env["GOVSMS_DATA_DIR"] = str(tmp_path / "var")
    server = subprocess.Popen(
        [str(GOVSMS), "demo", "--port", str(free_port())], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    settled = threading.Event()

    def read() -> None:
        assert server.stdout is not None
        for line in server.stdout:
            lines.append(line)
            if READY in line or TROUBLE.search(line):
                settled.set()
        settled.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        settled.wait(90)  # the renderer loads once the server has been idle 2 s
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        reader.join(10)
    log = "".join(lines)
    assert READY in log, log[-3000:]
    assert [line for line in lines if TROUBLE.search(line)] == []
    # Only the renderer's own line names WeasyPrint.
    assert [line for line in lines if "weasyprint" in line.lower()] == [line for line in lines if READY in line]


def test_warm_up_reports_missing_libraries_in_one_line(monkeypatch, caplog) -> None:  # type: ignore[no-untyped-def]
    # A machine without Pango: WeasyPrint's import fails with OSError (and prints its own
    # complaint to standard output); the log gets one line that says what to install.
    import builtins

    real_import = builtins.__import__

    def without_weasyprint(name, *args, **kwargs):  # type: ignore[no-untyped-def]
        if name == "weasyprint":
            print("WeasyPrint could not import some external libraries.")  # noqa: T201 - what WeasyPrint does
            raise OSError("cannot load library 'libpango-1.0-0'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", without_weasyprint)
    caplog.set_level("INFO", logger="govsms.dpa.render")
    assert render.warm_up() is False
    [record] = [record for record in caplog.records if record.name == "govsms.dpa.render"]
    assert record.levelname == "WARNING" and "apt-get install" in record.getMessage() and record.exc_info is None
