"""Migration 0009: what the panel's request inspector shows of a webhook request, and replays.

``webhook_log`` gains the response headers (JSON object, capped by
:mod:`appliance.webhooks.joblog`), how long the request took (``duration``, seconds, redirects
and retries included), what the caller asked for before redirects (``requested_url``,
``requested_method``: what a replay sends again), whether the stored body was cut
(``body_truncated``), the row a replay repeated (``replay_of``) and who made a request
that was not the appliance's own traffic (``source``: ``replay`` or ``test``, else NULL).
The verbs a call ran go into the existing ``call_events`` table (kinds ``verb``,
``gathered``: :mod:`appliance.voice.timeline`).
"""

from __future__ import annotations

STEPS: tuple[tuple[str, str], ...] = (
    (
        "0009_webhook_debug",
        """
        ALTER TABLE webhook_log ADD COLUMN response_headers TEXT;
        ALTER TABLE webhook_log ADD COLUMN duration REAL;
        ALTER TABLE webhook_log ADD COLUMN requested_url TEXT;
        ALTER TABLE webhook_log ADD COLUMN requested_method TEXT;
        ALTER TABLE webhook_log ADD COLUMN body_truncated INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE webhook_log ADD COLUMN replay_of INTEGER;
        ALTER TABLE webhook_log ADD COLUMN source TEXT;
        CREATE INDEX webhook_log_replay ON webhook_log (replay_of)
        """,
    ),
)
