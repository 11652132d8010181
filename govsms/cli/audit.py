"""``govsms audit``: verify, seal, export and prune the access log."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, timedelta

from govsms.cli.command import Commands, add_command, add_group, now, session_factory
from govsms.errors import GovsmsError
from govsms.settings import Settings


def _read_lines(path: str) -> list[bytes]:
    try:
        with open(path, "rb") as file:
            return file.read().splitlines()
    except OSError as error:
        raise GovsmsError(f"Cannot read {path}: {error.strerror}.") from None


def cmd_verify(args: argparse.Namespace, settings: Settings) -> int:
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
        with session_scope(session_factory(settings)) as session:
            result = verify_database(session, trusted, mac_key=mac_key(keys.audit_signing_seed), witness=witness)
        source = "the database"
    if result.ok:
        print(f"OK: {result.events} sealed events and {result.checkpoints} signed checkpoints in {source} verify.")
        if result.anchor_seq:
            print(
                f"Verified from sequence {result.anchor_seq + 1} (anchor signed at {result.anchor_signed_at}): events up to seq "
                f"{result.anchor_seq} were pruned, and the rest chains from the signed anchor at seq {result.anchor_seq}."
            )
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


def cmd_seal(args: argparse.Namespace, settings: Settings) -> int:
    """What the scheduler does every 30 seconds: chain waiting events, sign a checkpoint, and
    append it to the witness."""
    from govsms.audit.chain import WitnessNotRebuilt, seal_and_witness
    from govsms.audit.service import write_witness_anew
    from govsms.db import session_scope
    from govsms.keys.ring import load_key_ring

    keys = load_key_ring(settings)
    path = settings.audit_witness_file
    factory = session_factory(settings)
    result = seal_and_witness(factory, keys.audit_signing_seed, path, now=now())
    if result is None:
        print("Another sealer sealed the same events just now; nothing done.")
    elif result.sealed and (path.exists() or not result.earlier_checkpoints):
        print(f"Sealed {result.sealed} events up to seq {result.head_seq}; the checkpoint is in the witness {path}.")
    elif result.sealed:
        print(f"Sealed {result.sealed} events up to seq {result.head_seq}, in the database only.")
    else:
        print("Nothing to seal.")
    if args.rebuild_witness:
        try:
            with session_scope(factory) as session:
                count = write_witness_anew(session, keys, path, now=now())
        except WitnessNotRebuilt as error:
            raise GovsmsError(f"The witness {path} was not written anew: {error}.") from None
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


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    """The sealed log with its checkpoints and the witness; the export is itself an audit event
    (counts only). Seals nothing: ``govsms audit seal`` or the scheduler does."""
    from pathlib import Path

    from govsms.audit.service import write_export
    from govsms.keys.ring import load_key_ring

    keys = load_key_ring(settings)
    output = Path(args.output) if args.output != "-" else sys.stdout
    factory = session_factory(settings)
    account = None
    if args.account:
        from govsms.accounts.service import get_account_by_name
        from govsms.db import session_scope

        with session_scope(factory) as session:
            found = get_account_by_name(session, args.account)  # NotFound before any file is made
            assert found.id is not None  # a stored account
            account = (found.id, found.name)
    lines = write_export(factory, keys, output, now=now(), witness_path=settings.audit_witness_file, account=account)
    if args.output != "-":
        print(f"Wrote {lines} lines to {args.output}. Verify anywhere with: govsms audit verify --file {args.output} --public-key KEY")
    return 0


def _before(text: str) -> datetime:
    """``--before``: a date (midnight UTC) or a time with its zone, in ISO 8601."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise GovsmsError(f"--before takes a date (2025-01-31) or a time with its zone (2025-01-31T12:00:00+01:00), not {text!r}.") from None
    if moment.tzinfo is None:
        if len(text) > 10:
            raise GovsmsError("--before: give the time with its zone (e.g. +01:00 or Z), or just a date (midnight UTC).")
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def cmd_prune(args: argparse.Namespace, settings: Settings) -> int:
    """Delete the access log's whole sealed segments older than --before (never an unsealed
    event, never past the newest signed checkpoint), keeping a signed anchor so the rest still
    verifies. Refused for events the access log's shortest storage time still keeps."""
    from govsms.audit.prune import prune_access_log
    from govsms.keys.ring import load_key_ring
    from govsms.retention.categories import BY_KEY

    before = _before(args.before)
    moment = now()
    shortest = BY_KEY["access_log"].min_days
    if before > moment - timedelta(days=shortest):
        raise GovsmsError(
            f"--before {args.before} would prune events younger than {shortest} days, the access log's shortest storage time. "
            f"Give a date on or before {(moment - timedelta(days=shortest)).date().isoformat()}."
        )
    keys = load_key_ring(settings)
    report = prune_access_log(session_factory(settings), keys.audit_signing_seed, before=before, now=moment, dry_run=args.dry_run, cli=True)
    if report.busy:
        print("Another prune of the access log is running (the nightly job's, or one by hand): nothing done. Run this again when it is done.")
        return 1
    if report.anchor_seq is None:
        print(f"Nothing to prune: no whole signed segment of the access log lies before {before:%Y-%m-%d %H:%M} UTC.")
        return 0
    what = (
        f"{report.events} events (seq {report.previous_anchor_seq + 1} to {report.anchor_seq}), {report.links} links of the index "
        f"of events by person and {report.checkpoints} checkpoints"
    )
    if args.dry_run:
        print(f"Would prune {what}; the log would then verify from sequence {report.anchor_seq + 1}. Nothing deleted (--dry-run).")
        return 0
    if report.finished_earlier_run:
        what = f"{report.events} events, {report.links} links and {report.checkpoints} checkpoints left before the anchor at seq {report.anchor_seq}"
        print(f"Nothing new to prune; finished an earlier run that had stopped half way: deleted {what}.")
        return 0
    print(
        f"Pruned {what} in {report.batches} transactions ({report.seconds:.1f} s). The log now verifies from sequence "
        f"{report.anchor_seq + 1}, chained from the signed anchor at seq {report.anchor_seq}; the pruned checkpoints stay in the witness."
    )
    return 0


def register(commands: Commands) -> None:
    audit = add_group(commands, "audit", "The access log.")
    verify = add_command(audit, "verify", cmd_verify, "Verify the log as it is; never seals (exit 0 intact, 1 altered, 2 nothing to check against).")
    verify.add_argument("--file", help="Verify an export offline, with no database (needs --public-key or --since).")
    verify.add_argument("--public-key", help="The published signing key: 64 hex digits, spaces allowed, as the access log page shows it.")
    verify.add_argument("--since", metavar="EARLIER_EXPORT", help="With --file: prove the export extends this one, saved earlier.")
    verify.add_argument("--witness", help="A copy of the witness file to compare with (default for the database: GOVSMS_AUDIT_WITNESS).")
    verify.add_argument("--no-seal", action="store_true", help=argparse.SUPPRESS)  # verify never seals; kept for old scripts
    seal = add_command(audit, "seal", cmd_seal, "Seal waiting events now and append the checkpoint to the witness (the scheduler does this every 30 s).")
    seal.add_argument(
        "--rebuild-witness", action="store_true",
        help="Write the witness anew from the database's checkpoints "
        "(only if the log verifies and the old witness has nothing the database lacks); an audit event.",
    )
    export = add_command(audit, "export", cmd_export, "Export the sealed log as JSON lines with checkpoints, the witness and the public key.")
    export.add_argument("-o", "--output", default="-", help="File to write (default: standard output).")
    export.add_argument("--account", help="Only this account's events in full; the others as hashes.")
    prune = add_command(
        audit, "prune", cmd_prune,
        "Delete the oldest whole sealed segments older than a date, keeping a signed anchor so the rest still verifies; an audit event.",
    )
    prune.add_argument("--before", required=True, help="Prune whole segments whose every event is older than this date (UTC) or time.")
    prune.add_argument("--dry-run", action="store_true", help="Only say what would be pruned.")
