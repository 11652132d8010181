"""Keys: the master key ring, the process secret and the audit signing key, from the
environment or the key file.

The key file (``<data_dir>/keys.json``, mode 0600) is written once by ``govsms init``. In
production the keys come from ``GOVSMS_MASTER_KEYS`` and ``GOVSMS_SECRET_KEY`` instead, so the
data directory never holds them next to the data.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from govsms.errors import ConfigurationError
from govsms.settings import Settings

MASTER_KEY_BYTES = 32


@dataclass(frozen=True)
class KeyRing:
    """Master keys by id; ``active_id`` wraps new data keys, the others only unwrap."""

    master_keys: dict[str, bytes]
    active_id: str
    secret_key: str
    audit_signing_seed: bytes
    """Ed25519 private key seed that signs audit checkpoints; never rotated with the master keys."""

    @property
    def active_key(self) -> bytes:
        return self.master_keys[self.active_id]


def parse_master_keys(value: str) -> tuple[dict[str, bytes], str]:
    """``id:base64[,id:base64...]``; the first entry is the active key."""
    keys: dict[str, bytes] = {}
    for entry in (part.strip() for part in value.split(",") if part.strip()):
        key_id, sep, encoded = entry.partition(":")
        if not sep or not key_id:
            raise ConfigurationError("GOVSMS_MASTER_KEYS: each entry must be id:base64key")
        try:
            key = base64.b64decode(encoded, validate=True)
        except ValueError as exc:
            raise ConfigurationError(f"GOVSMS_MASTER_KEYS: key {key_id!r} is not valid base64") from exc
        if len(key) != MASTER_KEY_BYTES:
            raise ConfigurationError(f"GOVSMS_MASTER_KEYS: key {key_id!r} must be {MASTER_KEY_BYTES} bytes")
        keys[key_id] = key
    if not keys:
        raise ConfigurationError("GOVSMS_MASTER_KEYS is empty")
    return keys, next(iter(keys))


def new_master_key_entry(key_id: str) -> str:
    return f"{key_id}:{base64.b64encode(secrets.token_bytes(MASTER_KEY_BYTES)).decode()}"


def write_key_file(path: Path) -> bool:
    """Create the key file with fresh keys, readable by the owner only; False if it exists."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    content = {
        "master_keys": new_master_key_entry("k1"),
        "secret_key": secrets.token_urlsafe(48),
        "audit_signing_key": base64.b64encode(secrets.token_bytes(32)).decode(),
    }
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as key_file:
        json.dump(content, key_file, indent=2)
    return True


def add_master_key_to_file(path: Path) -> str:
    """Put a new master key first (active) in the key file, keeping the others; returns its id.

    Written to a temporary file and renamed, so a crash leaves the old file or the new one.
    """
    content = json.loads(path.read_text())
    keys, _ = parse_master_keys(content["master_keys"])
    number = 1 + max((int(key_id[1:]) for key_id in keys if key_id[1:].isdigit()), default=0)
    new_id = f"k{number}"
    content["master_keys"] = ",".join([new_master_key_entry(new_id), content["master_keys"]])
    _replace(path, content)
    return new_id


def remove_master_key_from_file(path: Path, key_id: str) -> None:
    content = json.loads(path.read_text())
    entries = [entry for entry in content["master_keys"].split(",") if entry.split(":", 1)[0] != key_id]
    content["master_keys"] = ",".join(entries)
    _replace(path, content)


def _replace(path: Path, content: dict[str, str]) -> None:
    temporary = path.with_suffix(".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as key_file:
        json.dump(content, key_file, indent=2)
        key_file.flush()
        os.fsync(key_file.fileno())
    os.replace(temporary, path)


def load_key_ring(settings: Settings) -> KeyRing:
    """The environment wins; otherwise the key file; otherwise say how to create one."""
    file_content: dict[str, str] = {}
    if settings.key_file.exists():
        mode = settings.key_file.stat().st_mode & 0o777
        if mode & 0o077:
            raise ConfigurationError(
                f"The key file {settings.key_file} is readable by others (mode {mode:o}); run chmod 600 on it."
            )
        file_content = json.loads(settings.key_file.read_text())
    master_value = settings.master_keys or file_content.get("master_keys")
    secret_key = settings.secret_key or file_content.get("secret_key")
    signing_value = settings.audit_signing_key or file_content.get("audit_signing_key")
    if not master_value or not secret_key or not signing_value:
        raise ConfigurationError(
            "No keys: set GOVSMS_MASTER_KEYS, GOVSMS_SECRET_KEY and GOVSMS_AUDIT_SIGNING_KEY, or run "
            f"`govsms init` to write {settings.key_file}."
        )
    keys, active = parse_master_keys(master_value)
    try:
        seed = base64.b64decode(signing_value, validate=True)
    except ValueError as exc:
        raise ConfigurationError("GOVSMS_AUDIT_SIGNING_KEY is not valid base64") from exc
    if len(seed) != MASTER_KEY_BYTES:
        raise ConfigurationError(f"GOVSMS_AUDIT_SIGNING_KEY must be {MASTER_KEY_BYTES} bytes")
    return KeyRing(master_keys=keys, active_id=active, secret_key=secret_key, audit_signing_seed=seed)
