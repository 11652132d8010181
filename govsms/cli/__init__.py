"""The ``govsms`` command: ``main`` assembles the parser from one module per command group,
each a thin wrapper over the services (see ``govsms --help``)."""

from __future__ import annotations

import argparse
import os
import sys

from govsms.cli import account, apikey, audit, db, dpa, dsr, inbound, jobs, keys, price, retention, server, user
from govsms.cli.command import Handler
from govsms.cli.db import seal_clear_senders_step  # tests/sending/test_senders.py runs it from here
from govsms.errors import GovsmsError
from govsms.settings import Settings

__all__ = ["build_parser", "main", "seal_clear_senders_step"]

GROUPS = (db, server, account, user, apikey, price, audit, keys, dpa, retention, dsr, jobs, inbound)
"""In the order ``govsms --help`` lists them."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="govsms", description="govsms: an SMS service built around data protection.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in GROUPS:
        group.register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    from govsms.i18n import language
    from govsms.log import configure_logging

    args = build_parser().parse_args(argv)
    os.umask(0o077)  # whatever this command creates (database, WAL, key file, witness, exports) is its owner's only
    handler: Handler = args.handler
    try:
        settings = Settings()
        configure_logging(settings.log_level, settings.log_format)
        with language("en"):  # the CLI speaks English, like its own output
            return handler(args, settings)
    except GovsmsError as error:
        print(f"govsms: {error.message}", file=sys.stderr)
        for field, problem in error.fields.items():
            print(f"  {field}: {problem}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
