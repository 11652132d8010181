"""``make fuzz`` (``python -m tests.fuzz_api``): schemathesis against every API operation of a throwaway demo installation.

Starts ``govsms demo`` on the embedded SQLite in a fresh data dir and a free port, makes an API key
with every customer role, and runs schemathesis over ``/api/schema/openapi.json`` with it. Any 5xx
is a failure (``not_a_server_error``); the exit status is schemathesis's. The server's log is
printed when it logged an unhandled error. ``--max-examples N`` bounds the run (default 100 per
operation and phase: about a minute on two cores); ``--database-url`` runs it on an empty
PostgreSQL database instead; further arguments go to ``schemathesis run``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from pathlib import Path

from tests.web_helpers import free_port

BIN = Path(sys.executable).parent
CUSTOMER_ROLES = "admin,sender,dpo,auditor"


def wait_for(url: str, seconds: float, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"fuzz: the server stopped (exit {server.returncode}) before answering")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"fuzz: no answer from {url} within {seconds:.0f} s")


def seed(base: str, key: str) -> None:
    """Objects with ids 1, 2, 3, which the fuzzer's smallest ids then find: a group, contacts in
    it, a dispatch sent now and one scheduled (so reads, changes and cancelling get past 404)."""
    def call(method: str, path: str, body: dict[str, object]) -> None:
        request = urllib.request.Request(
            base + path, method=method, data=json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30):
            pass

    call("POST", "/api/v1/groups", {"name": "Fuzz"})
    for number in ("0701234561", "0701234562", "0701234563"):
        call("POST", "/api/v1/contacts", {"number": number, "name": "Fuzz", "group_ids": [1]})
    call("POST", "/api/v1/messages", {"from": "Fuzz", "text": "Hej", "group_ids": [1]})
    call("POST", "/api/v1/messages", {"from": "Fuzz", "text": "Hej", "to": ["0701234561"], "send_at": "2099-01-01T09:00:00+01:00"})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-examples", type=int, default=100, help="test cases per operation and phase (default 100)")
    parser.add_argument("--database-url", help="an empty database to use instead of the embedded SQLite (PostgreSQL)")
    parser.add_argument("--keep", action="store_true", help="keep the data dir and the server log")
    args, extra = parser.parse_known_args(argv)

    data_dir = Path(tempfile.mkdtemp(prefix="govsms-fuzz-"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {key: value for key, value in os.environ.items() if not key.startswith("GOVSMS_")}
    env.update(GOVSMS_DATA_DIR=str(data_dir), GOVSMS_HOST="127.0.0.1", GOVSMS_PORT=str(port), GOVSMS_PUBLIC_URL=base)
    if args.database_url:
        env["GOVSMS_DATABASE_URL"] = args.database_url
    log_path = data_dir / "server.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen([str(BIN / "govsms"), "demo"], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for(f"{base}/health", 120, server)
        key = subprocess.run(
            [str(BIN / "govsms"), "apikey", "create", "--account", "Demo AB", "--name", "fuzz", "--role", CUSTOMER_ROLES],
            env=env, check=True, capture_output=True, text=True,
        ).stdout.strip()
        seed(base, key)
        command = [
            str(BIN / "schemathesis"), "--no-color", "run", f"{base}/api/schema/openapi.json",
            "--header", f"Authorization: Bearer {key}",
            "--checks", "not_a_server_error",
            "--max-examples", str(args.max_examples),
            "--workers", "1",  # one client: a 503 from our own load would say nothing about the input
            "--request-timeout", "60",
            "--seed", "20261130",
            "--suppress-health-check", "all",
            *extra,
        ]
        print("fuzz:", " ".join(part if not part.startswith("Authorization") else "'Authorization: Bearer …'" for part in command[1:]), flush=True)
        status = subprocess.run(command, env=env, cwd=data_dir).returncode  # its cache goes with the data dir
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
    server_log = log_path.read_text(errors="replace")
    unhandled = server_log.count("unhandled ")
    answers = Counter(line.rsplit(" ", 1)[-1][:1] + "xx" for line in server_log.splitlines() if "govsms.access" in line)
    print(f"fuzz: the server answered {sum(answers.values())} requests ({', '.join(f'{count} {kind}' for kind, count in sorted(answers.items()))}); "
          f"it logged {unhandled} unhandled error(s)")
    if unhandled:
        print(server_log[-20_000:])
    if args.keep:
        print(f"fuzz: data dir and server log kept in {data_dir}")
    else:
        shutil.rmtree(data_dir, ignore_errors=True)
    return status or (1 if unhandled or answers["5xx"] else 0)


if __name__ == "__main__":
    raise SystemExit(main())
