"""The tampering matrix (issue 10): every way someone who can write the database, or edit an
export, might cut short or rewrite the access log, each detected on SQLite and PostgreSQL.

Before the witness, the event MACs, the index check and pinned keys, 12 of the first 17 cases passed
`govsms audit verify` undetected (all but update, delete, reorder, a naive cut of an export and a
re-signed export checked against the published key). The last 8 (a replayed event, the witness
emptied, trimmed or deleted, the sealer run after that, events hidden as sealed lines in a full
export, an export of only its header, a witness line removed) passed until the second review.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import delete, insert, select, update
from sqlmodel import Session

from govsms.audit import chain
from govsms.audit.actions import Action
from govsms.audit.chain import GAP_GRACE, NoTrustedKey, check_export, export_lines, head, seal_events, verify_database
from govsms.audit.models import AuditChain, AuditCheckpoint, AuditEvent, AuditEventSubject
from govsms.audit.record import mac_key, record_event
from govsms.audit.record import canonical_json
from govsms.audit.witness import read_witness, witness_to_compare
from govsms.keys.ring import KeyRing
from tests.factories import make_account, now, system

events, links, chain_rows, checkpoints = (
    AuditEvent.__table__, AuditEventSubject.__table__, AuditChain.__table__, AuditCheckpoint.__table__,
)


def public_key(keys: KeyRing) -> bytes:
    return Ed25519PrivateKey.from_private_bytes(keys.audit_signing_seed).public_key().public_bytes_raw()


@dataclass
class Log:
    """A log with two signed checkpoints and a few events after them, not yet sealed."""

    session: Session
    keys: KeyRing
    witness: Path
    first: list[int]
    second: list[int]
    unsealed: list[int]


def write_events(session: Session, count: int, start: int) -> list[int]:
    actor = system(make_account(session))
    return [
        record_event(session, actor, Action.CONTACT_VIEWED, now=now(), target=("contact", n), subjects=[n, n + 1000], details={"n": n})
        for n in range(start, start + count)
    ]


def seal(log: Log) -> None:
    """What the sealer does: chain, sign, and (once committed) append the checkpoint to the witness."""
    result = seal_events(log.session, log.keys.audit_signing_seed, now=now() + 2 * GAP_GRACE)
    chain.witness_checkpoint(log.witness, result)


def build(session: Session, keys: KeyRing, tmp_path: Path) -> Log:
    log = Log(session, keys, tmp_path / "audit-witness.jsonl", [], [], [])
    log.first = write_events(session, 4, 1)
    seal(log)
    log.second = write_events(session, 4, 10)
    seal(log)
    log.unsealed = write_events(session, 3, 20)
    return log


def verify(log: Log) -> chain.Verification:
    """What `govsms audit verify` does: check the database as it is, with the witness (a missing
    one counts as empty); seal nothing."""
    sealed_before = head(log.session)
    result = verify_database(
        log.session, public_key(log.keys), mac_key=mac_key(log.keys.audit_signing_seed), witness=witness_to_compare(log.witness)
    )
    assert head(log.session) == sealed_before, "verifying sealed events"
    return result


def export(log: Log) -> list[str]:
    witness = read_witness(log.witness)
    return list(export_lines(log.session, account_id=None, public_key=public_key(log.keys), now=now(), witness=witness))


def verify_file(lines: list[str], *, public_key: bytes | None = None, since: list[str] | None = None) -> chain.Verification:
    """What `govsms audit verify --file` does; with neither a pinned key nor an earlier export it
    refuses (exit 2), which counts as not passing."""
    try:
        return check_export(lines, public_key=public_key, since=since)
    except NoTrustedKey:
        refused = chain.Verification()
        refused.fail(None, "refused: no trusted key")
        return refused


# -- the attacks on the database --------------------------------------------------------------

def recompute_chain(session: Session) -> None:
    """An attacker without the signing key rebuilds the chain table from the events as they are."""
    session.execute(delete(chain_rows))
    previous = chain.GENESIS
    for row in session.execute(select(*chain.EVENT_COLUMNS).order_by(events.c.seq)).all():
        content = chain.content_hash(chain.event_document(row))
        previous = chain.chain_hash(previous, content)
        session.execute(insert(chain_rows).values(seq=row.seq, content_hash=content, chain_hash=previous))


def update_event(log: Log) -> None:
    log.session.execute(update(events).where(events.c.seq == log.first[1]).values(actor="user:999"))


def delete_event(log: Log) -> None:
    log.session.execute(delete(links).where(links.c.seq == log.first[2]))
    log.session.execute(delete(events).where(events.c.seq == log.first[2]))


def reorder_events(log: Log) -> None:
    a, b = log.first[1], log.second[1]
    for old, new in ((a, 10_000_000), (b, a), (10_000_000, b)):
        log.session.execute(update(links).where(links.c.seq == old).values(seq=new))
        log.session.execute(update(events).where(events.c.seq == old).values(seq=new))


def truncate_tail(log: Log) -> None:
    """The newest events go, with their chain rows and the last checkpoint."""
    cut = log.second[0]
    log.session.execute(delete(links).where(links.c.seq >= cut))
    log.session.execute(delete(events).where(events.c.seq >= cut))
    log.session.execute(delete(chain_rows).where(chain_rows.c.seq >= cut))
    log.session.execute(delete(checkpoints).where(checkpoints.c.seq >= cut))


def delete_checkpoints_and_recompute(log: Log) -> None:
    log.session.execute(update(events).where(events.c.seq == log.first[1]).values(action=Action.CONTACT_CREATED.value))
    log.session.execute(delete(checkpoints))
    recompute_chain(log.session)


def delete_all_checkpoints(log: Log) -> None:
    log.session.execute(delete(checkpoints))


def unseal_everything(log: Log) -> None:
    """Chain rows and checkpoints go: every event looks as if it was never sealed."""
    log.session.execute(delete(checkpoints))
    log.session.execute(delete(chain_rows))


def edit_unsealed_event(log: Log) -> None:
    log.session.execute(update(events).where(events.c.seq == log.unsealed[1]).values(actor="user:999"))


def repoint_subject_link(log: Log) -> None:
    """The index sends one read of person 2 to person 99: a search by person 2's number misses it."""
    seq = log.first[1]
    log.session.execute(update(links).where(links.c.seq == seq, links.c.subject_id == 2).values(subject_id=99))


def repoint_unsealed_subject_link(log: Log) -> None:
    seq = log.unsealed[0]
    log.session.execute(update(links).where(links.c.seq == seq, links.c.subject_id == 20).values(subject_id=99))


def delete_whole_log(log: Log) -> None:
    for table in (links, chain_rows, checkpoints, events):
        log.session.execute(delete(table))


def replay_event(log: Log) -> None:
    """An old event, MAC and all, copied to the tail as a new one before the sealer runs."""
    row = log.session.execute(select(events).where(events.c.seq == log.first[1])).one()._mapping
    seq = log.session.execute(
        insert(events).values(**{name: value for name, value in row.items() if name != "seq"}).returning(events.c.seq)
    ).scalar_one()
    for subject in json.loads(row["subject_ids"]):
        log.session.execute(insert(links).values(seq=seq, subject_id=subject))
    seal(log)


def empty_witness(log: Log) -> None:
    log.witness.write_text("")  # : > audit-witness.jsonl


def trim_witness(log: Log) -> None:
    log.witness.write_text(log.witness.read_text().splitlines(keepends=True)[0])


def delete_witness(log: Log) -> None:
    log.witness.unlink()


def delete_witness_then_seal(log: Log) -> None:
    """The sealer runs after the witness went: it must not quietly start a new one."""
    log.witness.unlink()
    seal(log)


DATABASE_CASES: dict[str, Callable[[Log], None]] = {
    "update": update_event,
    "delete": delete_event,
    "reorder": reorder_events,
    "truncate tail with chain rows and checkpoint": truncate_tail,
    "delete checkpoints and recompute": delete_checkpoints_and_recompute,
    "delete all checkpoints": delete_all_checkpoints,
    "delete all checkpoints and chain rows": unseal_everything,
    "edit unsealed event": edit_unsealed_event,
    "re-point a subject link": repoint_subject_link,
    "re-point an unsealed subject link": repoint_unsealed_subject_link,
    "delete the whole log": delete_whole_log,
    "replay an old event before sealing": replay_event,
    "empty the witness": empty_witness,
    "trim the witness": trim_witness,
    "delete the witness": delete_witness,
    "delete the witness, then the sealer runs": delete_witness_then_seal,
}


# -- the attacks on an export -----------------------------------------------------------------

def items(lines: list[str]) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(line) for line in lines]


def cut_last_lines(lines: list[str]) -> list[str]:
    """A naive cut: the file simply ends earlier."""
    return lines[: len(lines) - 5]


def truncate_to_first_checkpoint(lines: list[str], head: int, *, witness_too: bool = False) -> list[str]:
    """A careful cut: events after the first checkpoint and the later checkpoints go (and the
    witness lines that name them, with ``witness_too``)."""
    kinds = ("event", "sealed", "checkpoint", "witness") if witness_too else ("event", "sealed", "checkpoint")
    kept = []
    for line, item in zip(lines, items(lines), strict=True):
        seq = item.get("seq") if item["type"] != "event" else item["event"]["seq"]
        if item["type"] in kinds and seq > head:
            continue
        kept.append(line)
    return kept


def resign(lines: list[str], new_key: Ed25519PrivateKey) -> list[str]:
    """Change an event, rebuild the chain, and sign every checkpoint with a key of one's own."""
    out, previous, at_seq = [], chain.GENESIS, {}
    parsed = items(lines)
    for item in parsed:
        if item["type"] == "event":
            if item["event"]["seq"] == 2:
                item["event"]["actor"] = "user:999"
            previous = chain.chain_hash(previous, chain.content_hash(item["event"]))
            item["chain_hash"] = previous.hex()
            at_seq[item["event"]["seq"]] = previous
        elif item["type"] == "sealed":
            previous = chain.chain_hash(previous, bytes.fromhex(item["content_hash"]))
            item["chain_hash"] = previous.hex()
            at_seq[item["seq"]] = previous
    public = new_key.public_key().public_bytes_raw()
    for item in parsed:
        if item["type"] == "header":
            item["public_key"] = public.hex()
        elif item["type"] in ("checkpoint", "witness"):
            head = at_seq[item["seq"]]
            item.update(head_hash=head.hex(), public_key=public.hex(), signature=new_key.sign(chain.checkpoint_message(item["seq"], head)).hex())
        out.append(json.dumps(item))
    return out


def hide_events(lines: list[str]) -> list[str]:
    """Every event line becomes a bare hash, as if it were another account's (header counts kept true)."""
    out = []
    for item in items(lines):
        if item["type"] == "event":
            item = {"type": "sealed", "seq": item["event"]["seq"], "chain_hash": item["chain_hash"],
                    "content_hash": hashlib.sha256(canonical_json(item["event"]).encode()).hexdigest()}
        out.append(item)
    header = out[0]
    moved = sum(item["type"] == "sealed" for item in out) - header.get("sealed", 0)
    if "events" in header:
        header.update(events=0, sealed=header["sealed"] + moved)
    return [json.dumps(item) for item in out]


def drop_a_witness_line(lines: list[str]) -> list[str]:
    last = max(number for number, item in enumerate(items(lines)) if item["type"] == "witness")
    return lines[:last] + lines[last + 1 :]


def export_case(log: Log, attack: str) -> chain.Verification:
    earlier = export(log)  # the auditor saved this one
    seal(log)
    lines = export(log)
    assert verify_file(lines, public_key=public_key(log.keys)).ok
    assert verify_file(lines, since=earlier).ok
    if attack == "export: cut the last lines":
        return verify_file(cut_last_lines(lines), public_key=public_key(log.keys))
    if attack == "export: truncated to an earlier checkpoint":
        return verify_file(truncate_to_first_checkpoint(lines, log.first[-1]), public_key=public_key(log.keys))
    if attack == "export: truncated with its witness lines, checked against a saved export":
        return verify_file(truncate_to_first_checkpoint(lines, log.first[-1], witness_too=True), since=earlier)
    if attack == "export: every event hidden as a sealed line":
        return verify_file(hide_events(lines), public_key=public_key(log.keys))
    if attack == "export: only the header":
        return verify_file(lines[:1], public_key=public_key(log.keys))
    if attack == "export: a witness line removed":
        return verify_file(drop_a_witness_line(lines), public_key=public_key(log.keys))
    if attack == "export: re-signed with a new key":
        return verify_file(resign(lines, Ed25519PrivateKey.generate()))
    if attack == "export: re-signed, checked against the published key":
        return verify_file(resign(lines, Ed25519PrivateKey.generate()), public_key=public_key(log.keys))
    if attack == "export: re-signed, checked against a saved export":
        return verify_file(resign(lines, Ed25519PrivateKey.generate()), since=earlier)
    raise AssertionError(attack)


EXPORT_CASES = [
    "export: cut the last lines",
    "export: truncated to an earlier checkpoint",
    "export: truncated with its witness lines, checked against a saved export",
    "export: re-signed with a new key",
    "export: re-signed, checked against the published key",
    "export: re-signed, checked against a saved export",
    "export: every event hidden as a sealed line",
    "export: only the header",
    "export: a witness line removed",
]


NAMED = {
    "update": "changed after sealing",
    "delete": "was sealed but is missing",
    "reorder": "does not follow the event before it",
    "truncate tail with chain rows and checkpoint": "but the witness has a checkpoint at seq",
    "delete checkpoints and recompute": "missing from the database",
    "delete all checkpoints": "missing from the database",
    "delete all checkpoints and chain rows": "the sealed log ends at seq 0 but the witness has a checkpoint at seq",
    "edit unsealed event": "does not match its MAC",
    "re-point a subject link": "index of events by person does not match event",
    "re-point an unsealed subject link": "index of events by person does not match event",
    "delete the whole log": "the sealed log ends at seq 0 but the witness has a checkpoint at seq",
    "replay an old event before sealing": "is a replay",
    "empty the witness": "is empty but the database has 2 signed checkpoints",
    "trim the witness": "is in the database but missing from the witness",
    "delete the witness": "no witness file at",
    "delete the witness, then the sealer runs": "no witness file at",
    "export: cut the last lines": "signed checkpoint",
    "export: truncated to an earlier checkpoint": "the export ends at seq",
    "export: truncated with its witness lines, checked against a saved export": "before the earlier export's head",
    "export: re-signed with a new key": "refused",
    "export: re-signed, checked against the published key": "signed by an unknown key",
    "export: re-signed, checked against a saved export": "signed by an unknown key",
    "export: every event hidden as a sealed line": "a full export carries no sealed lines",
    "export: only the header": "nothing signed to verify",
    "export: a witness line removed": "the header counts",
}
"""What the auditor is told in each case (a part of one of the problems named)."""


@pytest.mark.parametrize("case", [*DATABASE_CASES, *EXPORT_CASES])
def test_tampering_is_detected(case: str, session: Session, keys: KeyRing, tmp_path: Path) -> None:
    log = build(session, keys, tmp_path)
    before = verify(log)
    assert before.ok and before.unsealed == len(log.unsealed) + 1 and before.witnessed == 2, before.problems  # + an account created
    if case in DATABASE_CASES:
        DATABASE_CASES[case](log)
        result = verify(log)
    else:
        result = export_case(log, case)
    assert not result.ok, f"{case}: passed undetected ({result.events} events, {result.checkpoints} checkpoints)"
    assert any(NAMED[case] in problem for problem in result.problems), result.problems
