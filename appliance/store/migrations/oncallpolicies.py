"""The migration 0016: named escalation policies.  The one policy row of ``oncall_policy``
becomes the policy named ``default`` (same id, same values) in ``oncall_policies``; each
policy lists the schedules it uses (``schedules``, a JSON list of ids; empty: every schedule,
which is what the one policy did).  An alert and a support-line step record the policy they
run under, so a restart carries on under it."""

from __future__ import annotations

from collections.abc import Mapping

SQL = """
        CREATE TABLE oncall_policies (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            ring_timeout INTEGER NOT NULL DEFAULT 20,
            ack_timeout REAL NOT NULL,
            repeat INTEGER NOT NULL,
            default_person_id INTEGER REFERENCES oncall_people (id) ON DELETE SET NULL,
            schedules TEXT NOT NULL DEFAULT '[]',
            created REAL NOT NULL
        );
        INSERT INTO oncall_policies (id, name, ring_timeout, ack_timeout, repeat,
            default_person_id, schedules, created)
            SELECT id, 'default', ring_timeout, ack_timeout, repeat, default_person_id, '[]', 0
            FROM oncall_policy WHERE id = 1;
        DROP TABLE oncall_policy;
        ALTER TABLE oncall_alerts ADD COLUMN policy_id INTEGER NOT NULL DEFAULT 1;
        ALTER TABLE oncall_support_steps ADD COLUMN policy_id INTEGER NOT NULL DEFAULT 1;
        """

# PostgreSQL: the copy above gives id 1 explicitly, which an identity column's sequence does
# not see, so the next policy would collide with it; the sequence is moved past it.
PG_SEQUENCE = """;
        SELECT setval(pg_get_serial_sequence('oncall_policies', 'id'),
            COALESCE((SELECT MAX(id) FROM oncall_policies), 0) + 1, false)
        """

STEPS: tuple[tuple[str, str | Mapping[str, str]], ...] = (
    ("0016_oncall_policies", {"sqlite": SQL, "postgresql": SQL + PG_SEQUENCE}),
)
