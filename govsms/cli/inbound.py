"""``govsms inbound``: received SMS."""

from __future__ import annotations

import argparse

from govsms.cli.command import Commands, add_command, add_group, now, session_factory
from govsms.settings import Settings


def cmd_simulate(args: argparse.Namespace, settings: Settings) -> int:
    """Store and route an SMS as if the loopback transport had received it; prints where it went
    (account and how), never the number or the text."""
    from govsms.receiving.service import simulate_inbound

    routed = simulate_inbound(session_factory(settings), to=args.to, from_=args.from_, text=args.text, now=now())
    how = {
        "virtual": "its virtual number", "keyword": "a keyword", "reply": "a reply to the account's latest SMS to the number",
        "unrouted": "no route: the operator's unrouted queue",
    }.get(routed.routed_by, routed.routed_by)
    stop = " (a STOP word: the number is blocked for the account)" if routed.stop else ""
    print(f"Received SMS {routed.message_id} routed to {routed.account_name!r} by {how}{stop}.")
    return 0


def register(commands: Commands) -> None:
    inbound = add_group(commands, "inbound", "Received SMS.")
    simulate = add_command(inbound, "simulate", cmd_simulate, "Simulate an inbound SMS (loopback): store and route it.")
    simulate.add_argument("--to", required=True, help="Our number it is sent to: 72323, 1963, 4560991000 or a virtual number.")
    simulate.add_argument("--from", dest="from_", required=True, help="The sender's number, e.g. +46701234567.")
    simulate.add_argument("--text", required=True)
