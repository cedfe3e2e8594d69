"""Migration 0020: two indexes that a REST create no longer writes.

``messages_date_sent (date_sent)`` and ``segments_mr (mr, state)`` index columns that are
NULL when a message is queued (it has no send date, its parts no message reference yet),
so every create added a NULL key to each of them: two more B-tree inserts, and two more
pages in the commit, in the single writer (docs/design.md, "REST create path: what it
costs").  As partial indexes ``WHERE … IS NOT NULL`` they hold only the rows their queries
can find: every query on them compares the column (``date_sent >= ?``, ``s.mr = ?``), which
implies it is not NULL, so SQLite and PostgreSQL still use them (tests/store/test_store.py
checks the plans).
"""

from __future__ import annotations

STEPS: tuple[tuple[str, str], ...] = (
    (
        "0020_partial_indexes",
        """
        DROP INDEX IF EXISTS messages_date_sent;
        CREATE INDEX messages_date_sent ON messages (date_sent) WHERE date_sent IS NOT NULL;
        DROP INDEX IF EXISTS segments_mr;
        CREATE INDEX segments_mr ON segments (mr, state) WHERE mr IS NOT NULL
        """,
    ),
)
