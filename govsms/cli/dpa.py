"""``govsms dpa``: an account's data processing agreement as a PDF."""

from __future__ import annotations

import argparse
import sys

from govsms.cli.command import Commands, account_actor, add_command, add_group, now, session_factory
from govsms.settings import Settings


def cmd_render(args: argparse.Namespace, settings: Settings) -> int:
    from pathlib import Path

    from govsms.accounts.service import get_account_by_name
    from govsms.db import session_scope
    from govsms.dpa import service
    from govsms.keys.store import vault_of
    from govsms.registry import all_holdings

    with session_scope(session_factory(settings)) as session:
        account = get_account_by_name(session, args.account)
        actor = account_actor(account)
        version, created = service.generate(
            session, settings, vault_of(session).keys, actor, lang=args.lang, now=now(), holdings=all_holdings()
        )
        assert version.id is not None, "generate returns a stored version"
        _name, pdf = service.download(session, actor, version.id, now=now())
    if args.output == "-":
        sys.stdout.buffer.write(pdf)
    else:
        Path(args.output).write_bytes(pdf)
    state = "new version" if created else "unchanged since version"
    print(f"{state} {version.number} ({version.language}), SHA-256 {version.pdf_sha256}: {args.output}", file=sys.stderr)
    return 0


def register(commands: Commands) -> None:
    dpa = add_group(commands, "dpa", "The data processing agreement.")
    render = add_command(dpa, "render", cmd_render, "Write an account's current DPA as a PDF (a new version when anything changed).")
    render.add_argument("--account", required=True)
    render.add_argument("--lang", choices=["sv", "en"], default="sv")
    render.add_argument("-o", "--output", required=True, help="File to write, or - for standard output.")
