"""Outbound calls claimed by the node holding the modem (issue 16, slice 4).

* Claimers racing for one line's queued calls never take the same call: on PostgreSQL three
  stores (as three processes) claim with ``UPDATE … WHERE sid = (SELECT … FOR UPDATE SKIP
  LOCKED) RETURNING *``; on SQLite three threads share the single writer.  Each call is taken
  once, marked ``ringing`` with its claimer's node id, and nothing of another line or
  direction is touched.
* A call queued through node A's REST API for node C's modem wakes C (NOTIFY
  ``appliance_calls``), and C's claim takes it with C's node id.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from appliance.daemon import Daemon
from appliance.store.database import Store
from appliance.store.fleet import CALLS_CHANNEL
from appliance.store.pg import PgStore
from appliance.voice.records import CallRecords
from tests.conftest import PHONE, client_for, wait_for
from tests.pg import Engine, PgServer, make_store

NUMBER_C = "+15005550013"
CALLS = 60


def queue_calls(store: Store, modem: str, count: int, prefix: str) -> list[str]:
    sids = [f"CA{prefix}{i:030d}" for i in range(count)]
    now = time.time()

    def fn(conn):  # type: ignore[no-untyped-def]
        for i, sid in enumerate(sids):
            conn.execute(
                "INSERT INTO calls (sid, modem, direction, from_number, to_number, status,"
                " date_created, date_updated) VALUES (?, ?, 'outbound-api', '+15005550006', ?,"
                " 'queued', ?, ?)",
                (sid, modem, PHONE, now + i * 0.001, now),
            )

    store.write(fn)
    return sids


def records(store: Store, node: str, line: str = "m1") -> CallRecords:
    return CallRecords(store, line, "+15005550006", lambda: "AC", lambda: None, node=node)


def test_two_claimers_never_take_the_same_call(engine: Engine, tmp_path: Path) -> None:
    first = make_store(engine, tmp_path)
    if engine.name == "postgresql":  # a store each, on one database: as separate processes
        url = engine.urls[0]
        stores = [first] + [PgStore(url, check_fsync=False) for _ in range(2)]
        engine.stores.extend(stores[1:])
    else:  # one file has one writer: three threads share it
        stores = [first] * 3
    sids = queue_calls(first, "m1", CALLS, "a")
    other = queue_calls(first, "m2", 3, "b")  # another line's: never taken
    first.write(
        lambda c: c.execute("UPDATE calls SET direction = 'inbound' WHERE sid = ?", (sids[-1],))
    )  # an inbound call is not placed
    start = threading.Barrier(3)
    taken: dict[str, list[str]] = collections.defaultdict(list)
    rows: list[tuple[str, str, str]] = []

    def claim(node: str, store: Store) -> None:
        mine = records(store, node)
        start.wait(10)
        while (row := mine.claim_queued()) is not None:
            taken[node].append(row["sid"])
            rows.append((row["sid"], row["status"], row["node_id"]))

    threads = [threading.Thread(target=claim, args=(f"node-{i}", s)) for i, s in enumerate(stores)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    every = [sid for sids_ in taken.values() for sid in sids_]
    counts = collections.Counter(every)
    assert counts.most_common(1)[0][1] == 1, f"taken twice: {counts.most_common(3)}"
    assert sorted(every) == sorted(sids[:-1])
    assert all(status == "ringing" for _sid, status, _node in rows)
    owner = {sid: node for node, got in taken.items() for sid in got}
    stored = {
        r["sid"]: (r["status"], r["node_id"])
        for r in first.read("SELECT sid, status, node_id FROM calls WHERE modem = 'm1'")
    }
    assert all(stored[sid] == ("ringing", owner[sid]) for sid in sids[:-1])
    assert stored[sids[-1]] == ("queued", None)
    left = first.read("SELECT status, node_id FROM calls WHERE modem = 'm2'")
    assert [tuple(r) for r in left] == [("queued", None)] * len(other)
    if engine.name == "postgresql":
        assert len([n for n, got in taken.items() if got]) >= 2, "no race happened"


def test_a_claim_finds_nothing_when_nothing_is_queued(engine: Engine, tmp_path: Path) -> None:
    store = make_store(engine, tmp_path)
    mine = records(store, "node-a")
    assert mine.claim_queued() is None
    (sid,) = queue_calls(store, "m1", 1, "c")
    row = mine.claim_queued()
    assert row is not None and row["sid"] == sid and row["node_id"] == "node-a"
    assert mine.claim_queued() is None
    canceled = queue_calls(store, "m1", 1, "d")[0]
    store.write(
        lambda c: c.execute("UPDATE calls SET status = 'canceled' WHERE sid = ?", (canceled,))
    )
    assert mine.claim_queued() is None  # a canceled call is never placed


@pytest.mark.timeout(120)
def test_a_call_queued_on_another_node_wakes_its_owner(
    pg_durable: PgServer, make_daemon: Callable[..., Daemon]
) -> None:
    url = pg_durable.new_database()
    store_c = PgStore(url)
    heard: list[tuple[str, str | None]] = []
    a: Daemon | None = None
    try:
        a = make_daemon(database_url=url, node_name="shop-a")
        store_c.write(
            lambda c: c.execute(
                "INSERT INTO numbers (sid, modem, phone_number, friendly_name, date_created,"
                " date_updated) VALUES ('PNc1', 'c1', ?, 'c', 0, 0)",
                (NUMBER_C,),
            )
        )
        store_c.listen((CALLS_CHANNEL,), lambda channel, payload: heard.append((channel, payload)))

        def listening() -> bool:  # its LISTEN is in place: it hears a probe of its own
            store_c.announce(CALLS_CHANNEL, "probe")  # (no modem of A is named so)
            return (CALLS_CHANNEL, "probe") in heard

        wait_for(listening, timeout=15, interval=0.2)
        call = client_for(a).calls.create(
            to=PHONE, from_=NUMBER_C, twiml="<Response><Hangup/></Response>"
        )
        assert call.status == "queued"
        wait_for(lambda: (CALLS_CHANNEL, "c1") in heard, timeout=15)
        row = records(store_c, "node-c", line="c1").claim_queued()
        assert row is not None and row["sid"] == call.sid and row["node_id"] == "node-c"
        assert client_for(a).calls(call.sid).fetch().status == "ringing"
    finally:
        store_c.close()
        if a is not None:
            a.stop()
        pg_durable.drop(url)
