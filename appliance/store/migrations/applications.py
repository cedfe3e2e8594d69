"""The migration 0012: TwiML Apps (the Applications resource) and API keys that can sign tokens.

An Access Token is signed (HS256) with an API key's secret, so checking one needs the secret
itself, not only the salted hash Basic auth compares against: keys created from now on keep
it in ``api_keys.signing_secret`` (keys created before have none and cannot sign tokens).
"""

from __future__ import annotations

STEPS: tuple[tuple[str, str], ...] = (
    (
        "0012_applications",
        """
        CREATE TABLE applications (
            sid TEXT PRIMARY KEY,
            account_sid TEXT NOT NULL,
            friendly_name TEXT NOT NULL,
            api_version TEXT NOT NULL DEFAULT '2010-04-01',
            voice_url TEXT NOT NULL DEFAULT '',
            voice_method TEXT NOT NULL DEFAULT 'POST',
            voice_fallback_url TEXT NOT NULL DEFAULT '',
            voice_fallback_method TEXT NOT NULL DEFAULT 'POST',
            status_callback TEXT NOT NULL DEFAULT '',
            status_callback_method TEXT NOT NULL DEFAULT 'POST',
            voice_caller_id_lookup INTEGER NOT NULL DEFAULT 0,
            sms_url TEXT NOT NULL DEFAULT '',
            sms_method TEXT NOT NULL DEFAULT 'POST',
            sms_fallback_url TEXT NOT NULL DEFAULT '',
            sms_fallback_method TEXT NOT NULL DEFAULT 'POST',
            sms_status_callback TEXT NOT NULL DEFAULT '',
            message_status_callback TEXT NOT NULL DEFAULT '',
            public_application_connect_enabled INTEGER NOT NULL DEFAULT 1,
            date_created REAL NOT NULL,
            date_updated REAL NOT NULL
        );
        CREATE INDEX applications_created ON applications (date_created);
        ALTER TABLE api_keys ADD COLUMN signing_secret TEXT
        """,
    ),
)
