"""Migration 0023: broadcast schedules in the broadcasts' rows (issue 16, slice 5;
docs/design.md, "A fleet on PostgreSQL").

A scheduled broadcast's next firing was a job in APScheduler's persistent store
(``scheduler_jobs``), which every node of a fleet loads, so each node fired it.  Now the row
says when it fires next (``broadcasts.next_run``, UNIX seconds; NULL: no schedule, or paused)
and when a failed run is tried again (``retry_at``, ``retry_attempt``); a node fires either by
moving it on with a compare-and-set, so one node per firing wins
(:mod:`appliance.campaigns.scheduler`).  ``broadcast_runs.node_id`` is the node that ran a
run: a run in progress on a live node keeps another node (or a second click) from starting
the same broadcast, and a node's restart marks only its own unfinished runs interrupted.

Existing schedules keep their next run time (a run missed while the appliance was off still
fires within the grace period); a retry pending in ``scheduler_jobs`` (a pickled job) is not
carried over, and the table goes.
"""

from __future__ import annotations

STEPS: tuple[tuple[str, str], ...] = (
    (
        "0023_broadcast_schedules",
        """
        ALTER TABLE broadcasts ADD COLUMN next_run REAL;
        ALTER TABLE broadcasts ADD COLUMN retry_at REAL;
        ALTER TABLE broadcasts ADD COLUMN retry_attempt INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE broadcast_runs ADD COLUMN node_id TEXT;
        UPDATE broadcasts SET next_run = (SELECT j.next_run_time FROM scheduler_jobs j
            WHERE j.id = 'broadcast-' || CAST(broadcasts.id AS TEXT))
            WHERE enabled = 1 AND schedule != '';
        DROP TABLE scheduler_jobs
        """,
    ),
)
