"""The migrations 0001 to 0007: the schema up to the panel's unread counts.

Forward-only: a migration here is never edited; a new one goes in its own module of this
package and is appended to :data:`appliance.store.migrations.MIGRATIONS`.
"""

from __future__ import annotations

STEPS: tuple[tuple[str, str], ...] = (
    (
        "0001_initial",
        """
        CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE numbers (
            sid TEXT PRIMARY KEY,
            modem TEXT NOT NULL UNIQUE,
            phone_number TEXT NOT NULL UNIQUE,
            friendly_name TEXT NOT NULL,
            sms_url TEXT NOT NULL DEFAULT '',
            sms_method TEXT NOT NULL DEFAULT 'POST',
            sms_fallback_url TEXT NOT NULL DEFAULT '',
            sms_fallback_method TEXT NOT NULL DEFAULT 'POST',
            voice_url TEXT NOT NULL DEFAULT '',
            voice_method TEXT NOT NULL DEFAULT 'POST',
            voice_fallback_url TEXT NOT NULL DEFAULT '',
            voice_fallback_method TEXT NOT NULL DEFAULT 'POST',
            status_callback TEXT NOT NULL DEFAULT '',
            status_callback_method TEXT NOT NULL DEFAULT 'POST',
            date_created REAL NOT NULL,
            date_updated REAL NOT NULL
        );
        CREATE TABLE messages (
            seq INTEGER PRIMARY KEY,
            sid TEXT NOT NULL UNIQUE,
            account_sid TEXT NOT NULL,
            direction TEXT NOT NULL,
            modem TEXT NOT NULL,
            from_number TEXT NOT NULL,
            to_number TEXT NOT NULL,
            body TEXT NOT NULL,
            status TEXT NOT NULL,
            num_segments INTEGER NOT NULL,
            segments_sent INTEGER NOT NULL DEFAULT 0,
            concat_ref INTEGER,
            error_code INTEGER,
            error_message TEXT,
            status_callback TEXT,
            status_callback_method TEXT,
            send_at REAL,
            next_attempt_at REAL,
            attempts INTEGER NOT NULL DEFAULT 0,
            date_created REAL NOT NULL,
            date_updated REAL NOT NULL,
            date_sent REAL
        );
        CREATE INDEX messages_outbox ON messages (modem, status, seq);
        CREATE INDEX messages_created ON messages (date_created);
        CREATE TABLE segments (
            message_sid TEXT NOT NULL,
            part INTEGER NOT NULL,
            state TEXT NOT NULL,
            mr INTEGER,
            sent_at REAL,
            report_status INTEGER,
            reported_at REAL,
            PRIMARY KEY (message_sid, part)
        );
        CREATE INDEX segments_mr ON segments (mr, state);
        CREATE TABLE inbound_parts (
            id INTEGER PRIMARY KEY,
            modem TEXT NOT NULL,
            sender TEXT NOT NULL,
            ref INTEGER NOT NULL,
            total INTEGER NOT NULL,
            part INTEGER NOT NULL,
            text TEXT NOT NULL,
            received_at REAL NOT NULL,
            UNIQUE (modem, sender, ref, total, part)
        );
        CREATE TABLE modem_slots (
            modem TEXT NOT NULL,
            memory TEXT NOT NULL,
            idx INTEGER NOT NULL,
            pdu_hash TEXT NOT NULL,
            stored_at REAL NOT NULL,
            PRIMARY KEY (modem, memory, idx)
        );
        CREATE TABLE quarantine (
            id INTEGER PRIMARY KEY,
            modem TEXT NOT NULL,
            source TEXT NOT NULL,
            raw TEXT NOT NULL,
            error TEXT NOT NULL,
            received_at REAL NOT NULL
        );
        CREATE TABLE webhook_jobs (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL,
            message_sid TEXT NOT NULL,
            url TEXT NOT NULL,
            method TEXT NOT NULL,
            fallback_url TEXT NOT NULL DEFAULT '',
            fallback_method TEXT NOT NULL DEFAULT 'POST',
            params TEXT NOT NULL,
            token TEXT NOT NULL,
            state TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at REAL NOT NULL,
            created REAL NOT NULL
        );
        CREATE INDEX webhook_jobs_due ON webhook_jobs (state, next_attempt_at);
        CREATE TABLE webhook_log (
            id INTEGER PRIMARY KEY,
            job_id INTEGER,
            message_sid TEXT,
            url TEXT NOT NULL,
            method TEXT NOT NULL,
            request TEXT NOT NULL,
            status INTEGER,
            response TEXT,
            error_code INTEGER,
            error_message TEXT,
            at REAL NOT NULL
        );
        CREATE TABLE cookies (conversation TEXT PRIMARY KEY, jar TEXT NOT NULL, last_used REAL NOT NULL);
        CREATE TABLE modem_health (
            modem TEXT PRIMARY KEY,
            state TEXT NOT NULL,
            signal INTEGER,
            registration TEXT,
            operator TEXT,
            sim TEXT,
            manufacturer TEXT,
            model TEXT,
            last_error TEXT,
            updated REAL NOT NULL
        );
        CREATE TABLE calls (
            sid TEXT PRIMARY KEY,
            modem TEXT NOT NULL,
            direction TEXT NOT NULL,
            from_number TEXT NOT NULL,
            to_number TEXT NOT NULL,
            status TEXT NOT NULL,
            date_created REAL NOT NULL,
            date_updated REAL NOT NULL,
            end_time REAL
        );
        """,
    ),
    (
        "0002_api_keys",
        """
        CREATE TABLE api_keys (
            sid TEXT PRIMARY KEY,
            friendly_name TEXT NOT NULL,
            secret_hash TEXT NOT NULL,
            date_created REAL NOT NULL,
            date_updated REAL NOT NULL,
            revoked_at REAL
        );
        CREATE INDEX messages_date_sent ON messages (date_sent);
        """,
    ),
    (
        "0003_voice",
        """
        ALTER TABLE calls ADD COLUMN parent_call_sid TEXT;
        ALTER TABLE calls ADD COLUMN start_time REAL;
        ALTER TABLE calls ADD COLUMN duration INTEGER;
        ALTER TABLE calls ADD COLUMN caller_name TEXT NOT NULL DEFAULT '';
        ALTER TABLE calls ADD COLUMN url TEXT NOT NULL DEFAULT '';
        ALTER TABLE calls ADD COLUMN method TEXT NOT NULL DEFAULT 'POST';
        ALTER TABLE calls ADD COLUMN fallback_url TEXT NOT NULL DEFAULT '';
        ALTER TABLE calls ADD COLUMN fallback_method TEXT NOT NULL DEFAULT 'POST';
        ALTER TABLE calls ADD COLUMN twiml TEXT;
        ALTER TABLE calls ADD COLUMN status_callback TEXT NOT NULL DEFAULT '';
        ALTER TABLE calls ADD COLUMN status_callback_method TEXT NOT NULL DEFAULT 'POST';
        ALTER TABLE calls ADD COLUMN status_callback_events TEXT NOT NULL DEFAULT 'completed';
        ALTER TABLE calls ADD COLUMN timeout INTEGER NOT NULL DEFAULT 60;
        ALTER TABLE calls ADD COLUMN time_limit INTEGER NOT NULL DEFAULT 14400;
        ALTER TABLE calls ADD COLUMN error_code INTEGER;
        ALTER TABLE calls ADD COLUMN error_message TEXT;
        ALTER TABLE calls ADD COLUMN control TEXT;
        CREATE INDEX calls_date_created ON calls (date_created);
        CREATE INDEX calls_status ON calls (modem, status);
        CREATE TABLE recordings (
            sid TEXT PRIMARY KEY,
            call_sid TEXT NOT NULL,
            status TEXT NOT NULL,
            duration INTEGER NOT NULL DEFAULT 0,
            channels INTEGER NOT NULL DEFAULT 1,
            source TEXT NOT NULL DEFAULT 'RecordVerb',
            path TEXT NOT NULL,
            error_code INTEGER,
            start_time REAL,
            date_created REAL NOT NULL,
            date_updated REAL NOT NULL
        );
        CREATE INDEX recordings_call ON recordings (call_sid);
        CREATE TABLE call_events (
            id INTEGER PRIMARY KEY,
            call_sid TEXT NOT NULL,
            at REAL NOT NULL,
            kind TEXT NOT NULL,
            error_code INTEGER,
            detail TEXT NOT NULL DEFAULT ''
        );
        CREATE INDEX call_events_call ON call_events (call_sid);
        ALTER TABLE webhook_log ADD COLUMN call_sid TEXT;
        """,
    ),
    (
        "0004_panel",
        """
        CREATE TABLE subscriber_lists (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            modem TEXT NOT NULL,
            join_keyword TEXT NOT NULL DEFAULT '',
            leave_keyword TEXT NOT NULL DEFAULT '',
            created REAL NOT NULL
        );
        CREATE TABLE subscribers (
            id INTEGER PRIMARY KEY,
            list_id INTEGER NOT NULL,
            phone_number TEXT NOT NULL,
            name TEXT NOT NULL DEFAULT '',
            town TEXT NOT NULL DEFAULT '',
            latitude REAL,
            longitude REAL,
            timezone TEXT NOT NULL DEFAULT '',
            status TEXT NOT NULL DEFAULT 'active',
            created REAL NOT NULL,
            updated REAL NOT NULL,
            UNIQUE (list_id, phone_number)
        );
        CREATE TABLE subscriber_imports (
            id INTEGER PRIMARY KEY,
            list_id INTEGER NOT NULL,
            state TEXT NOT NULL,
            total INTEGER NOT NULL DEFAULT 0,
            done INTEGER NOT NULL DEFAULT 0,
            imported INTEGER NOT NULL DEFAULT 0,
            errors TEXT NOT NULL DEFAULT '[]',
            started REAL NOT NULL,
            finished REAL
        );
        CREATE TABLE broadcasts (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            list_id INTEGER NOT NULL,
            modem TEXT NOT NULL,
            kind TEXT NOT NULL,
            content TEXT NOT NULL,
            schedule TEXT NOT NULL DEFAULT '',
            timezone TEXT NOT NULL DEFAULT 'UTC',
            enabled INTEGER NOT NULL DEFAULT 1,
            created REAL NOT NULL,
            updated REAL NOT NULL
        );
        CREATE TABLE broadcast_runs (
            id INTEGER PRIMARY KEY,
            broadcast_id INTEGER NOT NULL,
            reason TEXT NOT NULL,
            attempt INTEGER NOT NULL DEFAULT 1,
            state TEXT NOT NULL,
            total INTEGER NOT NULL DEFAULT 0,
            queued INTEGER NOT NULL DEFAULT 0,
            skipped INTEGER NOT NULL DEFAULT 0,
            segments INTEGER NOT NULL DEFAULT 0,
            error TEXT,
            started REAL NOT NULL,
            finished REAL
        );
        CREATE INDEX broadcast_runs_broadcast ON broadcast_runs (broadcast_id, id);
        CREATE TABLE broadcast_recipients (
            run_id INTEGER NOT NULL,
            phone_number TEXT NOT NULL,
            message_sid TEXT,
            error TEXT,
            PRIMARY KEY (run_id, phone_number)
        );
        CREATE TABLE scheduler_jobs (
            id TEXT PRIMARY KEY,
            next_run_time REAL,
            job_state TEXT NOT NULL
        );
        CREATE INDEX scheduler_jobs_next ON scheduler_jobs (next_run_time);
        CREATE TABLE signal_samples (
            modem TEXT NOT NULL,
            at REAL NOT NULL,
            signal INTEGER,
            PRIMARY KEY (modem, at)
        );
        CREATE INDEX messages_to ON messages (to_number, seq);
        CREATE INDEX messages_from ON messages (from_number, seq);
        CREATE INDEX webhook_log_failed ON webhook_log (error_code, id);
        CREATE INDEX messages_day ON messages (date_created, direction, status)
        """,
    ),
    (
        # Call status callbacks were logged under message_sid (their job's SID column holds
        # the CallSid): move them to call_sid, where the panel's call page looks.  The index on
        # webhook_jobs.message_sid serves the dispatcher's "earlier job of this SID" check.
        "0005_webhook_log_calls",
        """
        UPDATE webhook_log SET call_sid = message_sid, message_sid = NULL
            WHERE call_sid IS NULL AND message_sid LIKE 'CA%';
        CREATE INDEX webhook_log_call ON webhook_log (call_sid);
        CREATE INDEX webhook_log_message ON webhook_log (message_sid);
        CREATE INDEX webhook_jobs_sid ON webhook_jobs (message_sid)
        """,
    ),
    (
        # Messages per hour a number may send (0: no budget); more fail with 30001.
        "0006_outbound_budget",
        """
        ALTER TABLE numbers ADD COLUMN outbound_budget_per_hour INTEGER NOT NULL DEFAULT 0
        """,
    ),
    (
        # The SIM's prepaid balance per modem: the last amount a USSD answer stated (NULL until
        # one did) and that answer's text.  checked: the last attempt, so a restart does not
        # check again before balance_interval; low_since: when the low-balance alert went out
        # (NULL while the balance is not low), so it goes out once per drop.
        "0007_sim_balance",
        """
        CREATE TABLE sim_balance (
            modem TEXT PRIMARY KEY,
            amount REAL,
            text TEXT NOT NULL DEFAULT '',
            updated REAL,
            checked REAL NOT NULL,
            error TEXT,
            low_since REAL
        )
        """,
    ),
    (
        # The panel's unread counts: the last message seq read in each conversation (party).
        "0007_panel_reads",
        """
        CREATE TABLE conversation_reads (
            party TEXT PRIMARY KEY,
            last_seq INTEGER NOT NULL,
            at REAL NOT NULL
        )
        """,
    ),
)
