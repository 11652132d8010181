"""The ``govsms`` command: thin wrappers over the services (see ``govsms --help``)."""

from __future__ import annotations

import argparse
import getpass
import os
import signal
import sys
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from govsms.auth import Actor, Role
from govsms.clock import SYSTEM_CLOCK
from govsms.errors import GovsmsError
from govsms.settings import Settings

Handler = Callable[[argparse.Namespace, Settings], int]


def _now() -> datetime:
    """The CLI's one read of the clock."""
    return SYSTEM_CLOCK.now()


def _session_factory(settings: Settings):  # type: ignore[no-untyped-def]
    from govsms.db import make_engine, make_session_factory
    from govsms.keys.ring import load_key_ring
    from govsms.keys.store import make_vault

    return make_session_factory(make_engine(settings.resolved_database_url), vault=make_vault(settings, load_key_ring(settings)))


def _read_password(prompt: str) -> str:
    if sys.stdin.isatty():
        first = getpass.getpass(prompt)
        if getpass.getpass("Repeat: ") != first:
            raise GovsmsError("The two passwords differ; nothing was changed.")
        return first
    return sys.stdin.readline().rstrip("\r\n")


def cmd_init(args: argparse.Namespace, settings: Settings) -> int:
    from govsms.db import protect_data_dir
    from govsms.keys.ring import write_key_file

    protect_data_dir(settings.data_dir, create=True)  # 0700, whatever the umask
    if settings.master_keys and settings.secret_key and settings.audit_signing_key:
        print("Keys come from GOVSMS_MASTER_KEYS, GOVSMS_SECRET_KEY and GOVSMS_AUDIT_SIGNING_KEY; no key file written.")
    elif write_key_file(settings.key_file):
        print(f"Wrote new keys to {settings.key_file} (mode 0600). Back it up apart from the database.")
    else:
        print(f"Keys exist already in {settings.key_file}; left as they are.")
    _upgrade_all(settings, "head")
    return 0


def _upgrade_all(settings: Settings, revision: str) -> None:
    """The main database, and the key store's own database when there is one (it carries the
    same schema; only its key tables are used)."""
    from govsms.migrate import upgrade

    upgrade(settings.resolved_database_url, revision)
    print("Database schema is up to date.")
    if settings.keystore_url:
        upgrade(settings.keystore_url, revision)
        print("Key store schema is up to date.")
    if revision == "head":
        from govsms.errors import ConfigurationError

        try:
            sealed = seal_clear_senders_step(settings)
        except ConfigurationError as missing:
            print(f"Mobile-number senders stored in clear before this release stay so until this runs with the keys: {missing.message}")
        else:
            if sealed:
                print(f"Sealed the mobile-number sender of {sealed} earlier dispatches.")
    seal_clear_groups_step(settings, revision)


def _truncate_sqlite_wal(engine: Any) -> None:
    """After a data step replaced clear values: on SQLite, checkpoint the WAL and truncate it, so
    the clear values leave it too (secure_delete overwrites the freed pages of the database)."""
    if engine.dialect.name != "sqlite":
        return
    raw = engine.raw_connection()  # outside any transaction, as a checkpoint must be
    try:
        raw.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        raw.close()


def seal_clear_senders_step(settings: Settings) -> int:
    """The data part of the senders migration, which holds no keys: seal the mobile-number
    senders stored in clear before, a batch per transaction (resumable); on SQLite the WAL is
    then checkpointed and truncated, so the clear numbers leave it too. Clients' Idempotency-Keys
    stored in clear before are replaced by their keyed form in the same pass. Returns how many
    dispatches it sealed; 0 once done."""
    from govsms.db import make_engine, make_session_factory, session_scope
    from govsms.keys.ring import load_key_ring
    from govsms.keys.store import make_vault
    from govsms.sending.dispatch import key_clear_idempotency_keys
    from govsms.sending.sender_numbers import seal_clear_senders

    keys = load_key_ring(settings)
    engine = make_engine(settings.resolved_database_url)
    try:
        factory = make_session_factory(engine, vault=make_vault(settings, keys))
        total, changed = 0, False
        while True:
            with session_scope(factory) as session:
                done = seal_clear_senders(session, now=_now())
                keyed = key_clear_idempotency_keys(session, now=_now())  # clear client keys of the same rows
            if not done and not keyed:
                break
            total += done
            changed = True
        if changed:
            _truncate_sqlite_wal(engine)
    finally:
        engine.dispose()
    return total


def seal_clear_groups_step(settings: Settings, revision: str) -> int:
    """The data part of the group-names migration, which holds no keys: seal the group names and
    descriptions stored in clear before, a batch per transaction (resumable); on SQLite the WAL
    is then checkpointed and truncated, so the clear names leave it too. Returns how many."""
    from govsms.contacts.groups import seal_clear_groups
    from govsms.db import make_engine, make_session_factory, session_scope
    from govsms.errors import ConfigurationError
    from govsms.keys.ring import load_key_ring
    from govsms.keys.store import make_vault

    if revision != "head":
        return 0
    try:
        keys = load_key_ring(settings)
    except ConfigurationError as missing:
        print(f"Group names stored in clear before this release stay so until this runs with the keys: {missing.message}")
        return 0
    engine = make_engine(settings.resolved_database_url)
    total = 0
    try:
        factory = make_session_factory(engine, vault=make_vault(settings, keys))
        while True:
            with session_scope(factory) as session:
                done = seal_clear_groups(session, now=_now())
            if not done:
                break
            total += done
        if total:
            _truncate_sqlite_wal(engine)
    finally:
        engine.dispose()
    if total:
        print(f"Sealed {total} group names stored in clear before.")
    return total


def cmd_db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    _upgrade_all(settings, args.revision)
    return 0


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

        background = Worker(settings, _session_factory(settings), load_key_ring(settings))
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
    worker = Worker(settings, _session_factory(settings), load_key_ring(settings))
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
    with session_scope(_session_factory(settings)) as session:
        logins = None if demo_exists(session) else seed_demo(session, now=_now())
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


def cmd_account_create(args: argparse.Namespace, settings: Settings) -> int:
    from govsms.accounts.service import create_account
    from govsms.auth import Actor
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
            actor=Actor.platform(),
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


def cmd_user_require_totp(args: argparse.Namespace, settings: Settings) -> int:
    """Show or set the roles that must use two-step login (in every account)."""
    from govsms.accounts.totp import required_roles, set_required_roles
    from govsms.db import session_scope

    with session_scope(_session_factory(settings)) as session:
        if args.none or args.roles:
            names = {name for value in args.roles or [] for name in value.split(",") if name}
            if unknown := names - {role.value for role in Role}:
                raise GovsmsError(f"Unknown role {sorted(unknown)[0]!r}; choose from {', '.join(role.value for role in Role)}.")
            roles = {Role(name) for name in names}
            required = set_required_roles(session, None, roles, now=_now())
            changed = True
        else:
            required, changed = required_roles(session), False
    names = ", ".join(sorted(role.value for role in required))
    if required:
        print(f"Two-step login is required for: {names}.")
        if changed:
            print("Users of these roles without it were logged out; after their password they must set it up.")
    else:
        print("Two-step login is required for no role (any user may still turn it on).")
    return 0


def cmd_user_reset_totp(args: argparse.Namespace, settings: Settings) -> int:
    from govsms.accounts.totp import reset_totp_by_email
    from govsms.db import session_scope

    with session_scope(_session_factory(settings)) as session:
        reset_totp_by_email(session, email=args.email, now=_now())
    print(f"Two-step login of {args.email} was reset and the user logged out; they set it up again at the next login if their role requires it.")
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


def _read_lines(path: str) -> list[bytes]:
    try:
        with open(path, "rb") as file:
            return file.read().splitlines()
    except OSError as error:
        raise GovsmsError(f"Cannot read {path}: {error.strerror}.") from None


def cmd_audit_verify(args: argparse.Namespace, settings: Settings) -> int:
    """Exit 0 when intact; 1 when altered (naming the first bad sequence number); 2 when nothing
    trustworthy to check against was given. Never seals: what waits for the sealer is counted."""
    from pathlib import Path

    from govsms.audit.chain import NoTrustedKey, check_export, verify_database
    from govsms.audit.record import mac_key
    from govsms.audit.service import parse_public_key, public_key
    from govsms.audit.witness import read_witness, witness_to_compare
    from govsms.db import session_scope
    from govsms.keys.ring import load_key_ring

    try:
        trusted = parse_public_key(args.public_key) if args.public_key else None
    except ValueError:
        raise GovsmsError("--public-key takes the whole public key: 64 hex digits (spaces allowed), as the access log page shows it.") from None
    witness_path = Path(args.witness) if args.witness else None
    witness = read_witness(witness_path)
    if witness_path is not None and witness is None:
        raise GovsmsError(f"No witness file at {witness_path}.")
    if args.file:
        since = _read_lines(args.since) if args.since else None
        try:
            result = check_export(_read_lines(args.file), public_key=trusted, since=since, witness=witness)
        except NoTrustedKey:
            print(
                "govsms: an export proves nothing against the key it carries itself. Give the published key "
                "(--public-key KEY, as the access log page and the DPA show it) or an export you saved earlier "
                "(--since EARLIER-FILE).",
                file=sys.stderr,
            )
            return 2
        source = args.file
    else:
        if args.since:
            raise GovsmsError("--since compares two exports: give the newer one with --file.")
        keys = load_key_ring(settings)
        trusted = trusted or public_key(keys)
        witness_path = witness_path or settings.audit_witness_file
        witness = witness or witness_to_compare(witness_path)  # missing: fails once the database has checkpoints
        with session_scope(_session_factory(settings)) as session:
            result = verify_database(session, trusted, mac_key=mac_key(keys.audit_signing_seed), witness=witness)
        source = "the database"
    if result.ok:
        print(f"OK: {result.events} sealed events and {result.checkpoints} signed checkpoints in {source} verify.")
        print(
            f"Verified up to seq {result.signed_seq}, the last signed checkpoint ({result.signed_at or 'signing time not recorded'})"
            + (": whatever came later is not covered; only --since OLD or --witness COPY proves nothing was cut after it." if args.file else ".")
        )
        if args.since:
            print(f"It extends {args.since}: the same events and chain up to that export's head, signed with the same key.")
    if result.unsealed:
        print(
            f"{result.unsealed} events not yet sealed: each matches its MAC, but no signed checkpoint covers them yet "
            "(the scheduler seals them; verify never does)."
            if result.ok else f"{result.unsealed} events not yet sealed."
        )
    if witness is not None and witness.missing:
        if result.ok:  # nothing signed yet; once there is, a missing witness fails (named above)
            print(f"Warning: no witness file at {witness_path} yet: the sealer starts it with the first checkpoint.", file=sys.stderr)
    elif result.witnessed is not None:
        kept = f"the witness {witness.path}" if witness is not None else "the witness lines in the export"
        print(f"Compared with {kept}: {result.witnessed} checkpoints.")
    elif not args.file:
        print(
            f"Warning: no witness file at {witness_path}: a log cut short, or deleted with its checkpoints, is not detected "
            "without it. Verify where the scheduler runs, or pass --witness COPY.",
            file=sys.stderr,
        )
    if result.ok:
        return 0
    where = f"first bad sequence number {result.first_bad_seq}" if result.first_bad_seq is not None else "see below"
    print(f"ALTERED: the audit log in {source} does not verify: {where}.", file=sys.stderr)
    for problem in result.problems:
        print(f"  {problem}", file=sys.stderr)
    return 1


def cmd_audit_seal(args: argparse.Namespace, settings: Settings) -> int:
    """What the scheduler does every 30 seconds: chain waiting events, sign a checkpoint, and
    append it to the witness."""
    from govsms.audit.actions import Action
    from govsms.audit.chain import WitnessNotRebuilt, rebuild_witness, seal_and_witness
    from govsms.audit.record import record_event
    from govsms.audit.witness import read_witness
    from govsms.db import session_scope
    from govsms.keys.ring import load_key_ring

    keys = load_key_ring(settings)
    path = settings.audit_witness_file
    factory = _session_factory(settings)
    result = seal_and_witness(factory, keys.audit_signing_seed, path, now=_now())
    if result is None:
        print("Another sealer sealed the same events just now; nothing done.")
    elif result.sealed and (path.exists() or not result.earlier_checkpoints):
        print(f"Sealed {result.sealed} events up to seq {result.head_seq}; the checkpoint is in the witness {path}.")
    elif result.sealed:
        print(f"Sealed {result.sealed} events up to seq {result.head_seq}, in the database only.")
    else:
        print("Nothing to seal.")
    if args.rebuild_witness:
        old = read_witness(path)
        with session_scope(factory) as session:
            try:
                count = rebuild_witness(session, keys.audit_signing_seed, path, old)
            except WitnessNotRebuilt as error:
                raise GovsmsError(f"The witness {path} was not written anew: {error}.") from None
            record_event(session, None, Action.AUDIT_WITNESS_REBUILT, now=_now(), details={
                "cli": True, "checkpoints": count, "had": len(old.entries) if old else 0, "was_missing": old is None,
            })
        print(f"Wrote the witness {path} anew: {count} signed checkpoints from the database (an audit event says so).")
        return 0
    if not path.exists() and result is not None and result.earlier_checkpoints:
        print(
            f"govsms: the witness {path} is missing although the database has signed checkpoints: not recreated. "
            "Restore it from its copy, or write it anew with govsms audit seal --rebuild-witness.",
            file=sys.stderr,
        )
        return 1
    return 0


def cmd_audit_export(args: argparse.Namespace, settings: Settings) -> int:
    """The sealed log with its checkpoints and the witness; the export is itself an audit event
    (counts only). Seals nothing: ``govsms audit seal`` or the scheduler does."""
    from govsms.accounts.service import get_account_by_name
    from govsms.audit.actions import Action
    from govsms.audit.chain import export_lines
    from govsms.audit.record import record_event
    from govsms.audit.service import public_key
    from govsms.audit.witness import read_witness
    from govsms.db import session_scope
    from govsms.keys.ring import load_key_ring

    keys = load_key_ring(settings)
    factory = _session_factory(settings)
    witness = read_witness(settings.audit_witness_file)  # before the log is read: never ahead of it
    counts = {"events": 0, "hashes": 0, "checkpoints": 0, "witness": 0}
    kinds = {'"type":"event"}': "events", '"type":"sealed"}': "hashes", '"type":"checkpoint"}': "checkpoints", '"type":"witness"}': "witness"}
    with session_scope(factory) as session:
        account = get_account_by_name(session, args.account) if args.account else None
        account_id = account.id if account else None
        out = open(args.output, "w", encoding="utf-8") if args.output != "-" else sys.stdout
        lines = 0
        try:
            for line in export_lines(session, account_id=account_id, public_key=public_key(keys), now=_now(), witness=witness):
                out.write(line + "\n")
                lines += 1
                kind = next((name for suffix, name in kinds.items() if line.endswith(suffix)), None)
                if kind:
                    counts[kind] += 1
        finally:
            if out is not sys.stdout:
                out.close()
    with session_scope(factory) as session:
        actor = Actor.system(account.id, account.name) if account else None  # type: ignore[arg-type]
        record_event(session, actor, Action.AUDIT_EXPORTED, now=_now(), account_id=account_id, details={"cli": True, **counts})
    if args.output != "-":
        print(f"Wrote {lines} lines to {args.output}. Verify anywhere with: govsms audit verify --file {args.output} --public-key KEY")
    return 0


def cmd_keys_rotate(args: argparse.Namespace, settings: Settings) -> int:
    """Make a new master key active and re-wrap every data key under it, chunk by chunk."""

    from govsms.audit.actions import Action
    from govsms.audit.record import record_event
    from govsms.db import session_scope
    from govsms.keys.ring import add_master_key_to_file, load_key_ring
    from govsms.keys.rotation import rewrap_data_keys
    from govsms.keys.store import make_vault

    keys = load_key_ring(settings)
    if settings.master_keys:
        print(f"Keys come from GOVSMS_MASTER_KEYS; the first ({keys.active_id}) is active. Re-wrapping under it.")
    elif not args.resume:
        new_id = add_master_key_to_file(settings.key_file)
        keys = load_key_ring(settings)
        print(f"New master key {new_id} added to {settings.key_file} and made active.")
    store_factory = make_vault(settings, keys).keystore or _session_factory(settings)
    rotation = rewrap_data_keys(
        store_factory, keys, progress=lambda done, total: print(f"  re-wrapped {done} of {total} data keys", flush=True)
    )
    with session_scope(_session_factory(settings)) as session:
        record_event(session, None, Action.KEYS_ROTATED, now=_now(), details={"active": keys.active_id, "rewrapped": rotation.rewrapped})
    print(f"Done: every data key is wrapped under {keys.active_id}.")
    if rotation.unused:
        print(f"No data key needs {', '.join(rotation.unused)} any more: remove it with `govsms keys retire ID` "
              "(or from GOVSMS_MASTER_KEYS) and from your backups of keys.")
    return 0


def cmd_keys_retire(args: argparse.Namespace, settings: Settings) -> int:
    from govsms.errors import Conflict
    from govsms.keys.ring import load_key_ring, remove_master_key_from_file
    from govsms.keys.store import keys_by_master_key, make_vault

    keys = load_key_ring(settings)
    if args.key_id == keys.active_id:
        raise Conflict(f"{args.key_id} is the active master key; rotate to a new one first.")
    store_factory = make_vault(settings, keys).keystore or _session_factory(settings)
    with store_factory() as store:
        still = keys_by_master_key(store).get(args.key_id, 0)
    if still:
        raise Conflict(f"{still} data keys are still wrapped under {args.key_id}; run `govsms keys rotate --resume` first.")
    if settings.master_keys:
        print(f"Remove {args.key_id} from GOVSMS_MASTER_KEYS; nothing depends on it any more.")
    else:
        remove_master_key_from_file(settings.key_file, args.key_id)
        print(f"Removed {args.key_id} from {settings.key_file}.")
    return 0


def cmd_dpa_render(args: argparse.Namespace, settings: Settings) -> int:
    from pathlib import Path

    from govsms.accounts.service import get_account_by_name
    from govsms.db import session_scope
    from govsms.dpa import service
    from govsms.keys.store import vault_of

    with session_scope(_session_factory(settings)) as session:
        account = get_account_by_name(session, args.account)
        actor = Actor.system(account.id, account.name)  # type: ignore[arg-type]
        version, created = service.generate(session, settings, vault_of(session).keys, actor, lang=args.lang, now=_now())
        _name, pdf = service.download(session, actor, version.id, now=_now())  # type: ignore[arg-type]
    if args.output == "-":
        sys.stdout.buffer.write(pdf)
    else:
        Path(args.output).write_bytes(pdf)
    state = "new version" if created else "unchanged since version"
    print(f"{state} {version.number} ({version.language}), SHA-256 {version.pdf_sha256}: {args.output}", file=sys.stderr)
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
        sub.add_argument(
            "--processes", type=int, default=None,
            help="Web processes (default GOVSMS_PROCESSES: one per core on PostgreSQL, one on SQLite).",
        )
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
    require_totp = add(
        user, "require-totp", cmd_user_require_totp,
        "Show or set the roles that must use two-step login (TOTP) in every account.",
    )
    choice = require_totp.add_mutually_exclusive_group()
    choice.add_argument("--role", dest="roles", action="append", default=None, help=f"One of {role_names}; repeat or comma-separate.")
    choice.add_argument("--none", action="store_true", help="Require it for no role.")
    reset_totp = add(user, "reset-totp", cmd_user_reset_totp, "Turn a user's two-step login off (a lost phone) and log them out.")
    reset_totp.add_argument("--email", required=True)

    apikey = commands.add_parser("apikey", help="API keys.").add_subparsers(dest="sub", required=True, metavar="COMMAND")
    create = add(apikey, "create", cmd_apikey_create, "Create an API key and print it once.")
    create.add_argument("--account", required=True)
    create.add_argument("--name", required=True)
    create.add_argument("--role", action="append", default=None, help=f"Default sender; one of {role_names}.")

    audit = commands.add_parser("audit", help="The access log.").add_subparsers(dest="sub", required=True, metavar="COMMAND")
    verify = add(audit, "verify", cmd_audit_verify, "Verify the log as it is; never seals (exit 0 intact, 1 altered, 2 nothing to check against).")
    verify.add_argument("--file", help="Verify an export offline, with no database (needs --public-key or --since).")
    verify.add_argument("--public-key", help="The published signing key: 64 hex digits, spaces allowed, as the access log page shows it.")
    verify.add_argument("--since", metavar="EARLIER_EXPORT", help="With --file: prove the export extends this one, saved earlier.")
    verify.add_argument("--witness", help="A copy of the witness file to compare with (default for the database: GOVSMS_AUDIT_WITNESS).")
    verify.add_argument("--no-seal", action="store_true", help=argparse.SUPPRESS)  # verify never seals; kept for old scripts
    seal = add(audit, "seal", cmd_audit_seal, "Seal waiting events now and append the checkpoint to the witness (the scheduler does this every 30 s).")
    seal.add_argument(
        "--rebuild-witness", action="store_true",
        help="Write the witness anew from the database's checkpoints (only if the log verifies and the old witness has nothing the database lacks); an audit event.",
    )
    export = add(audit, "export", cmd_audit_export, "Export the sealed log as JSON lines with checkpoints, the witness and the public key.")
    export.add_argument("-o", "--output", default="-", help="File to write (default: standard output).")
    export.add_argument("--account", help="Only this account's events in full; the others as hashes.")

    keys = commands.add_parser("keys", help="Master keys.").add_subparsers(dest="sub", required=True, metavar="COMMAND")
    rotate = add(keys, "rotate", cmd_keys_rotate, "Add a master key and re-wrap every data key under it (resumable).")
    rotate.add_argument("--resume", action="store_true", help="Finish an interrupted rotation without adding another key.")
    retire = add(keys, "retire", cmd_keys_retire, "Remove an old master key once no data key needs it.")
    retire.add_argument("key_id")

    dpa = commands.add_parser("dpa", help="The data processing agreement.").add_subparsers(dest="sub", required=True, metavar="COMMAND")
    render = add(dpa, "render", cmd_dpa_render, "Write an account's current DPA as a PDF (a new version when anything changed).")
    render.add_argument("--account", required=True)
    render.add_argument("--lang", choices=["sv", "en"], default="sv")
    render.add_argument("-o", "--output", required=True, help="File to write, or - for standard output.")
    return parser


def main(argv: list[str] | None = None) -> int:
    from govsms.i18n import language
    from govsms.log import configure_logging

    args = build_parser().parse_args(argv)
    os.umask(0o077)  # whatever this command creates (database, WAL, key file, witness, exports) is its owner's only
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
