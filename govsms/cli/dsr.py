"""``govsms dsr``: data-subject requests from the command line: verify an erasure receipt (no
database needed), finish interrupted erasures."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from govsms.cli.command import Commands, add_command, add_group, now, session_factory
from govsms.settings import Settings


def cmd_verify_receipt(args: argparse.Namespace, settings: Settings) -> int:
    """Exit 0 for a genuine receipt (byte for byte as signed), 1 for anything else."""
    from govsms.audit.service import parse_public_key
    from govsms.subjects.receipt import ReceiptInvalid, verify_receipt

    trusted = None
    if args.public_key:
        try:
            trusted = parse_public_key(args.public_key)
        except ValueError as error:
            print(f"govsms: --public-key: {error}", file=sys.stderr)
            return 2
    try:
        content = Path(args.file).read_bytes()
    except OSError as error:
        print(f"govsms: cannot read {args.file}: {error.strerror}", file=sys.stderr)
        return 2
    try:
        receipt = verify_receipt(content, trusted_key=trusted)
    except ReceiptInvalid as error:
        print(f"NOT GENUINE: {error}.", file=sys.stderr)
        return 1
    checkpoint = receipt["checkpoint"]
    print(f"Genuine: erasure receipt {receipt['reference']} of {receipt['account']['name']}, erased {receipt['erased_at']}, "
          f"access-log event {receipt['audit_seq']}, signed by {receipt['public_key']}"
          f"{'' if trusted else ' (compare it with the published key, or pass --public-key)'}.")
    if checkpoint is not None:
        print(f"The access log's checkpoint at seq {checkpoint['seq']} (head {checkpoint['head_hash']}) covers the event.")
    else:
        print("The receipt carries no checkpoint: the access log was not sealed over the event when it was written.")
    return 0


def cmd_resume(args: argparse.Namespace, settings: Settings) -> int:
    """Finish every erasure that was interrupted."""
    from govsms.keys.ring import load_key_ring
    from govsms.lifecycle import lifecycle_holdings
    from govsms.subjects.erasure import Sealer, resume_erasures

    sealer = Sealer(keys=load_key_ring(settings), witness_path=settings.audit_witness_file)
    done = resume_erasures(session_factory(settings), lifecycle_holdings(), sealer=sealer, now=now())
    if not done:
        print("No interrupted erasure.")
    for erasure in done:
        rows = sum(erasure.counts.values())
        print(f"Erasure {erasure.erasure.id} ({erasure.request.reference}) finished: {rows} rows erased in all; the receipt is signed.")
    return 0


def register(commands: Commands) -> None:
    dsr = add_group(commands, "dsr", "Data-subject requests: erasure receipts and interrupted erasures.")
    verify = add_command(dsr, "verify-receipt", cmd_verify_receipt, "Check an erasure receipt (exit 0 genuine, 1 changed or not signed).")
    verify.add_argument("file", metavar="FILE", help="The receipt as downloaded (receipt.json).")
    verify.add_argument("--public-key", help="The published audit signing key (64 hex digits, spaces allowed): refuse any other.")
    add_command(dsr, "resume", cmd_resume, "Finish erasures that were interrupted (each resumes where it stopped).")
