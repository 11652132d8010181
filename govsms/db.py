"""Engines, sessions and transactions: only ``session_scope()`` and the request dependency commit."""

from __future__ import annotations

import itertools
import logging
import os
import stat
import threading
import zlib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from sqlalchemy import DateTime, Table, event, text
from sqlalchemy.engine import CursorResult, Result
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import sessionmaker
from sqlalchemy.types import TypeDecorator
from sqlmodel import Session, SQLModel, create_engine

SQLITE_BUSY_TIMEOUT_MS = 10_000
DEFAULT_LOCK_TIMEOUT_MS = 5_000
DEFAULT_STATEMENT_TIMEOUT_MS = 30_000
DEFAULT_POOL_SIZE = 36
WAIT_OPTION = "govsms_lock_wait"
"""Execution option: seconds this transaction waits for SQLite's write turn (else the engine's)."""
READ_FIRST_OPTION = "govsms_read_first"
"""Execution option (SQLite): begin without the write turn, so reads never queue; the turn is
taken at the first write. If another writer committed in between, that write fails with
"database is locked" (a stale snapshot) and the caller runs the transaction again
(``is_stale_read``); reads that never write never wait."""
_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLAC", "CREATE", "DROP T", "ALTER ")


class DatabaseBusy(Exception):
    """The database could not take this transaction in time (the write lock, a row lock, a
    statement or the connection pool): nothing was written, and trying again later is safe."""


log = logging.getLogger(__name__)
PRIVATE_FILE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


def make_private(path: Path) -> bool:
    """Take every group and other permission away from an existing file or folder (a warning
    says so); True when there were any. Symbolic links are left alone."""
    try:
        mode = stat.S_IMODE(path.lstat().st_mode)
    except FileNotFoundError:
        return False
    if stat.S_ISLNK(path.lstat().st_mode) or not mode & 0o077:
        return False
    try:
        os.chmod(path, mode & 0o700)
    except OSError as error:  # another owner's file: say so, and let the service start
        log.warning("%s is open to group or others (mode %o) and cannot be changed: %s", path, mode, error.strerror, extra={"event": "file.mode_open"})
        return False
    log.warning("%s was open to group or others (mode %o); it is now %o", path, mode, mode & 0o700, extra={"event": "file.mode_fixed"})
    return True


def protect_data_dir(data_dir: Path, *, create: bool = False) -> None:
    """The data directory is 0700 and nothing in it is open to group or others: created so
    (whatever the umask) or, when it exists, tightened with a warning for each path changed."""
    if create and not data_dir.exists():
        data_dir.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
        os.chmod(data_dir, PRIVATE_DIR_MODE)  # mkdir's mode passes through the umask
    if not data_dir.is_dir():
        return
    make_private(data_dir)
    for folder, folders, files in os.walk(data_dir):
        for name in [*folders, *files]:
            make_private(Path(folder) / name)


def _private_sqlite_file(database: str) -> None:
    """A new database file is made 0600 before SQLite opens it (its WAL, shared-memory and
    journal files take the database's mode); an existing one and those files lose any group or
    other permission, with a warning."""
    path = Path(database)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE))
    except FileExistsError:
        pass
    except OSError:
        return  # a missing folder: SQLite says so when it opens the file
    for file in (path, *(path.with_name(path.name + suffix) for suffix in SQLITE_COMPANIONS)):
        make_private(file)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers run beside the one writer; foreign keys are off by default in SQLite.
    # secure_delete: deleted rows (an erased person's) are overwritten, not left in free pages.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
    # SQLite stores any type in any column: a BLOB turned into TEXT (``x_ct || 'a'``) is not UTF-8,
    # and the driver's own decoding failed the whole query (a 500 for the page). Decoded with
    # replacement, the value reaches ``unseal``, which refuses it as one unreadable row.
    dbapi_connection.text_factory = _decode_text


def _decode_text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


def _sqlite_read_only(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA query_only=ON")  # a write on a reading engine is a bug, not a lock wait
    cursor.close()


class WriteQueue:
    """The one writer of a SQLite database file, queued inside the process.

    SQLite lets one transaction write at a time; left to itself, every other writer spins on
    ``busy_timeout`` and gives up with "database is locked". Here a writing transaction first
    waits its turn on a lock shared by every engine of the process on that file (up to the lock
    timeout, then ``DatabaseBusy``), then takes SQLite's lock with ``BEGIN IMMEDIATE`` (which
    waits only for other processes). The turn ends when the transaction commits or rolls back.
    Reading engines (``make_engine(..., read_only=True)``) never queue: WAL readers see the last
    commit without any lock.
    """

    _queues: dict[str, WriteQueue] = {}
    _registry_lock = threading.Lock()

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._holder: int | None = None  # id() of the DBAPI connection whose turn it is
        self._read_first: set[int] = set()  # connections in a transaction begun without the turn

    @classmethod
    def of(cls, database: str) -> WriteQueue:
        with cls._registry_lock:
            return cls._queues.setdefault(database, cls())

    def begin(self, dbapi_connection: Any, timeout: float, *, read_first: bool = False) -> None:
        if read_first and self._holder != id(dbapi_connection):
            self._read_first.add(id(dbapi_connection))
            dbapi_connection.execute("BEGIN")
            return
        if self._holder != id(dbapi_connection):
            if not self._lock.acquire(timeout=timeout):
                raise DatabaseBusy(f"waited {timeout:.1f} s for the database's write lock")
            self._holder = id(dbapi_connection)
        try:
            dbapi_connection.execute("BEGIN IMMEDIATE")
        except BaseException:
            self.end(dbapi_connection)
            raise

    def before_write(self, dbapi_connection: Any, timeout: float) -> None:
        """A transaction begun without the turn is about to write: it queues for the turn now."""
        if id(dbapi_connection) in self._read_first and self._holder != id(dbapi_connection):
            if not self._lock.acquire(timeout=timeout):
                raise DatabaseBusy(f"waited {timeout:.1f} s for the database's write lock")
            self._holder = id(dbapi_connection)

    def end(self, dbapi_connection: Any) -> None:
        self._read_first.discard(id(dbapi_connection))
        if self._holder == id(dbapi_connection):
            self._holder = None
            self._lock.release()


def _sqlite_engine(url: str, *, read_only: bool, lock_timeout_ms: int, **kwargs: Any) -> Engine:
    parsed = make_url(url)
    if parsed.database and parsed.database != ":memory:" and not parsed.database.startswith("file:"):
        _private_sqlite_file(parsed.database)
    engine = create_engine(
        url, connect_args={"check_same_thread": False, "isolation_level": None}, hide_parameters=True, **kwargs
    )
    event.listen(engine, "connect", _sqlite_pragmas)
    # pysqlite's own transaction handling is off (isolation_level=None): we begin ourselves.
    if read_only:
        event.listen(engine, "connect", _sqlite_read_only)
        event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN"))
        return engine
    database = parsed.database or ""
    queue = WriteQueue.of(str(Path(database).resolve()) if database and database != ":memory:" else f"memory:{id(engine)}")
    timeout = lock_timeout_ms / 1000
    dialect: Any = engine.dialect  # this engine's own: its commit and rollback are wrapped below
    plain_commit, plain_rollback = dialect.do_commit, dialect.do_rollback

    def do_commit(dbapi_connection: Any) -> None:
        try:
            plain_commit(dbapi_connection)
        finally:
            queue.end(dbapi_connection)

    def do_rollback(dbapi_connection: Any) -> None:
        try:
            plain_rollback(dbapi_connection)
        finally:
            queue.end(dbapi_connection)

    dialect.do_commit = do_commit
    dialect.do_rollback = do_rollback
    def begin(conn: Any) -> None:
        options = conn.get_execution_options()
        queue.begin(conn.connection.dbapi_connection, options.get(WAIT_OPTION, timeout), read_first=options.get(READ_FIRST_OPTION, False))

    def before_execute(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if queue._read_first and statement.lstrip()[:6].upper() in _WRITES:
            queue.before_write(conn.connection.dbapi_connection, timeout)

    event.listen(engine, "begin", begin)
    event.listen(engine, "before_cursor_execute", before_execute)
    dialect.govsms_write_queue = (queue, timeout)  # raw writes in _copy claim the turn
    # A connection given back with its transaction still open was rolled back by the pool; one
    # that is invalidated (closed without a rollback) gives its turn back too.
    event.listen(engine, "checkin", lambda dbapi_connection, _record: queue.end(dbapi_connection))
    event.listen(engine, "invalidate", lambda dbapi_connection, _record, _error: queue.end(dbapi_connection))
    return engine


def make_engine(
    url: str, *, read_only: bool = False, pool_size: int = DEFAULT_POOL_SIZE,
    lock_timeout_ms: int = DEFAULT_LOCK_TIMEOUT_MS, statement_timeout_ms: int = DEFAULT_STATEMENT_TIMEOUT_MS,
    **kwargs: Any,
) -> Engine:
    """An engine for SQLite (WAL, foreign keys, the in-process write queue) or PostgreSQL
    (psycopg 3, ``lock_timeout`` and ``statement_timeout`` on every session).

    ``pool_size`` connections are kept; make it at least the number of threads that use the
    engine at once, so no thread that holds a lock ever waits for a connection. Waiting longer
    than the lock timeout for a connection, a lock or a statement raises ``DatabaseBusy`` or a
    driver error that ``is_busy`` recognises: the request answers 503 and nothing was written.
    ``read_only`` (SQLite): reads that never wait for writers and cannot write.

    ``hide_parameters``: SQL errors would otherwise quote bound values (numbers, names) into
    exception texts and from there into logs.
    """
    parsed = make_url(url)
    pool = {} if ":memory:" in url or not parsed.database else {
        "pool_size": pool_size, "max_overflow": 4, "pool_timeout": lock_timeout_ms / 1000,
    }
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url, read_only=read_only, lock_timeout_ms=lock_timeout_ms, **pool, **kwargs)
    if parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() in ("psycopg2", "psycopg", ""):
        parsed = parsed.set(drivername="postgresql+psycopg")
    options = f"-c lock_timeout={lock_timeout_ms} -c statement_timeout={statement_timeout_ms}"
    return create_engine(
        # No pre-ping (a round trip per transaction): connections are recycled, and one that
        # dropped fails its request with 503 (``is_busy``) while the pool replaces it.
        parsed, pool_recycle=1800, hide_parameters=True, connect_args={"options": options}, **pool, **kwargs
    )


def engines_for(settings: Any) -> tuple[Engine, Engine]:
    """The configured database's engine and, on SQLite, a reading engine beside it (on PostgreSQL
    the same engine reads: its readers never wait for writers)."""
    sizes = {"pool_size": settings.threads + 4, "lock_timeout_ms": settings.db_lock_timeout_ms,
             "statement_timeout_ms": settings.db_statement_timeout_ms}
    engine = make_engine(settings.resolved_database_url, **sizes)
    if engine.dialect.name != "sqlite":
        return engine, engine
    return engine, make_engine(settings.resolved_database_url, read_only=True, **sizes)


BUSY_SQLSTATES = frozenset({"55P03", "57014", "40001", "40P01", "53300", "57P03"})
"""lock_not_available, query_canceled (statement_timeout), serialization_failure, deadlock,
too_many_connections, cannot_connect_now."""


def ping(session: Session) -> None:
    """One round trip to the database (``/health``); raises what the driver raises when it is down."""
    session.execute(text("SELECT 1"))


def is_stale_read(error: BaseException) -> bool:
    """A transaction begun with ``READ_FIRST_OPTION`` could not write: run it again."""
    from sqlalchemy.exc import OperationalError

    return isinstance(error, OperationalError) and "database is locked" in str(error.orig).lower()


def is_busy(error: BaseException) -> bool:
    """Whether a database error means "busy, try again" rather than a bug."""
    from sqlalchemy.exc import DBAPIError
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    if isinstance(error, DatabaseBusy | PoolTimeout):
        return True
    if isinstance(error, DBAPIError):
        if error.connection_invalidated:
            return True
        original = error.orig
        if getattr(original, "sqlstate", None) in BUSY_SQLSTATES:
            return True
        text = str(original).lower()
        return "database is locked" in text or "database table is locked" in text
    return False


def make_session_factory(bind: Any, *, vault: Any = None) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit (handlers render them afterwards)
    and carry the vault (``keystore.vault_of(session)``) to every service that encrypts."""
    return sessionmaker(
        bind=bind,
        class_=Session,
        expire_on_commit=False,
        join_transaction_mode="create_savepoint",
        info={"vault": vault},
    )


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One transaction: commit when the block ends, roll back on any exception."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def truncate_sqlite_wal(bind: Engine | Connection) -> None:
    """After a data step replaced clear values: on SQLite, checkpoint the WAL and truncate it, so
    the clear values leave it too (secure_delete overwrites the freed pages of the database).
    Nothing on PostgreSQL. ``bind`` is an engine or one of its connections (a session's bind)."""
    if bind.dialect.name != "sqlite":
        return
    engine = bind if isinstance(bind, Engine) else bind.engine
    raw = engine.raw_connection()  # outside any transaction, as a checkpoint must be
    try:
        raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        raw.close()


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in Python, naive UTC in the column: the same on SQLite and PostgreSQL."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where UTC is required")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


# Named constraints: Alembic can only drop or alter a constraint it can name, and SQLite's
# batch mode needs the names to rebuild a table.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def one_of(column: Any, values: list[Any], dialect_name: str) -> Any:
    """``column IN values`` for a chunk of values. PostgreSQL gets one array parameter
    (``= ANY(:values)``): a 2,000-item IN list is parsed slowly and planned as a scan there."""
    if dialect_name == "postgresql":
        from sqlalchemy import any_, bindparam
        from sqlalchemy.dialects.postgresql import ARRAY

        return column == any_(bindparam(None, value=list(values), type_=ARRAY(column.type), unique=True))
    return column.in_(values)


def insert_unless_taken(session: Session, table: Any, row: dict[str, Any]) -> Any | None:
    """``INSERT ... ON CONFLICT DO NOTHING RETURNING <key>``: the new row's primary key, or None
    when one of its unique values is taken (also by a transaction that commits while this one
    waits for it). A duplicate is never refused by the database, so nothing quotes the value:
    PostgreSQL's log would otherwise say ``Key (email)=(...) already exists``."""
    key = next(iter(table.primary_key.columns))
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return session.execute(pg_insert(table).values(**row).on_conflict_do_nothing().returning(key)).scalar()
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return session.execute(sqlite_insert(table).values(**row).on_conflict_do_nothing().returning(key)).scalar()


def add_unless_taken(session: Session, instance: Any) -> Any | None:
    """``insert_unless_taken`` for a new ORM object: the stored object (loaded in the session),
    or None when a unique value of it is taken."""
    from sqlalchemy import inspect as sa_inspect

    model = type(instance)
    row = {}
    for attribute in sa_inspect(model).column_attrs:
        column = attribute.columns[0]
        value = getattr(instance, attribute.key)
        if value is None and (column.primary_key or column.default is not None or column.server_default is not None):
            continue
        row[column.name] = value
    key = insert_unless_taken(session, model.__table__, row)
    return None if key is None else session.get(model, key)


SMALL_BATCH = 100


def bulk_insert(session: Session, table: Any, rows: list[dict[str, Any]], *, ignore_conflicts: bool = False) -> int | None:
    """Insert many rows (dicts with the same keys) of one table in the session's transaction,
    below SQLAlchemy's per-value type processing; see ``copy_rows``. Returns how many rows were
    inserted where the driver tells (SQLite), else None."""
    if not rows:
        return 0
    columns = list(rows[0])
    if ignore_conflicts and len(rows) < SMALL_BATCH and session.connection().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        session.connection().execute(pg_insert(table).on_conflict_do_nothing(), rows)
        return None
    return copy_rows(session, table, columns, ([row[name] for name in columns] for row in rows), ignore_conflicts=ignore_conflicts)


def copy_rows(
    session: Session, table: Any, columns: list[str], rows: Iterable[Sequence[Any]], *,
    constants: dict[str, Any] | None = None, ignore_conflicts: bool = False,
) -> int | None:
    """Insert rows given as sequences in ``columns`` order, consumed as they are produced;
    ``constants`` are columns with one value for every row (then rows must be tuples).

    PostgreSQL: one binary COPY, so the server inserts while the caller still builds rows (a
    generator keeps both cores busy); ``ignore_conflicts`` copies into a scratch table and inserts
    what is new. SQLite: one raw executemany. Values must be plain (str, int, bytes, None, bool,
    aware UTC datetimes). Returns the inserted count where the driver tells (SQLite), else None."""
    connection = session.connection()
    postgres = connection.dialect.name == "postgresql"
    times = [position for position, name in enumerate(columns) if isinstance(table.c[name].type, UTCDateTime)]
    seen: dict[Any, Any] = {}

    def stored(value: Any) -> Any:
        # What UTCDateTime stores (rows of one batch mostly share a moment, so it is cached):
        # naive UTC for PostgreSQL, the text SQLAlchemy's SQLite DATETIME writes and reads back.
        if value is None:
            return None
        if value not in seen:
            naive = _naive_utc(value)
            seen[value] = naive if postgres else naive.strftime("%Y-%m-%d %H:%M:%S.%f")
        return seen[value]

    def converted() -> Iterator[Sequence[Any]]:
        for row in rows:
            values = list(row)
            for position in times:
                values[position] = stored(values[position])
            yield values

    values = converted() if times else rows
    if constants:
        fixed = tuple(stored(value) if isinstance(table.c[name].type, UTCDateTime) else value for name, value in constants.items())
        values = (tuple(row) + fixed for row in values)
        columns = [*columns, *constants]
    names = ", ".join(f'"{name}"' for name in columns)
    try:
        return _copy(connection, table, columns, names, values, postgres=postgres, ignore_conflicts=ignore_conflicts)
    except connection.dialect.loaded_dbapi.Error as error:
        # The driver's own error, as SQLAlchemy would have raised it (callers catch IntegrityError;
        # a lock or statement timeout is recognised as busy).
        raise DBAPIError.instance(f"bulk insert into {table.name}", None, error, connection.dialect.loaded_dbapi.Error) from error


@contextmanager
def pipelined(session: Session, *, when: bool = True) -> Iterator[None]:
    """On PostgreSQL (and ``when``), the statements of the block go to the server together and
    are answered together (psycopg's pipeline mode): one round trip for writes whose results
    nobody reads, such as ``copy_rows`` of fewer than ``SMALL_BATCH`` rows (a COPY cannot be
    pipelined). An error of any of them is raised at the end of the block, as SQLAlchemy's."""
    connection = session.connection()
    if not when or connection.dialect.name != "postgresql":
        yield
        return
    dbapi = connection.dialect.loaded_dbapi
    driver: Any = connection.connection.driver_connection  # a psycopg connection
    try:
        with driver.pipeline():
            yield
    except dbapi.Error as error:
        raise DBAPIError.instance("pipelined statements", None, error, dbapi.Error) from error


def _copy(connection: Any, table: Any, columns: list[str], names: str, values: Iterable[Sequence[Any]], *, postgres: bool,
          ignore_conflicts: bool) -> int | None:
    if postgres:
        cursor = connection.connection.driver_connection.cursor()
        # A few rows (one SMS, one audit link) go as one INSERT: COPY takes three round trips.
        iterator = iter(values)
        head = list(itertools.islice(iterator, SMALL_BATCH))
        if len(head) < SMALL_BATCH:
            if head:
                row_sql = f"({', '.join('%s' for _ in columns)})"
                conflict = " ON CONFLICT DO NOTHING" if ignore_conflicts else ""
                cursor.execute(
                    f'INSERT INTO "{table.name}" ({names}) VALUES {", ".join(row_sql for _ in head)}{conflict}',
                    [value for row in head for value in row],
                )
            return None
        values = itertools.chain(head, iterator)
        target = f'"{table.name}"'
        if ignore_conflicts:
            # COPY cannot skip conflicts: copy into a scratch table (one per transaction and
            # column set), then insert what is new.
            target = f'"bulk_{table.name}_{zlib.crc32(names.encode()):08x}"'
            cursor.execute(f'CREATE TEMP TABLE IF NOT EXISTS {target} ON COMMIT DROP AS SELECT {names} FROM "{table.name}" WITH NO DATA')
            cursor.execute(f"TRUNCATE {target}")
        with cursor.copy(f"COPY {target} ({names}) FROM STDIN (FORMAT BINARY)") as copy:
            # Binary COPY with declared types: psycopg's C dumpers, no text parsing on the server.
            copy.set_types([_pg_type(table.c[name].type) for name in columns])
            write = copy.write_row
            for row in values:
                write(row)
        if ignore_conflicts:
            cursor.execute(f'INSERT INTO "{table.name}" ({names}) SELECT {names} FROM {target} ON CONFLICT DO NOTHING')
        return None
    conflict = " ON CONFLICT DO NOTHING" if ignore_conflicts else ""
    statement = f'INSERT INTO "{table.name}" ({names}) VALUES ({", ".join("?" for _ in columns)}){conflict}'
    if (queue := getattr(connection.dialect, "govsms_write_queue", None)) is not None:
        queue[0].before_write(connection.connection.dbapi_connection, queue[1])  # past SQLAlchemy's events
    cursor = connection.connection.driver_connection.cursor()
    try:
        cursor.executemany(statement, values)  # sqlite3 takes the rows as they come
        inserted: int = cursor.rowcount
        return inserted
    finally:
        cursor.close()


def _pg_type(column_type: Any) -> str:
    from sqlalchemy.dialects import postgresql

    dialect: Any = postgresql.dialect  # its constructor is not typed
    name: str = column_type.compile(dialect=dialect()).lower()
    name = name.split("(")[0].strip()
    return {"timestamp without time zone": "timestamp", "integer": "int4", "bigint": "int8", "boolean": "bool"}.get(name, name)


def _naive_utc(value: Any) -> Any:
    # What UTCDateTime stores; the bulk path bypasses SQLAlchemy's type processing.
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def rows_in(session: Session, sql: str, fixed: list[Any], values: list[Any]) -> list[Any]:
    """Run ``sql`` where ``{in}`` stands for "<column> is one of values" and ``{p}`` for each
    fixed parameter, straight on the driver: a 2,000-value IN list costs SQLAlchemy more to
    compile than the database to answer. PostgreSQL gets one array parameter."""
    connection = session.connection()
    parameters: tuple[Any, ...]
    if connection.dialect.name == "postgresql":
        # Sent as one text parameter: psycopg builds bytea[]/int[] arrays value by value in Python.
        if values and isinstance(values[0], bytes):
            statement = sql.replace("{p}", "%s").replace("{in}", "IN (SELECT decode(unnest(string_to_array(%s, ',')), 'hex'))")
            parameters = (*fixed, ",".join(value.hex() for value in values))
        elif values and isinstance(values[0], int):
            statement = sql.replace("{p}", "%s").replace("{in}", "= ANY(%s::bigint[])")
            parameters = (*fixed, "{" + ",".join(str(value) for value in values) + "}")
        else:
            statement = sql.replace("{p}", "%s").replace("{in}", "= ANY(%s)")
            parameters = (*fixed, list(values))
    else:
        statement = sql.replace("{p}", "?").replace("{in}", f"IN ({', '.join('?' * len(values))})")
        parameters = (*fixed, *values)
    return cast(list[Any], connection.exec_driver_sql(statement, parameters).all())  # all() makes a list


def table_of(model: type[SQLModel]) -> Table:
    """The table of a table model, typed (SQLModel does not declare ``__table__``), for SQLAlchemy Core."""
    table = model.__table__  # type: ignore[attr-defined]  # set by SQLAlchemy's declarative mapping at class creation
    assert isinstance(table, Table)
    return table


def rowcount(result: Result[Any]) -> int:
    """How many rows an UPDATE or DELETE touched (0 when the driver does not say)."""
    return cast(CursorResult[Any], result).rowcount or 0
