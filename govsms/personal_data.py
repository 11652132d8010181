"""The declaration of a table that holds personal data (a *holding*), which each domain makes in
its own ``personal_data.py``; ``govsms.registry`` gathers them all.

Retention jobs, data-subject search, export and erasure, the raw-database scan test and the DPA's
Annex II iterate the registry, so a table is covered everywhere once it is declared here. A test
(tests/test_personal_data_registry.py) fails when a table with a ``subject_id``, a ``*_ct`` or a
blind-index column has no declaration.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from sqlmodel import Session

from govsms.keys.crypto import Subject


class Link(StrEnum):
    """How a row is tied to the person it is about."""

    SUBJECT_ID = "subject_id"
    """A column holds the data subject's id (its key in ``subject_key``)."""
    BLIND_INDEX = "blind_index"
    """A keyed hash of the person's number finds the rows (no subject id is stored)."""
    ACCOUNT = "account"
    """Only through the customer's account, or a parent row named by ``Holding.via``: the rows
    are found by reading them (a name in a sealed field, a user of the account)."""


class SelfTimedPurge(Protocol):
    """Deletes the rows whose storage time is up, a time the domain knows itself (login sessions,
    uploaded files: their own job runs it every 15 minutes); returns how many went."""

    def __call__(self, session: Session, *, now: datetime) -> int: ...


class Purge(Protocol):
    """The retention purge (``govsms.retention.purge``) of a holding: deletes one account's rows whose storage time is up: rows from before ``before`` (the
    domain may keep later ones it still needs, such as days not yet rolled up into the
    statistics), none of a number whose blind index is in ``held`` (a legal hold), at most
    ``limit`` rows of the holding's table per call, so that the caller loops in short
    transactions until fewer than ``limit`` went. Returns how many went; with ``dry_run`` it
    deletes nothing and returns how many would go (all of them, ``limit`` aside)."""

    def __call__(
        self, session: Session, *, account_id: int, before: datetime, held: frozenset[bytes], limit: int, dry_run: bool = False,
    ) -> int: ...


@dataclass(frozen=True)
class Person:
    """One data subject of one account, as a data-subject request names them (``govsms.subjects``
    builds it from the number the DPO typed)."""

    account_id: int
    blind_index: bytes
    """The number's blind index under the account's index key (``Vault.blind_indexes``)."""
    subject: Subject | None
    """Their data key and id; None when the account holds no key for the number (then only
    blind-indexed rows, a blocklist entry or a legal hold, can be about them)."""
    e164: str = ""
    """The number in E.164 form; empty when an interrupted erasure resumes (erasing works from
    ``subject`` and ``blind_index`` alone)."""

    @property
    def subject_id(self) -> int | None:
        return self.subject.id if self.subject is not None else None


@dataclass(frozen=True)
class Found:
    """What one holding holds about one person, as the search shows it to the DPO (the search is
    an audited read, so ``lines`` may name things in clear: group names, a blocklist source)."""

    table: str
    count: int
    """Rows about the person (0: nothing; the search leaves the holding out)."""
    first_at: datetime | None = None
    last_at: datetime | None = None
    lines: tuple[str, ...] = ()
    """Short facts, already translated (``_()``): "Group: Board", "Dispatch 42", "Blocked by opt-out"."""


class Find(Protocol):
    """What the holding holds about ``person`` (None or a count of 0: nothing). One or two
    indexed queries: the search runs every holding's find and must stay fast."""

    def __call__(self, session: Session, person: Person) -> Found | None: ...


class Export(Protocol):
    """Every value the holding holds about ``person``, decrypted, as JSON-ready records (datetimes
    as ISO 8601 strings, ids as ints): the access export's machine-readable part (GDPR Art. 15/20)."""

    def __call__(self, session: Session, person: Person) -> list[dict[str, object]]: ...


class Erase(Protocol):
    """Deletes up to ``limit`` of the holding's rows about ``person`` (and what only they made
    necessary, e.g. a dispatch's text once every recipient is erased); returns how many rows of
    the holding's own table went. The erasure calls it, one transaction per call, until it
    returns fewer than ``limit``: a call after an interruption deletes what is left. Idempotent."""

    def __call__(self, session: Session, person: Person, *, limit: int, now: datetime) -> int: ...


@dataclass(frozen=True)
class Holding:
    """One table's personal data: where it is, whose it is, how long it is kept, and the domain's
    functions that act on it (``None`` where the function does not exist yet)."""

    table: str
    link: Link
    category: str
    """A key of ``govsms.retention.categories.CATEGORIES`` (checked by a test)."""
    description: str
    """What personal data the table holds, in a few words (marked for translation: Annex II
    lists it)."""
    subject_columns: tuple[str, ...] = ()
    """Columns holding a data subject's id (``Link.SUBJECT_ID``; others may hold one too)."""
    sealed: tuple[str, ...] = ()
    """Columns encrypted with a data key (``*_ct``)."""
    blind_indexes: tuple[str, ...] = ()
    """Columns holding a keyed hash (HMAC) of a number or a name."""
    clear: tuple[str, ...] = ()
    """Columns that hold personal data in clear (a user's e-mail address, a token that finds a
    recipient's message): said here so that nobody takes them for harmless."""
    via: str = ""
    """The parent table through which rows link to a subject (``message_part`` through
    ``outbound_message``), when the table has no link column of its own."""
    find: Find | None = None
    """What the data-subject search shows of this holding (None: nothing per person to show)."""
    export: Export | None = None
    """The holding's values in the access export (None: nothing per person to hand over)."""
    erase: Erase | None = None
    """How a data-subject erasure deletes the person's rows (None: erasure keeps them; ``kept``
    says why)."""
    kept: str = ""
    """Why an erasure keeps this holding's rows about the person, marked for translation (the
    preview and the receipt say it). Empty when ``erase`` is set, unless ``erase`` only runs on
    the person's explicit wish (``erase_on``)."""
    erase_on: str = ""
    """An erasure option that must be chosen for ``erase`` to run (``"unblock"``: the blocklist
    entry goes only when the person asks to be unblocked); empty: ``erase`` always runs."""
    purge: SelfTimedPurge | None = None
    """Deletes what has expired, by a storage time the domain knows itself."""
    retention_purge: Purge | None = None
    """Deletes what has expired by the account's storage time in force of ``category``: the
    nightly purge calls it per account (legal holds and the storage time handed in)."""

    @property
    def columns(self) -> tuple[str, ...]:
        """Every column this declaration names."""
        return (*self.subject_columns, *self.sealed, *self.blind_indexes, *self.clear)
