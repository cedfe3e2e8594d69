"""Migration 0024: a cloned node id is detected (issue 16; docs/design.md, "A fleet on
PostgreSQL", "Node identity: clones, pruning, restores").

``nodes.token`` is a random token each appliance process writes in its node's row when it
joins: a heartbeat is written only while the row still holds the process's own token.  A
process that finds another token there while it is still running shares its node id with
another live process (a cloned SD card or data_dir: :mod:`appliance.store.fleet`); it says so
in ``clash`` (its heartbeats, UNIX seconds of the database's clock), ``clash_token`` and
``clash_url``, so the token's holder, ``/health``, the Fleet page and a third start all know.
"""

from __future__ import annotations

STEPS: tuple[tuple[str, str], ...] = (
    (
        "0024_node_tokens",
        """
        ALTER TABLE nodes ADD COLUMN token TEXT;
        ALTER TABLE nodes ADD COLUMN clash REAL;
        ALTER TABLE nodes ADD COLUMN clash_token TEXT;
        ALTER TABLE nodes ADD COLUMN clash_url TEXT
        """,
    ),
)
