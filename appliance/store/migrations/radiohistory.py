"""The migrations 0010: a modem's radio over 30 days, in 5-minute buckets (issue 17, part 7),
and an index for the panel's unread total.

Each health poll adds itself to its modem's bucket (``appliance.modem.health.record``):
how many polls, the signal's lowest, highest and sum over the polls that knew it, how many
found the modem registered (home or roaming), and the last registration and operator seen.
30 days are 8,640 rows per modem; retention deletes older buckets.

The unread total in the panel's menu counts every inbound message after its conversation's
read mark (``web.live.unread_total``): all inbound messages (over ``messages_day``) less those
up to each mark, read from a partial index of inbound messages by sender and seq, so a read
conversation costs one index range and not its messages.
"""

from __future__ import annotations

STEPS: tuple[tuple[str, str], ...] = (
    (
        "0010_radio_history",
        """
        CREATE TABLE radio_history (
            modem TEXT NOT NULL,
            bucket REAL NOT NULL,
            samples INTEGER NOT NULL,
            signal_n INTEGER NOT NULL,
            signal_sum INTEGER NOT NULL,
            signal_min INTEGER,
            signal_max INTEGER,
            registered INTEGER NOT NULL,
            registration TEXT,
            operator TEXT,
            PRIMARY KEY (modem, bucket)
        );
        CREATE INDEX radio_history_bucket ON radio_history (bucket)
        """,
    ),
    (
        "0010_unread_index",
        "CREATE INDEX messages_inbound ON messages (from_number, seq) WHERE direction = 'inbound'",
    ),
)
