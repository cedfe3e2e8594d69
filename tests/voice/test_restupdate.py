"""A REST update of a live call (``calls.control``) is taken whole: read and cleared at once."""

from __future__ import annotations

import json
import threading
import time

from appliance.store.database import SqliteStore as Store
from appliance.voice import restupdate


def _store_with_call(tmp_path, sid="CA1"):
    store = Store(tmp_path / "s.sqlite3")
    now = time.time()
    store.write(
        lambda c: c.execute(
            "INSERT INTO calls (sid, modem, direction, from_number, to_number, status,"
            " date_created, date_updated) VALUES (?,?,?,?,?,?,?,?)",
            (sid, "m1", "inbound", "+15550001", "+15550002", "in-progress", now, now),
        )
    )
    return store


def _write(store, sid, control):
    store.write(lambda c: c.execute("UPDATE calls SET control = ? WHERE sid = ?", (control, sid)))


def _control(store, sid):
    return store.read_one("SELECT control FROM calls WHERE sid = ?", (sid,))["control"]


def test_take_returns_the_update_and_clears_it(tmp_path):
    store = _store_with_call(tmp_path)
    try:
        assert restupdate.take(store, "CA1") == {}
        _write(store, "CA1", json.dumps({"status": "completed"}))
        assert restupdate.take(store, "CA1") == {"status": "completed"}
        assert _control(store, "CA1") is None
        assert restupdate.take(store, "CA1") == {}
    finally:
        store.close()


def test_a_redirect_is_kept_when_asked_and_an_end_is_not(tmp_path):
    store = _store_with_call(tmp_path)
    try:
        _write(store, "CA1", json.dumps({"url": "http://127.0.0.1/x", "method": "GET"}))
        assert restupdate.take(store, "CA1", keep_redirect=True)["url"] == "http://127.0.0.1/x"
        assert _control(store, "CA1") is not None  # the flow taking the leg over reads it
        assert restupdate.take(store, "CA1")["method"] == "GET"
        assert _control(store, "CA1") is None
        _write(store, "CA1", json.dumps({"status": "canceled"}))
        assert restupdate.ends(restupdate.take(store, "CA1", keep_redirect=True))
        assert _control(store, "CA1") is None
    finally:
        store.close()


def test_unreadable_json_counts_as_no_update_and_a_gone_call_as_none(tmp_path):
    store = _store_with_call(tmp_path)
    try:
        for bad in ("{not json", "[1, 2]", '"text"'):
            _write(store, "CA1", bad)
            assert restupdate.take(store, "CA1") == {}
            assert _control(store, "CA1") is None
        assert restupdate.take(store, "CA404") is None
    finally:
        store.close()


def test_an_update_written_while_another_is_taken_is_not_lost(tmp_path):
    # The API overwrites calls.control whenever a request comes. Taking must not clear an
    # update written after it read the column: that one is either returned or left for the
    # next look. (A read on a reader connection and a clear queued behind the API's write
    # would lose it.) The writer is held so that both writes queue in a known order.
    store = _store_with_call(tmp_path)
    first, second = json.dumps({"url": "http://127.0.0.1/a"}), json.dumps({"status": "completed"})
    try:
        _write(store, "CA1", first)
        gate = threading.Event()
        store.submit(lambda c: gate.wait(5))
        api_write = store.submit(
            lambda c: c.execute("UPDATE calls SET control = ? WHERE sid = ?", (second, "CA1"))
        )
        result: list = []
        taker = threading.Thread(target=lambda: result.append(restupdate.take(store, "CA1")))
        taker.start()
        time.sleep(0.2)  # the taker has read (or queued) by now
        gate.set()
        api_write.result(5)
        taker.join(5)
        left = _control(store, "CA1")
        assert result and (result[0] == json.loads(second) or left == second), (result, left)
        if result[0] == json.loads(second):
            assert left is None
    finally:
        store.close()
