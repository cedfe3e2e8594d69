"""The migration 0011: the on-call rotation (people, schedules, overrides, the escalation
policy) and paging (alerts, their pages, the handover texts already sent)."""

from __future__ import annotations

STEPS: tuple[tuple[str, str], ...] = (
    (
        "0011_oncall",
        """
        CREATE TABLE oncall_people (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            phone TEXT NOT NULL UNIQUE,
            client TEXT NOT NULL DEFAULT '',
            created REAL NOT NULL
        );
        CREATE TABLE oncall_schedules (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            timezone TEXT NOT NULL,
            days INTEGER NOT NULL,
            anchor TEXT NOT NULL,
            handover_time TEXT NOT NULL,
            layer INTEGER NOT NULL DEFAULT 0,
            people TEXT NOT NULL DEFAULT '[]',
            created REAL NOT NULL
        );
        CREATE TABLE oncall_overrides (
            id INTEGER PRIMARY KEY,
            person_id INTEGER NOT NULL REFERENCES oncall_people (id) ON DELETE CASCADE,
            starts REAL NOT NULL,
            ends REAL NOT NULL,
            created REAL NOT NULL
        );
        CREATE INDEX oncall_overrides_ends ON oncall_overrides (ends);
        CREATE TABLE oncall_policy (
            id INTEGER PRIMARY KEY,
            ack_timeout REAL NOT NULL,
            repeat INTEGER NOT NULL,
            default_person_id INTEGER REFERENCES oncall_people (id) ON DELETE SET NULL
        );
        INSERT INTO oncall_policy (id, ack_timeout, repeat) VALUES (1, 300, 2);
        CREATE TABLE oncall_alerts (
            id INTEGER PRIMARY KEY,
            fingerprint TEXT NOT NULL,
            source TEXT NOT NULL,
            body TEXT NOT NULL,
            severity TEXT NOT NULL,
            status TEXT NOT NULL,
            chain TEXT NOT NULL,
            step INTEGER NOT NULL DEFAULT 0,
            next_at REAL,
            repeats INTEGER NOT NULL DEFAULT 0,
            acked_by INTEGER,
            acked_at REAL,
            resolved_at REAL,
            resolved_by TEXT,
            created REAL NOT NULL,
            updated REAL NOT NULL
        );
        CREATE UNIQUE INDEX oncall_alerts_open ON oncall_alerts (fingerprint)
            WHERE status <> 'resolved';
        CREATE INDEX oncall_alerts_due ON oncall_alerts (status, next_at);
        CREATE TABLE oncall_pages (
            id INTEGER PRIMARY KEY,
            alert_id INTEGER NOT NULL REFERENCES oncall_alerts (id) ON DELETE CASCADE,
            person_id INTEGER,
            phone TEXT NOT NULL,
            kind TEXT NOT NULL,
            step INTEGER NOT NULL,
            ref TEXT,
            at REAL NOT NULL
        );
        CREATE INDEX oncall_pages_phone ON oncall_pages (phone, at);
        CREATE TABLE oncall_handovers (
            schedule_id INTEGER NOT NULL,
            at REAL NOT NULL,
            person_id INTEGER NOT NULL,
            message_sid TEXT,
            sent REAL NOT NULL,
            PRIMARY KEY (schedule_id, at)
        );
        """,
    ),
)
