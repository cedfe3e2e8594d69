"""Once per fleet (issue 16, slice 5): fleet-wide chores claim their slot in
``fleet_firings``, on-call escalation claims its due alerts, and signal samples are each
node's own.

* A slot is taken once (both engines), then again in the next slot; old rows go.
* Three stores (as three processes) racing for one slot on PostgreSQL: one wins.
* Two nodes' retention threads on one database: one purge per period, not one per node.
* An alert another node is stepping (its row locked) is skipped, not waited for, nor stepped
  twice.
* Signal samples: on a fleet a node samples its own modems only; a single box all of them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from appliance.campaigns.scheduler import PanelScheduler
from appliance.oncall.service import OnCall
from appliance.sms.outbox import Outbox
from appliance.store import firings, retention
from appliance.store.database import Store
from appliance.store.pg import PgStore
from appliance.store.retention import Policy, Retention
from tests.pg import Engine, PgServer, make_store


@pytest.fixture
def database(pg_server: PgServer) -> Iterator[str]:
    engine = Engine("postgresql", pg_server)
    yield engine.url()
    engine.close()


def firing_rows(store: Store, name: str) -> list[tuple[Any, ...]]:
    return [
        tuple(r)
        for r in store.read(
            "SELECT slot, node_id FROM fleet_firings WHERE name = ? ORDER BY slot", (name,)
        )
    ]


def test_a_slot_fires_once_then_the_next(engine: Engine, tmp_path: Path) -> None:
    store = make_store(engine, tmp_path)
    store.write(
        lambda c: c.execute(
            "INSERT INTO fleet_firings (name, slot, node_id, at) VALUES ('chore', 1, 'old', 0)"
        )
    )
    assert firings.fire(store, "chore", 3600, "node-a")
    assert not firings.fire(store, "chore", 3600, "node-b")  # this hour's is taken
    assert not firings.fire(store, "chore", 3600, "node-a")  # by anyone, itself included
    assert firings.fire(store, "other", 3600, "node-b")  # another chore has its own slots
    rows = firing_rows(store, "chore")
    assert len(rows) == 1 and rows[0][1] == "node-a"  # the week-old row was deleted
    assert rows[0][0] == firings.slot(time.time(), 3600)
    assert firings.fire(store, "fast", 0.3, "node-a")
    time.sleep(0.35)
    assert firings.fire(store, "fast", 0.3, "node-b")  # the next slot
    assert [r[1] for r in firing_rows(store, "fast")] == ["node-a", "node-b"]
    with pytest.raises(ValueError):
        firings.fire(store, "chore", 0, "node-a")


def test_three_stores_racing_for_a_slot_fire_it_once(database: str) -> None:
    stores = [PgStore(database, check_fsync=False) for _ in range(3)]
    try:
        start = threading.Barrier(9)
        won: list[str] = []

        def race(node: str, store: Store) -> None:
            start.wait(10)
            if firings.fire(store, "race", 3600, node):
                won.append(node)

        threads = [threading.Thread(target=race, args=(f"n{i}", stores[i % 3])) for i in range(9)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert len(won) == 1, won
        assert firing_rows(stores[0], "race") == [(firings.slot(time.time(), 3600), won[0])]
    finally:
        for s in stores:
            s.close()


def test_retention_purges_once_per_period_on_a_fleet(database: str, tmp_path: Path) -> None:
    stores = [PgStore(database, check_fsync=False) for _ in range(2)]
    nodes = [
        Retention(s, Policy(), tmp_path, 0.4, first_delay=0.0, node=f"node-{i}")
        for i, s in enumerate(stores)
    ]
    try:
        for n in nodes:
            n.start()
        time.sleep(2.1)
    finally:
        for n in nodes:
            n.stop()
    try:
        rows = firing_rows(stores[0], retention.FIRING)
        runs = sum(n.runs for n in nodes)
        assert runs == len(rows) >= 4, (runs, rows)
        assert len({slot for slot, _node in rows}) == len(rows)  # one purge per slot
        assert sum(n.skipped for n in nodes) >= 3  # the other node's looks found it taken
    finally:
        for s in stores:
            s.close()


def open_alert(store: Store, now: float) -> int:
    row = store.write(
        lambda c: c.execute(
            "INSERT INTO oncall_alerts (fingerprint, source, body, severity, status, chain,"
            " step, next_at, created, updated) VALUES ('disk', 'test', 'disk full', 'critical',"
            " 'open', '[]', 0, ?, ?, ?) RETURNING id",
            (now - 1, now - 60, now - 60),
        ).fetchone()
    )
    return int(row[0])


def test_an_alert_another_node_is_stepping_is_skipped(database: str) -> None:
    a, b = PgStore(database, check_fsync=False), PgStore(database, check_fsync=False)
    try:
        now = time.time()
        alert = open_alert(a, now)
        pager = OnCall(a, Outbox(a, lambda: "AC"), lambda _modem: None).pager
        held, go = threading.Event(), threading.Event()

        def hold(conn: Any) -> None:  # node B's escalation, in the middle of its step
            conn.execute("SELECT id FROM oncall_alerts WHERE id = ? FOR UPDATE", (alert,))
            held.set()
            assert go.wait(10)
            conn.execute("UPDATE oncall_alerts SET next_at = NULL WHERE id = ?", (alert,))

        holder = threading.Thread(target=b.write, args=(hold,))
        holder.start()
        assert held.wait(10)
        started = time.monotonic()
        try:
            ran = pager.escalate_due(now)
            took = time.monotonic() - started
        finally:
            go.set()
            holder.join(10)
        assert ran == 0 and took < 1.0, (ran, took)  # skipped, not waited for
        assert pager.escalate_due(now) == 0  # B's step moved it on: not stepped twice
        row = a.read_one("SELECT step, next_at FROM oncall_alerts WHERE id = ?", (alert,))
        assert row is not None and (row["step"], row["next_at"]) == (0, None)
    finally:
        a.close()
        b.close()


def test_signal_samples_are_this_nodes_modems_on_a_fleet(engine: Engine, tmp_path: Path) -> None:
    store = make_store(engine, tmp_path)
    store.write(
        lambda c: c.executemany(
            "INSERT INTO modem_health (modem, state, signal, updated) VALUES (?, 'ok', ?, 0)",
            [("a1", 20), ("c1", 9)],
        )
    )
    scheduler = PanelScheduler(
        store,
        None,  # type: ignore[arg-type]  # neither is used by a sample
        None,  # type: ignore[arg-type]
        grace=60,
        retry_delay=60,
        attempts=1,
        signal_interval=60,
        modems=("a1",),
    )
    scheduler.sample_signal()
    got = sorted(tuple(r) for r in store.read("SELECT modem, signal FROM signal_samples"))
    if engine.name == "postgresql":  # a fleet: c1 is another node's, which samples it
        assert got == [("a1", 20)]
    else:  # a single box copies every row, as before
        assert got == [("a1", 20), ("c1", 9)]
