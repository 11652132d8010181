"""The declaration of a table that holds personal data (a *holding*), which each domain makes in
its own ``personal_data.py``; ``govsms.registry`` gathers them all.

Retention jobs, data-subject search, export and erasure, the raw-database scan test and the DPA's
Annex II iterate the registry, so a table is covered everywhere once it is declared here. A test
(tests/test_personal_data_registry.py) fails when a table with a ``subject_id``, a ``*_ct`` or a
blind-index column has no declaration.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from sqlmodel import Session


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
    find: Callable[..., object] | None = None
    export: Callable[..., object] | None = None
    erase: Callable[..., object] | None = None
    purge: SelfTimedPurge | None = None
    """Deletes what has expired, by a storage time the domain knows itself."""
    retention_purge: Purge | None = None
    """Deletes what has expired by the account's storage time in force of ``category``: the
    nightly purge calls it per account (legal holds and the storage time handed in)."""

    @property
    def columns(self) -> tuple[str, ...]:
        """Every column this declaration names."""
        return (*self.subject_columns, *self.sealed, *self.blind_indexes, *self.clear)
