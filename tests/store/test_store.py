"""The store: one writer, group commit, each write atomic on its own."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from appliance.store.database import Store


def test_a_failing_write_rolls_back_alone_even_when_committed_with_others(tmp_path):
    store = Store(tmp_path / "s.sqlite3")
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
