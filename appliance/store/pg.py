"""The store on PostgreSQL (``database_url``): psycopg 3 and its connection pool.

The only module that imports psycopg (an import-linter contract); :func:`open_store` imports it
only when ``database_url`` is set, so a single box's idle memory does not grow.

* :meth:`PgStore.write` runs ``fn`` on the calling thread, on a pooled connection, in
  ``BEGIN`` ... ``COMMIT`` (READ COMMITTED, ``synchronous_commit = on``); there is no writer
  thread and no lock: writes of one process commit concurrently, as those of a fleet's nodes
  do, and PostgreSQL groups their WAL flushes.  The domain's read-then-write functions take
  the row locks they need (claims ``FOR UPDATE SKIP LOCKED``, a budget's count under the
  number's row lock, a cursor by compare-and-set; docs/design.md lists them).  A
  serialization failure or deadlock re-runs ``fn`` (up to three times), so ``fn`` must be
  re-runnable.
* :class:`PgConn` is what ``fn`` gets: SQLite's SQL translated (:mod:`appliance.store.dialect`),
  NUL characters in text parameters replaced (PostgreSQL ``text`` cannot hold U+0000) and
  ``bool`` parameters sent as integers (the schema's flags are ``INTEGER``).
* Rows are :class:`~appliance.store.pgrows.PgRow`: by index, by name, and ``dict(row)``, as
  ``sqlite3.Row`` (:mod:`appliance.store.pgrows`, with the parameters' cleaning).
* Start-up failures (a wrong URL, the server unreachable, a refused password, a server with
  ``fsync = off``) are one-line :class:`~appliance.errors.StoreError`; the password never
  appears in a message or a log.
* After start-up, a server that stops answering or drops the connection (a lost connection,
  an administrator's shutdown, a pool time-out) is an outage (:mod:`appliance.store.outage`):
  the call fails with :class:`~appliance.errors.StoreUnavailable`, every later call fails the
  same way at once, and a prober thread tries the server every second.  When it answers, the
  pool is replaced by a fresh one (the old one's reconnect back-off could keep callers waiting
  past the time-out) and the outage ends.  A write cut by the outage may or may not have
  committed: the callers that must know (the inbox, the send journal, the webhook outcome)
  re-run idempotent writes or look first.
* A path that hangs rather than refuses (packets dropped, a peer that acknowledges and never
  answers) is an outage too, within :data:`~appliance.store.timeouts.DEADLINE`: keepalives,
  ``tcp_user_timeout`` and server time-outs on every connection, and a client-side deadline on
  each transaction and read (:mod:`appliance.store.timeouts`; the URL's own options win).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import psycopg.errors
from psycopg import sql as pgsql
from psycopg.conninfo import conninfo_to_dict
from psycopg.types.numeric import FloatLoader
from psycopg_pool import ConnectionPool, PoolClosed

from appliance.errors import StoreClosed, StoreError, StoreUnavailable
from appliance.store.database import Store, redact_url
from appliance.store.dialect import POSTGRES
from appliance.store.migrations import migrate
from appliance.store.outage import Outage
from appliance.store.pgrows import clean_params, row_factory
from appliance.store.timeouts import (
    CONNECT_TIMEOUT,
    Deadline,
    Watch,
    connection_settings,
    deadline_for,
)

LOGGER = logging.getLogger(__name__)
# The pool warns at every reconnect attempt while the server is away; the outage's two lines
# (appliance.store.outage) say it once.
logging.getLogger("psycopg.pool").setLevel(logging.ERROR)
T = TypeVar("T")
RETRIES = 3  # re-runs of a write after a serialization failure or a deadlock
POOL_SIZE = 16
PROBE_INTERVAL = 1.0  # seconds between tries of a server that stopped answering
LISTEN_PING = 10.0  # seconds of silence after which the listener checks its connection
# SQLSTATE classes that mean the server is gone or cannot serve: connection exceptions (08),
# an administrator's or a crash's shutdown, or start-up (57P01-57P03), insufficient
# resources (53: out of connections, disk full).  Without a SQLSTATE the client lost the line.
UNREACHABLE_STATES = ("08", "57P", "53")


class PooledConnection(psycopg.Connection[Any]):
    """The pool's connections: a psycopg connection that keeps one cursor for the store's
    autocommit reads and single statements (:meth:`PgStore.read`), so that each does not make
    a cursor (which copies the connection's adapters) and, for a statement run again on the
    same connection, a new transformer (its dumpers and loaders are found once)."""

    reader: psycopg.Cursor[Any] | None = None


class PgConn:
    """A psycopg connection speaking the store's :class:`~appliance.store.database.Conn`."""

    __slots__ = ("raw",)
    dialect = POSTGRES

    def __init__(self, raw: psycopg.Connection[Any]) -> None:
        self.raw = raw

    def execute(self, sql: str, parameters: Any = (), /) -> psycopg.Cursor[Any]:
        return self.raw.execute(POSTGRES.sql(sql), clean_params(parameters))

    def executemany(self, sql: str, parameters: Any, /) -> psycopg.Cursor[Any]:
        cur = self.raw.cursor()
        cur.executemany(POSTGRES.sql(sql), [clean_params(p) for p in parameters])
        return cur


def _configure(conn: psycopg.Connection[Any]) -> None:
    """Every connection: ``numeric`` read as ``float`` (``SUM``/``AVG`` of integers would
    otherwise reach JSON as ``Decimal``), commits durable before they are acknowledged."""
    conn.adapters.register_loader("numeric", FloatLoader)
    conn.execute("SET synchronous_commit = on")


def unreachable(e: BaseException) -> bool:
    """Whether ``e`` means the server cannot be reached (rather than a refused statement)."""
    if not isinstance(e, psycopg.OperationalError):
        return False  # PoolTimeout and PoolClosed are OperationalErrors without a SQLSTATE
    return e.sqlstate is None or e.sqlstate.startswith(UNREACHABLE_STATES)


def one_line(e: BaseException, url: str) -> str:
    """The driver's message in one line, the password masked."""
    return redact_url(" ".join(str(e).split()) or type(e).__name__, url)


def _connect_error(url: str, e: Exception) -> StoreError:
    return StoreError(f"database_url: cannot use the PostgreSQL database: {one_line(e, url)}")


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
        try:
            user = conninfo_to_dict(url)
        except psycopg.Error as e:
            raise _connect_error(url, e) from None
        self._settings = connection_settings(user)  # keepalives, time-outs: the URL's win
        self._deadline = Deadline(deadline_for(user))
        self._closed = False
        self.on_commit: Callable[[float], None] | None = None
        try:
            with psycopg.connect(
                url,
                autocommit=True,
                row_factory=row_factory,
                **connection_settings(user, session=False),  # DDL may run long: no time-out
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
        self._pool_size = pool_size
        self.outage = Outage()
        self._prober: threading.Thread | None = None
        self._stop = threading.Event()
        try:
            self._pool = self._open_pool()
        except Exception as e:  # noqa: BLE001 - a PoolTimeout: the server went away meanwhile
            raise _connect_error(url, e) from None
        self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="store submit")
        self._listener: threading.Thread | None = None

    def _open_pool(self) -> ConnectionPool[Any]:
        pool: ConnectionPool[Any] = ConnectionPool(
            self._url,
            connection_class=PooledConnection,
            min_size=1,
            max_size=self._pool_size,
            kwargs={"autocommit": True, "row_factory": row_factory, **self._settings},
            configure=_configure,
            timeout=CONNECT_TIMEOUT,
            name="appliance",
            open=False,
        )
        try:
            pool.open(wait=True, timeout=CONNECT_TIMEOUT)
        except BaseException:
            pool.close(timeout=1)
            raise
        return pool

    # -- outages ---------------------------------------------------------------------------

    def _lost(self, e: BaseException, watch: Watch | None = None) -> StoreUnavailable:
        """``e`` said the server is unreachable: begin the outage (once), start probing.
        ``watch``: the call's, whose deadline may have cut the connection."""
        reason = one_line(e, self._url)
        if watch is not None and watch.cut:
            reason = f"no answer within {self._deadline.seconds:g} s (connection cut): {reason}"
        if self.outage.begin(reason) and not self._closed:
            self._prober = threading.Thread(target=self._probe, name="store prober", daemon=True)
            self._prober.start()
        return self.outage.error()

    def _probe(self) -> None:
        """Try the server until it answers; then a fresh pool, and the outage ends."""
        while not self._stop.wait(PROBE_INTERVAL):
            try:
                with psycopg.connect(self._url, autocommit=True, **self._settings):
                    pass
                pool = self._open_pool()
            except Exception:  # noqa: BLE001 - still away (or away again): try on
                continue
            old, self._pool = self._pool, pool
            old.close(timeout=1)  # its waiting callers get PoolClosed and retry on the new one
            self.outage.end()
            return

    def write(self, fn: Callable[[Any], T]) -> T:
        """Run ``fn(conn)`` in a transaction on this thread; return once committed."""
        if self._closed:
            raise StoreClosed("the store is closed")
        self.outage.check()
        for attempt in range(RETRIES + 1):
            started = time.monotonic()
            if attempt:
                self.outage.check()  # begun while the last try ran
            pool = self._pool
            watch = None
            try:
                with pool.connection() as raw, self._watched(raw) as watch, raw.transaction():
                    result = fn(PgConn(raw))
            except (psycopg.errors.SerializationFailure, psycopg.errors.DeadlockDetected):
                if attempt == RETRIES:
                    raise
                continue
            except PoolClosed:
                if pool is not self._pool:
                    continue  # replaced after an outage while this call waited: no SQL ran
                raise self._lost_or_closed() from None
            except psycopg.OperationalError as e:
                if unreachable(e):
                    raise self._lost(e, watch) from None
                raise
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
        self.outage.check()
        while True:
            pool = self._pool
            watch = None
            try:
                # getconn/putconn rather than pool.connection() and _watched (this runs for
                # every read and every REST create): the same steps without two generators
                # and a COMMIT call on an autocommit connection (which has nothing to end; the
                # pool rolls back or drops a connection returned in any other state).
                raw = pool.getconn()
                try:
                    key, watch = self._deadline.watch(raw.pgconn.socket)
                    try:
                        cursor = raw.reader  # the connection's own, kept (PooledConnection)
                        if cursor is None:
                            cursor = raw.reader = raw.cursor()
                        cursor.execute(POSTGRES.sql(sql), clean_params(params))
                        rows: list[Any] = cursor.fetchall()
                    finally:
                        self._deadline.done(key)
                        if watch.cut:
                            raw.close()  # on its own thread, so the pool drops it
                finally:
                    pool.putconn(raw)
                return rows
            except PoolClosed:
                if pool is not self._pool:
                    continue  # replaced after an outage while this call waited
                raise self._lost_or_closed() from None
            except psycopg.OperationalError as e:
                if unreachable(e):
                    raise self._lost(e, watch) from None
                raise

    @contextmanager
    def _watched(self, raw: psycopg.Connection[Any]) -> Iterator[Watch]:
        """The deadline on ``raw`` while the block runs; a connection it cut is closed here
        (on its own thread), so the pool drops it."""
        key, watch = self._deadline.watch(raw.pgconn.socket)
        try:
            yield watch
        finally:
            self._deadline.done(key)
            if watch.cut:
                raw.close()

    def commit_one(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        """One statement on an autocommit connection: its own transaction, committed
        (``synchronous_commit = on``) before the server answers."""
        started = time.monotonic()
        rows = self.read(sql, params)
        if self.on_commit is not None:
            try:
                self.on_commit(time.monotonic() - started)
            except Exception:  # noqa: BLE001 - an observer must not fail a write
                pass
        return rows

    def _lost_or_closed(self) -> Exception:
        if self._closed:
            return StoreClosed("the store is closed")
        return self.outage.error()

    def snapshot(self, dest: Path | str) -> None:
        raise StoreError("the database is PostgreSQL: back it up with pg_dump")

    # -- wake-ups between nodes ---------------------------------------------------------------

    def announce(self, channel: str, payload: str) -> None:
        """``NOTIFY channel, payload`` (after the caller's commit, so a node that hears it sees
        the rows).  Lost while the database is away: the listeners' poll timers cover it."""
        try:
            self.read("SELECT pg_notify(?, ?)", (channel, payload))
        except StoreUnavailable:
            pass

    def listen(self, channels: tuple[str, ...], heard: Callable[[str, str | None], None]) -> None:
        """One thread with its own autocommit connection, ``LISTEN`` on ``channels``."""
        self._listener = threading.Thread(
            target=self._listen, args=(channels, heard), name="store listener", daemon=True
        )
        self._listener.start()

    def _listen(self, channels: tuple[str, ...], heard: Callable[[str, str | None], None]) -> None:
        again = False  # after a lost connection: announcements were missed
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._url, autocommit=True, **self._settings) as conn:
                    for channel in channels:
                        conn.execute(pgsql.SQL("LISTEN {}").format(pgsql.Identifier(channel)))
                    if again:
                        self._tell(heard, "", None)
                    quiet = time.monotonic()
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=1.0):
                            quiet = time.monotonic()
                            self._tell(heard, note.channel, note.payload)
                        if time.monotonic() - quiet > LISTEN_PING:  # a hung path shows here
                            with self._watched(conn):
                                conn.execute("SELECT 1")
                            quiet = time.monotonic()
            except psycopg.Error:
                pass
            again = True
            self._stop.wait(PROBE_INTERVAL)

    @staticmethod
    def _tell(heard: Callable[[str, str | None], None], channel: str, payload: str | None) -> None:
        try:
            heard(channel, payload)
        except Exception:  # noqa: BLE001 - a listener's bug must not end the listening
            LOGGER.exception("a wake-up's listener failed")

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        if self._prober is not None:
            self._prober.join(CONNECT_TIMEOUT + 1)
        if self._listener is not None:
            self._listener.join(CONNECT_TIMEOUT + 2)
        self._executor.shutdown(wait=True)
        self._pool.close()
        self._deadline.close()
