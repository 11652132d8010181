"""Several web processes on one port, each with a listening socket of its own (SO_REUSEPORT).

uvicorn's own ``workers=N`` shares one listening socket, and whichever process is first ready
accepts every connection waiting: a burst of keep-alive clients (an API load, a proxy's pool)
then lands on one process and its interpreter lock while the others idle (seen: 10,000 requests
to one process, 0 to the other). With a socket per process the kernel spreads new connections
over the processes by their address and port. The parent only watches: it starts the processes,
starts another if one dies, and stops them all on SIGINT or SIGTERM.
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from typing import Any

log = logging.getLogger(__name__)

BACKLOG = 2048
RESTARTS_PER_MINUTE = 5
"""More deaths than this in a minute is a process that cannot run (a setting, a database): stop."""


def _listening_socket(host: str, port: int, *, listen: bool) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    if listen:
        sock.listen(BACKLOG)
    return sock


SWITCH_INTERVAL = 0.001
"""Seconds a thread may hold the interpreter lock while another waits (Python's default: 0.005).
A thread back from the database waits for the lock up to this long, and the thread that writes
combined sends makes about ten round trips per batch while the loop parses requests."""


def tune_for_serving() -> None:
    """For a process that serves requests (not for tests, which build many apps): a shorter switch
    interval, and everything made so far (the modules, the app) is moved out of the garbage
    collector's view, so its full collections are short and pause no request for long."""
    sys.setswitchinterval(SWITCH_INTERVAL)
    gc.collect()
    gc.freeze()


def _web_process(host: str, port: int, ready: Any) -> None:  # pragma: no cover - runs in a child process
    import uvicorn

    from govsms.app import app_from_environment

    app = app_from_environment()
    tune_for_serving()
    # Listening starts when uvicorn has started the app; the processes started together wait for
    # each other first, so that no one of them takes every connection of a burst while the
    # others still load (a restarted process has nothing to wait for).
    if ready is not None:
        try:
            ready.wait(timeout=60)
        except threading.BrokenBarrierError:
            pass
    config = uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False, server_header=False, backlog=BACKLOG)
    uvicorn.Server(config).run(sockets=[_listening_socket(host, port, listen=False)])


def serve_processes(count: int, host: str, port: int) -> int:
    """Run ``count`` web processes on ``host:port`` until SIGINT or SIGTERM; the exit code."""
    try:
        # Bound, not listening: it keeps the port ours and fails early if another program has it,
        # and the kernel hands it no connections.
        reserved = _listening_socket(host, port, listen=False)
    except OSError as error:
        print(f"Cannot serve on {host}:{port}: {error.strerror or error}")
        return 1
    context = multiprocessing.get_context("spawn")
    stop = threading.Event()
    previous = {signum: signal.signal(signum, lambda *_: stop.set()) for signum in (signal.SIGINT, signal.SIGTERM)}

    ready = context.Barrier(count)

    def start(barrier: Any = None) -> Any:
        process = context.Process(target=_web_process, args=(host, port, barrier), name="govsms-web", daemon=False)
        process.start()
        return process

    processes = [start(ready) for _ in range(count)]
    deaths: list[float] = []
    code = 0
    try:
        while not stop.wait(0.5):
            for position, process in enumerate(processes):
                if process.is_alive():
                    continue
                deaths = [moment for moment in deaths if time.monotonic() - moment < 60] + [time.monotonic()]
                if len(deaths) > RESTARTS_PER_MINUTE:
                    print(f"Web processes keep stopping (the last with exit code {process.exitcode}); see the log above. Stopping.")
                    code = 1
                    stop.set()
                    break
                log.warning("web process %s stopped (exit code %s); starting another", process.pid, process.exitcode)
                processes[position] = start()
    finally:
        for process in processes:
            if process.is_alive() and process.pid is not None:
                os.kill(process.pid, signal.SIGTERM)
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
                process.join(timeout=5)
        reserved.close()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return code
