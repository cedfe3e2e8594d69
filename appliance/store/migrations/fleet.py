"""Migration 0021: the fleet's identity (issue 16, slice 3; docs/design.md, "A fleet on
PostgreSQL").

``nodes`` has a row per appliance that ever ran on this database: its id (a UUID kept in
its data_dir), name, URL, version, when it started, its last heartbeat and, after a clean stop,
when it stopped.  ``modem_owners`` says which node holds each modem name, until when
(``lease_until``, UNIX seconds of the database's clock): a node renews its modems' leases
while it runs, and a node configured with a modem name another live node holds refuses to
start.  Both engines have both tables (one code path); a single box has one row in
``nodes``.  A webhook job being run is leased: ``lease_owner`` (the node id) until
``lease_until``; a node that dies mid-request leaves its jobs to be taken over once the lease
has run out, and the outcome commit of a node whose lease was taken is refused (fencing:
:mod:`appliance.webhooks.dispatcher`).
"""

from __future__ import annotations

STEPS: tuple[tuple[str, str], ...] = (
    (
        "0021_fleet",
        """
        CREATE TABLE nodes (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            url TEXT NOT NULL,
            version TEXT NOT NULL,
            started REAL NOT NULL,
            heartbeat REAL NOT NULL,
            stopped REAL
        );
        CREATE TABLE modem_owners (
            modem TEXT PRIMARY KEY,
            node_id TEXT NOT NULL,
            lease_until REAL NOT NULL
        );
        CREATE INDEX modem_owners_node ON modem_owners (node_id);
        ALTER TABLE webhook_jobs ADD COLUMN lease_owner TEXT;
        ALTER TABLE webhook_jobs ADD COLUMN lease_until REAL
        """,
    ),
)
