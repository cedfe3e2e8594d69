"""The store: one SQLite file, one writer thread, named migrations.

Every write is a function submitted to the writer thread, which runs it in
``BEGIN IMMEDIATE`` ... ``COMMIT`` (in a savepoint of its own, so that writes
that queue up share one commit and one fsync) and returns its result to the
caller once the commit is on disk (``synchronous=FULL`` in WAL mode fsyncs every commit).
That is what "stored durably before it is deleted from the modem" and
"on disk before the HTTP reply" rest on.  Readers use their own connection per
thread; WAL lets them read while the writer writes.

Portability: the SQL sticks to types and statements PostgreSQL also has
(TEXT, INTEGER, REAL -> double precision, ``ON CONFLICT ... DO NOTHING``,
``INTEGER PRIMARY KEY`` -> ``BIGSERIAL``); only the connection set-up below is
SQLite-specific.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

from appliance.errors import StoreClosed

LOGGER = logging.getLogger(__name__)
T = TypeVar("T")
MAX_BATCH = 64  # writes committed together when they queue up (group commit)
Row = sqlite3.Row

MIGRATIONS: tuple[tuple[str, str], ...] = (
    (
        "0001_initial",
        """
        CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE numbers (
            sid TEXT PRIMARY KEY,
            modem TEXT NOT NULL UNIQUE,
            phone_number TEXT NOT NULL UNIQUE,
            friendly_name TEXT NOT NULL,
            sms_url TEXT NOT NULL DEFAULT '',
            sms_method TEXT NOT NULL DEFAULT 'POST',
            sms_fallback_url TEXT NOT NULL DEFAULT '',
            sms_fallback_method TEXT NOT NULL DEFAULT 'POST',
            voice_url TEXT NOT NULL DEFAULT '',
            voice_method TEXT NOT NULL DEFAULT 'POST',
            voice_fallback_url TEXT NOT NULL DEFAULT '',
            voice_fallback_method TEXT NOT NULL DEFAULT 'POST',
            status_callback TEXT NOT NULL DEFAULT '',
            status_callback_method TEXT NOT NULL DEFAULT 'POST',
            date_created REAL NOT NULL,
            date_updated REAL NOT NULL
        );
        CREATE TABLE messages (
            seq INTEGER PRIMARY KEY,
            sid TEXT NOT NULL UNIQUE,
            account_sid TEXT NOT NULL,
            direction TEXT NOT NULL,
            modem TEXT NOT NULL,
            from_number TEXT NOT NULL,
            to_number TEXT NOT NULL,
            body TEXT NOT NULL,
            status TEXT NOT NULL,
            num_segments INTEGER NOT NULL,
            segments_sent INTEGER NOT NULL DEFAULT 0,
            concat_ref INTEGER,
            error_code INTEGER,
            error_message TEXT,
            status_callback TEXT,
            status_callback_method TEXT,
            send_at REAL,
            next_attempt_at REAL,
            attempts INTEGER NOT NULL DEFAULT 0,
            date_created REAL NOT NULL,
            date_updated REAL NOT NULL,
            date_sent REAL
        );
        CREATE INDEX messages_outbox ON messages (modem, status, seq);
        CREATE INDEX messages_created ON messages (date_created);
        CREATE TABLE segments (
            message_sid TEXT NOT NULL,
            part INTEGER NOT NULL,
            state TEXT NOT NULL,
            mr INTEGER,
            sent_at REAL,
            report_status INTEGER,
            reported_at REAL,
            PRIMARY KEY (message_sid, part)
        );
        CREATE INDEX segments_mr ON segments (mr, state);
        CREATE TABLE inbound_parts (
            id INTEGER PRIMARY KEY,
            modem TEXT NOT NULL,
            sender TEXT NOT NULL,
            ref INTEGER NOT NULL,
            total INTEGER NOT NULL,
            part INTEGER NOT NULL,
            text TEXT NOT NULL,
            received_at REAL NOT NULL,
            UNIQUE (modem, sender, ref, total, part)
        );
        CREATE TABLE modem_slots (
            modem TEXT NOT NULL,
            memory TEXT NOT NULL,
            idx INTEGER NOT NULL,
            pdu_hash TEXT NOT NULL,
            stored_at REAL NOT NULL,
            PRIMARY KEY (modem, memory, idx)
        );
        CREATE TABLE quarantine (
            id INTEGER PRIMARY KEY,
            modem TEXT NOT NULL,
            source TEXT NOT NULL,
            raw TEXT NOT NULL,
            error TEXT NOT NULL,
            received_at REAL NOT NULL
        );
        CREATE TABLE webhook_jobs (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL,
            message_sid TEXT NOT NULL,
            url TEXT NOT NULL,
            method TEXT NOT NULL,
            fallback_url TEXT NOT NULL DEFAULT '',
            fallback_method TEXT NOT NULL DEFAULT 'POST',
            params TEXT NOT NULL,
            token TEXT NOT NULL,
            state TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at REAL NOT NULL,
            created REAL NOT NULL
        );
        CREATE INDEX webhook_jobs_due ON webhook_jobs (state, next_attempt_at);
        CREATE TABLE webhook_log (
            id INTEGER PRIMARY KEY,
            job_id INTEGER,
            message_sid TEXT,
            url TEXT NOT NULL,
            method TEXT NOT NULL,
            request TEXT NOT NULL,
            status INTEGER,
            response TEXT,
            error_code INTEGER,
            error_message TEXT,
            at REAL NOT NULL
        );
        CREATE TABLE cookies (conversation TEXT PRIMARY KEY, jar TEXT NOT NULL, last_used REAL NOT NULL);
        CREATE TABLE modem_health (
            modem TEXT PRIMARY KEY,
            state TEXT NOT NULL,
            signal INTEGER,
            registration TEXT,
            operator TEXT,
            sim TEXT,
            manufacturer TEXT,
            model TEXT,
            last_error TEXT,
            updated REAL NOT NULL
        );
        CREATE TABLE calls (
            sid TEXT PRIMARY KEY,
            modem TEXT NOT NULL,
            direction TEXT NOT NULL,
            from_number TEXT NOT NULL,
            to_number TEXT NOT NULL,
            status TEXT NOT NULL,
            date_created REAL NOT NULL,
            date_updated REAL NOT NULL,
            end_time REAL
        );
        """,
    ),
    (
        "0002_api_keys",
        """
        CREATE TABLE api_keys (
            sid TEXT PRIMARY KEY,
            friendly_name TEXT NOT NULL,
            secret_hash TEXT NOT NULL,
            date_created REAL NOT NULL,
            date_updated REAL NOT NULL,
            revoked_at REAL
        );
        CREATE INDEX messages_date_sent ON messages (date_sent);
        """,
    ),
    (
        "0003_voice",
        """
        ALTER TABLE calls ADD COLUMN parent_call_sid TEXT;
        ALTER TABLE calls ADD COLUMN start_time REAL;
        ALTER TABLE calls ADD COLUMN duration INTEGER;
        ALTER TABLE calls ADD COLUMN caller_name TEXT NOT NULL DEFAULT '';
        ALTER TABLE calls ADD COLUMN url TEXT NOT NULL DEFAULT '';
        ALTER TABLE calls ADD COLUMN method TEXT NOT NULL DEFAULT 'POST';
        ALTER TABLE calls ADD COLUMN fallback_url TEXT NOT NULL DEFAULT '';
        ALTER TABLE calls ADD COLUMN fallback_method TEXT NOT NULL DEFAULT 'POST';
        ALTER TABLE calls ADD COLUMN twiml TEXT;
        ALTER TABLE calls ADD COLUMN status_callback TEXT NOT NULL DEFAULT '';
        ALTER TABLE calls ADD COLUMN status_callback_method TEXT NOT NULL DEFAULT 'POST';
        ALTER TABLE calls ADD COLUMN status_callback_events TEXT NOT NULL DEFAULT 'completed';
        ALTER TABLE calls ADD COLUMN timeout INTEGER NOT NULL DEFAULT 60;
        ALTER TABLE calls ADD COLUMN time_limit INTEGER NOT NULL DEFAULT 14400;
        ALTER TABLE calls ADD COLUMN error_code INTEGER;
        ALTER TABLE calls ADD COLUMN error_message TEXT;
        ALTER TABLE calls ADD COLUMN control TEXT;
        CREATE INDEX calls_date_created ON calls (date_created);
        CREATE INDEX calls_status ON calls (modem, status);
        CREATE TABLE recordings (
            sid TEXT PRIMARY KEY,
            call_sid TEXT NOT NULL,
            status TEXT NOT NULL,
            duration INTEGER NOT NULL DEFAULT 0,
            channels INTEGER NOT NULL DEFAULT 1,
            source TEXT NOT NULL DEFAULT 'RecordVerb',
            path TEXT NOT NULL,
            error_code INTEGER,
            start_time REAL,
            date_created REAL NOT NULL,
            date_updated REAL NOT NULL
        );
        CREATE INDEX recordings_call ON recordings (call_sid);
        CREATE TABLE call_events (
            id INTEGER PRIMARY KEY,
            call_sid TEXT NOT NULL,
            at REAL NOT NULL,
            kind TEXT NOT NULL,
            error_code INTEGER,
            detail TEXT NOT NULL DEFAULT ''
        );
        CREATE INDEX call_events_call ON call_events (call_sid);
        ALTER TABLE webhook_log ADD COLUMN call_sid TEXT;
        """,
    ),
    (
        "0004_panel",
        """
        CREATE TABLE subscriber_lists (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            modem TEXT NOT NULL,
            join_keyword TEXT NOT NULL DEFAULT '',
            leave_keyword TEXT NOT NULL DEFAULT '',
            created REAL NOT NULL
        );
        CREATE TABLE subscribers (
            id INTEGER PRIMARY KEY,
            list_id INTEGER NOT NULL,
            phone_number TEXT NOT NULL,
            name TEXT NOT NULL DEFAULT '',
            town TEXT NOT NULL DEFAULT '',
            latitude REAL,
            longitude REAL,
            timezone TEXT NOT NULL DEFAULT '',
            status TEXT NOT NULL DEFAULT 'active',
            created REAL NOT NULL,
            updated REAL NOT NULL,
            UNIQUE (list_id, phone_number)
        );
        CREATE TABLE subscriber_imports (
            id INTEGER PRIMARY KEY,
            list_id INTEGER NOT NULL,
            state TEXT NOT NULL,
            total INTEGER NOT NULL DEFAULT 0,
            done INTEGER NOT NULL DEFAULT 0,
            imported INTEGER NOT NULL DEFAULT 0,
            errors TEXT NOT NULL DEFAULT '[]',
            started REAL NOT NULL,
            finished REAL
        );
        CREATE TABLE broadcasts (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            list_id INTEGER NOT NULL,
            modem TEXT NOT NULL,
            kind TEXT NOT NULL,
            content TEXT NOT NULL,
            schedule TEXT NOT NULL DEFAULT '',
            timezone TEXT NOT NULL DEFAULT 'UTC',
            enabled INTEGER NOT NULL DEFAULT 1,
            created REAL NOT NULL,
            updated REAL NOT NULL
        );
        CREATE TABLE broadcast_runs (
            id INTEGER PRIMARY KEY,
            broadcast_id INTEGER NOT NULL,
            reason TEXT NOT NULL,
            attempt INTEGER NOT NULL DEFAULT 1,
            state TEXT NOT NULL,
            total INTEGER NOT NULL DEFAULT 0,
            queued INTEGER NOT NULL DEFAULT 0,
            skipped INTEGER NOT NULL DEFAULT 0,
            segments INTEGER NOT NULL DEFAULT 0,
            error TEXT,
            started REAL NOT NULL,
            finished REAL
        );
        CREATE INDEX broadcast_runs_broadcast ON broadcast_runs (broadcast_id, id);
        CREATE TABLE broadcast_recipients (
            run_id INTEGER NOT NULL,
            phone_number TEXT NOT NULL,
            message_sid TEXT,
            error TEXT,
            PRIMARY KEY (run_id, phone_number)
        );
        CREATE TABLE scheduler_jobs (
            id TEXT PRIMARY KEY,
            next_run_time REAL,
            job_state TEXT NOT NULL
        );
        CREATE INDEX scheduler_jobs_next ON scheduler_jobs (next_run_time);
        CREATE TABLE signal_samples (
            modem TEXT NOT NULL,
            at REAL NOT NULL,
            signal INTEGER,
            PRIMARY KEY (modem, at)
        );
        CREATE INDEX messages_to ON messages (to_number, seq);
        CREATE INDEX messages_from ON messages (from_number, seq);
        CREATE INDEX webhook_log_failed ON webhook_log (error_code, id);
        CREATE INDEX messages_day ON messages (date_created, direction, status)
        """,
    ),
)


class Store:
    """SQLite database with a single writer thread."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._queue: queue.Queue[tuple[Callable[[sqlite3.Connection], Any], Future[Any]] | None] = (
            queue.Queue()
        )
        self._local = threading.local()
        self._closed = False
        ready: Future[None] = Future()
        self._thread = threading.Thread(
            target=self._run_writer, args=(ready,), name="store writer", daemon=True
        )
        self._thread.start()
        ready.result()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
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
            self._migrate(conn)
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
                self._commit_batch(conn, work)
        conn.close()

    @staticmethod
    def _commit_batch(
        conn: sqlite3.Connection,
        work: list[tuple[Callable[[sqlite3.Connection], Any], Future[Any]]],
    ) -> None:
        """Run each function in its own savepoint, all in one transaction and one fsync.

        Each function stays atomic (a failure rolls back only its savepoint) and its
        caller hears the outcome only after the COMMIT is on disk.
        """
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

    def _migrate(self, conn: sqlite3.Connection) -> None:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied REAL NOT NULL)"
        )
        done = {r[0] for r in conn.execute("SELECT name FROM migrations")}
        for name, sql in MIGRATIONS:
            if name in done:
                continue
            LOGGER.info("applying migration %s", name)
            conn.execute("BEGIN IMMEDIATE")
            for statement in sql.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(
                "INSERT INTO migrations (name, applied) VALUES (?, ?)", (name, time.time())
            )
            conn.execute("COMMIT")

    def submit(self, fn: Callable[[sqlite3.Connection], T]) -> Future[T]:
        """Queue ``fn(conn)`` to run in its own transaction on the writer thread."""
        if self._closed:
            raise StoreClosed("the store is closed")
        future: Future[T] = Future()
        self._queue.put((fn, future))
        return future

    def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(conn)`` in a transaction on the writer thread; return once committed."""
        return self.submit(fn).result()

    def read(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> list[Row]:
        """Run a query on this thread's read connection."""
        if self._closed:
            raise StoreClosed("the store is closed")
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
        return conn.execute(sql, params).fetchall()

    def read_one(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> Row | None:
        rows = self.read(sql, params)
        return rows[0] if rows else None

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._queue.put(None)
        self._thread.join(10)
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()

    # -- settings --------------------------------------------------------------------------

    def setting(self, key: str) -> str | None:
        row = self.read_one("SELECT value FROM settings WHERE key = ?", (key,))
        return None if row is None else str(row[0])

    def ensure_setting(self, key: str, make: Callable[[], str]) -> str:
        """Return the setting, creating it with ``make()`` on first use."""

        def fn(conn: sqlite3.Connection) -> str:
            row = conn.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
            if row is not None:
                return str(row[0])
            value = make()
            conn.execute("INSERT INTO settings (key, value) VALUES (?, ?)", (key, value))
            return value

        return self.write(fn)
