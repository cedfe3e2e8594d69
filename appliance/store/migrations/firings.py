"""Migration 0022: once per fleet (issue 16, slices 4 and 5; docs/design.md, "A fleet on
PostgreSQL").

``fleet_firings`` has a row per firing of a fleet-wide chore (retention...): its name, its
slot (the database clock's UNIX seconds divided by the chore's interval, rounded down), the
node that ran it and when.  The primary key is the claim: every node tries to insert the
slot's row (``ON CONFLICT DO NOTHING RETURNING``) and only the node whose insert went in runs
the chore (:func:`appliance.store.firings.fire`).  ``calls.node_id`` is the node that placed an
outbound call (set by its claim, :meth:`appliance.voice.records.CallRecords.claim_queued`).
Both engines get both (one code path); a single box writes one small row per firing.
"""

from __future__ import annotations

STEPS: tuple[tuple[str, str], ...] = (
    (
        "0022_fleet_firings",
        """
        CREATE TABLE fleet_firings (
            name TEXT NOT NULL,
            slot BIGINT NOT NULL,
            node_id TEXT NOT NULL,
            at REAL NOT NULL,
            PRIMARY KEY (name, slot)
        );
        ALTER TABLE calls ADD COLUMN node_id TEXT
        """,
    ),
)
