"""The ``govsms`` command: thin wrappers over the services (see ``govsms --help``)."""

from __future__ import annotations

import argparse
import getpass
import signal
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from govsms.accounts.actor import Actor
from govsms.accounts.roles import Role
from govsms.errors import GovsmsError
from govsms.settings import Settings

Handler = Callable[[argparse.Namespace, Settings], int]


def _now() -> datetime:
    return datetime.now(UTC)


def _session_factory(settings: Settings):  # type: ignore[no-untyped-def]
    from govsms.db import make_engine, make_session_factory
    from govsms.keyring import load_key_ring
    from govsms.keystore import make_vault

    return make_session_factory(make_engine(settings.resolved_database_url), vault=make_vault(settings, load_key_ring(settings)))


def _read_password(prompt: str) -> str:
    if sys.stdin.isatty():
        first = getpass.getpass(prompt)
        if getpass.getpass("Repeat: ") != first:
            raise GovsmsError("The two passwords differ; nothing was changed.")
        return first
    return sys.stdin.readline().rstrip("\r\n")


def cmd_init(args: argparse.Namespace, settings: Settings) -> int:
    from govsms.keyring import write_key_file
    from govsms.migrate import upgrade

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if settings.master_keys and settings.secret_key:
        print("Keys come from GOVSMS_MASTER_KEYS and GOVSMS_SECRET_KEY; no key file written.")
    elif write_key_file(settings.key_file):
        print(f"Wrote new keys to {settings.key_file} (mode 0600). Back it up apart from the database.")
    else:
        print(f"Keys exist already in {settings.key_file}; left as they are.")
    upgrade(settings.resolved_database_url)
    print("Database schema is up to date.")
    return 0


def cmd_db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    from govsms.migrate import upgrade

    upgrade(settings.resolved_database_url, args.revision)
    print("Database schema is up to date.")
    return 0


def _serve(settings: Settings, host: str, port: int, *, worker: bool) -> int:
    import uvicorn

    from govsms.app import create_app

    app = create_app(settings, worker=worker)
    print(f"govsms is serving on http://{host}:{port}/  (Ctrl-C stops it)", flush=True)
    uvicorn.run(app, host=host, port=port, log_config=None, access_log=False, server_header=False)
    return 0


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    return _serve(settings, args.host or settings.host, args.port or settings.port, worker=args.with_worker)


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    from govsms.scheduler import build_scheduler

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    from govsms.keyring import load_key_ring

    scheduler = build_scheduler(settings, _session_factory(settings), load_key_ring(settings))
    scheduler.start()
    print("govsms worker is running (Ctrl-C stops it).", flush=True)
    stop.wait()
    scheduler.shutdown(wait=True)
    print("govsms worker stopped.")
    return 0


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from govsms.db import session_scope
    from govsms.demo import DEMO_ACCOUNT, demo_exists, seed_demo

    cmd_init(args, settings)
    with session_scope(_session_factory(settings)) as session:
        logins = None if demo_exists(session) else seed_demo(session, now=_now())
    if logins:
        print(f"\nDemo data created. These passwords are shown only now; note them:\n")
        for login in logins:
            print(f"  {login.role.value:<9} {login.email:<28} {login.password}   ({login.account})")
        print()
    else:
        print(
            f"\nThe demo account {DEMO_ACCOUNT!r} exists already; its logins were printed on the first run.\n"
            "Set a new password with:  govsms user set-password --email admin@demo-ab.example\n"
        )
    host, port = args.host or settings.host, args.port or settings.port
    print(f"Log in at http://{host}:{port}/login")
    return _serve(settings, host, port, worker=True)


def cmd_account_create(args: argparse.Namespace, settings: Settings) -> int:
    from govsms.accounts.service import create_account
    from govsms.db import session_scope

    with session_scope(_session_factory(settings)) as session:
        account = create_account(
            session,
            name=args.name,
            org_number=args.org_number,
            billing_address=args.billing_address,
            billing_email=args.billing_email,
            admin_email=args.admin_email,
            ops_email=args.ops_email,
            is_provider=args.provider,
            now=_now(),
        )
        print(f"Created account {account.name!r} (id {account.id}).")
    return 0


def cmd_account_list(args: argparse.Namespace, settings: Settings) -> int:
    from sqlmodel import select

    from govsms.accounts.models import Account
    from govsms.db import session_scope

    with session_scope(_session_factory(settings)) as session:
        for account in session.exec(select(Account).order_by(Account.name)):
            kind = "provider" if account.is_provider else "customer"
            print(f"{account.id:>5}  {kind:<8}  {account.org_number:<14} {account.name}")
    return 0


def cmd_user_create(args: argparse.Namespace, settings: Settings) -> int:
    from govsms.accounts.service import create_user, get_account_by_name
    from govsms.db import session_scope

    roles = {Role(name) for value in args.role for name in value.split(",") if name}
    password = _read_password(f"Password for {args.email}: ")
    with session_scope(_session_factory(settings)) as session:
        account = get_account_by_name(session, args.account)
        user = create_user(
            session,
            Actor.system(account.id, account.name),  # type: ignore[arg-type]
            email=args.email,
            password=password,
            roles=roles,
            display_name=args.name or "",
            language=args.language,
            now=_now(),
        )
        print(f"Created user {user.email} in {account.name!r} with roles {user.roles}.")
    return 0


def cmd_user_set_password(args: argparse.Namespace, settings: Settings) -> int:
    from govsms.accounts.service import set_password_by_email
    from govsms.db import session_scope

    password = _read_password(f"New password for {args.email}: ")
    with session_scope(_session_factory(settings)) as session:
        set_password_by_email(session, email=args.email, password=password, now=_now())
    print(f"Password set for {args.email}; the user's sessions were ended and any lockout lifted.")
    return 0


def cmd_apikey_create(args: argparse.Namespace, settings: Settings) -> int:
    from govsms.accounts.apikey import create_api_key
    from govsms.accounts.service import get_account_by_name
    from govsms.db import session_scope

    roles = {Role(name) for value in args.role for name in value.split(",") if name}
    with session_scope(_session_factory(settings)) as session:
        account = get_account_by_name(session, args.account)
        actor = Actor.system(account.id, account.name)  # type: ignore[arg-type]
        _, key = create_api_key(session, actor, name=args.name, roles=roles, now=_now())
    print(key)
    print(f"(API key {args.name!r} for {args.account!r}; shown only now.)", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="govsms", description="govsms: an SMS service built around data protection.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(parent: argparse._SubParsersAction, name: str, handler: Handler, help: str) -> argparse.ArgumentParser:  # type: ignore[type-arg]
        sub = parent.add_parser(name, help=help, description=help)
        sub.set_defaults(handler=handler)
        return sub

    add(commands, "init", cmd_init, "Create the data directory, the key file and the database schema.")
    db = commands.add_parser("db", help="Database schema.").add_subparsers(dest="db_command", required=True, metavar="COMMAND")
    upgrade = add(db, "upgrade", cmd_db_upgrade, "Apply the Alembic migrations.")
    upgrade.add_argument("revision", nargs="?", default="head")
    role_names = ", ".join(role.value for role in Role)
    for name, handler, help in (
        ("serve", cmd_serve, "Serve the UI and the API."),
        ("demo", cmd_demo, "Initialise, seed the demo account once, and serve with the worker."),
    ):
        sub = add(commands, name, handler, help)
        sub.add_argument("--host", default=None)
        sub.add_argument("--port", type=int, default=None)
        if name == "serve":
            sub.add_argument("--with-worker", action="store_true", help="Also run the scheduler in this process.")
    add(commands, "worker", cmd_worker, "Run the scheduler and background jobs.")

    account = commands.add_parser("account", help="Customer accounts.").add_subparsers(dest="sub", required=True, metavar="COMMAND")
    create = add(account, "create", cmd_account_create, "Create a customer account (billing details only).")
    create.add_argument("name")
    create.add_argument("--org-number", default="")
    create.add_argument("--billing-address", default="")
    create.add_argument("--billing-email")
    create.add_argument("--admin-email")
    create.add_argument("--ops-email")
    create.add_argument("--provider", action="store_true", help="The provider's own account (operators).")
    add(account, "list", cmd_account_list, "List accounts.")

    user = commands.add_parser("user", help="Users.").add_subparsers(dest="sub", required=True, metavar="COMMAND")
    create = add(user, "create", cmd_user_create, "Create a user; the password is read from standard input.")
    create.add_argument("--account", required=True)
    create.add_argument("--email", required=True)
    create.add_argument("--role", action="append", required=True, help=f"One of {role_names}; repeat or comma-separate.")
    create.add_argument("--name")
    create.add_argument("--language", default="sv", choices=["sv", "en"])
    reset = add(user, "set-password", cmd_user_set_password, "Set a user's password (from standard input).")
    reset.add_argument("--email", required=True)

    apikey = commands.add_parser("apikey", help="API keys.").add_subparsers(dest="sub", required=True, metavar="COMMAND")
    create = add(apikey, "create", cmd_apikey_create, "Create an API key and print it once.")
    create.add_argument("--account", required=True)
    create.add_argument("--name", required=True)
    create.add_argument("--role", action="append", default=None, help=f"Default sender; one of {role_names}.")
    return parser


def main(argv: list[str] | None = None) -> int:
    from govsms.i18n import language
    from govsms.log import configure_logging

    args = build_parser().parse_args(argv)
    if getattr(args, "role", None) is None and hasattr(args, "role"):
        args.role = ["sender"]
    try:
        settings = Settings()
        configure_logging(settings.log_level, settings.log_format)
        for value in getattr(args, "role", None) or []:
            for name in value.split(","):
                if name and name not in {role.value for role in Role}:
                    raise GovsmsError(f"Unknown role {name!r}; choose from {', '.join(role.value for role in Role)}.")
        with language("en"):  # the CLI speaks English, like its own output
            return args.handler(args, settings)
    except GovsmsError as error:
        print(f"govsms: {error.message}", file=sys.stderr)
        for field, problem in error.fields.items():
            print(f"  {field}: {problem}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
