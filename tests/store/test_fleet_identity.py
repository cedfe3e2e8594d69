"""The fleet's node identity, robust (issue 16): a cloned node id is told and a further start
refused, old nodes' rows are pruned once per fleet, and a restored SQLite database does not
keep its old node's modem names (both engines unless said)."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

import pytest

from appliance.errors import FleetError
from appliance.store import fleet
from appliance.store.database import SqliteStore
from appliance.store.fleet import Fleet
from appliance.store.fleetview import health_fields, view
from tests.pg import Engine, make_store

DAY = 86400.0


def node(store, name: str, modems: list[str], id_: str | None = None, url: str = "", **kw):  # type: ignore[no-untyped-def]
    url = url or f"http://{name}:8080"
    return Fleet(store, id_ or str(uuid.uuid4()), name, lambda: url, modems, **kw)


def said(caplog: pytest.LogCaptureFixture, what: str) -> int:
    return sum(1 for r in caplog.records if getattr(r, "event", None) == what)


def owner(store, modem: str) -> str | None:  # type: ignore[no-untyped-def]
    row = store.read_one("SELECT node_id FROM modem_owners WHERE modem = ?", (modem,))
    return None if row is None else str(row[0])


def test_a_cloned_node_id_is_told_and_a_further_start_refused(
    engine: Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="appliance.store.fleet")
    store = make_store(engine, tmp_path)
    same = str(uuid.uuid4())  # one data_dir/node_id on two boxes: a cloned SD card
    a = node(store, "shop-a", ["a1"], same, "http://10.0.0.11:8080")
    b = node(store, "shop-a", ["a1"], same, "http://10.0.0.12:8080")
    a.join()
    b.join()  # b cannot tell a live a from a crashed one (it would restart at once): it joins
    assert a.beat() == [] and b.beat() == []  # the modem leases are the node id's: both pass
    assert a.clash is not None and "took this node id at http://10.0.0.12:8080" in a.clash
    assert b.clash is not None and "beats with this node id at http://10.0.0.11:8080" in b.clash
    assert "delete its data_dir/node_id" in a.clash and "\n" not in a.clash
    a.beat()
    b.beat()
    assert said(caplog, "node id shared with another appliance") == 2  # once each
    (seen,) = view(store, same).nodes
    assert seen.shared_with == "http://10.0.0.11:8080" and seen.url == "http://10.0.0.12:8080"
    assert health_fields(view(store))["nodes"][0]["id_shared_with"] == seen.shared_with

    # A third start with that id (either box restarted) is refused while both beat.
    c = node(store, "shop-a", ["a1"], same, "http://10.0.0.13:8080")
    with pytest.raises(FleetError) as refused:
        c.join()
    message = str(refused.value)
    assert message.startswith(f"node id {same} (data_dir/node_id) is in use by another running")
    assert "http://10.0.0.11:8080 and http://10.0.0.12:8080" in message and "\n" not in message
    row = store.read_one("SELECT url, token FROM nodes WHERE id = ?", (same,))
    assert row is not None and (row["url"], row["token"]) == ("http://10.0.0.12:8080", b.token)

    # The clash writer stops cleanly: the row stays the holder's, leases and all.
    a.leave()
    assert b.beat() == [] and b.clash is None
    assert said(caplog, "node id no longer shared") == 1
    (seen,) = view(store).nodes
    assert seen.state == "up" and seen.shared_with is None and owner(store, "a1") == same

    # A crash's restart starts at once: b dies (no more beats), c takes the live row.
    c.join()
    assert c.beat() == [] and c.clash is None
    # ... and b, should it not be dead after all, says so at its next beat.
    b.beat()
    assert b.clash is not None and c.beat() == [] and c.clash is not None
    # A clash silent past the lease (that process died) no longer refuses a start.
    with pytest.raises(FleetError):
        node(store, "shop-a", ["a1"], same).join()
    store.write(lambda conn: conn.execute("UPDATE nodes SET clash = clash - ?", (fleet.LEASE + 1,)))
    d = node(store, "shop-a", ["a1"], same, "http://10.0.0.14:8080")
    d.join()
    # b's clean stop, not holding the row, stops nothing of d's.
    b.leave()
    (seen,) = view(store).nodes
    assert seen.state == "up" and seen.url == "http://10.0.0.14:8080" and owner(store, "a1") == same
    d.leave()
    assert view(store).nodes[0].state == "stopped" and owner(store, "a1") is None


def test_the_holder_gone_the_other_process_takes_the_row_back(
    engine: Engine, tmp_path: Path
) -> None:
    store = make_store(engine, tmp_path)
    same = str(uuid.uuid4())
    a = node(store, "shop-a", ["a1"], same, "http://a:1")
    b = node(store, "shop-a", ["a1"], same, "http://b:1")
    a.join()
    b.join()
    a.beat()
    assert a.clash is not None
    b.leave()  # the clone is stopped (to delete its node_id): the row says stopped ...
    a.beat()  # ... and the original takes it back at its next beat
    assert a.clash is None
    (seen,) = view(store).nodes
    assert seen.state == "up" and seen.url == "http://a:1" and owner(store, "a1") == same
    node(store, "shop-a", ["a1"], same).join()  # nothing left to refuse


def test_old_nodes_are_pruned_once_per_fleet(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fleet, "PRUNE_EVERY", 1e9)  # one slot for the whole test, whatever the hour
    store = make_store(engine, tmp_path)
    old, lost, recent = (node(store, n, [f"{n}-1"]) for n in ("old", "lost", "recent"))
    for n in (old, lost, recent):
        n.join()
    old.leave()  # stopped 8 days ago
    store.write(
        lambda c: c.execute(
            "UPDATE nodes SET heartbeat = heartbeat - ?, stopped = stopped - ? WHERE id = ?",
            (8 * DAY, 8 * DAY, old.id),
        )
    )
    # lost: killed 8 days ago (its lease ran out with it), never stopped
    store.write(
        lambda c: c.execute(
            "UPDATE nodes SET heartbeat = heartbeat - ? WHERE id = ?", (8 * DAY, lost.id)
        )
    )
    store.write(lambda c: c.execute("UPDATE modem_owners SET lease_until = lease_until - ? WHERE node_id = ?", (8 * DAY, lost.id)))  # fmt: skip
    recent.leave()
    store.write(lambda c: c.execute("UPDATE nodes SET heartbeat = heartbeat - ?, stopped = stopped - ? WHERE id = ?", (6 * DAY, 6 * DAY, recent.id)))  # fmt: skip
    a = node(store, "shop-a", ["a-1"])
    a.join()  # the joins above took this hour's pruning slot: nothing pruned yet
    assert len(view(store).nodes) == 4
    store.write(lambda c: c.execute("DELETE FROM fleet_firings WHERE name = ?", (fleet.PRUNE_FIRING,)))  # the next hour  # fmt: skip
    b = node(store, "shop-b", ["b-1"])
    assert a.prune() == 2 and a.prune() == 0 and b.prune() == 0  # once per fleet per slot
    assert [n.name for n in view(store).nodes] == ["recent", "shop-a"]
    assert owner(store, "lost-1") is None and owner(store, "a-1") == a.id
    # A node silent that long that comes back writes its row again at its next beat.
    assert lost.beat() == [] and owner(store, "lost-1") == lost.id
    assert [n.name for n in view(store).nodes] == ["lost", "recent", "shop-a"]
    # retention_nodes_days = 0: kept for ever.
    store.write(lambda c: c.execute("DELETE FROM fleet_firings"))
    store.write(lambda c: c.execute("UPDATE nodes SET heartbeat = heartbeat - ?", (30 * DAY,)))
    assert node(store, "keeper", [], forget=0).prune() == 0 and len(view(store).nodes) == 3


def test_a_restored_sqlite_database_does_not_hold_the_modems(tmp_path: Path) -> None:
    """A backup taken within the lease of its box's start, restored on a new box (a new node
    id): one daemon per SQLite file, so the old node's lease is not a live node's."""
    store = SqliteStore(tmp_path / "a.sqlite3")
    try:
        pi = node(store, "pi", ["modem1"])
        pi.join()
        store.snapshot(tmp_path / "backup.sqlite3")
    finally:
        store.close()
    restored = SqliteStore(tmp_path / "backup.sqlite3")
    try:
        new = node(restored, "new-pi", ["modem1"])
        new.join()
        assert owner(restored, "modem1") == new.id
        assert {n.name: n.state for n in view(restored, new.id).nodes}["new-pi"] == "up"
    finally:
        restored.close()
