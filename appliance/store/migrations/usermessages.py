"""Migration 0026: user-defined messages (issue 13, part 3; docs/clients.md, "User-defined
messages").

``user_message_subscriptions`` holds the UserDefinedMessageSubscriptions of browser calls: a
message the browser sends on its call is posted to each of that call's rows' ``callback``
(with ``method``), as a webhook job.  ``user_defined_messages`` holds the UserDefinedMessages
the API sent to a browser: the row the 201 answers from, and, with an ``idempotency_key``,
what keeps a repeated request from sending twice.  A key is unique per call (NULLs are
distinct in a UNIQUE index on both engines, so rows without one never clash).  Both tables'
rows go with their call (a REST delete, the retention purge).
"""

from __future__ import annotations

STEPS: tuple[tuple[str, str], ...] = (
    (
        "0026_user_messages",
        """
        CREATE TABLE user_message_subscriptions (
            sid TEXT PRIMARY KEY,
            call_sid TEXT NOT NULL,
            callback TEXT NOT NULL,
            method TEXT NOT NULL,
            idempotency_key TEXT,
            date_created REAL NOT NULL
        );
        CREATE UNIQUE INDEX user_message_subscriptions_key
            ON user_message_subscriptions (call_sid, idempotency_key);
        CREATE TABLE user_defined_messages (
            sid TEXT PRIMARY KEY,
            call_sid TEXT NOT NULL,
            idempotency_key TEXT,
            date_created REAL NOT NULL
        );
        CREATE UNIQUE INDEX user_defined_messages_key
            ON user_defined_messages (call_sid, idempotency_key)
        """,
    ),
)
