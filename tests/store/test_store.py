"""The store: one writer, group commit, each write atomic on its own."""

from __future__ import annotations

import gc
import os
import sqlite3
import threading
import time

import pytest

from appliance.store.database import SqliteStore


def test_a_failing_write_rolls_back_alone_even_when_committed_with_others(tmp_path):
    store = SqliteStore(tmp_path / "s.sqlite3")
    store.write(lambda c: c.execute("CREATE TABLE t (v INTEGER UNIQUE)"))
    gate = threading.Event()
    blocker = store.submit(lambda c: gate.wait(5))  # holds the writer so the next ones queue up
    good = [
        store.submit(lambda c, i=i: c.execute("INSERT INTO t VALUES (?)", (i,)).rowcount)
        for i in range(5)
    ]

    def bad(c: sqlite3.Connection) -> None:
        c.execute("INSERT INTO t VALUES (100)")
        c.execute("INSERT INTO t VALUES (1)")  # duplicate: this whole function must roll back

    failing = store.submit(bad)
    more = store.submit(lambda c: c.execute("INSERT INTO t VALUES (6)").rowcount)
    gate.set()
    blocker.result(5)
    assert [f.result(5) for f in good] == [1] * 5 and more.result(5) == 1
    with pytest.raises(sqlite3.IntegrityError):
        failing.result(5)
    assert [r[0] for r in store.read("SELECT v FROM t ORDER BY v")] == [0, 1, 2, 3, 4, 6]
    store.close()
    # and it is on disk
    conn = sqlite3.connect(tmp_path / "s.sqlite3")
    assert conn.execute("SELECT COUNT(*) FROM t").fetchone()[0] == 6


def test_a_failing_write_alone_rolls_back_and_the_next_one_commits(tmp_path):
    store = SqliteStore(tmp_path / "s.sqlite3")
    store.write(lambda c: c.execute("CREATE TABLE t (v INTEGER UNIQUE)"))

    def bad(c: sqlite3.Connection) -> None:
        c.execute("INSERT INTO t VALUES (1)")
        raise ValueError("refused after a write")

    with pytest.raises(ValueError, match="refused"):
        store.write(bad)  # a batch of one: nothing else is queued
    assert store.write(lambda c: c.execute("INSERT INTO t VALUES (2)").rowcount) == 1
    assert [r[0] for r in store.read("SELECT v FROM t")] == [2]
    store.close()


def test_queries_by_creation_date_still_use_an_index(tmp_path):
    """0013 dropped messages_created: the date queries must still be index searches."""
    store = SqliteStore(tmp_path / "s.sqlite3")
    for sql in (
        "SELECT sid FROM messages WHERE date_created < 1",
        "SELECT MIN(date_created) FROM messages WHERE status IN ('queued', 'sending')",
        "SELECT COUNT(*) FROM messages WHERE date_created >= 1 AND date_created < 2",
    ):
        plan = " ".join(r[3] for r in store.read("EXPLAIN QUERY PLAN " + sql))
        assert "USING" in plan and "INDEX" in plan, (sql, plan)
    assert store.read_one("SELECT name FROM sqlite_master WHERE name = 'messages_created'") is None
    store.close()


def test_sent_dates_and_message_references_use_their_partial_indexes(tmp_path):
    """0020: messages_date_sent and segments_mr hold only rows whose column is set, and the
    queries that compare the column still search them; a queued message adds no key."""
    store = SqliteStore(tmp_path / "s.sqlite3")
    for sql, index in (
        (
            "SELECT COUNT(*) FROM messages WHERE date_sent >= ? AND date_sent < ?",
            "messages_date_sent",
        ),
        (
            "SELECT s.message_sid FROM segments s JOIN messages m ON m.sid = s.message_sid"
            " WHERE m.modem = ? AND s.mr = ? AND s.state = 'sent' AND s.reported_at IS NULL",
            "segments_mr",
        ),
    ):
        plan = " ".join(r[3] for r in store.read("EXPLAIN QUERY PLAN " + sql, ("m", 7)))
        assert f"INDEX {index} " in plan, (sql, plan)
    for name in ("messages_date_sent", "segments_mr"):
        sql = store.read_one("SELECT sql FROM sqlite_master WHERE name = ?", (name,))
        assert sql is not None and "IS NOT NULL" in sql[0], name
    store.close()


def _open_files(path) -> int:
    """Descriptors of this process open on ``path`` (the database file itself)."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}") == str(path):
                count += 1
        except OSError:
            pass
    return count


def test_read_connections_close_with_their_thread_and_with_the_store(tmp_path):
    """A thread's read connection is closed when the thread ends, not at some later garbage
    collection; close() closes those of threads still running (a daemon stopped in a long
    process must give its descriptors back)."""
    path = tmp_path / "a.sqlite3"
    store = SqliteStore(path)
    gc.disable()  # what is closed must be closed by the store, not by a collection
    try:

        def read_on_threads(count: int) -> int:
            for _ in range(count):
                t = threading.Thread(target=store.read, args=("SELECT 1",))
                t.start()
                t.join()
            # join() returns a moment before the ended thread's locals are dropped
            deadline = time.monotonic() + 2
            while len(store._readers) and time.monotonic() < deadline:
                time.sleep(0.01)
            return _open_files(path)

        # SQLite keeps a closed connection's descriptor while the process holds POSIX locks
        # on the file (closing it would drop them), and reuses it: one, however many threads.
        after_five = read_on_threads(5)
        assert after_five == read_on_threads(20) <= 2

        release = threading.Event()
        have_read = threading.Barrier(4)  # the three threads and this one

        def read_and_stay() -> None:
            store.read("SELECT 1")
            have_read.wait(5)
            release.wait(5)

        running = [threading.Thread(target=read_and_stay) for _ in range(3)]
        for t in running:
            t.start()
        store.read("SELECT 1")
        have_read.wait(5)
        assert len(store._readers) == 4
        store.close()
        assert _open_files(path) == 0
        release.set()
        for t in running:
            t.join()
    finally:
        gc.enable()
