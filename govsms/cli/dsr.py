"""``govsms dsr``: data-subject requests from the command line: verify an erasure receipt (no
database needed), finish interrupted erasures."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from govsms.cli.command import Commands, add_command, add_group, now, session_factory
from govsms.settings import Settings


def _installation_key(settings: Settings) -> bytes | None:
    """This installation's audit signing key (public half), when the command can load the keys."""
    from govsms.errors import ConfigurationError
    from govsms.keys.ring import load_key_ring
    from govsms.subjects.receipt import public_key_of

    try:
        return public_key_of(load_key_ring(settings).audit_signing_seed)
    except (ConfigurationError, OSError, ValueError):
        return None


def cmd_verify_receipt(args: argparse.Namespace, settings: Settings) -> int:
    """Exit 0 for a genuine receipt (byte for byte as signed), 1 for anything else. The trusted
    key: --public-key, else this installation's audit signing key, else (said plainly) only the
    key the file names."""
    from govsms.audit.service import parse_public_key
    from govsms.subjects.receipt import ReceiptInvalid, checkpoint_key, verify_receipt

    trusted, source = None, ""
    if args.public_key:
        try:
            trusted = parse_public_key(args.public_key)
        except ValueError as error:
            print(f"govsms: --public-key: {error}", file=sys.stderr)
            return 2
        source = "the key given with --public-key"
    else:
        trusted = _installation_key(settings)
        source = "this installation's audit signing key"
    try:
        content = Path(args.file).read_bytes()
    except OSError as error:
        print(f"govsms: cannot read {args.file}: {error.strerror}", file=sys.stderr)
        return 2
    try:
        receipt = verify_receipt(content, trusted_key=trusted)
    except ReceiptInvalid as error:
        hint = ""
        if trusted is not None and "another key" in str(error):
            hint = (" If the audit signing key was changed since the receipt was written, pass the key that was published "
                    "then with --public-key.")
        print(f"NOT GENUINE: {error} ({source}).{hint}" if trusted is not None else f"NOT GENUINE: {error}.{hint}", file=sys.stderr)
        return 1
    signer = receipt["public_key"]
    print(f"Signature valid: erasure receipt {receipt['reference']} of {receipt['account']['name']}, erased {receipt['erased_at']}, "
          f"access-log event {receipt['audit_seq']}, signed by {signer}.")
    if trusted is not None:
        print(f"Genuine: the signing key is {source}.")
    else:
        print("NOT CHECKED AGAINST A TRUSTED KEY: no --public-key was given and this installation's keys could not be "
              "loaded. This only proves the file is unchanged since a holder of the key it names signed it; anyone can "
              "make such a file. Compare that key with the one shown on /audit, or pass --public-key.")
    checkpoint = receipt["checkpoint"]
    if checkpoint is not None:
        key = checkpoint_key(receipt)
        whose = ("the same key" if key == signer else
                 f"key {key}, named in the signed receipt (the audit key was changed in between)")
        print(f"Checked: the access log's checkpoint at seq {checkpoint['seq']} (head {checkpoint['head_hash']}) is signed by "
              f"{whose}, and its seq is at or after the erasure's event. That the event is in the chain it signs is "
              "checked against an export of the access log (govsms audit verify).")
    else:
        print("The receipt carries no checkpoint: the access log was not sealed over the event when it was written.")
    return 0


def cmd_resume(args: argparse.Namespace, settings: Settings) -> int:
    """Finish every erasure that was interrupted."""
    from govsms.keys.ring import load_key_ring
    from govsms.lifecycle import lifecycle_holdings
    from govsms.subjects.erasure import Sealer, resume_erasures

    sealer = Sealer(keys=load_key_ring(settings), witness_path=settings.audit_witness_file)
    held: list[tuple[int, str]] = []
    done = resume_erasures(session_factory(settings), lifecycle_holdings(), sealer=sealer, now=now(), held=held)
    if not done and not held:
        print("No interrupted erasure.")
    for erasure in done:
        rows = sum(erasure.counts.values())
        print(f"Erasure {erasure.erasure.id} ({erasure.request.reference}) finished: {rows} rows erased in all; the receipt is signed.")
    for erasure_id, message in held:
        print(f"Erasure {erasure_id} not continued: {message}", file=sys.stderr)
    return 1 if held else 0


def register(commands: Commands) -> None:
    dsr = add_group(commands, "dsr", "Data-subject requests: erasure receipts and interrupted erasures.")
    verify = add_command(dsr, "verify-receipt", cmd_verify_receipt, "Check an erasure receipt against --public-key, else this installation's audit key "
                          "(exit 0 genuine, 1 not).")
    verify.add_argument("file", metavar="FILE", help="The receipt as downloaded (receipt.json).")
    verify.add_argument("--public-key", help="The published audit signing key (64 hex digits, spaces allowed): refuse any other.")
    add_command(dsr, "resume", cmd_resume, "Finish erasures that were interrupted (each resumes where it stopped).")
