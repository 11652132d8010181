"""``govsms serve``, ``govsms demo`` and ``govsms worker``: the commands that run until stopped."""

from __future__ import annotations

import argparse
import signal
import threading

from govsms.cli.command import Commands, add_command, now, session_factory
from govsms.cli.db import cmd_init
from govsms.settings import Settings


def _serve(settings: Settings, host: str, port: int, *, worker: bool) -> int:
    import uvicorn

    from govsms.app import create_app

    settings.check_production()  # before any process starts, so the refusal is this command's
    processes = settings.web_processes
    if processes == 1:
        from govsms.serve import tune_for_serving

        app = create_app(settings, worker=worker)
        tune_for_serving()
        print(f"govsms is serving on http://{host}:{port}/  (Ctrl-C stops it)", flush=True)
        uvicorn.run(app, host=host, port=port, log_config=None, access_log=False, server_header=False)
        return 0
    # Several web processes (each with its own interpreter lock and listening socket); the worker
    # and scheduler run once, here in the process that watches them.
    background = None
    if worker and settings.scheduler_enabled:
        from govsms.keys.ring import load_key_ring
        from govsms.worker import Worker

        background = Worker(settings, session_factory(settings), load_key_ring(settings))
        background.start()
    print(f"govsms is serving on http://{host}:{port}/ with {processes} processes  (Ctrl-C stops it)", flush=True)
    from govsms.serve import serve_processes

    try:
        return serve_processes(processes, host, port)
    finally:
        if background is not None:
            background.stop()


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    if args.processes:
        settings = settings.model_copy(update={"processes": args.processes})
    return _serve(settings, args.host or settings.host, args.port or settings.port, worker=args.with_worker)


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    from govsms.db import protect_data_dir
    from govsms.keys.ring import load_key_ring
    from govsms.worker import Worker

    protect_data_dir(settings.data_dir)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    worker = Worker(settings, session_factory(settings), load_key_ring(settings))
    worker.start()
    print(f"govsms worker is running with the {settings.transport} transport (Ctrl-C stops it).", flush=True)
    stop.wait()
    worker.stop()
    print("govsms worker stopped.")
    return 0


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from govsms.db import session_scope
    from govsms.demo import DEMO_ACCOUNT, demo_exists, seed_demo

    cmd_init(args, settings)
    with session_scope(session_factory(settings)) as session:
        logins = None if demo_exists(session) else seed_demo(session, now=now())
    if logins:
        print("\nDemo data created. These passwords are shown only now; note them:\n")
        for login in logins:
            print(f"  {login.role.value:<9} {login.email:<28} {login.password}   ({login.account})")
        print()
    else:
        print(
            f"\nThe demo account {DEMO_ACCOUNT!r} exists already; its logins were printed on the first run.\n"
            "Set a new password with:  govsms user set-password --email admin@demo-ab.example\n"
        )
    host, port = args.host or settings.host, args.port or settings.port
    if args.processes:
        settings = settings.model_copy(update={"processes": args.processes})
    print(f"Log in at http://{host}:{port}/login")
    return _serve(settings, host, port, worker=True)


def register(commands: Commands) -> None:
    for name, handler, help in (
        ("serve", cmd_serve, "Serve the UI and the API."),
        ("demo", cmd_demo, "Initialise, seed the demo account once, and serve with the worker."),
    ):
        sub = add_command(commands, name, handler, help)
        sub.add_argument("--host", default=None)
        sub.add_argument("--port", type=int, default=None)
        sub.add_argument(
            "--processes", type=int, default=None,
            help="Web processes (default GOVSMS_PROCESSES: one per core on PostgreSQL, one on SQLite).",
        )
        if name == "serve":
            sub.add_argument("--with-worker", action="store_true", help="Also run the scheduler in this process.")
    add_command(commands, "worker", cmd_worker, "Run the scheduler and background jobs.")
