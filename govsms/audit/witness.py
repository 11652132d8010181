"""The witness: every signed checkpoint, also appended to a file outside the database.

Someone who can write the database can delete the newest events with their chain rows and the
checkpoint that signed them, and what is left still verifies. The witness keeps each signed head
where a database writer does not reach: one JSON line per checkpoint, opened with ``O_APPEND``,
readable by its owner only (0600), flushed to disk before the sealer goes on. ``verify`` names
every checkpoint of the witness that the database lacks, and a log that ends before the witness
does. The sealer writes it only after the checkpoint is committed, so the witness never holds
a checkpoint the database did not keep.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from govsms.audit.record import canonical_json

WITNESS_MODE = 0o600


@dataclass(frozen=True)
class WitnessEntry:
    """One signed checkpoint: "the chain up to ``seq`` ends in ``head_hash``"."""

    seq: int
    head_hash: bytes
    public_key: bytes
    signature: bytes
    signed_at: str

    def item(self, kind: str = "checkpoint") -> dict[str, object]:
        return {
            "type": kind, "seq": self.seq, "head_hash": self.head_hash.hex(), "public_key": self.public_key.hex(),
            "signature": self.signature.hex(), "signed_at": self.signed_at,
        }

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> WitnessEntry:
        """Raises KeyError, TypeError or ValueError for anything but a well-formed entry (``item``
        is parsed JSON: each member is checked here)."""
        seq = item["seq"]
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
            raise ValueError("seq")
        entry = cls(
            seq=seq,
            head_hash=bytes.fromhex(item["head_hash"]),
            public_key=bytes.fromhex(item["public_key"]),
            signature=bytes.fromhex(item["signature"]),
            signed_at=str(item.get("signed_at", "")),
        )
        if len(entry.head_hash) != 32 or len(entry.public_key) != 32 or len(entry.signature) != 64:
            raise ValueError("length")
        return entry


@dataclass
class Witness:
    """A witness file as read: its well-formed entries, and what was wrong with the rest."""

    path: str
    entries: list[WitnessEntry] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    missing: bool = False
    """No file at ``path``: compared with a database that has checkpoints, that fails."""


def _fsync_directory(path: Path) -> None:
    directory = os.open(path, os.O_RDONLY)
    try:
        os.fsync(directory)  # a new or replaced file's name survives a crash too
    finally:
        os.close(directory)


def append_witness(path: Path, entries: Iterable[WitnessEntry]) -> None:
    """Append entries and flush them to disk; creates the file (0600) and its folder (0700)."""
    data = "".join(canonical_json(entry.item()) + "\n" for entry in entries).encode()
    if not data:
        return
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    created = not path.exists()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, WITNESS_MODE)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    finally:
        os.close(fd)
    if created:
        _fsync_directory(path.parent)


def replace_witness(path: Path, entries: Iterable[WitnessEntry]) -> None:
    """Write the witness anew (``govsms audit seal --rebuild-witness``): a new 0600 file beside
    it, flushed, then renamed over it, so a crash leaves the old file or the whole new one."""
    data = "".join(canonical_json(entry.item()) + "\n" for entry in entries).encode()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    new = path.with_name(path.name + ".new")
    fd = os.open(new, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, WITNESS_MODE)
    try:
        os.fchmod(fd, WITNESS_MODE)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(new, path)
    _fsync_directory(path.parent)


def parse_witness(lines: Iterable[str | bytes], source: str) -> Witness:
    witness = Witness(path=source)
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            if not isinstance(item, dict) or item.get("type") != "checkpoint":
                raise ValueError("type")
            witness.entries.append(WitnessEntry.from_item(item))
        except (KeyError, TypeError, ValueError, UnicodeDecodeError):
            witness.problems.append(f"line {number} of the witness {source} is not a checkpoint")
    return witness


def read_witness(path: Path | None) -> Witness | None:
    """The witness at ``path``; None when there is no such file (nothing sealed here yet, or the
    sealer runs on another machine)."""
    if path is None:
        return None
    try:
        with open(path, "rb") as file:
            return parse_witness(file, str(path))
    except FileNotFoundError:
        return None


def witness_to_compare(path: Path) -> Witness:
    """The witness ``govsms audit verify`` compares the database with: a missing file is an
    empty witness marked missing (it fails once the database has signed checkpoints)."""
    return read_witness(path) or Witness(path=str(path), missing=True)
