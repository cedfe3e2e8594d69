"""The store: one SQLite file, one writer thread, readers on their own connections.

Every write is a function submitted to the writer thread, which runs it in
``BEGIN IMMEDIATE`` ... ``COMMIT`` (in a savepoint of its own, so that writes
that queue up share one commit and one fsync) and returns its result to the
caller once the commit is on disk (``synchronous=FULL`` in WAL mode fsyncs every commit).
That is what "stored durably before it is deleted from the modem" and
"on disk before the HTTP reply" rest on.  Readers use their own connection per
thread; WAL lets them read while the writer writes.

Two implementations share :class:`Store`'s interface: :class:`SqliteStore` (this module, the
default) and ``PgStore`` (:mod:`appliance.store.pg`, when ``database_url`` is set; psycopg is
imported only then).  :func:`appliance.store.engines.open_store` picks one.  The domain writes SQLite's SQL; the
PostgreSQL store translates it (:mod:`appliance.store.dialect`).  The schema and its named
migrations are :mod:`appliance.store.migrations`; the store applies the missing ones before it
takes any work.
"""

from __future__ import annotations

import queue
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit

from appliance.errors import StoreClosed
from appliance.store.dialect import SQLITE, Dialect
from appliance.store.migrations import migrate
from appliance.store.outage import Outage

T = TypeVar("T")
MAX_BATCH = 64  # writes committed together when they queue up (group commit)
Row = sqlite3.Row


class Cursor(Protocol):
    """What a statement returns, on either engine."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def fetchmany(self, size: int = ...) -> list[Any]: ...


class Conn(Protocol):
    """A write transaction's connection, on either engine: SQLite's SQL, translated by the
    PostgreSQL one (:attr:`dialect` says which)."""

    dialect: Dialect

    def execute(self, sql: str, parameters: Any = ..., /) -> Any: ...

    def executemany(self, sql: str, parameters: Any, /) -> Any: ...


class SqliteConn(sqlite3.Connection):
    """``sqlite3.Connection`` with the :class:`Conn` protocol's ``dialect`` (nothing else)."""

    dialect = SQLITE


def redact_url(text: str, url: str) -> str:
    """``text`` with ``url``'s password masked wherever it appears (an error message may
    quote the connection string)."""
    try:
        password = urlsplit(url).password
    except ValueError:
        password = None
    if not password:
        at = url.rfind("@")
        colon = url.find(":", url.find("//") + 2)
        password = url[colon + 1 : at] if 0 <= colon < at else None
    return text.replace(password, "***") if password else text


class _Waiter:
    """What :meth:`Store.write` blocks on: a lock the writer releases once the outcome is set.

    A :class:`~concurrent.futures.Future` does the same with a Condition, a lock allocated
    per wait and callbacks; this is the one hand-over per write, taken by every REST create.
    """

    __slots__ = ("_done", "_ok", "_value")

    def __init__(self) -> None:
        self._done = threading.Lock()
        self._done.acquire()  # released by the writer with the outcome
        self._ok = False
        self._value: Any = None

    def set_running_or_notify_cancel(self) -> bool:
        return True  # a write cannot be cancelled

    def set_result(self, value: Any) -> None:
        self._ok, self._value = True, value
        self._done.release()

    def set_exception(self, error: BaseException) -> None:
        self._value = error
        self._done.release()

    def result(self) -> Any:
        self._done.acquire()
        value, self._value = self._value, None
        if self._ok:
            return value
        raise value


_Work = tuple[Callable[[sqlite3.Connection], Any], "Future[Any] | _Waiter"]


class _Reader:
    """A thread's read connection, closed when the thread ends.

    The thread-local slot drops this holder when its thread ends; the connection itself
    would wait for a garbage collection (CPython 3.11's statement cache makes a cycle of
    it), keeping two file descriptors per ended thread open meanwhile.
    """

    __slots__ = ("__weakref__", "conn")

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __del__(self) -> None:
        self.conn.close()


class Store:
    """The interface the domain uses, whichever engine is underneath."""

    dialect: Dialect = SQLITE
    # Names this database among others (the scheduler's key); the PostgreSQL URL's password
    # is never in it.
    key: str = ""
    on_commit: Callable[[float], None] | None = None
    # Whether the database answers (appliance.store.outage); only PostgreSQL's ever goes down.
    outage: Outage

    @property
    def available(self) -> bool:
        return not self.outage.down

    def submit(self, fn: Callable[[sqlite3.Connection], T]) -> Future[T]:
        raise NotImplementedError

    def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        raise NotImplementedError

    def read(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> list[Row]:
        raise NotImplementedError

    def snapshot(self, dest: Path | str) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def announce(self, channel: str, payload: str) -> None:
        """Tell the other nodes of a fleet (PostgreSQL's NOTIFY); a single box has none."""

    def listen(self, channels: tuple[str, ...], heard: Callable[[str, str | None], None]) -> None:
        """Call ``heard(channel, payload)`` for what other nodes :meth:`announce` (on a thread
        of the store's), and ``heard("", None)`` after a lost connection (what was announced
        meanwhile is lost: look at everything).  A single box has nobody to hear."""

    def read_one(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> Row | None:
        rows = self.read(sql, params)
        return rows[0] if rows else None

    def commit_one(self, sql: str, params: tuple[Any, ...] = ()) -> list[Row]:
        """One statement in a transaction of its own, its rows once committed (on PostgreSQL
        without BEGIN and COMMIT: one round trip)."""
        rows: list[Row] = self.write(lambda conn: conn.execute(sql, params).fetchall())
        return rows

    # -- settings --------------------------------------------------------------------------

    def setting(self, key: str) -> str | None:
        row = self.read_one("SELECT value FROM settings WHERE key = ?", (key,))
        return None if row is None else str(row[0])

    def ensure_setting(self, key: str, make: Callable[[], str]) -> str:
        """Return the setting, creating it with ``make()`` on first use.

        Nodes of a fleet starting together on a new database may both make it: the first
        commit wins (``ON CONFLICT DO NOTHING``, then read back), so all share one AuthToken."""

        def fn(conn: sqlite3.Connection) -> str:
            row = conn.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
            if row is not None:
                return str(row[0])
            conn.execute(
                "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING",
                (key, make()),
            )
            row = conn.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
            return str(row[0])

        return self.write(fn)


class SqliteStore(Store):
    """SQLite database with a single writer thread."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.key = str(self.path.resolve())
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._queue: queue.SimpleQueue[_Work | None] = queue.SimpleQueue()
        self._local = threading.local()
        self._readers: weakref.WeakSet[_Reader] = weakref.WeakSet()
        self._closed = False
        self.outage = Outage()  # never begins: a file has no server to lose
        # Told each commit's duration in seconds, on the writer thread (the metrics' histogram).
        self.on_commit: Callable[[float], None] | None = None
        ready: Future[None] = Future()
        self._thread = threading.Thread(
            target=self._run_writer, args=(ready,), name="store writer", daemon=True
        )
        self._thread.start()
        ready.result()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path,
            isolation_level=None,
            check_same_thread=False,
            timeout=30,
            factory=SqliteConn,
        )
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=30000")
        # Redacted message bodies must not survive in freed pages (not every build defaults to it).
        conn.execute("PRAGMA secure_delete=ON")
        return conn

    def _run_writer(self, ready: Future[None]) -> None:
        """Infinite loop that protects the single write connection."""
        try:
            conn = self._connect()
            migrate(conn)
        except BaseException as e:  # noqa: BLE001
            ready.set_exception(e)
            return
        ready.set_result(None)
        stopping = False
        while not stopping:
            batch = [self._queue.get()]
            while len(batch) < MAX_BATCH:  # group commit: whatever else is already waiting
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            work = []
            for item in batch:
                if item is None:
                    stopping = True
                elif item[1].set_running_or_notify_cancel():
                    work.append(item)
            if work:
                started = time.monotonic()
                self._commit_batch(conn, work)
                if self.on_commit is not None:
                    try:
                        self.on_commit(time.monotonic() - started)
                    except Exception:  # noqa: BLE001 - an observer must not stop the writer
                        pass
        conn.close()

    @staticmethod
    def _commit_batch(conn: sqlite3.Connection, work: list[_Work]) -> None:
        """Run each function in its own savepoint, all in one transaction and one fsync.

        Each function stays atomic (a failure rolls back only its savepoint) and its
        caller hears the outcome only after the COMMIT is on disk.
        """
        if len(work) == 1:  # alone: its transaction is its savepoint (two statements fewer)
            SqliteStore._commit_one(conn, *work[0])
            return
        outcomes: list[tuple[bool, Any]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for fn, _future in work:
                conn.execute("SAVEPOINT task")
                try:
                    result = fn(conn)
                except BaseException as e:  # noqa: BLE001 - handed to the caller
                    conn.execute("ROLLBACK TO task")
                    conn.execute("RELEASE task")
                    outcomes.append((False, e))
                else:
                    conn.execute("RELEASE task")
                    outcomes.append((True, result))
            conn.execute("COMMIT")
        except BaseException as e:  # noqa: BLE001 - the commit itself failed: nobody's work is on disk
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            for _fn, future in work:
                future.set_exception(e)
            return
        for (ok, value), (_fn, future) in zip(outcomes, work, strict=True):
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)

    @staticmethod
    def _commit_one(
        conn: sqlite3.Connection,
        fn: Callable[[sqlite3.Connection], Any],
        future: Future[Any] | _Waiter,
    ) -> None:
        """:meth:`_commit_batch` for a batch of one: a failure rolls back the transaction."""
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = fn(conn)
            except BaseException as e:  # noqa: BLE001 - handed to the caller
                conn.execute("ROLLBACK")
                future.set_exception(e)
                return
            conn.execute("COMMIT")
        except BaseException as e:  # noqa: BLE001 - BEGIN or COMMIT failed: nothing is on disk
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            future.set_exception(e)
            return
        future.set_result(result)

    def submit(self, fn: Callable[[sqlite3.Connection], T]) -> Future[T]:
        """Queue ``fn(conn)`` to run in its own transaction on the writer thread."""
        if self._closed:
            raise StoreClosed("the store is closed")
        future: Future[T] = Future()
        self._queue.put((fn, future))
        return future

    def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(conn)`` in a transaction on the writer thread; return once committed."""
        if self._closed:
            raise StoreClosed("the store is closed")
        waiter = _Waiter()
        self._queue.put((fn, waiter))
        return waiter.result()  # type: ignore[no-any-return]

    def read(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> list[Row]:
        """Run a query on this thread's read connection."""
        if self._closed:
            raise StoreClosed("the store is closed")
        reader: _Reader | None = getattr(self._local, "reader", None)
        if reader is None:
            reader = self._local.reader = _Reader(self._connect())
            self._readers.add(reader)
        return reader.conn.execute(sql, params).fetchall()

    def snapshot(self, dest: Path | str) -> None:
        """A consistent copy of the database in ``dest`` (SQLite's online backup API).

        Runs on the caller's thread over a connection of its own; WAL lets the writer go on
        meanwhile, and the copy is of one committed state (the backup restarts if the source
        changes under it, which a step of all pages in one go avoids).
        """
        if self._closed:
            raise StoreClosed("the store is closed")
        source = sqlite3.connect(self.path, timeout=30)
        target = sqlite3.connect(dest)
        try:
            source.backup(target)
            target.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        finally:
            target.close()
            source.close()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._queue.put(None)
        self._thread.join(10)
        for reader in list(self._readers):  # every thread's, not only the closing thread's
            reader.conn.close()
