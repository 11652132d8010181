"""Worker B of tests/test_key_shredding.py's two-process test, run as its own process.

Builds its own engine and vault on the database ``sys.argv[1]`` (the keys come from GOVSMS_* in
the environment), claims the queued message, prepares it (which caches the recipient's key) and
keeps the recipient's sealed number; prints ``ready`` and waits for a line on stdin (the other
process shreds the key meanwhile). Then it tries everything again and prints one JSON line of what
it got: no key, nothing decrypted, nothing to submit, and no exception."""

from __future__ import annotations

import json
import sys

from sqlalchemy import select

from govsms.db import make_engine, make_session_factory, session_scope
from govsms.keys.crypto import DecryptionError
from govsms.keys.ring import load_key_ring
from govsms.keys.store import Vault
from govsms.sending.claims import claim
from govsms.sending.models import MESSAGE_RECIPIENT, OutboundMessage
from govsms.sending.outbox import Outbox
from govsms.sending.transports.loopback import LoopbackTransport
from govsms.settings import Settings
from tests.factories import now


def main() -> None:
    engine = make_engine(sys.argv[1])
    vault = Vault(load_key_ring(Settings()))
    factory = make_session_factory(engine, vault=vault)
    outbox = Outbox(factory, LoopbackTransport(report_delay=0), public_url="http://x", worker_id="worker-b")
    with session_scope(factory) as session:
        claimed = claim(session, outbox.worker_id, now=now(), limit=10)
    item = claimed[0]
    with session_scope(factory) as session:
        sealed = session.execute(select(OutboundMessage.recipient_ct).where(OutboundMessage.id == item.id)).scalar_one()
        before = vault.subjects_by_id(session, item.account_id, [item.subject_id])[item.subject_id]
    number_before = before.unseal(MESSAGE_RECIPIENT, sealed)
    submissions, _blocked, _unsendable = outbox._prepare(claimed, now())
    print("ready", len(submissions), number_before.startswith("+46"), flush=True)
    sys.stdin.readline()  # process A shreds the key and commits

    outcome: dict[str, object] = {"cached_before": vault.cache.get((item.account_id, item.subject_id)) is not None}
    with session_scope(factory) as session:
        found = vault.subjects_by_id(session, item.account_id, [item.subject_id])
    outcome["key_found"] = bool(found)
    try:
        outcome["decrypted"] = found[item.subject_id].unseal(MESSAGE_RECIPIENT, sealed) if found else None
    except DecryptionError:
        outcome["decrypted"] = None
    again, blocked_again, unsendable = outbox._prepare(claimed, now())
    outcome["prepared"] = len(again)
    outcome["prepare_blocked"] = sorted(blocked_again) == [item.id]
    outcome["unsendable"] = len(unsendable)
    blocked: set[int] = set()  # the last look before the SMSC, at the batch prepared before the shred
    outcome["last_check_submits"] = len(outbox._not_shredded(claimed, submissions, blocked))
    outcome["last_check_blocked"] = sorted(blocked) == [item.id]
    print(json.dumps(outcome), flush=True)
    engine.dispose()


if __name__ == "__main__":
    main()
