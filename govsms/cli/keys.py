"""``govsms keys``: rotate and retire master keys (the re-wrapping and the retiring rules are
govsms.keys.rotation's)."""

from __future__ import annotations

import argparse

from govsms.cli.command import Commands, add_command, add_group, now, session_factory
from govsms.settings import Settings


def cmd_rotate(args: argparse.Namespace, settings: Settings) -> int:
    """Make a new master key active and re-wrap every data key under it, chunk by chunk."""
    from govsms.audit.actions import Action
    from govsms.audit.record import record_event
    from govsms.db import session_scope
    from govsms.keys.ring import add_master_key_to_file, load_key_ring
    from govsms.keys.rotation import rewrap_data_keys
    from govsms.keys.store import keystore_factory

    keys = load_key_ring(settings)
    if settings.master_keys:
        print(f"Keys come from GOVSMS_MASTER_KEYS; the first ({keys.active_id}) is active. Re-wrapping under it.")
    elif not args.resume:
        new_id = add_master_key_to_file(settings.key_file)
        keys = load_key_ring(settings)
        print(f"New master key {new_id} added to {settings.key_file} and made active.")
    rotation = rewrap_data_keys(
        keystore_factory(settings, keys), keys, progress=lambda done, total: print(f"  re-wrapped {done} of {total} data keys", flush=True)
    )
    with session_scope(session_factory(settings)) as session:
        record_event(session, None, Action.KEYS_ROTATED, now=now(), details={"active": keys.active_id, "rewrapped": rotation.rewrapped})
    print(f"Done: every data key is wrapped under {keys.active_id}.")
    if rotation.unused:
        print(f"No data key needs {', '.join(rotation.unused)} any more: remove it with `govsms keys retire ID` "
              "(or from GOVSMS_MASTER_KEYS) and from your backups of keys.")
    return 0


def cmd_retire(args: argparse.Namespace, settings: Settings) -> int:
    from govsms.keys.ring import load_key_ring, remove_master_key_from_file
    from govsms.keys.rotation import check_retirable

    check_retirable(settings, load_key_ring(settings), args.key_id)
    if settings.master_keys:
        print(f"Remove {args.key_id} from GOVSMS_MASTER_KEYS; nothing depends on it any more.")
    else:
        remove_master_key_from_file(settings.key_file, args.key_id)
        print(f"Removed {args.key_id} from {settings.key_file}.")
    return 0


def register(commands: Commands) -> None:
    keys = add_group(commands, "keys", "Master keys.")
    rotate = add_command(keys, "rotate", cmd_rotate, "Add a master key and re-wrap every data key under it (resumable).")
    rotate.add_argument("--resume", action="store_true", help="Finish an interrupted rotation without adding another key.")
    retire = add_command(keys, "retire", cmd_retire, "Remove an old master key once no data key needs it.")
    retire.add_argument("key_id")
