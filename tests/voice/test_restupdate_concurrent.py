"""Taking a call's REST update while an API write commits concurrently (both engines)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

from appliance.voice import restupdate
from tests.pg import Engine, make_store


def test_an_update_committed_during_a_take_is_not_cleared_unread(engine: Engine, tmp_path: Path):
    """The API's write holds the row (uncommitted) when the take begins.  On PostgreSQL, with
    concurrent writers, the take's read waits for it (a row lock) and returns it; a plain read
    would see the older update, and the clear, run after the API's commit, would wipe the newer
    one unread.  On SQLite the single writer orders them."""
    store = make_store(engine, tmp_path)
    now = time.time()
    first, second = {"url": "http://127.0.0.1/a"}, {"status": "completed"}
    store.write(
        lambda c: c.execute(
            "INSERT INTO calls (sid, modem, direction, from_number, to_number, status, control,"
            " date_created, date_updated) VALUES (?,?,?,?,?,?,?,?,?)",
            ("CA1", "m1", "inbound", "+15550001", "+15550002", "in-progress", json.dumps(first))
            + (now, now),
        )
    )
    written, release = threading.Event(), threading.Event()

    def api_write(conn: Any) -> None:
        conn.execute("UPDATE calls SET control = ? WHERE sid = ?", (json.dumps(second), "CA1"))
        written.set()
        release.wait(10)

    api = threading.Thread(target=store.write, args=(api_write,))
    api.start()
    assert written.wait(10)
    result: list[Any] = []
    taker = threading.Thread(target=lambda: result.append(restupdate.take(store, "CA1")))
    taker.start()
    time.sleep(0.3)  # the take has begun (and waits, on PostgreSQL)
    release.set()
    api.join(10)
    taker.join(10)
    left = store.read_one("SELECT control FROM calls WHERE sid = ?", ("CA1",))["control"]
    assert result, "the take did not finish"
    # The newer update is either returned by this take or left for the next one.
    assert result[0] == second or left == json.dumps(second), (result, left)
