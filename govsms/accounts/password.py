"""Password hashing (argon2id) and the password policy: length, no control characters, not
built on the person's own address, domain or account name, and hard to guess by the estimate of
``zxcvbn`` (its lists of 30,000 common passwords, names and words, and patterns such as
sequences, repeats, dates and keyboard rows), with our own list of common Swedish words
(``password_words``) beside its English ones."""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterable

from argon2 import Parameters, PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError
from zxcvbn import zxcvbn

from govsms.accounts.password_words import SWEDISH_WORDS
from govsms.i18n import _
from govsms.textfield import CONTROL

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 256
MIN_SCORE = 4
"""zxcvbn's top score: at least 10^10 guesses, which argon2 makes years of work offline."""
ESTIMATED_LENGTH = 72
"""zxcvbn refuses longer input (its matching grows fast with length): a longer passphrase is
judged by its first 72 characters, and the rest only adds to it."""
MIN_OWN_WORD = 4
"""Parts of an address or a name shorter than this are too common to refuse outright (they
still count against the estimate)."""
CONTEXT_WORDS = ("govsms", "sms", "lösenord", "losenord", "hemligt", "välkommen", "valkommen")
"""Words of this service and Swedish counterparts of the lists' favourites ("password",
"secret", "welcome"): the estimator's lists are English."""
_WORD_SPLIT = re.compile(r"[\W_]+")
_PARTS = re.compile(r"[^\W\d_]+|\d+|[\W_]+")
_SWEDISH_RANK = {word: rank for rank, word in enumerate(SWEDISH_WORDS, 1)}
MIN_GUESSES = 10**10
"""What zxcvbn's top score means, for the words-and-decoration estimate below."""
_SURROGATE = re.compile(r"[\ud800-\udfff]")
# zxcvbn keeps the words of the current check in a module-level dictionary: one check at a time.
_estimating = threading.Lock()

HASH_PARAMETERS = profiles.RFC_9106_LOW_MEMORY
"""argon2id with 64 MiB, 3 passes and 4 lanes (RFC 9106's low-memory profile), named here rather
than taken from the library's defaults, which may change. The README and DPA Annex III say
argon2id; a test holds these figures."""

_hasher = PasswordHasher.from_parameters(HASH_PARAMETERS)

# Each argon2 run takes 64 MiB and a core for a while: at most this many at once, so a burst of
# logins queues here instead of taking the machine's memory.
_running = threading.BoundedSemaphore(max(2, os.cpu_count() or 2))

# Hash of a random password: verifying against it when the e-mail is unknown makes a wrong
# e-mail cost as much time as a wrong password, so timing does not reveal who has a login.
_DUMMY_PASSWORD = "govsms-no-such-user-4c1f0b"
_DUMMY_HASH = _hasher.hash(_DUMMY_PASSWORD)


def use_hash_parameters(parameters: Parameters) -> None:
    """Hash new passwords (and the unknown-address stand-in) with ``parameters`` from now on; a
    stored hash is always checked with the parameters written in it. For tests, which make
    thousands of hashes: production keeps ``HASH_PARAMETERS``."""
    global _hasher, _DUMMY_HASH
    _hasher = PasswordHasher.from_parameters(parameters)
    _DUMMY_HASH = _hasher.hash(_DUMMY_PASSWORD)


def own_words(email: str = "", account_name: str = "", others: Iterable[str] = ()) -> list[str]:
    """What a password must not contain: the e-mail address, its local part and domain and their
    parts, and the account's name and its words (lower-case)."""
    words: set[str] = set()
    for address in (email, *others):
        local, _at, domain = (address or "").strip().casefold().partition("@")
        words.update((address.strip().casefold(), local, domain, *_WORD_SPLIT.split(local)))
        labels = domain.split(".")
        for label in labels[:-1] if len(labels) > 1 else labels:
            words.update((label, *_WORD_SPLIT.split(label)))
    name = (account_name or "").casefold()
    words.update((name, "".join(_WORD_SPLIT.split(name)), *_WORD_SPLIT.split(name)))
    return sorted(word for word in words if len(word) >= MIN_OWN_WORD)


def _word_guesses(word: str) -> float:
    folded = word.casefold()
    variants = 1 if word == folded or word[1:] == folded[1:] else 2 if word.isupper() else 4  # the capitals
    rank = _SWEDISH_RANK.get(folded)
    if rank is not None:
        return float(rank * variants)
    return float(zxcvbn(word[:ESTIMATED_LENGTH])["guesses"])


def pattern_guesses(password: str) -> float:
    """Guesses for a password read as words, numbers and punctuation: each word as common as
    zxcvbn or our Swedish list says, a year as one of 200, other digits and punctuation as
    10 per character, a word repeated as one more guess. zxcvbn reads ``2024!!`` between two
    words as six random characters and misses a repeat with something between; this does not
    (``Vinter2023!!Vinter``, ``Tre Kronor 2024!``). Caller holds ``_estimating``."""
    guesses, seen = 1.0, set()
    for part in _PARTS.findall(password):
        if part[0].isdigit():
            guesses *= 200 if len(part) == 4 and 1900 <= int(part) <= 2099 else 10 ** len(part)
        elif not part[0].isalpha():
            guesses *= 10 ** len(part)
        elif part.casefold() in seen:
            guesses *= 2
        else:
            seen.add(part.casefold())
            guesses *= _word_guesses(part)
        if guesses >= MIN_GUESSES:
            return guesses
    return guesses


def check_password_policy(password: str, *, email: str = "", account_name: str = "", others: Iterable[str] = ()) -> str | None:
    """What is wrong with a new password and what to do instead, or None.

    ``email`` is the login's address, ``account_name`` the account's name and ``others`` further
    addresses of the account (its domain counts like the login's own)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return _("Use at least %(count)d characters.") % {"count": MIN_PASSWORD_LENGTH}
    if len(password) > MAX_PASSWORD_LENGTH:
        return _("Use at most %(count)d characters.") % {"count": MAX_PASSWORD_LENGTH}
    if CONTROL.search(password) or "\ufffd" in password:
        return _("The password has an invisible control character or a character that could not be read. Use only characters you can type.")
    if len(set(password)) < 5:
        return _("Use more different characters.")
    words = own_words(email, account_name, others)
    folded = password.casefold()
    if any(word in folded for word in words):
        return _(
            "The password contains your e-mail address, its domain or the account's name, which others can guess. "
            "Choose a password without them."
        )
    with _estimating:
        estimate = zxcvbn(password[:ESTIMATED_LENGTH], user_inputs=[*words, *CONTEXT_WORDS, *SWEDISH_WORDS])
        patterned = pattern_guesses(password[:ESTIMATED_LENGTH]) if estimate["score"] >= MIN_SCORE else 0.0
    if estimate["score"] >= MIN_SCORE and patterned >= MIN_GUESSES:
        return None
    if any(match.get("dictionary_name") == "passwords" for match in estimate["sequence"]):
        return _(
            "This is one of the most common passwords, or built on one: they are the first that attackers try. "
            "Use three or four unrelated words, or a longer password."
        )
    return _(
        "This password is easy to guess: it is made of common words, names, years, sequences such as 1234 "
        "or keyboard rows. Use three or four unrelated words, or a longer password."
    )


def hash_password(password: str) -> str:
    with _running:
        return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether the password is right. One longer than any password can be, or one that is not
    text (a lone surrogate, which no encoding can hash), never is."""
    if len(password) > MAX_PASSWORD_LENGTH or _SURROGATE.search(password):
        password = ""  # still checked against a hash, so the answer takes the usual time
    try:
        with _running:
            return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None and password != ""
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)
