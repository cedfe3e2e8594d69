"""The outbound budget of a number: at most so many messages per hour, then 30001.

A SIM pays for every message, and an app in a loop (or a flood of TwiML replies) can
send thousands.  ``numbers.outbound_budget_per_hour`` (0: no budget, the default) caps
the messages a number's modem accepts in any 60 minutes: API sends, TwiML replies,
broadcasts and keyword replies alike, counted when they are queued (a scheduled
message counts when it is created).  A message over the budget is stored as
``failed`` with 30001 "Queue overflow" (its status callback is posted) and is never
sent; it does not count against the budget itself.

On PostgreSQL the count runs under the number's row lock (``FOR UPDATE``), so concurrent
creates, on one node or several, cannot each see room for the last message.
"""

from __future__ import annotations

import sqlite3

from appliance.store.dialect import SQLITE

__all__ = ["QUEUE_OVERFLOW", "WINDOW", "over_budget"]

QUEUE_OVERFLOW = 30001
WINDOW = 3600.0  # seconds: the budget is per rolling hour


def over_budget(
    conn: sqlite3.Connection, modem: str, now: float, budget: int | None = None
) -> int | None:
    """The budget of ``modem``'s number if one more message now would exceed it, else None.

    ``budget``: the number's ``outbound_budget_per_hour`` if the caller has read it already
    in this transaction (None: read it here)."""
    if budget is None:
        row = conn.execute(
            "SELECT outbound_budget_per_hour FROM numbers WHERE modem = ?", (modem,)
        ).fetchone()
        budget = int(row[0] or 0) if row is not None else 0
    if budget <= 0:
        return None
    lock = getattr(conn, "dialect", SQLITE).lock
    if lock:
        # Concurrent writers (PostgreSQL): creates for one number take turns from here to
        # their commit, so each counts the others' committed messages (READ COMMITTED reads
        # anew at each statement).  SQLite's single writer needs nothing.
        conn.execute("SELECT 1 FROM numbers WHERE modem = ?" + lock, (modem,))
    used = conn.execute(
        "SELECT COUNT(*) FROM messages WHERE modem = ? AND direction != 'inbound'"
        " AND date_created > ? AND (error_code IS NULL OR error_code != ?)",
        (modem, now - WINDOW, QUEUE_OVERFLOW),
    ).fetchone()[0]
    return budget if int(used) >= budget else None
