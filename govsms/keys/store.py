"""The key store: per-subject and per-account data keys, wrapped under the master key, and the
``Vault`` that finds or creates them in batches (one query per chunk, never per number).

The key store tables live in the main database unless ``GOVSMS_KEYSTORE_URL`` names another
one, so that backups of the main database carry no keys. Other tables refer to ``subject_key.id``
without a foreign key for that reason.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Column, Integer, LargeBinary, Table, UniqueConstraint, bindparam, delete, event, exists, func, select, text, update
from sqlalchemy import column as sql_column, table as sql_table
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker
from sqlmodel import Field, Session, SQLModel, col

from govsms.db import SMALL_BATCH, UTCDateTime, bulk_insert, copy_rows, one_of, rows_in, table_of
from govsms.errors import ConfigurationError
from govsms.keys.crypto import DecryptionError, KeyCache, Subject, blind_index, new_data_key, seal, unseal, wrap_new_keys
from govsms.keys.ring import KeyRing
from govsms.settings import Settings
from govsms.tenancy import owned_by

log = logging.getLogger(__name__)
CHUNK = 5000
INDEX_PURPOSE = "index"
DATA_PURPOSE = "data"
ACCOUNT_PURPOSES = (INDEX_PURPOSE, DATA_PURPOSE)
"""The blind-index key and the account data key: made with the account (``create_account_keys``)."""
SUBJECT_COLUMNS = ["id", "blind_index", "wrapped_key"]
"""What differs per new subject; account, master key and time are the same for a whole batch."""
Item = TypeVar("Item")


class SubjectKey(SQLModel, table=True):
    """A data subject (a number within an account): its blind index and its wrapped data key."""

    __tablename__ = "subject_key"
    __table_args__ = (UniqueConstraint("account_id", "blind_index"),)

    id: int | None = Field(default=None, primary_key=True)
    account_id: int
    """Searched through the unique (account_id, blind_index) index."""
    blind_index: bytes = Field(sa_column=Column(LargeBinary(16), nullable=False))
    """HMAC of the E.164 number under the account's index key: equality search, no number."""
    wrapped_key: bytes = Field(sa_column=Column(LargeBinary(), nullable=False))
    kek_id: str = Field(max_length=16)
    """Which master key wraps ``wrapped_key``; rotation re-wraps until none name the old one
    (a rare scan, not worth an index that every new subject pays for)."""
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class AccountKey(SQLModel, table=True):
    """An account-level key (the blind-index key, the account data key), wrapped."""

    __tablename__ = "account_key"

    account_id: int = Field(primary_key=True)
    purpose: str = Field(primary_key=True, max_length=16)
    wrapped_key: bytes = Field(sa_column=Column(LargeBinary(), nullable=False))
    kek_id: str = Field(max_length=16, index=True)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class SubjectShred(SQLModel, table=True):
    """The shred log: one row per destroyed subject key, in the key store's database. Every
    process reads the rows after the highest ``seq`` it has seen before it uses a cached key, so
    a key shredded anywhere is forgotten everywhere; on SQLite new subject ids start above every
    shredded one, so no id names two people."""

    __tablename__ = "subject_shred"
    __table_args__ = {"sqlite_autoincrement": True}

    seq: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    account_id: int
    subject_id: int = Field(index=True)
    shredded_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


SUBJECTS = table_of(SubjectKey)
SHREDS = table_of(SubjectShred)


def subject_wrap_context(account_id: int, index: bytes) -> bytes:
    return f"subject_key|{account_id}|{index.hex()}".encode()


def account_wrap_context(account_id: int, purpose: str) -> bytes:
    return f"account_key|{account_id}|{purpose}".encode()


def _chunks(items: list[Item], size: int = CHUNK) -> Iterator[list[Item]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _subject_rows(store: Session, account_id: int, column: str, values: list[Any], *, share: bool = False) -> list[Any]:
    """The subject_key rows of these values; ``share``: locked FOR SHARE until the transaction ends."""
    return rows_in(
        store, f"SELECT id, account_id, blind_index, wrapped_key, kek_id FROM subject_key WHERE account_id = {{p}} AND {column} {{in}}"
        + (" FOR SHARE" if share else ""),
        [account_id], values,
    )


def _insert_ignoring_duplicates(session: Session, table: Table, rows: list[dict[str, Any]]) -> int | None:
    return bulk_insert(session, table, rows, ignore_conflicts=True)


class Vault:
    """Finds, creates, unwraps and forgets data keys. One per process; sessions carry it."""

    def __init__(self, keys: KeyRing, keystore: sessionmaker[Session] | None = None, cache_size: int = 100_000) -> None:
        self.keys = keys
        self.keystore = keystore
        self.cache = KeyCache(cache_size)
        self.shreds_seen: int | None = None
        """The highest ``subject_shred.seq`` this vault has read (None: not yet looked)."""

    def _kek(self, kek_id: str) -> bytes:
        try:
            return self.keys.master_keys[kek_id]
        except KeyError:
            raise ConfigurationError(
                f"Master key {kek_id!r} still wraps data keys but is not configured: put it back in "
                "GOVSMS_MASTER_KEYS (or the key file) and finish `govsms keys rotate` before removing it."
            ) from None

    @contextmanager
    def key_store(self, session: Session) -> Iterator[Session]:
        """The session holding the keys: the caller's, or a separate key-store transaction.

        A separate store commits new keys at once; a key whose data was then rolled back is an
        orphan holding nothing readable, which retention removes.
        """
        if self.keystore is None:
            yield session
            return
        with self.keystore() as store:
            yield store
            store.commit()

    # -- account keys ----------------------------------------------------------------------------

    def account_key(self, session: Session, account_id: int, purpose: str, *, now: datetime) -> bytes:
        name = ("account", account_id, purpose)
        cached = self.cached(session, name)
        if cached is not None:
            return cached
        context = account_wrap_context(account_id, purpose)
        with self.key_store(session) as store:
            row = store.get(AccountKey, (account_id, purpose))
            committed = True
            if row is None:
                committed = self._insert_account_key(store, account_id, purpose, now, own_transaction=True)
                row = store.get(AccountKey, (account_id, purpose), populate_existing=True)
            assert row is not None
            key = unseal(self._kek(row.kek_id), row.wrapped_key, context)
            if not committed:
                self._cache_when_committed(store, [(name, key)])
                return key
        self.cache.put(name, key)
        return key

    def cached(self, session: Session, name: object) -> bytes | None:
        """A key from this session's own uncommitted ones, else from the process's cache."""
        pending = session.info.get(("vault_pending", id(self)))
        if pending:
            key: bytes | None = pending.get(name)
            if key is not None:
                return key
        return self.cache.get(name)

    def _forget(self, store: Session, names: Sequence[object], *, shredded: Sequence[object] = ()) -> None:
        """Forget these keys in the process's cache and in ``store``'s uncommitted ones; the
        ``shredded`` ones for good (the cache never takes them again)."""
        pending = store.info.get(("vault_pending", id(self)))
        if pending:
            for name in [*names, *shredded]:
                pending.pop(name, None)
        self.cache.forget(list(names))
        if shredded:
            self.cache.shred(shredded)

    def _cache_when_committed(self, store: Session, items: list[tuple[object, bytes]]) -> None:
        """Keys written in ``store``'s open transaction: only this session uses them until its
        transaction commits, and only then do they enter the process's cache. A key another
        thread took from the cache while the transaction was open would seal data under a key
        that a rollback takes away (or, on SQLite, an id that the next insert gives to someone
        else)."""
        if self.keystore is not None:  # a separate key store has committed them already
            self.cache.put_many(items)
            return
        pending: dict[object, bytes] | None = store.info.get(("vault_pending", id(self)))
        if pending is None:
            pending = store.info[("vault_pending", id(self))] = {}

            def after_commit(session: Session) -> None:
                if session.in_nested_transaction():  # a savepoint released: not committed yet
                    return
                mine = session.info[("vault_pending", id(self))]
                self.cache.put_many(list(mine.items()))
                mine.clear()

            def after_transaction_end(session: Session, transaction: Any) -> None:
                if transaction.parent is None:  # committed (and cached above) or rolled back
                    session.info[("vault_pending", id(self))].clear()

            event.listen(store, "after_commit", after_commit)
            event.listen(store, "after_transaction_end", after_transaction_end)
        pending.update(items)

    def create_account_keys(self, session: Session, account_id: int, *, now: datetime) -> None:
        """An account's keys, made with the account: no request ever has to create them."""
        with self.key_store(session) as store:
            for purpose in ACCOUNT_PURPOSES:  # nobody else sees the new account yet
                self._insert_account_key(store, account_id, purpose, now, own_transaction=False)

    def _insert_account_key(self, store: Session, account_id: int, purpose: str, now: datetime, *, own_transaction: bool) -> bool:
        """Insert a new wrapped key unless one exists. An account made before its keys were
        made with it gets them here; on PostgreSQL in a short transaction of its own, so that
        concurrent first requests do not wait on a row one of them left uncommitted. True: it
        was committed in that transaction of its own."""
        row = dict(
            account_id=account_id, purpose=purpose, kek_id=self.keys.active_id, created_at=now,
            wrapped_key=seal(self.keys.active_key, new_data_key(), account_wrap_context(account_id, purpose)),
        )
        bind = store.get_bind()
        if own_transaction and isinstance(bind, Engine) and bind.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            with bind.begin() as own:
                own.execute(pg_insert(table_of(AccountKey)).on_conflict_do_nothing(), [row])
            return True
        _insert_ignoring_duplicates(store, table_of(AccountKey), [row])
        return False

    def blind_indexes(self, session: Session, account_id: int, numbers: Iterable[str], *, now: datetime) -> dict[str, bytes]:
        index_key = self.account_key(session, account_id, INDEX_PURPOSE, now=now)
        return {number: blind_index(index_key, number) for number in numbers}

    # -- the shred log ---------------------------------------------------------------------------

    def _catch_up(self, store: Session) -> None:
        """Forget every cached key that any process shredded since this vault last looked (one
        indexed query on the shred log, nearly always empty). The first look notes where the log
        stands, before anything is cached."""
        if self.shreds_seen is None:
            self.shreds_seen = store.execute(select(func.coalesce(func.max(SHREDS.c.seq), 0))).scalar_one()
            return
        rows = store.execute(
            select(SHREDS.c.account_id, SHREDS.c.subject_id, SHREDS.c.seq).where(SHREDS.c.seq > self.shreds_seen)
        ).all()
        if rows:
            self._forget(store, [], shredded=[(account_id, subject_id) for account_id, subject_id, _seq in rows])
            self.shreds_seen = max(self.shreds_seen, max(seq for _account, _subject, seq in rows))

    def _log_shreds(self, store: Session, pairs: list[tuple[int, int]], now: datetime) -> None:
        """Write the shred log rows of keys deleted in ``store``'s transaction. On PostgreSQL the
        log is locked first (readers are not held up), so shreds commit in the order of their
        sequence numbers: a process that has read up to one has seen every earlier one."""
        if not pairs:
            return
        if store.get_bind().dialect.name == "postgresql":
            store.execute(text("LOCK TABLE subject_shred IN SHARE ROW EXCLUSIVE MODE"))
        copy_rows(store, SHREDS, ["account_id", "subject_id"], pairs, constants={"shredded_at": now})

    def shredded(self, session: Session, pairs: Iterable[tuple[int, int]]) -> set[tuple[int, int]]:
        """Which of these (account id, subject id) the shred log names: the last look of the
        worker before it hands messages to the SMSC."""
        wanted = set(pairs)
        found: set[tuple[int, int]] = set()
        if not wanted:
            return found
        with self.key_store(session) as store:
            dialect = store.get_bind().dialect.name
            for chunk in _chunks(sorted({subject_id for _account, subject_id in wanted})):
                found.update(
                    (account_id, subject_id) for account_id, subject_id in store.execute(
                        select(SHREDS.c.account_id, SHREDS.c.subject_id).where(one_of(SHREDS.c.subject_id, chunk, dialect))
                    ) if (account_id, subject_id) in wanted
                )
            self._forget(store, [], shredded=list(found))
        return found

    # -- subjects --------------------------------------------------------------------------------

    def _unwrap(self, store: Session, row: Any) -> Subject:
        cached = self.cached(store, (row.account_id, row.id))
        if cached is None:
            cached = unseal(
                self._kek(row.kek_id), row.wrapped_key, subject_wrap_context(row.account_id, row.blind_index)
            )
            self.cache.put((row.account_id, row.id), cached)
        return Subject(id=row.id, account_id=row.account_id, key=cached)

    def find_subjects(self, session: Session, account_id: int, numbers: Iterable[str], *, now: datetime) -> dict[str, Subject]:
        """Subjects that exist for these E.164 numbers; unknown numbers are absent."""
        indexes = self.blind_indexes(session, account_id, set(numbers), now=now)
        by_index = {index: number for number, index in indexes.items()}
        found: dict[str, Subject] = {}
        with self.key_store(session) as store:
            if self.shreds_seen is None:
                self._catch_up(store)
            for chunk in _chunks(list(by_index)):
                for row in _subject_rows(store, account_id, "blind_index", chunk):
                    found[by_index[row.blind_index]] = self._unwrap(store, row)
        return found

    def subjects(
        self, session: Session, account_id: int, numbers: Iterable[str], *, now: datetime, indexes: dict[str, bytes] | None = None
    ) -> dict[str, Subject]:
        """Get or create the subject of every number: the known ones read in chunks, the new ones
        streamed in at once. ``indexes`` (number -> blind index) saves computing them again."""
        if indexes is None:
            indexes = self.blind_indexes(session, account_id, set(numbers), now=now)
        by_index = {index: number for number, index in indexes.items()}
        found: dict[str, Subject] = {}
        with self.key_store(session) as store:
            if self.shreds_seen is None:
                self._catch_up(store)
            # With the keys in the main database on PostgreSQL, the existing keys a send reads are
            # locked FOR SHARE until it commits: an erasure's shred (a DELETE) waits for the send,
            # and its final sweep then sees the send's rows (govsms.subjects.erasure).
            share = self.keystore is None and store.get_bind().dialect.name == "postgresql"
            if len(by_index) < SMALL_BATCH and store.get_bind().dialect.name == "postgresql":
                # A few numbers (an SMS or two): insert first, read back only the known ones, so a
                # new number costs one statement.
                created = self._create_few_subjects(store, account_id, list(by_index), now, share=share)
                self._cache_when_committed(store, [((account_id, subject.id), subject.key) for subject in created.values()])
                return {by_index[index]: subject for index, subject in created.items()}
            missing = []
            for chunk in _chunks(list(by_index)):
                existing = {row.blind_index: row for row in _subject_rows(store, account_id, "blind_index", chunk, share=share)}
                for index in chunk:
                    row = existing.get(index)
                    if row is None:
                        missing.append(index)
                    else:
                        found[by_index[index]] = self._unwrap(store, row)
            created = self._create_subjects(store, account_id, missing, now)
            self._cache_when_committed(store, [((account_id, subject.id), subject.key) for subject in created.values()])
        for index, subject in created.items():
            found[by_index[index]] = subject
        return found

    def _create_subjects(self, store: Session, account_id: int, missing: list[bytes], now: datetime) -> dict[bytes, Subject]:
        """New subjects for these blind indexes, keys wrapped while the rows stream into the table.

        The ids are known without reading the rows back: on PostgreSQL they come from the
        sequence up front (which never hands an id out twice); SQLite writes under one lock (BEGIN
        IMMEDIATE), and the rows go in with the ids after the highest of the table and of the
        shred log. If another transaction created some of the numbers meanwhile, the rows are
        read back and its keys win."""
        if not missing:
            return {}
        postgres = store.get_bind().dialect.name == "postgresql"
        if postgres:
            # One array of ids from the sequence (a row per id costs more to fetch than to make).
            ids: Sequence[int] = store.connection().exec_driver_sql(
                "SELECT array_agg(nextval(sequence.name)) FROM (SELECT pg_get_serial_sequence('subject_key', 'id')::regclass AS name)"
                " AS sequence, generate_series(1, %s)",
                (len(missing),),
            ).scalar_one()
        else:
            # Above every shredded id too: an id the access log links to never names another person.
            highest = store.execute(select(func.max(
                select(func.coalesce(func.max(SUBJECTS.c.id), 0)).scalar_subquery(),
                select(func.coalesce(func.max(SHREDS.c.subject_id), 0)).scalar_subquery(),
            ))).scalar_one()
            ids = range(highest + 1, highest + 1 + len(missing))
        created: dict[bytes, Subject] = {}
        ours: dict[bytes, bytes] = {}  # wrapped -> clear

        def rows() -> Iterator[tuple[Any, ...]]:
            for start in range(0, len(missing), CHUNK):
                chunk = missing[start : start + CHUNK]
                pairs = wrap_new_keys(self.keys.active_key, [subject_wrap_context(account_id, index) for index in chunk])
                for subject_id, index, (key, wrapped) in zip(ids[start : start + CHUNK], chunk, pairs, strict=True):
                    created[index] = Subject(id=subject_id, account_id=account_id, key=key)
                    ours[wrapped] = key
                    yield (subject_id, index, wrapped)

        constants = {"account_id": account_id, "kek_id": self.keys.active_id, "created_at": now}
        if postgres:
            try:
                with store.begin_nested():
                    copy_rows(store, SUBJECTS, SUBJECT_COLUMNS, rows(), constants=constants)
                return created
            except IntegrityError:
                # Insert ours where the number is still new (same wrapped keys, ids from the table).
                copy_rows(
                    store, SUBJECTS, SUBJECT_COLUMNS[1:],
                    ((index, wrapped) for (wrapped, _key), index in zip(ours.items(), created, strict=True)),
                    constants=constants, ignore_conflicts=True,
                )
        elif copy_rows(store, SUBJECTS, SUBJECT_COLUMNS, rows(), constants=constants, ignore_conflicts=True) == len(missing):
            return created
        found: dict[bytes, Subject] = {}
        for chunk in _chunks(missing):
            for row in _subject_rows(store, account_id, "blind_index", chunk):
                key = ours.get(row.wrapped_key)
                found[row.blind_index] = self._unwrap(store, row) if key is None else Subject(id=row.id, account_id=account_id, key=key)
        return found

    def _create_few_subjects(
        self, store: Session, account_id: int, missing: list[bytes], now: datetime, *, share: bool = False,
    ) -> dict[bytes, Subject]:
        """The subjects of a few numbers on PostgreSQL (one SMS): one INSERT that skips numbers
        that have a subject already (or that a concurrent transaction creates) and returns the new
        ids; the others are read back (``share``: FOR SHARE). A key deleted (shredded) between the
        two is inserted anew."""
        found: dict[bytes, Subject] = {}
        wanted = sorted(missing)  # two transactions inserting the same numbers lock them in one order
        for _attempt in range(3):
            pairs = wrap_new_keys(self.keys.active_key, [subject_wrap_context(account_id, index) for index in wanted])
            values = ", ".join("(%s, %s, %s, %s, %s)" for _ in wanted)
            parameters = [
                value for index, (_key, wrapped) in zip(wanted, pairs, strict=True)
                for value in (account_id, index, wrapped, self.keys.active_id, now.astimezone(UTC).replace(tzinfo=None))
            ]
            inserted = store.connection().exec_driver_sql(
                f"INSERT INTO subject_key (account_id, blind_index, wrapped_key, kek_id, created_at) VALUES {values}"
                " ON CONFLICT DO NOTHING RETURNING id, blind_index",
                tuple(parameters),
            ).all()
            keys = dict(zip(wanted, (key for key, _wrapped in pairs), strict=True))
            found.update(
                (bytes(index), Subject(id=subject_id, account_id=account_id, key=keys[bytes(index)])) for subject_id, index in inserted
            )
            rest = [index for index in wanted if index not in found]
            if rest:
                for row in _subject_rows(store, account_id, "blind_index", rest, share=share):
                    found[bytes(row.blind_index)] = self._unwrap(store, row)
            wanted = [index for index in wanted if index not in found]
            if not wanted:
                return found
        raise RuntimeError("subject keys kept changing while they were read")  # pragma: no cover - three shreds in a row

    def subject(self, session: Session, account_id: int, number: str, *, now: datetime) -> Subject:
        return self.subjects(session, account_id, [number], now=now)[number]

    def subjects_by_id(self, session: Session, account_id: int, subject_ids: Iterable[int]) -> dict[int, Subject]:
        """Unwrap keys of known subjects of one account (a missing id was erased)."""
        wanted = set(subject_ids)
        found: dict[int, Subject] = {}
        if not wanted:
            return found
        with self.key_store(session) as store:
            self._catch_up(store)  # a key shredded by any process is not returned from the cache
            uncached = []
            for subject_id in wanted:
                key = self.cached(store, (account_id, subject_id))
                if key is None:
                    uncached.append(subject_id)
                else:
                    found[subject_id] = Subject(id=subject_id, account_id=account_id, key=key)
            for chunk in _chunks(uncached):
                for row in _subject_rows(store, account_id, "id", chunk):
                    try:
                        found[row.id] = self._unwrap(store, row)
                    except DecryptionError:
                        # A damaged wrapped key: that person's rows cannot be read (absent, as
                        # if erased); every other row of the page still can.
                        log.warning("a subject key cannot be unwrapped: subject %s", row.id,
                                    extra={"event": "key.unreadable", "account_id": account_id})
        return found

    def indexes_of(self, session: Session, account_id: int, subject_ids: list[int]) -> dict[int, bytes]:
        """The blind index of each known subject (an erased one is absent)."""
        found: dict[int, bytes] = {}
        with self.key_store(session) as store:
            for chunk in _chunks(list(subject_ids)):
                found.update((row.id, row.blind_index) for row in _subject_rows(store, account_id, "id", chunk))
        return found

    def shred(self, session: Session, account_id: int, subject_ids: Iterable[int], *, now: datetime) -> int:
        """Delete the subjects' data keys: whatever was encrypted under them is gone for good.
        The shred log gets a row per deleted key in the same key-store transaction, so every other
        process forgets its cached copy once this commits (with the keys in the main database,
        make this the last write of the transaction: the log stays locked until the commit)."""
        wanted = sorted(set(subject_ids))
        gone: list[tuple[int, int]] = []
        with self.key_store(session) as store:
            for chunk in _chunks(wanted):
                result = store.execute(
                    delete(SUBJECTS).where(owned_by(SubjectKey, account_id), SUBJECTS.c.id.in_(chunk)).returning(SUBJECTS.c.id)
                )
                gone.extend((account_id, subject_id) for subject_id in result.scalars())
            self._log_shreds(store, gone, now)
            self._forget(store, [(account_id, subject_id) for subject_id in wanted], shredded=list(gone))
        return len(gone)


KEY_GRACE = timedelta(days=1)
"""A subject key younger than this is never destroyed as unused: the data it was made for may be
in a transaction still open (or, with a separate key store, rolled back a moment ago)."""


def destroy_unused_subject_keys(session: Session, referencing: Sequence[tuple[str, str]], *, now: datetime, limit: int) -> int:
    """Delete up to ``limit`` subject keys that no row of the ``referencing`` (table, subject
    column) pairs names any more, and forget them in this process's key cache: what they protected
    is gone, so they protect nothing. Returns how many keys went.

    The caller lists the references (``govsms.registry.subject_references``). With the keys in the
    main database one statement per batch finds them (NOT EXISTS per referencing table); with a
    separate key store (``GOVSMS_KEYSTORE_URL``) the candidates are read there in batches, their
    references looked up in the main database, and the unused ones deleted in the key store."""
    vault = vault_of(session)
    cut = now - KEY_GRACE
    destroyed = 0
    after = 0
    while destroyed < limit:
        batch = min(CHUNK, limit - destroyed)
        with vault.key_store(session) as store:
            if vault.keystore is None:
                unused = _unreferenced(store, referencing, cut=cut, after=after, limit=batch)
                candidates = unused
            else:
                candidates = [
                    (row[0], row[1]) for row in store.execute(
                        select(SUBJECTS.c.id, SUBJECTS.c.account_id)
                        .where(SUBJECTS.c.id > after, SUBJECTS.c.created_at < cut).order_by(SUBJECTS.c.id).limit(batch)
                    )
                ]
                referenced = _referenced(session, referencing, [subject_id for subject_id, _account in candidates])
                unused = [(subject_id, account_id) for subject_id, account_id in candidates if subject_id not in referenced]
            if not candidates:
                break
            after = max(subject_id for subject_id, _account in candidates)
            deleted: list[tuple[int, int]] = []
            if unused:
                statement = delete(SubjectKey).where(col(SubjectKey.id).in_([subject_id for subject_id, _account in unused]))
                if vault.keystore is None:  # checked again in the deleting statement itself
                    statement = statement.where(*_no_reference(referencing))
                deleted = [(row[1], row[0]) for row in store.execute(statement.returning(SUBJECTS.c.id, SUBJECTS.c.account_id))]
                vault._log_shreds(store, deleted, now)
                destroyed += len(deleted)
            vault._forget(store, [(account_id, subject_id) for subject_id, account_id in unused], shredded=deleted)
    return destroyed


def _no_reference(referencing: Sequence[tuple[str, str]]) -> list[Any]:
    conditions = []
    for table_name, column_name in referencing:
        holder = sql_table(table_name, sql_column(column_name))
        conditions.append(~exists().where(holder.c[column_name] == SUBJECTS.c.id))
    return conditions


def _unreferenced(store: Session, referencing: Sequence[tuple[str, str]], *, cut: datetime, after: int, limit: int) -> list[tuple[int, int]]:
    """(id, account id) of keys in the main database that nothing references, from ``after`` on."""
    rows = store.execute(
        select(SUBJECTS.c.id, SUBJECTS.c.account_id)
        .where(SUBJECTS.c.id > after, SUBJECTS.c.created_at < cut, *_no_reference(referencing))
        .order_by(SUBJECTS.c.id).limit(limit)
    )
    return [(row[0], row[1]) for row in rows]


def _referenced(session: Session, referencing: Sequence[tuple[str, str]], subject_ids: list[int]) -> set[int]:
    """Which of these subject ids a row of the main database still names."""
    found: set[int] = set()
    if not subject_ids:
        return found
    for table_name, column_name in referencing:
        holder = sql_table(table_name, sql_column(column_name))
        found.update(session.execute(select(holder.c[column_name]).where(holder.c[column_name].in_(subject_ids)).distinct()).scalars())
    return found


def make_vault(settings: Settings, keys: KeyRing) -> Vault:
    """The process's vault: keys in the main database, or in ``GOVSMS_KEYSTORE_URL``'s."""
    if not settings.keystore_url:
        return Vault(keys)
    from govsms.db import make_engine, make_session_factory

    return Vault(keys, keystore=make_session_factory(make_engine(settings.keystore_url)))


def keystore_factory(settings: Settings, keys: KeyRing) -> sessionmaker[Session]:
    """Sessions on the database that holds the data keys: ``GOVSMS_KEYSTORE_URL``'s, else the
    main database's (with the vault, like every session on it)."""
    vault = make_vault(settings, keys)
    if vault.keystore is not None:
        return vault.keystore
    from govsms.db import make_engine, make_session_factory

    return make_session_factory(make_engine(settings.resolved_database_url), vault=vault)


def vault_of(session: Session) -> Vault:
    """The vault travels with every session the app, the CLI and the jobs open."""
    vault: Vault | None = session.info.get("vault")
    if vault is None:
        raise RuntimeError("this session was opened without a vault (make_session_factory(..., vault=))")
    return vault


def rewrap_step(store: Session, keys: KeyRing, *, limit: int = CHUNK) -> int:
    """Re-wrap up to ``limit`` data keys not yet under the active master key; 0 when done.

    Each step is its own transaction (the caller commits), so a stopped rotation resumes where it
    was and a finished one does nothing: the data itself is never re-encrypted.
    """
    done = 0
    tables: list[tuple[type[SubjectKey] | type[AccountKey], Callable[[Any], bytes]]] = [
        (SubjectKey, lambda row: subject_wrap_context(row.account_id, row.blind_index)),
        (AccountKey, lambda row: account_wrap_context(row.account_id, row.purpose)),
    ]
    for table, context_of in tables:
        rows = store.execute(select(table).where(col(table.kek_id) != keys.active_id).limit(limit - done)).scalars().all()
        if not rows:
            continue
        updates = []
        for row in rows:
            if row.kek_id not in keys.master_keys:
                raise ConfigurationError(f"Master key {row.kek_id!r} is needed to re-wrap; put it back first.")
            key = unseal(keys.master_keys[row.kek_id], row.wrapped_key, context_of(row))
            updates.append({"wrapped": seal(keys.active_key, key, context_of(row)), "kek": keys.active_id, **_pk(table, row)})
        statement = update(table).values(wrapped_key=bindparam("wrapped"), kek_id=bindparam("kek"))
        for column in table_of(table).primary_key.columns:
            statement = statement.where(column == bindparam(f"pk_{column.name}"))
        store.connection().execute(statement, updates)
        done += len(rows)
        if done >= limit:
            break
    return done


def _pk(table: type[SQLModel], row: SQLModel) -> dict[str, object]:
    return {f"pk_{column.name}": getattr(row, column.name) for column in table_of(table).primary_key.columns}


def keys_by_master_key(store: Session) -> dict[str, int]:
    """How many data keys each master key wraps (``keys rotate`` progress and safety check)."""
    counts: dict[str, int] = {}
    for table in (SubjectKey, AccountKey):
        for kek_id, count in store.execute(select(col(table.kek_id), func.count()).group_by(col(table.kek_id))):
            counts[kek_id] = counts.get(kek_id, 0) + count
    return counts
