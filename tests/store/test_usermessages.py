"""Migration 0026 and the user-defined messages' rows on SQLite and on a real PostgreSQL
(tests/pg.py): subscriptions with their IdempotencyKey and cap, the messages the API sent,
the webhook jobs of a browser's message, and the rows going with their call."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from appliance.store import usermessages as rows
from appliance.store.retention import DAY, Policy, purge
from tests.pg import Engine, make_store

CA, OTHER = "CA" + "1" * 32, "CA" + "2" * 32


def test_subscriptions_keys_and_cap(engine: Engine, tmp_path: Path) -> None:
    store = make_store(engine, tmp_path)
    first, new = rows.subscribe(store, CA, "https://app.example/m", "POST", "k1")
    assert new and first["sid"].startswith("ZY") and len(first["sid"]) == 34
    assert (first["call_sid"], first["callback"], first["method"]) == (
        CA,
        "https://app.example/m",
        "POST",
    )
    # the same key on the same call: the first row, whatever else was sent
    again, new = rows.subscribe(store, CA, "https://other.example/", "GET", "k1")
    assert not new and again["sid"] == first["sid"] and again["method"] == "POST"
    # the same key on another call, and rows without a key, are new
    assert rows.subscribe(store, OTHER, "https://app.example/m", "POST", "k1")[1]
    for _ in range(rows.MAX_SUBSCRIPTIONS - 1):
        assert rows.subscribe(store, CA, "https://app.example/n", "GET", None)[1]
    with pytest.raises(rows.TooMany):
        rows.subscribe(store, CA, "https://app.example/n", "GET", None)
    assert rows.subscribe(store, CA, "https://x.example/", "GET", "k1")[0]["sid"] == first["sid"]
    # delete: only on its own call, once
    assert not rows.unsubscribe(store, OTHER, first["sid"])
    assert rows.unsubscribe(store, CA, first["sid"])
    assert not rows.unsubscribe(store, CA, first["sid"])
    assert rows.subscribe(store, CA, "https://app.example/m", "POST", "k1")[1]


def test_racing_subscriptions_keep_the_cap(engine: Engine, tmp_path: Path) -> None:
    """Creates racing for a call's last place make one row between them.  On PostgreSQL the
    interleaving that broke the cap is forced: a transaction of the test's own holds a SHARE
    lock on the table (reads pass, inserts wait) until both racers are waiting on a lock; an
    unlocked count lets both count 9 and then both insert."""
    store = make_store(engine, tmp_path)
    store.write(
        lambda c: c.execute(
            "INSERT INTO calls (sid, modem, direction, from_number, to_number, status,"
            " date_created, date_updated) VALUES (?, 'client', 'inbound', 'client:a', '',"
            " 'in-progress', 1, 1)",
            (CA,),
        )
    )
    for _ in range(rows.MAX_SUBSCRIPTIONS - 1):
        rows.subscribe(store, CA, "https://app.example/n", "POST", None)
    outcomes: list[str] = []

    def create(n: int) -> None:
        try:
            rows.subscribe(store, CA, f"https://app.example/{n}", "POST", None)
            outcomes.append("made")
        except rows.TooMany:
            outcomes.append("too many")

    racers = [threading.Thread(target=create, args=(n,)) for n in range(2)]
    if engine.name == "postgresql":
        import psycopg

        with psycopg.connect(engine.urls[-1]) as gate:
            gate.execute("LOCK TABLE user_message_subscriptions IN SHARE MODE")
            for t in racers:
                t.start()
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:  # returns as soon as both wait
                with psycopg.connect(engine.urls[-1], autocommit=True) as look:
                    row = look.execute("SELECT COUNT(*) FROM pg_locks WHERE NOT granted")
                    if row.fetchone() == (2,):
                        break
                time.sleep(0.02)
            else:
                pytest.fail("the racers never both waited on a lock")
        # the gate's transaction ends here (committed, it changed nothing): the racers go on
    else:
        for t in racers:
            t.start()
    for t in racers:
        t.join(30)
    assert sorted(outcomes) == ["made", "too many"]
    count = store.read("SELECT COUNT(*) AS n FROM user_message_subscriptions")[0]["n"]
    assert count == rows.MAX_SUBSCRIPTIONS


def test_racing_creates_with_one_key_make_one_row(engine: Engine, tmp_path: Path) -> None:
    store = make_store(engine, tmp_path)
    results: list[tuple[str, bool]] = []

    def create() -> None:
        row, new = rows.record_sent(store, CA, "same")
        results.append((row["sid"], new))

    threads = [threading.Thread(target=create) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert len(results) == 6 and len({sid for sid, _ in results}) == 1
    assert sum(new for _, new in results) == 1
    # a message not sent after all frees its key
    rows.forget_sent(store, results[0][0])
    assert rows.record_sent(store, CA, "same")[1]
    assert rows.record_sent(store, CA, None)[1] and rows.record_sent(store, CA, None)[1]


def test_a_message_becomes_one_job_per_subscription(engine: Engine, tmp_path: Path) -> None:
    store = make_store(engine, tmp_path)
    params = {"CallSid": CA, "Sid": "KX" + "0" * 32, "Content": '{"a":"\u00e9"}'}
    assert rows.queue(store, CA, params) == 0  # no subscription: dropped
    posted, _ = rows.subscribe(store, CA, "https://app.example/post", "POST", None)
    got, _ = rows.subscribe(store, CA, "https://app.example/get", "GET", None)
    rows.subscribe(store, OTHER, "https://app.example/other", "POST", None)
    assert rows.queue(store, CA, params) == 2
    jobs = store.read(
        "SELECT kind, message_sid, url, method, params, state FROM webhook_jobs ORDER BY url"
    )
    assert [(j["message_sid"], j["url"], j["method"]) for j in jobs] == [
        (got["sid"], "https://app.example/get", "GET"),
        (posted["sid"], "https://app.example/post", "POST"),
    ]
    assert {j["kind"] for j in jobs} == {rows.KIND} and {j["state"] for j in jobs} == {"pending"}
    assert json.loads(jobs[0]["params"]) == params


def test_the_rows_go_with_their_call(engine: Engine, tmp_path: Path) -> None:
    store = make_store(engine, tmp_path)
    old = 1_800_000_000.0 - 400 * DAY

    def call(conn, sid: str, created: float) -> None:
        conn.execute(
            "INSERT INTO calls (sid, modem, direction, from_number, to_number, status,"
            " date_created, date_updated) VALUES (?, 'client', 'inbound', 'client:a', '', ?, ?, ?)",
            (sid, "completed", created, created),
        )

    store.write(lambda c: (call(c, CA, old), call(c, OTHER, 1_800_000_000.0)))
    for sid in (CA, OTHER):
        rows.subscribe(store, sid, "https://app.example/", "POST", None)
        rows.record_sent(store, sid, "k")
    purge(store, Policy(), tmp_path, now=1_800_000_000.0)
    left = store.read("SELECT call_sid FROM user_message_subscriptions")
    assert [r["call_sid"] for r in left] == [OTHER]
    assert [r["call_sid"] for r in store.read("SELECT call_sid FROM user_defined_messages")] == [
        OTHER
    ]
