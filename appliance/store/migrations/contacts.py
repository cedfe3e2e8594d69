"""The migration 0014: names for phone numbers, shown by the panel (issue 17, "Compose").

A contact is one name per number (E.164).  Subscribers already carry names; the panel falls
back to a subscriber's name where no contact is set, so the index lets it look a number up
without knowing its list.
"""

from __future__ import annotations

STEPS: tuple[tuple[str, str], ...] = (
    (
        "0014_contacts",
        """
        CREATE TABLE contacts (
            phone_number TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            date_created REAL NOT NULL,
            date_updated REAL NOT NULL
        );
        CREATE INDEX subscribers_phone_number ON subscribers (phone_number)
        """,
    ),
)
