"""Once per fleet: a fleet-wide chore's firing is claimed in the database (issue 16, slice 5).

Every node runs the same chores on its own timer (retention...), and on a fleet each must run
once per period, not once per node.  A chore's periods are *slots*: the database clock's UNIX
seconds divided by the chore's interval, rounded down.  :func:`fire` inserts the slot's row in
``fleet_firings`` (``ON CONFLICT (name, slot) DO NOTHING RETURNING name``): the node whose
insert went in runs the chore, every other node finds the row and skips it.  Two nodes
inserting together are serialised by the primary key (PostgreSQL makes the second wait for
the first's commit, then sees the conflict), so no lock or SERIALIZABLE is needed.  The
database's clock, not the node's, so nodes whose clocks disagree still agree on the slot.

The same statements run on both engines: a single box (SQLite) wins every slot, with one
small write per firing; rows older than :data:`KEEP` are deleted by the winner.
"""

from __future__ import annotations

import sqlite3

from appliance.store.database import Store

KEEP = 7 * 86400.0  # seconds a firing's row is kept (to see who ran what; nothing reads it)

_CLAIM = (
    "INSERT INTO fleet_firings (name, slot, node_id, at) VALUES (?, ?, ?, ?)"
    " ON CONFLICT (name, slot) DO NOTHING RETURNING name"
)


def slot(now: float, interval: float) -> int:
    """The slot of ``now`` for a chore run every ``interval`` seconds."""
    if interval <= 0:
        raise ValueError("a fleet-wide chore's interval must be positive")
    return int(now // interval)


def fire(store: Store, name: str, interval: float, node: str) -> bool:
    """Claim the current slot of the chore ``name`` (run every ``interval`` seconds) for
    ``node``: True if this node runs it, False if another node (or this one) already did.
    A non-positive ``interval`` raises :func:`slot`'s ValueError (the transaction wrote
    nothing)."""

    def fn(conn: sqlite3.Connection) -> bool:
        now = float(conn.execute(f"SELECT {store.dialect.now}").fetchone()[0])
        took = conn.execute(_CLAIM, (name, slot(now, interval), node, now)).fetchone()
        if took is None:
            return False
        conn.execute(
            "DELETE FROM fleet_firings WHERE name = ? AND at < ?",
            (name, now - max(KEEP, 2 * interval)),
        )
        return True

    return bool(store.write(fn))
