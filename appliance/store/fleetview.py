"""The fleet as the database says it is now: nodes, their state and modems, queue depths.

Read by the panel's Fleet page and ``/health`` (:func:`view`, :func:`health_fields`); the
node's own part in the fleet (its row, leases, heartbeat) is :mod:`appliance.store.fleet`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from appliance.store.database import Store
from appliance.store.fleet import LEASE, clashing


def state(heartbeat: float, stopped: float | None, now: float) -> str:
    """A node's state from its row: ``stopped`` (a clean stop after its last heartbeat),
    ``up`` (a heartbeat within :data:`LEASE`) or ``lost`` (silent longer: killed, cut off)."""
    if stopped is not None and stopped >= heartbeat:
        return "stopped"
    return "up" if now - heartbeat <= LEASE else "lost"


@dataclasses.dataclass(frozen=True)
class ModemView:
    """A modem name of the fleet: who holds it, until when, and its outbound queue."""

    modem: str
    node_id: str | None
    node_name: str | None
    lease_until: float | None
    held: bool  # the lease has not run out
    queued: int  # messages queued or being sent


@dataclasses.dataclass(frozen=True)
class NodeView:
    id: str
    name: str
    url: str
    version: str
    started: float
    heartbeat: float
    stopped: float | None
    state: str
    this: bool  # the node answering
    heartbeat_age: float
    modems: tuple[ModemView, ...]
    shared_with: str | None = None  # the URL of another live process with this node id

    @property
    def queued(self) -> int:
        return sum(m.queued for m in self.modems)


@dataclasses.dataclass(frozen=True)
class FleetView:
    """The fleet as the database says it is now (the panel's fleet page, ``/health``)."""

    now: float
    nodes: tuple[NodeView, ...]
    modems: tuple[ModemView, ...]  # every modem name, held or not, with a queue or a lease

    @property
    def up(self) -> int:
        return sum(1 for n in self.nodes if n.state == "up")


def health_fields(fleet: FleetView) -> dict[str, Any]:
    """``/health``'s ``fleet``: how many nodes are up, and each node in a few fields."""
    return {
        "up": fleet.up,
        "nodes": [
            {
                "id": n.id,
                "name": n.name,
                "url": n.url,
                "version": n.version,
                "state": n.state,
                "heartbeat_age_s": round(n.heartbeat_age, 1),
                "modems": [m.modem for m in n.modems],
                "queue_depth": n.queued,
                "id_shared_with": n.shared_with,
            }
            for n in fleet.nodes
        ],
    }


def view(store: Store, this: str | None = None) -> FleetView:
    """Every node and modem name, with its queue depth (``this``: the answering node's id,
    up by definition, as a single box on SQLite writes no heartbeats)."""
    now = float(store.read(f"SELECT {store.dialect.now}")[0][0])
    nodes = store.read("SELECT * FROM nodes ORDER BY name, id")
    owners = {r["modem"]: r for r in store.read("SELECT * FROM modem_owners")}
    queued = {
        r[0]: int(r[1])
        for r in store.read(
            "SELECT modem, COUNT(*) FROM messages WHERE status IN ('queued', 'sending')"
            " GROUP BY modem"
        )
    }
    names = {r["id"]: r["name"] for r in nodes}
    modems = []
    for modem in sorted(set(owners) | set(queued)):
        o = owners.get(modem)
        modems.append(
            ModemView(
                modem=modem,
                node_id=None if o is None else o["node_id"],
                node_name=None if o is None else names.get(o["node_id"]),
                lease_until=None if o is None else float(o["lease_until"]),
                held=o is not None and float(o["lease_until"]) >= now,
                queued=queued.get(modem, 0),
            )
        )
    out = []
    for r in nodes:
        heartbeat = float(r["heartbeat"])
        stopped = None if r["stopped"] is None else float(r["stopped"])
        out.append(
            NodeView(
                id=r["id"],
                name=r["name"],
                url=r["url"],
                version=r["version"],
                started=float(r["started"]),
                heartbeat=heartbeat,
                stopped=stopped,
                state="up" if r["id"] == this else state(heartbeat, stopped, now),
                this=r["id"] == this,
                heartbeat_age=max(0.0, now - heartbeat),
                modems=tuple(m for m in modems if m.node_id == r["id"] and m.held),
                shared_with=r["clash_url"] if clashing(r, now, LEASE) else None,
            )
        )
    return FleetView(now, tuple(out), tuple(modems))
