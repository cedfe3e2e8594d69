"""The migration 0015: the escalation policy's ring time (how long each phone rings, on the
support number and on a paging call), and the support-number steps already texted (one row
per call and step, so a re-fetched step never texts twice)."""

from __future__ import annotations

STEPS: tuple[tuple[str, str], ...] = (
    (
        "0015_oncall_policy",
        """
        ALTER TABLE oncall_policy ADD COLUMN ring_timeout INTEGER NOT NULL DEFAULT 20;
        CREATE TABLE oncall_support_steps (
            call_sid TEXT NOT NULL,
            step INTEGER NOT NULL,
            people TEXT NOT NULL,
            at REAL NOT NULL,
            PRIMARY KEY (call_sid, step)
        );
        CREATE INDEX oncall_support_steps_at ON oncall_support_steps (at);
        """,
    ),
)
