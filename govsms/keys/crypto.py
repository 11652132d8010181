"""Encryption of personal data: AES-256-GCM values, HKDF sub-keys, keyed blind indexes, and the
``Vault`` that holds per-subject and per-account data keys (wrapped under the master key).

Value format: version byte | 12-byte random nonce | ciphertext+tag. The associated data binds a
value to its table, column, account and subject, so a value copied into another row or column
does not decrypt; each sealed column is a ``SealedField`` constant in its domain's models module,
so no call site spells a table and column. Every person (an E.164 number within an account) has
a random data key of their own; erasing the person deletes that key, and every copy of their
data (backups, replicas) becomes unreadable.
"""

from __future__ import annotations

import hmac
import os
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from govsms.errors import GovsmsError

FORMAT_V1 = 1
NONCE_BYTES = 12
KEY_BYTES = 32
BLIND_INDEX_BYTES = 16


class DecryptionError(GovsmsError):
    """A value did not decrypt: wrong key, wrong row, or altered bytes. Never shows the value."""


def seal(key: bytes, plaintext: bytes, context: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return bytes([FORMAT_V1]) + nonce + AESGCM(key).encrypt(nonce, plaintext, context)


def unseal(key: bytes, blob: bytes, context: bytes) -> bytes:
    if isinstance(blob, memoryview | bytearray):  # what some drivers give for a BLOB/bytea
        blob = bytes(blob)
    if not isinstance(blob, bytes):  # a text or number in the column (SQLite stores any type anywhere)
        raise DecryptionError("not a stored ciphertext")
    if not blob or blob[0] != FORMAT_V1:
        raise DecryptionError("unknown ciphertext format")
    try:
        return AESGCM(key).decrypt(blob[1 : 1 + NONCE_BYTES], blob[1 + NONCE_BYTES :], context)
    except InvalidTag as exc:
        raise DecryptionError("value does not decrypt in this place with this key") from exc


@lru_cache(maxsize=16)
def master_cipher(key: bytes) -> AESGCM:
    """The AES-GCM object of a master key, kept: bulk paths wrap thousands of keys under it."""
    return AESGCM(key)


def wrap_new_keys(master: bytes, contexts: list[bytes]) -> list[tuple[bytes, bytes]]:
    """Fresh data keys, each wrapped under ``master`` with its own context: (clear, wrapped).
    One call to the random source for all of them."""
    cipher = master_cipher(master)
    randomness = os.urandom((KEY_BYTES + NONCE_BYTES) * len(contexts))
    pairs = []
    for position, context in enumerate(contexts):
        start = position * (KEY_BYTES + NONCE_BYTES)
        key = randomness[start : start + KEY_BYTES]
        nonce = randomness[start + KEY_BYTES : start + KEY_BYTES + NONCE_BYTES]
        pairs.append((key, bytes([FORMAT_V1]) + nonce + cipher.encrypt(nonce, key, context)))
    return pairs


def derive_key(master: bytes, purpose: str, account_id: int | None = None, version: int = 1) -> bytes:
    """A sub-key for one purpose (and account); HKDF-SHA256 with ``info = purpose|account|version``."""
    info = f"{purpose}|{account_id if account_id is not None else '-'}|{version}".encode()
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=info).derive(master)


def blind_index(index_key: bytes, e164: str) -> bytes:
    """HMAC-SHA256 of the E.164 string under the account's index key, truncated to 16 bytes."""
    return hmac.digest(index_key, e164.encode(), "sha256")[:BLIND_INDEX_BYTES]


@dataclass(frozen=True, slots=True)
class SealedField:
    """One sealed column. Its values' associated data is ``table.column|account|owner``, so a
    field with stored values keeps its ``table`` and ``column`` for ever (another spelling, even
    after a table is renamed, makes every stored value unreadable)."""

    table: str
    column: str

    def context(self, account_id: int, owner_id: int) -> bytes:
        """The associated data binding a value to this column, its account and its owner (the row,
        or for a person's own data the person)."""
        return f"{self.table}.{self.column}|{account_id}|{owner_id}".encode()


def seal_field(key: bytes, field: SealedField, account_id: int, owner_id: int, value: bytes | str) -> bytes:
    """``value`` (text as UTF-8) sealed for ``field`` of ``owner_id`` in ``account_id``."""
    return seal(key, value.encode() if isinstance(value, str) else value, field.context(account_id, owner_id))


def unseal_field(key: bytes, field: SealedField, account_id: int, owner_id: int, blob: bytes) -> bytes:
    """The bytes ``seal_field`` sealed; ``DecryptionError`` if they were sealed anywhere else."""
    return unseal(key, blob, field.context(account_id, owner_id))


def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


@dataclass(frozen=True, slots=True)
class Subject:
    """One person within one account: the id other tables refer to, and their data key."""

    id: int
    account_id: int
    key: bytes

    def seal(self, field: SealedField, value: str, *, owner_id: int | None = None) -> bytes:
        """``value`` sealed under this person's key, bound to ``owner_id`` (the person unless given)."""
        return seal_field(self.key, field, self.account_id, self.id if owner_id is None else owner_id, value)

    def unseal(self, field: SealedField, blob: bytes, *, owner_id: int | None = None) -> str:
        return unseal_field(self.key, field, self.account_id, self.id if owner_id is None else owner_id, blob).decode()

    def unseal_or_none(self, field: SealedField, blob: bytes, *, owner_id: int | None = None) -> str | None:
        """The value, or None if it does not decrypt here (altered, or moved from another row):
        a list shows that one row as unreadable instead of failing as a whole."""
        try:
            return self.unseal(field, blob, owner_id=owner_id)
        except DecryptionError:
            return None


class KeyCache:
    """A bounded, thread-safe LRU of unwrapped keys; erasure evicts explicitly. A shredded key's
    name is remembered (as many names as keys, the oldest go first), so another thread that read
    the key just before the shred cannot put it back."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[object, bytes] = OrderedDict()
        self._shredded: OrderedDict[object, None] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, name: object) -> bytes | None:
        with self._lock:
            key = self._items.get(name)
            if key is not None:
                self._items.move_to_end(name)
            return key

    def put(self, name: object, key: bytes) -> None:
        with self._lock:
            if name in self._shredded:
                return
            self._items[name] = key
            self._items.move_to_end(name)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def put_many(self, items: list[tuple[object, bytes]]) -> None:
        with self._lock:
            if self._shredded:
                items = [(name, key) for name, key in items if name not in self._shredded]
            self._items.update(items)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def forget(self, names: list[object]) -> None:
        with self._lock:
            for name in names:
                self._items.pop(name, None)

    def shred(self, names: Iterable[object]) -> None:
        """Forget these keys for good: they were destroyed (their names are never used again)."""
        with self._lock:
            for name in names:
                self._items.pop(name, None)
                self._shredded[name] = None
                self._shredded.move_to_end(name)
            while len(self._shredded) > self.size:
                self._shredded.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
