"""The migration 0008: the panel's saved message templates (issue 17, "Compose").

One-off scheduled sends need no table of their own: they are ``messages`` rows with
status ``scheduled`` and ``send_at``, as the REST API's ``SendAt`` makes them.
"""

from __future__ import annotations

STEPS: tuple[tuple[str, str], ...] = (
    (
        # A template is a named SMS body the panel offers when composing a message,
        # a scheduled send or a broadcast; names are unique ignoring case.
        "0008_compose",
        """
        CREATE TABLE message_templates (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            body TEXT NOT NULL,
            date_created REAL NOT NULL,
            date_updated REAL NOT NULL
        );
        CREATE UNIQUE INDEX message_templates_name ON message_templates (lower(name))
        """,
    ),
)
