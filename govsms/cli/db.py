"""``govsms init`` and ``govsms db upgrade``: the data directory, the key file and the schema,
with the data steps of the migrations that need the keys (which Alembic does not hold)."""

from __future__ import annotations

import argparse

from govsms.cli.command import CLOCK, Commands, add_command, add_group
from govsms.settings import Settings


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
    upgrade_all(settings, "head")
    return 0


def cmd_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    upgrade_all(settings, args.revision)
    return 0


def upgrade_all(settings: Settings, revision: str) -> None:
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


def seal_clear_senders_step(settings: Settings) -> int:
    """The data part of the senders migration (``govsms.sending.sender_numbers.seal_all_clear_senders``),
    which holds no keys. Returns how many dispatches it sealed; 0 once done."""
    from govsms.db import make_engine, make_session_factory
    from govsms.keys.ring import load_key_ring
    from govsms.keys.store import make_vault
    from govsms.sending.sender_numbers import seal_all_clear_senders

    keys = load_key_ring(settings)
    engine = make_engine(settings.resolved_database_url)
    try:
        return seal_all_clear_senders(make_session_factory(engine, vault=make_vault(settings, keys)), CLOCK)
    finally:
        engine.dispose()


def seal_clear_groups_step(settings: Settings, revision: str) -> int:
    """The data part of the group-names migration (``govsms.contacts.groups.seal_all_clear_groups``),
    run after an upgrade to head with the keys. Returns how many group names it sealed."""
    from govsms.contacts.groups import seal_all_clear_groups
    from govsms.db import make_engine, make_session_factory
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
    try:
        total = seal_all_clear_groups(make_session_factory(engine, vault=make_vault(settings, keys)), CLOCK)
    finally:
        engine.dispose()
    if total:
        print(f"Sealed {total} group names stored in clear before.")
    return total


def register(commands: Commands) -> None:
    add_command(commands, "init", cmd_init, "Create the data directory, the key file and the database schema.")
    db = add_group(commands, "db", "Database schema.", dest="db_command")
    upgrade = add_command(db, "upgrade", cmd_upgrade, "Apply the Alembic migrations.")
    upgrade.add_argument("revision", nargs="?", default="head")
