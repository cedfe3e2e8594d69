"""Migration 0013: one index fewer on ``messages``, the table every REST create writes.

``messages_created (date_created)`` is a prefix of ``messages_day (date_created,
direction, status)``: every query that used it (retention, the dashboard's daily
counts, the oldest unsent message) is served by ``messages_day``, checked with
``EXPLAIN QUERY PLAN`` in tests/store/test_store.py.  Each index is one more B-tree
insert in the single writer per message.
"""

from __future__ import annotations

STEPS: tuple[tuple[str, str], ...] = (
    ("0013_leaner_messages", "DROP INDEX IF EXISTS messages_created"),
)
