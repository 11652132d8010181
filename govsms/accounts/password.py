"""Password hashing (argon2id) and the password policy."""

from __future__ import annotations

import os
import threading

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from govsms.i18n import _

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 256

_hasher = PasswordHasher()  # argon2id with the library's RFC 9106 low-memory profile

# Each argon2 run takes 64 MiB and a core for a while: at most this many at once, so a burst of
# logins queues here instead of taking the machine's memory.
_running = threading.BoundedSemaphore(max(2, os.cpu_count() or 2))

# Hash of a random password: verifying against it when the e-mail is unknown makes a wrong
# e-mail cost as much time as a wrong password, so timing does not reveal who has a login.
_DUMMY_HASH = _hasher.hash("govsms-no-such-user-4c1f0b")


def check_password_policy(password: str) -> str | None:
    """What is wrong with a new password, or None."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return _("Use at least %(count)d characters.") % {"count": MIN_PASSWORD_LENGTH}
    if len(password) > MAX_PASSWORD_LENGTH:
        return _("Use at most %(count)d characters.") % {"count": MAX_PASSWORD_LENGTH}
    if len(set(password)) < 5:
        return _("Use more different characters.")
    return None


def hash_password(password: str) -> str:
    with _running:
        return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        with _running:
            return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)
