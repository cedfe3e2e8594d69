"""Migration 0025: join/leave keywords are claimed as jobs, not read from a cursor (issue 16;
docs/design.md, "Surprise 3: sequence cursors").

``keyword_jobs`` holds the ``seq`` of each inbound message whose list keywords are still to be
applied: the inbox inserts it in the message's own transaction, and a keyword pass deletes the
rows it takes (:mod:`appliance.campaigns.keywords`).  The step gives a job to every inbound
message after the old cursor (the ``subscribers_inbound_seq`` setting), so none waiting at the
upgrade is lost; a database whose cursor was never made (no keyword pass ever ran) gets none,
as the cursor would have started at the newest message.  The cursor is then retired: set past
any ``seq``, so that a node of the old code still running (against docs/fleet.md's upgrade
order) applies nothing, rather than the whole history, as it would with the row deleted.
"""

from __future__ import annotations

_SCRIPT = """
    CREATE TABLE keyword_jobs (seq {key});
    INSERT INTO keyword_jobs (seq) SELECT seq FROM messages WHERE direction = 'inbound'
        AND seq > (SELECT CAST(value AS BIGINT) FROM settings WHERE key = 'subscribers_inbound_seq');
    UPDATE settings SET value = '9223372036854775807' WHERE key = 'subscribers_inbound_seq'
"""

STEPS: tuple[tuple[str, dict[str, str]], ...] = (
    (
        "0025_keyword_jobs",
        {
            # SQLite: the rowid itself (one b-tree); PostgreSQL: a plain key (no identity).
            "sqlite": _SCRIPT.format(key="INTEGER PRIMARY KEY"),
            "postgresql": _SCRIPT.format(key="BIGINT PRIMARY KEY"),
        },
    ),
)
