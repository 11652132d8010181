"""Load on the API: N one-recipient ``POST /api/v1/messages`` over C keep-alive clients against
``govsms serve --with-worker`` (SMPP to the npm SMSC of tests/smsc, receipts on), counted at the
SMSC. A fresh database and account per backend; its first request is part of the run.

Targets (C=32, N=10,000): PostgreSQL >= 1,000 requests/s accepted, >= 600 SMS/s end to end,
p99 <= 150 ms; SQLite >= 500 requests/s, p99 <= 300 ms; both 0 errors, 0 duplicates at the SMSC.

    .venv/bin/python bench/api_load.py [--backend sqlite|postgresql|both] [-n 10000] [-c 32]
    PYTHONPATH=/tmp/other .venv/bin/python bench/api_load.py --repo /tmp/other   # another checkout's code
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections import Counter
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from tests.smsc.fixture import Smsc, _requirements  # noqa: E402

POSTGRES = os.environ.get("GOVSMS_BENCH_POSTGRES_URL") or "postgresql+psycopg://postgres@127.0.0.1:5432/test"
REQUEST_TIMEOUT = 30.0
QUIET_SECONDS = 15.0  # the wait for the SMSC ends after this long without a new submit_sm
PRICES = """
from datetime import UTC, datetime
from govsms.db import make_engine, make_session_factory, session_scope
from govsms.sending.pricing import seed_default_prices
from govsms.settings import Settings
with session_scope(make_session_factory(make_engine(Settings().resolved_database_url))) as session:
    seed_default_prices(session, now=datetime.now(UTC))
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """``govsms serve --with-worker`` of the checkout ``repo`` in its own data directory."""

    def __init__(self, repo: Path, workdir: Path, database_url: str | None, smsc: Smsc) -> None:
        self.workdir, self.port = workdir, free_port()
        self.log_path = workdir / "server.log"
        self.env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(repo), os.environ.get("PYTHONPATH")])))
        self.env.update(
            GOVSMS_DATA_DIR=str(workdir / "data"), GOVSMS_TRANSPORT="smpp", GOVSMS_SMPP_HOST=smsc.host,
            GOVSMS_SMPP_PORT=str(smsc.port), GOVSMS_SMPP_SYSTEM_ID=smsc.system_id, GOVSMS_SMPP_PASSWORD=smsc.password,
        )
        if database_url:
            self.env["GOVSMS_DATABASE_URL"] = database_url
        self.process: subprocess.Popen[bytes] | None = None

    def run(self, *args: str) -> str:
        """A short command of the checkout; its standard output."""
        done = subprocess.run([sys.executable, *args], cwd=self.workdir, env=self.env, capture_output=True, text=True, timeout=120)
        if done.returncode:
            raise RuntimeError(f"{' '.join(args[:4])} failed: {done.stderr.strip()[-2000:]}")
        return done.stdout.strip()

    def prepare(self) -> tuple[str, str]:
        """Schema, prices, a fresh account and a sender API key; (the key, where govsms comes from)."""
        code = self.run("-c", "import govsms; print(govsms.__file__)")
        self.run("-m", "govsms.cli", "init")
        self.run("-c", PRICES)
        self.run("-m", "govsms.cli", "account", "create", "Bench AB", "--admin-email", "admin@bench.example")
        key = self.run("-m", "govsms.cli", "apikey", "create", "--account", "Bench AB", "--name", "load", "--role", "sender")
        return key.splitlines()[-1], str(Path(code).parent)

    def start(self) -> None:
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "govsms.cli", "serve", "--with-worker", "--host", "127.0.0.1", "--port", str(self.port)],
                cwd=self.workdir, env=self.env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited ({self.process.returncode}): {self.log_path.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError("the server did not answer /health within 60 s")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)

    def problems(self) -> Counter[str]:
        """Warnings, errors and the exceptions of tracebacks in the server's log, by kind."""
        kinds: Counter[str] = Counter()
        for line in self.log_path.read_text(errors="replace").splitlines():
            if match := re.match(r"\S+ \S+ (WARNING|ERROR|CRITICAL)\s+(\S+) \[[^\]]*\] (.*)", line):
                kinds[f"{match[1]} {match[2]}: {_general(match[3])}"] += 1
            elif match := re.match(r"([A-Za-z_][\w.]*(?:Error|Exception|Timeout|Exit)\w*)(: .*)?$", line):
                kinds[f"exception {match[1]}{_general(match[2] or '')}"] += 1
        return kinds


def _general(message: str) -> str:
    """A log message without its times and ids, so that lines of one kind count together."""
    message = re.sub(r"\d{4}-\d\d-\d\d[ T][\d:.,]+\S*( [A-Z]{3,4}\b)?", "<time>", message)
    return re.sub(r"\b[0-9a-f]*\d[0-9a-f]{5,}\b", "<id>", message)[:120]


class SmscLog:
    """Reads the SMSC's JSONL log as it grows: accepted submit_sm per (destination, text)."""

    def __init__(self, path: Path) -> None:
        self.path, self.offset = path, 0
        self.seen: Counter[tuple[str, str]] = Counter()
        self.refused = 0
        self.last_at: float | None = None

    def read(self) -> int:
        with self.path.open("rb") as log:
            log.seek(self.offset)
            for line in log:
                if not line.endswith(b"\n"):
                    break  # being written right now
                self.offset += len(line)
                entry = json.loads(line)
                if entry["command_status"] != 0:
                    self.refused += 1
                    continue
                self.seen[(entry["destination_addr"], entry["short_message"])] += 1
                self.last_at = datetime.fromisoformat(entry["received_at"].replace("Z", "+00:00")).timestamp()
        return self.total

    @property
    def total(self) -> int:
        return sum(self.seen.values())

    @property
    def duplicates(self) -> int:
        return sum(count - 1 for count in self.seen.values() if count > 1)


async def load(port: int, key: str, requests: int, clients: int, deadline: float, run_id: str) -> tuple[Counter[str], list[float], float]:
    """Fire the requests over ``clients`` keep-alive connections; (outcomes, latencies, elapsed)."""
    outcomes: Counter[str] = Counter()
    latencies: list[float] = []
    next_index = iter(range(requests))
    head = f"POST /api/v1/messages HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\n"

    def request(index: int) -> bytes:
        body = json.dumps({"from": "Bench", "to": [f"+4670{index:07d}"], "text": f"Lasttest {run_id} nr {index}"}).encode()
        return f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body

    async def exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, payload: bytes) -> tuple[int, bool]:
        writer.write(payload)
        lines = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        headers = dict(line.lower().split(": ", 1) for line in lines[1:] if ": " in line)
        if headers.get("transfer-encoding") == "chunked":
            while size := int((await reader.readline()).strip(), 16):
                await reader.readexactly(size + 2)
            await reader.readline()
        else:
            await reader.readexactly(int(headers.get("content-length", 0)))
        return int(lines[0].split()[1]), headers.get("connection") == "close"

    async def client() -> None:
        connection = None
        for index in next_index:
            if time.monotonic() > deadline:
                outcomes["not sent (run time-out)"] += 1
                continue
            started = time.perf_counter()
            try:
                if connection is None:
                    connection = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), REQUEST_TIMEOUT)
                status, close = await asyncio.wait_for(exchange(*connection, request(index)), REQUEST_TIMEOUT)
            except TimeoutError:
                outcomes["time-out"] += 1
                close = True
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError, IndexError):
                outcomes["connection error"] += 1
                close = True
            else:
                outcomes[str(status)] += 1
                latencies.append(time.perf_counter() - started)
            if close and connection is not None:
                connection[1].close()
                connection = None
        if connection is not None:
            connection[1].close()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return outcomes, latencies, time.perf_counter() - started


def percentile(values: list[float], share: float) -> float:
    return values[min(len(values) - 1, int(share * len(values)))] if values else float("nan")


def bench(backend: str, database_url: str | None, args: argparse.Namespace, node: str) -> None:
    workdir = Path(tempfile.mkdtemp(prefix=f"api_load_{backend}_"))
    smsc = Smsc(node, workdir)
    server = None
    try:
        smsc.start()  # receipts on (smsc.js's default), no throttling
        server = Server(args.repo, workdir, database_url, smsc)
        key, code = server.prepare()
        server.start()
        run_id = uuid.uuid4().hex[:8]
        first_request = time.time()
        deadline = time.monotonic() + args.timeout
        outcomes, latencies, elapsed = asyncio.run(load(server.port, key, args.n, args.c, deadline, run_id))
        accepted = outcomes["201"]
        counted = SmscLog(smsc.log_path)
        quiet_since = time.monotonic()
        stop_at = max(deadline, quiet_since + QUIET_SECONDS)  # a trickle is waited for until the run's time is up
        while counted.total < accepted and time.monotonic() - quiet_since < QUIET_SECONDS and time.monotonic() < stop_at:
            before = counted.total
            if counted.read() > before:
                quiet_since = time.monotonic()
            time.sleep(0.25)
        counted.read()
        latencies.sort()
        ms = {name: 1000 * percentile(latencies, share) for name, share in (("p50", 0.50), ("p95", 0.95), ("p99", 0.99))}
        end_to_end = counted.last_at - first_request if counted.last_at else float("nan")
        print(f"  {backend} (N={args.n:,}, C={args.c}, govsms from {code}):")
        print(f"    accepted   {accepted:,} of {args.n:,} in {elapsed:.1f} s: {accepted / elapsed:,.1f} requests/s")
        print(f"    statuses   {', '.join(f'{name}: {count:,}' for name, count in sorted(outcomes.items()))}")
        print(
            f"    latency    p50 {ms['p50']:.0f} ms, p95 {ms['p95']:.0f} ms, p99 {ms['p99']:.0f} ms, "
            f"max {1000 * (latencies[-1] if latencies else float('nan')):.0f} ms ({len(latencies):,} answered)"
        )
        print(
            f"    SMSC       {counted.total:,} submit_sm accepted ({counted.refused:,} refused): {len(counted.seen):,} messages, "
            f"{counted.duplicates:,} duplicates; {counted.total / end_to_end:,.1f} SMS/s end to end "
            f"({end_to_end:.1f} s from the first request to the last submit_sm)"
        )
    finally:
        if server is not None and server.log_path.exists():
            server.stop()
            problems = server.problems()
            print(f"    server log {sum(problems.values()):,} warnings/errors/exceptions ({server.log_path})")
            for kind, count in problems.most_common(8):
                print(f"      {count:>6,} x {kind}")
        smsc.stop()
        shutil.rmtree(workdir / "data", ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("-n", type=int, default=10_000, help="requests (default 10,000)")
    parser.add_argument("-c", type=int, default=32, help="keep-alive clients (default 32)")
    parser.add_argument(
        "--timeout", type=float, default=300.0,
        help="seconds a backend's run may take (default 300): no request starts later, the wait for the SMSC ends then "
        "(or 15 s after the last request); requests under way get their 30 s",
    )
    parser.add_argument("--repo", type=Path, default=Path(__file__).resolve().parent.parent, help="checkout whose govsms is served")
    args = parser.parse_args()
    args.repo = args.repo.resolve()
    node = _requirements()
    print("POST /api/v1/messages, one recipient each, over keep-alive clients; worker -> SMPP SMSC (npm smpp) with receipts:")
    if args.backend in ("sqlite", "both"):
        bench("sqlite", None, args, node)
    if args.backend in ("postgresql", "both"):
        admin_url = make_url(POSTGRES).set(drivername="postgresql+psycopg")
        name = f"govsms_bench_{uuid.uuid4().hex[:8]}"
        try:
            admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
            with admin.connect() as connection:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
        except Exception as error:
            print(f"  (PostgreSQL not reachable: set GOVSMS_BENCH_POSTGRES_URL for its figures; {type(error).__name__})")
            return
        try:
            bench("postgresql", admin_url.set(database=name).render_as_string(hide_password=False), args, node)
        finally:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


if __name__ == "__main__":
    main()
