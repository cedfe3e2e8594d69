"""The store on PostgreSQL (``database_url``): psycopg 3 and its connection pool.

The only module that imports psycopg (an import-linter contract); :func:`open_store` imports it
only when ``database_url`` is set, so a single box's idle memory does not grow.

* :meth:`PgStore.write` runs ``fn`` on the calling thread, on a pooled connection, in
  ``BEGIN`` ... ``COMMIT`` (READ COMMITTED, ``synchronous_commit = on``); there is no writer
  thread, but one write at a time per process (a lock), because the domain's claims are
  read-then-write functions written for SQLite's single writer.  A serialization failure or
  deadlock (another node) re-runs ``fn`` (up to three times), so ``fn`` must be re-runnable.
* :class:`PgConn` is what ``fn`` gets: SQLite's SQL translated (:mod:`appliance.store.dialect`),
  NUL characters in text parameters replaced (PostgreSQL ``text`` cannot hold U+0000) and
  ``bool`` parameters sent as integers (the schema's flags are ``INTEGER``).
* Rows are :class:`PgRow`: by index, by name, and ``dict(row)``, as ``sqlite3.Row``.
* Start-up failures (a wrong URL, the server unreachable, a refused password, a server with
  ``fsync = off``) are one-line :class:`~appliance.errors.StoreError`; the password never
  appears in a message or a log.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import psycopg.errors
from psycopg.types.numeric import FloatLoader
from psycopg_pool import ConnectionPool

from appliance.errors import StoreClosed, StoreError
from appliance.store.database import Store, redact_url
from appliance.store.dialect import POSTGRES
from appliance.store.migrations import migrate

LOGGER = logging.getLogger(__name__)
T = TypeVar("T")
RETRIES = 3  # re-runs of a write after a serialization failure or a deadlock
CONNECT_TIMEOUT = 5  # seconds, for the first connection and for a pooled one
POOL_SIZE = 8
REPLACEMENT = "\ufffd"
nul_replaced = 0  # text parameters whose NUL characters were replaced (a metric's source)
_nul_lock = threading.Lock()


class PgRow(tuple[Any, ...]):
    """A result row: ``row[0]``, ``row["sid"]``, ``row.keys()``, ``dict(row)``."""

    _index: dict[str, int] = {}
    _names: tuple[str, ...] = ()

    def keys(self) -> list[str]:
        return list(self._names)

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            try:
                return tuple.__getitem__(self, self._index[key])
            except KeyError:
                return tuple.__getitem__(self, self._index[key.lower()])
        return tuple.__getitem__(self, key)


_row_classes: dict[tuple[str, ...], type[PgRow]] = {}


def _row_class(names: tuple[str, ...]) -> type[PgRow]:
    cls = _row_classes.get(names)
    if cls is None:
        index = {n: i for i, n in reversed(list(enumerate(names)))}  # first of a repeated name
        cls = type("PgRow", (PgRow,), {"_index": index, "_names": names})
        _row_classes[names] = cls
    return cls


def row_factory(cursor: Any) -> Callable[[Sequence[Any]], PgRow]:
    names = tuple(d.name for d in cursor.description or ())
    cls = _row_class(names)
    return cls


def _clean(value: Any) -> Any:
    global nul_replaced
    if isinstance(value, str) and "\x00" in value:
        with _nul_lock:
            nul_replaced += 1
        return value.replace("\x00", REPLACEMENT)
    if isinstance(value, bool):
        return int(value)
    return value


def _params(params: Any) -> Any:
    """Parameters PostgreSQL accepts where SQLite did (always passed, even empty: the
    translated SQL has its ``%`` doubled)."""
    if params is None:
        return ()
    if isinstance(params, Mapping):
        return {k: _clean(v) for k, v in params.items()}
    return tuple(_clean(v) for v in params)


class PgConn:
    """A psycopg connection speaking the store's :class:`~appliance.store.database.Conn`."""

    __slots__ = ("raw",)
    dialect = POSTGRES

    def __init__(self, raw: psycopg.Connection[Any]) -> None:
        self.raw = raw

    def execute(self, sql: str, parameters: Any = (), /) -> psycopg.Cursor[Any]:
        return self.raw.execute(POSTGRES.sql(sql), _params(parameters))

    def executemany(self, sql: str, parameters: Any, /) -> psycopg.Cursor[Any]:
        cur = self.raw.cursor()
        cur.executemany(POSTGRES.sql(sql), [_params(p) for p in parameters])
        return cur


def _configure(conn: psycopg.Connection[Any]) -> None:
    """Every connection: ``numeric`` read as ``float`` (``SUM``/``AVG`` of integers would
    otherwise reach JSON as ``Decimal``), commits durable before they are acknowledged."""
    conn.adapters.register_loader("numeric", FloatLoader)
    conn.execute("SET synchronous_commit = on")


def _connect_error(url: str, e: Exception) -> StoreError:
    text = " ".join(str(e).split()) or type(e).__name__
    return StoreError(f"database_url: cannot use the PostgreSQL database: {redact_url(text, url)}")


class PgStore(Store):
    """PostgreSQL: writes on the caller's thread, in a transaction of a pooled connection."""

    dialect = POSTGRES

    def __init__(self, url: str, *, pool_size: int = POOL_SIZE, check_fsync: bool = True) -> None:
        if not url.startswith(("postgresql://", "postgres://")):
            raise StoreError(
                "database_url must be a postgresql://user:password@host:port/database URL"
                f" (got one starting {redact_url(url, url)[:20]!r})"
            )
        self._url = url
        self.key = redact_url(url, url)
        self._closed = False
        # One write at a time per process, as SQLite's single writer: the domain's
        # read-then-write functions (claims of messages, calls, webhook jobs) were written for
        # it.  A fleet's nodes still write concurrently; their claims (FOR UPDATE SKIP LOCKED)
        # are slice 4 of docs/design.md's plan, which lifts this lock.
        self._write_lock = threading.Lock()
        self.on_commit: Callable[[float], None] | None = None
        try:
            with psycopg.connect(
                url, autocommit=True, connect_timeout=CONNECT_TIMEOUT, row_factory=row_factory
            ) as first:
                _configure(first)
                if check_fsync:
                    fsync = first.execute("SHOW fsync").fetchone()
                    if fsync is not None and fsync[0] == "off":
                        raise StoreError(
                            "database_url: the PostgreSQL server runs with fsync = off, so a"
                            " commit is not durable; turn it on (postgresql.conf)"
                        )
                migrate(PgConn(first))
        except psycopg.Error as e:
            raise _connect_error(url, e) from None
        self._pool: ConnectionPool[Any] = ConnectionPool(
            url,
            min_size=1,
            max_size=pool_size,
            kwargs={"autocommit": True, "row_factory": row_factory},
            configure=_configure,
            timeout=CONNECT_TIMEOUT,
            name="appliance",
            open=False,
        )
        try:
            self._pool.open(wait=True, timeout=CONNECT_TIMEOUT)
        except Exception as e:  # noqa: BLE001 - a PoolTimeout: the server went away meanwhile
            raise _connect_error(url, e) from None
        self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="store submit")

    def write(self, fn: Callable[[Any], T]) -> T:
        """Run ``fn(conn)`` in a transaction on this thread; return once committed."""
        if self._closed:
            raise StoreClosed("the store is closed")
        for attempt in range(RETRIES + 1):
            started = time.monotonic()
            try:
                with self._write_lock, self._pool.connection() as raw:
                    with raw.transaction():
                        result = fn(PgConn(raw))
            except (psycopg.errors.SerializationFailure, psycopg.errors.DeadlockDetected):
                if attempt == RETRIES:
                    raise
                continue
            if self.on_commit is not None:
                try:
                    self.on_commit(time.monotonic() - started)
                except Exception:  # noqa: BLE001 - an observer must not fail a write
                    pass
            return result
        raise AssertionError("unreachable")

    def submit(self, fn: Callable[[Any], T]) -> Future[T]:
        """``fn(conn)`` in its own transaction on a small executor."""
        if self._closed:
            raise StoreClosed("the store is closed")
        return self._executor.submit(self.write, fn)

    def read(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> list[Any]:
        """Run a query on a pooled autocommit connection."""
        if self._closed:
            raise StoreClosed("the store is closed")
        with self._pool.connection() as raw:
            rows: list[Any] = raw.execute(POSTGRES.sql(sql), _params(params)).fetchall()
            return rows

    def snapshot(self, dest: Path | str) -> None:
        raise StoreError("the database is PostgreSQL: back it up with pg_dump")

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._executor.shutdown(wait=True)
        self._pool.close()
