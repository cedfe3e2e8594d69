"""The migration 0019: an alert is the same alert only under the same escalation policy.

Until now an open alert's fingerprint was unique across the box, so when Alertmanager sent
one alert to two receivers (two policies, two teams), the second team's post counted as a
repeat of the first team's alert and nobody in that team was paged. The open-alert index
becomes (policy, fingerprint); a ``resolved`` post closes the alert of its own policy."""

from __future__ import annotations

STEPS: tuple[tuple[str, str], ...] = (
    (
        "0019_oncall_alerts_per_policy",
        """
        DROP INDEX IF EXISTS oncall_alerts_open;
        CREATE UNIQUE INDEX oncall_alerts_open ON oncall_alerts (policy_id, fingerprint)
            WHERE status <> 'resolved';
        """,
    ),
)
