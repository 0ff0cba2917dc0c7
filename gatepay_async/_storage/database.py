"""Where a ledger or a shared journal lives: an SQLite file or a PostgreSQL database.

Both are named by URL: ``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db``,
or a libpq URL ``postgresql://user@host:5432/dbname`` (``postgres://`` too). A query
parameter ``campaign=NAME`` is the SDK's own (which bulk campaign in the database a
journal is); it is taken off before connecting.

:class:`Database` is a small synchronous handle over either: :meth:`Database.transaction`
runs a function in one transaction that commits durably or not at all. SQL is written
once with ``?`` placeholders; PostgreSQL gets them as ``%s``. The async client calls these
functions in a worker thread (``async_run_blocking``): a thread works on asyncio and trio
alike, which psycopg's own async API does not.

SQLite is opened in WAL mode with ``synchronous=FULL`` (a commit is on disk when it
returns), and every write transaction starts with ``BEGIN IMMEDIATE``, so processes on one
host take turns instead of failing. PostgreSQL connections come from a psycopg pool; a
transaction that loses a deadlock or a serialization check is run again (it committed
nothing).
"""

from __future__ import annotations

import os
import re
import sqlite3
import threading
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar

import attrs
import tenacity

from gatepay_async._errors import ValidationError

__all__ = [
    "NOW_MS",
    "Database",
    "DatabaseError",
    "DatabaseURL",
    "Transaction",
    "is_database_url",
    "parse_database_url",
]

T = TypeVar("T")

#: Database files hold card keys: owner only, as the journal file.
FILE_MODE = 0o600
#: How long SQLite waits for another process's write transaction before giving up.
SQLITE_BUSY_SECONDS = 60.0
#: How long opening a PostgreSQL database waits for its server's first answer.
CONNECT_SECONDS = 10
#: How long a PostgreSQL statement waits for a lock another session holds (SQLite's busy
#: timeout's counterpart), unless the URL sets ``lock_timeout`` itself (``options``).
POSTGRES_LOCK_TIMEOUT_MS = 60_000
#: Connections a PostgreSQL pool keeps at most (creates wait for one beyond this).
POSTGRES_POOL_SIZE = 8
#: How long a transaction waits for a pooled PostgreSQL connection by default (psycopg's
#: pool's own default): many creates may share a ledger's few connections.
POSTGRES_POOL_WAIT = 30.0
#: Transactions that lost a deadlock or a serialization check are run again this often.
TRANSACTION_ATTEMPTS = 5

#: The database's clock in milliseconds since the epoch, as SQL: leases are measured on
#: one clock, whatever the clocks of the hosts that share the database say.
NOW_MS = {
    "sqlite": "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)",
    "postgresql": "CAST(extract(epoch FROM clock_timestamp()) * 1000 AS BIGINT)",
}

_BAD_ESCAPE = re.compile("%(?![0-9A-Fa-f]{2})")
_SCHEMES = {"sqlite": "sqlite", "postgresql": "postgresql", "postgres": "postgresql"}
Dialect = Literal["sqlite", "postgresql"]


class DatabaseError(Exception):
    """A database operation failed (unreachable, full disk, I/O). Never holds a key."""


@attrs.frozen
class DatabaseURL:
    """A parsed database URL. ``target`` is the SQLite file, or the libpq conninfo URL
    (password included: never print it; :attr:`display` hides it)."""

    dialect: Dialect
    target: str
    campaign: str = "default"

    @property
    def display(self) -> str:
        """The URL with any password replaced by ``***`` (for messages and logs)."""
        if self.dialect == "sqlite":
            return f"sqlite:///{self.target}"
        parts = urllib.parse.urlsplit(self.target)
        netloc = parts.netloc
        if parts.password is not None:
            netloc = netloc.replace(f":{parts.password}@", ":***@", 1)
        # libpq also takes a password as a parameter (password=, sslpassword=).
        params = [
            (name, "***" if "password" in name.lower() else value)
            for name, value in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
        ]
        query = urllib.parse.urlencode(params, safe="*")
        # Composed by hand: urlunsplit drops the empty host of postgresql:///db.
        return f"{parts.scheme}://{netloc}{parts.path}" + (f"?{query}" if query else "")

    def hide_secrets(self, text: str) -> str:
        """``text`` with the URL's passwords, as written or decoded, replaced by ``***``
        (a driver's message may quote the part of the URL it could not parse)."""
        parts = urllib.parse.urlsplit(self.target)
        secrets = [parts.password or ""]
        secrets += [
            value
            for name, value in urllib.parse.parse_qsl(parts.query)
            if "password" in name.lower()
        ]
        for secret in secrets:
            for form in {secret, urllib.parse.unquote(secret)}:
                if form:
                    text = text.replace(form, "***")
        return text


def is_database_url(value: object) -> bool:
    """True for a ``sqlite:`` or ``postgresql:`` URL string (not a plain path)."""
    if not isinstance(value, str):
        return False
    scheme, sep, _ = value.partition("://")
    return bool(sep) and scheme.lower() in _SCHEMES


def parse_database_url(value: str, *, argument: str) -> DatabaseURL:
    """Parse ``value``; a ValidationError naming ``argument`` when it cannot be used."""
    scheme, sep, rest = value.partition("://")
    dialect = _SCHEMES.get(scheme.lower()) if sep else None
    if dialect is None:
        raise ValidationError(
            argument, "must be a sqlite:/// or postgresql:// URL (or a path, where allowed)"
        )
    location, _, query = rest.partition("?")
    params = urllib.parse.parse_qsl(query, keep_blank_values=True)
    campaign = "default"
    kept: list[tuple[str, str]] = []
    for name, param in params:
        if name == "campaign":
            campaign = param
        else:
            kept.append((name, param))
    if not campaign.strip() or len(campaign) > 200:
        raise ValidationError(argument, "campaign= must name the campaign (1 to 200 characters)")
    if dialect == "sqlite":
        # sqlite:///x.db is the relative path x.db; sqlite:////x.db the absolute /x.db.
        if not location.startswith("/") or location == "/" or kept:
            raise ValidationError(
                argument,
                "a SQLite URL is sqlite:///relative/file.db or sqlite:////absolute/file.db",
            )
        return DatabaseURL("sqlite", location[1:], campaign)
    if _BAD_ESCAPE.search(rest):
        # libpq would refuse it quoting the text around it: the password, perhaps.
        raise ValidationError(
            argument,
            "has a % not followed by two hex digits: percent-encode a password's"
            " special characters (% is %25)",
        )
    target = f"postgresql://{location}"
    if kept:
        target += "?" + urllib.parse.urlencode(kept)
    return DatabaseURL("postgresql", target, campaign)


class Transaction(Protocol):
    """What a transaction's function is given: one cursor, ``?`` placeholders."""

    dialect: Dialect

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one statement; its rows (empty for a statement that returns none)."""

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one statement for each parameter row."""


#: What forked children inherited: their parent's connections, which a child must neither
#: use nor close (its libpq would end the parent's session; SQLite forbids it). Kept
#: referenced, so that no garbage collection closes them.
_INHERITED: list[object] = []


class Database:
    """A ledger's or a shared journal's database. Thread-safe; close it when done.

    Fork-safe: a child process (a web server's worker forked after the app opened its
    client) opens connections of its own on first use instead of sharing its parent's.
    """

    def __init__(self, url: DatabaseURL, *, pool_wait: float = POSTGRES_POOL_WAIT) -> None:
        """``pool_wait``: PostgreSQL only, how long a transaction waits for a connection
        before it fails (a server that went away fails every transaction after this)."""
        self.url = url
        self.dialect: Dialect = url.dialect
        self._closed = False
        self._fork_lock = threading.Lock()
        self._pid = os.getpid()
        self._pool_wait = pool_wait
        self._shared = threading.local()  # the transaction ``together`` runs, per thread
        self._backend = self._open()

    def _open(self) -> _Backend:
        if self.url.dialect == "sqlite":
            return _SQLite(Path(self.url.target))
        return _Postgres(self.url, self._pool_wait)

    def transaction(self, work: Callable[[Transaction], T]) -> T:
        """``work(tx)`` in one transaction, committed (durably) when it returns.

        Raises DatabaseError when the database cannot be reached or written; then
        nothing of ``work`` was committed.
        """
        shared: Transaction | None = getattr(self._shared, "tx", None)
        if shared is not None:  # inside ``together``: one part of its transaction
            try:
                return work(shared)
            except BaseException:
                self._shared.failed = True  # its statements may be half done: undo all
                raise
        if self._closed:
            raise DatabaseError(f"the database {self.url.display} is closed")
        if self._pid != os.getpid():
            self._reopen_in_child()
        return self._backend.transaction(work)

    def together(self, calls: Sequence[Callable[[], Any]]) -> list[tuple[Any, Exception | None]]:
        """Each of ``calls`` (which write through :meth:`transaction`), their
        transactions run as one (group commit): one commit, durable when this returns.

        How each call ended: ``(result, None)`` or ``(None, what it raised)``, exactly as
        if each had run alone. When anything inside the shared transaction fails (a
        statement, or its commit), nothing of it was committed, and every call runs again
        alone, so that one failing call fails no other and each gets what it alone gets.
        """
        if len(calls) == 1:
            return [_ended(calls[0])]
        ended: list[tuple[Any, Exception | None]] = []

        def run_all(tx: Transaction) -> None:
            ended.clear()  # a PostgreSQL transaction may be run again (a deadlock lost)
            self._shared.tx, self._shared.failed = tx, False
            try:
                ended.extend(_ended(call) for call in calls)
            finally:
                self._shared.tx = None
            if self._shared.failed:
                raise _SharedFailed

        try:
            self.transaction(run_all)
        except (_SharedFailed, DatabaseError):
            return [_ended(call) for call in calls]
        return ended

    def _reopen_in_child(self) -> None:
        with self._fork_lock:
            if self._pid != os.getpid():
                _INHERITED.append(self._backend)
                self._backend = self._open()
                self._pid = os.getpid()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            if self._pid == os.getpid():  # a child's inherited connections are not its own
                self._backend.close()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class _SharedFailed(Exception):
    """A part of ``together``'s transaction failed: roll it all back."""


def _ended(call: Callable[[], Any]) -> tuple[Any, Exception | None]:
    try:
        return call(), None
    except Exception as exc:
        return None, exc


class _Backend(Protocol):
    def transaction(self, work: Callable[[Transaction], T]) -> T: ...

    def close(self) -> None: ...


def _use_wal(connection: sqlite3.Connection) -> None:
    """Put the file in WAL mode, waiting for other connections as long as any write does.

    Switching a new file to WAL writes it; when another connection holds a write lock on
    it (a sibling worker creating the same campaign's tables), SQLite answers "locked" at
    once, without its busy wait, to rule out a deadlock. Once one connection has switched
    the file, the statement reads only, so the wait ends as soon as the other commits."""
    for attempt in tenacity.Retrying(
        retry=tenacity.retry_if_exception(_is_locked),
        stop=tenacity.stop_after_delay(SQLITE_BUSY_SECONDS),
        wait=tenacity.wait_random(0.001, 0.05),
        reraise=True,
    ):
        with attempt:
            connection.execute("PRAGMA journal_mode=WAL")


def _is_locked(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc)


class _SQLiteTransaction:
    dialect: Dialect = "sqlite"

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self._connection.execute(sql, params).fetchall()

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self._connection.executemany(sql, rows)


class _SQLite:
    """One connection, one transaction at a time (SQLite writes one at a time anyway)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock = threading.Lock()
        try:
            # Created owner-only before SQLite opens it: it will hold card keys (SQLite
            # gives its -wal and -shm files the same mode).
            for file in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
                _owner_only(file, create=file == path)
            connection = sqlite3.connect(
                path,
                timeout=SQLITE_BUSY_SECONDS,
                isolation_level=None,  # transactions are begun and ended here, explicitly
                check_same_thread=False,  # used by one thread at a time, under the lock
            )
        except (OSError, sqlite3.Error) as exc:
            raise DatabaseError(f"cannot open the database {path}: {_reason(exc)}") from None
        try:
            _use_wal(connection)
            connection.execute("PRAGMA synchronous=FULL")
        except sqlite3.Error as exc:
            connection.close()
            raise DatabaseError(f"cannot open the database {path}: {_reason(exc)}") from None
        self._connection = connection

    def transaction(self, work: Callable[[Transaction], T]) -> T:
        with self._lock:
            connection = self._connection
            try:
                connection.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise DatabaseError(
                    f"cannot write the database {self._path}: {_reason(exc)}"
                ) from None
            try:
                result = work(_SQLiteTransaction(connection))
                connection.execute("COMMIT")
            except BaseException as exc:
                if connection.in_transaction:
                    with suppress(sqlite3.Error):
                        connection.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise DatabaseError(
                        f"cannot write the database {self._path}: {_reason(exc)}"
                    ) from None
                raise
            return result

    def close(self) -> None:
        with self._lock:
            self._connection.close()


def _owner_only(path: Path, *, create: bool) -> None:
    """Create ``path`` owner-only, or make it so if others can read it (a file made
    beforehand, or the -wal/-shm files of an earlier run, which SQLite reuses). A file
    another user owns is left as its owner set it."""
    flags = os.O_RDWR | getattr(os, "O_NOFOLLOW", 0) | (os.O_CREAT if create else 0)
    try:
        fd = os.open(path, flags, FILE_MODE)
    except FileNotFoundError:
        if create:
            raise
        return
    try:
        if os.fstat(fd).st_mode & 0o077:
            with suppress(PermissionError):
                os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)


class _PostgresTransaction:
    dialect: Dialect = "postgresql"

    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        cursor = self._cursor
        cursor.execute(_to_format(sql), params)
        return list(cursor.fetchall()) if cursor.description is not None else []

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self._cursor.executemany(_to_format(sql), rows)


class _Postgres:
    """A psycopg connection pool; each transaction takes one connection."""

    def __init__(self, url: DatabaseURL, pool_wait: float = POSTGRES_POOL_WAIT) -> None:
        try:
            import psycopg
            import psycopg_pool
        except ImportError:
            raise ValidationError(
                "url",
                "a postgresql:// URL needs the PostgreSQL driver: pip install 'gatepay[postgres]'",
            ) from None
        self._psycopg = psycopg
        self._url = url
        self._display = url.display
        try:
            # One connection first: a server that is down or refuses us fails now, with
            # its reason (the pool would retry in the background, logging each failure).
            psycopg.connect(url.target, connect_timeout=CONNECT_SECONDS).close()
            self._pool = psycopg_pool.ConnectionPool(
                url.target,
                min_size=1,
                max_size=POSTGRES_POOL_SIZE,
                kwargs={"autocommit": False},
                # A pooled connection the server ended (a restart, a failover, an idle
                # timeout) is replaced when taken, instead of failing a ledger write
                # while the database is up.
                check=psycopg_pool.ConnectionPool.check_connection,
                configure=_configure_postgres,
                timeout=pool_wait,
                open=False,
                name="gatepay",
            )
            self._pool.open(wait=True, timeout=30.0)
        except (psycopg.Error, psycopg_pool.PoolTimeout) as exc:
            raise DatabaseError(f"cannot connect to {self._display}: {self._reason(exc)}") from None

    def _reason(self, exc: BaseException) -> str:
        return self._url.hide_secrets(_reason(exc))

    def transaction(self, work: Callable[[Transaction], T]) -> T:
        psycopg = self._psycopg
        retry = (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure)
        for attempt in range(TRANSACTION_ATTEMPTS):
            try:
                with (
                    self._pool.connection() as connection,
                    connection.transaction(),
                    connection.cursor() as cursor,
                ):
                    return work(_PostgresTransaction(cursor))
            except retry:
                if attempt + 1 == TRANSACTION_ATTEMPTS:
                    raise DatabaseError(
                        f"cannot write {self._display}: too much contention"
                    ) from None
            except psycopg.Error as exc:
                raise DatabaseError(f"cannot write {self._display}: {self._reason(exc)}") from None
            except Exception as exc:
                if type(exc).__module__.startswith("psycopg_pool"):
                    raise DatabaseError(
                        f"cannot connect to {self._display}: {self._reason(exc)}"
                    ) from None
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        self._pool.close()


def _configure_postgres(connection: Any) -> None:
    """A new pooled connection waits for a lock at most ``POSTGRES_LOCK_TIMEOUT_MS``
    (PostgreSQL's default is for ever: a row locked by an idle session would hang a create,
    even one whose card is issued and waits to be recorded)."""
    row = connection.execute("SHOW lock_timeout").fetchone()
    if row is not None and row[0] == "0":
        connection.execute(f"SET lock_timeout = {int(POSTGRES_LOCK_TIMEOUT_MS)}")
    connection.commit()


def _to_format(sql: str) -> str:
    """``?`` placeholders as psycopg's ``%s`` (the SDK's SQL holds no literal ``?``)."""
    return sql.replace("%", "%%").replace("?", "%s")


def _reason(exc: BaseException) -> str:
    """One line on why, from the driver's message (which never holds the SDK's values:
    every value goes as a parameter)."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


@contextmanager
def opened(url: DatabaseURL) -> Iterator[Database]:
    """A :class:`Database` for ``url``, closed on leaving."""
    database = Database(url)
    try:
        yield database
    finally:
        database.close()
