"""The fleet's identity at the store (issue 16, slice 3), on SQLite and PostgreSQL: node ids,
the nodes' rows and heartbeats, the modem leases and the refusal of a modem name another live
node holds."""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path

import pytest

from appliance.errors import FleetError
from appliance.store import fleet
from appliance.store.database import Store
from appliance.store.fleet import Fleet, node_id
from appliance.store.fleetview import health_fields, state, view
from tests.pg import Engine, PgServer, make_store


def test_a_node_id_is_made_once_and_kept(tmp_path: Path) -> None:
    first = node_id(tmp_path / "data")
    assert str(uuid.UUID(first)) == first
    assert node_id(tmp_path / "data") == first  # a restart is the same node
    assert node_id(tmp_path / "other") != first
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "node_id").write_text("not a uuid\n")
    with pytest.raises(FleetError, match=r"bad/node_id does not hold a node id \(a UUID\)"):
        node_id(tmp_path / "bad")


def test_a_node_state_from_its_row() -> None:
    assert state(heartbeat=100.0, stopped=None, now=120.0) == "up"
    assert state(heartbeat=100.0, stopped=None, now=100.0 + fleet.LEASE + 1) == "lost"
    assert state(heartbeat=100.0, stopped=100.0, now=101.0) == "stopped"
    assert state(heartbeat=150.0, stopped=100.0, now=151.0) == "up"  # started again since


def node(store, name: str, modems: list[str], **kw) -> Fleet:  # type: ignore[no-untyped-def]
    return Fleet(store, str(uuid.uuid4()), name, lambda: f"http://{name}:8080", modems, **kw)


def test_nodes_join_beat_and_leave(engine: Engine, tmp_path: Path) -> None:
    store = make_store(engine, tmp_path)
    a = node(store, "shop-a", ["a1", "a2"])
    b = node(store, "shop-b", ["b1"])
    a.join()
    b.join()
    store.write(
        lambda c: c.executemany(
            "INSERT INTO messages (sid, account_sid, direction, status, from_number, to_number,"
            " body, num_segments, modem, date_created, date_updated)"
            " VALUES (?, 'AC1', 'outbound-api', ?, '+1', '+2', 'x', 1, ?, 1, 1)",
            [("SM1", "queued", "a1"), ("SM2", "sending", "a2"), ("SM3", "sent", "a1"),
             ("SM4", "queued", "b1"), ("SM5", "queued", "gone")],
        )
    )  # fmt: skip
    seen = view(store, a.id)
    assert [n.name for n in seen.nodes] == ["shop-a", "shop-b"]
    na, nb = seen.nodes
    assert na.this and not nb.this and seen.up == 2
    assert (na.state, nb.state) == ("up", "up")
    assert [m.modem for m in na.modems] == ["a1", "a2"] and na.queued == 2
    assert [m.modem for m in nb.modems] == ["b1"] and nb.queued == 1
    assert na.url == "http://shop-a:8080" and na.version and na.heartbeat_age < 5
    # A queue whose modem no node holds is still shown (it waits for its node).
    gone = next(m for m in seen.modems if m.modem == "gone")
    assert gone.node_id is None and not gone.held and gone.queued == 1

    before = na.heartbeat
    time.sleep(0.05)
    assert a.beat() == []
    after = next(n for n in view(store).nodes if n.id == a.id)
    assert after.heartbeat > before and after.started == na.started
    lease = store.read_one("SELECT lease_until FROM modem_owners WHERE modem = 'a1'")
    assert lease is not None and lease[0] >= after.heartbeat + fleet.LEASE - 1

    b.leave()
    seen = view(store, a.id)
    assert [n.state for n in seen.nodes] == ["up", "stopped"]
    assert store.read_one("SELECT * FROM modem_owners WHERE modem = 'b1'") is None
    b.join()  # the same node again: started anew
    assert [n.state for n in view(store, a.id).nodes] == ["up", "up"]

    health = health_fields(view(store, a.id))
    assert health["up"] == 2
    assert [(n["name"], n["modems"], n["queue_depth"]) for n in health["nodes"]] == [
        ("shop-a", ["a1", "a2"], 2),
        ("shop-b", ["b1"], 1),
    ]


def test_a_modem_name_held_by_a_live_node_is_refused(pg_server: PgServer, tmp_path: Path) -> None:
    """PostgreSQL only: on SQLite (one daemon per file) another node's lease can only be a
    restored copy's, and a start takes it (tests/store/test_fleet_identity.py)."""
    engine = Engine("postgresql", pg_server)
    try:
        _refused(engine, tmp_path)
    finally:
        engine.close()


def _refused(engine: Engine, tmp_path: Path) -> None:
    store = make_store(engine, tmp_path)
    a = node(store, "shop-a", ["modem1"])
    a.join()
    b = node(store, "shop-b", ["modem2", "modem1"])
    with pytest.raises(FleetError) as refused:
        b.join()
    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith(
        f"modem modem1 is held by another node, node shop-a (http://shop-a:8080, id {a.id}), for "
    )
    assert "give this one another name in [[modems]], or stop that node" in message
    # Nothing of the refused node was written: not its row, not modem2.
    assert store.read_one("SELECT * FROM nodes WHERE id = ?", (b.id,)) is None
    assert store.read_one("SELECT * FROM modem_owners WHERE modem = 'modem2'") is None

    # The same node (a restart after a crash: its id is in data_dir) takes its modems back.
    again = Fleet(store, a.id, "shop-a", lambda: "http://shop-a:8081", ["modem1"])
    again.join()

    # A lease that ran out (its node silent for longer than the lease) is free to take.
    store.write(lambda c: c.execute("UPDATE modem_owners SET lease_until = lease_until - 60"))
    b.join()
    owner = store.read_one("SELECT node_id FROM modem_owners WHERE modem = 'modem1'")
    assert owner is not None and owner[0] == b.id
    # The node that lost it hears so at its next heartbeat, and says it once.
    assert again.beat() == ["modem1"] and again.lost == {"modem1"}
    owner = store.read_one("SELECT node_id FROM modem_owners WHERE modem = 'modem1'")
    assert owner is not None and owner[0] == b.id


def test_a_silent_node_is_lost_and_the_database_clock_times_it(
    engine: Engine, tmp_path: Path
) -> None:
    store = make_store(engine, tmp_path)
    a = node(store, "shop-a", ["modem1"])
    a.join()
    now = view(store).now
    assert abs(now - time.time()) < 5  # the database's clock, in UNIX seconds
    store.write(lambda c: c.execute("UPDATE nodes SET heartbeat = heartbeat - 45"))
    seen = view(store)
    assert seen.nodes[0].state == "lost" and seen.up == 0 and seen.nodes[0].heartbeat_age > 44
    assert view(store, a.id).nodes[0].state == "up"  # the answering node is up by definition


def test_the_heartbeat_thread_renews(engine: Engine, tmp_path: Path) -> None:
    store = make_store(engine, tmp_path)
    a = node(store, "shop-a", ["modem1"], interval=0.05)
    a.join()
    first = view(store).nodes[0].heartbeat
    a.start()
    try:
        deadline = time.monotonic() + 5
        while view(store).nodes[0].heartbeat - first < 0.1:
            assert time.monotonic() < deadline, "no heartbeat"
            time.sleep(0.02)
    finally:
        a.stop()
    a.leave()
    assert view(store).nodes[0].state == "stopped"


def test_nodes_starting_together_share_one_setting(pg_server: PgServer) -> None:
    """Two nodes' first start on a new database both make the AuthToken: one wins, neither
    fails (it was a UniqueViolation, found by the three-node test).  PostgreSQL only: SQLite's
    writers are serialised (BEGIN IMMEDIATE), so there the second finds the first's row."""
    from appliance.store.pg import PgStore

    engine = Engine("postgresql", pg_server)
    try:
        url = engine.url()
        stores = [PgStore(url, check_fsync=False) for _ in range(2)]
        engine.stores += stores
        barrier = threading.Barrier(2)
        got: list[str] = []

        def start(store: Store, value: str) -> None:
            def make() -> str:
                barrier.wait(5)  # both have read "no such setting" before either inserts
                return value

            got.append(store.ensure_setting("auth_token", make))

        threads = [
            threading.Thread(target=start, args=(s, v)) for s, v in zip(stores, "ab", strict=True)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        assert len(got) == 2 and got[0] == got[1] and got[0] in ("a", "b")
    finally:
        engine.close()
