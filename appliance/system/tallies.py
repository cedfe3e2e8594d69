"""Counters derived from the store at scrape time, that never go down when retention purges rows.

Theory of operation
-------------------
What the appliance sent, received and rang is already on disk (``messages``, ``segments``,
``quarantine``, ``calls``), so the metrics count it there instead of in the process: the
figures survive restarts and crashes, and no domain code needs a hook.  A plain ``COUNT(*)``
is not a Prometheus counter, though: the retention purge (:mod:`appliance.store.retention`)
deletes old rows, the count drops, and Prometheus reads the drop as a counter reset (a rate
spike of the whole total).  So each :class:`Tally` counts *events* by a time that is final
once written (``segments.sent_at``, ``reported_at``, ``date_sent``, an inbound message's
``date_created``, a call's end), and a checkpoint in the ``settings`` table holds the totals
up to a time ``until``:

    figure = checkpoint total (events before ``until``) + COUNT(events since ``until``)

At most once an hour a scrape moves ``until`` up to an hour ago (:data:`SETTLE`: every event
that old is committed with its final time) and adds what it passes to the totals.  Retention
deletes nothing younger than a day, so what it deletes was counted into the checkpoint first,
as long as something scrapes at least every ~22 hours (a Prometheus that stays away longer
than that while ``retention_*_days = 1`` loses the purged events from its figures; with the
default of 365 days it would have to stay away a year).

Unsent parts of failed messages have no such time (a failed message's ``date_updated`` moves
when its body is redacted), so that tally counts by ``date_created`` and its checkpoint does
not pass a message that may still fail (queued, scheduled, sending); a message stuck that way
for longer than half a day short of ``retention_messages_days`` is passed anyway (if it fails
later, it is not counted: a figure may miss an event, it never goes down).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sqlite3
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from appliance.store.database import Store

LOGGER = logging.getLogger(__name__)

SETTLE = 3600.0  # seconds after which an event is on disk with its final time
ADVANCE = 3600.0  # the checkpoint moves at most this often (one catch-up scan each time)
DAY = 86400.0
CHECKPOINT_KEY = "metrics_checkpoint"  # settings row holding the totals and their `until`
FOREVER = 1e15  # "no upper bound" for the window since the checkpoint

Key = tuple[str, ...]
Counts = dict[Key, float]


@dataclasses.dataclass(frozen=True)
class Tally:
    """One store-derived counter: ``sql`` selects the label columns, then the value columns
    named in ``values`` (one row per label set), for events with time in [``:since``, ``:until``).
    ``unsettled`` selects the earliest event time whose contribution may still change (the
    checkpoint stops there), ``retained_days`` is the retention of its rows (0: forever)."""

    name: str
    family: str
    labels: tuple[str, ...]
    sql: str
    values: tuple[str, ...] = ("value",)
    unsettled: str | None = None
    retained_days: int = 0


def _key(row: sqlite3.Row | tuple[object, ...], n: int) -> Key:
    return tuple("unknown" if v is None else str(v) for v in tuple(row)[:n])


def count(store: Store, tally: Tally, since: float, until: float) -> Counts:
    """The tally's events in [since, until): (labels..., value name) -> value."""
    out: Counts = {}
    n = len(tally.labels)
    for row in store.read(tally.sql, {"since": since, "until": until}):
        labels = _key(row, n)
        for i, name in enumerate(tally.values):
            value = row[n + i]
            key = labels + (name,) if len(tally.values) > 1 else labels
            out[key] = out.get(key, 0.0) + float(value or 0)
    return out


def _merge(into: Counts, more: Counts) -> None:
    for key, value in more.items():
        into[key] = into.get(key, 0.0) + value


@dataclasses.dataclass
class _Point:
    until: float
    counts: Counts


class Tallies:
    """The store-derived counters and their checkpoint (see the module docstring)."""

    def __init__(
        self,
        store: Store,
        tallies: Iterable[Tally],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.tallies = tuple(tallies)
        self.clock = clock

    def collect(self) -> dict[str, Counts]:
        """Every tally's figures now, by tally name; moves the checkpoint when it is due."""
        now = self.clock()
        raw = self.store.setting(CHECKPOINT_KEY)
        points = _decode(raw)
        moved = False
        for tally in self.tallies:
            point = points.setdefault(tally.name, _Point(0.0, {}))
            target = self._target(tally, now)
            if target - point.until >= ADVANCE:
                _merge(point.counts, count(self.store, tally, point.until, target))
                point.until = target
                moved = True
        if moved:
            points = self._save(points, raw)
        out: dict[str, Counts] = {}
        for tally in self.tallies:
            point = points.get(tally.name) or _Point(0.0, {})
            figures = dict(point.counts)
            _merge(figures, count(self.store, tally, point.until, FOREVER))
            out[tally.name] = figures
        return out

    def _target(self, tally: Tally, now: float) -> float:
        """How far the checkpoint of ``tally`` may move now."""
        target = now - SETTLE
        if tally.unsettled is not None:
            row = self.store.read_one(tally.unsettled)
            if row is not None and row[0] is not None:
                target = min(target, float(row[0]))
            if tally.retained_days > 0:  # never leave an event behind for retention to delete
                target = max(target, now - tally.retained_days * DAY + DAY / 2)
        return target

    def _save(self, points: dict[str, _Point], before: str | None) -> dict[str, _Point]:
        """Store the moved checkpoint, unless another scrape moved it since ``before`` was read
        (then theirs stands, and is returned)."""
        wanted = _encode(points)

        def write(conn: sqlite3.Connection) -> str:
            row = conn.execute(
                "SELECT value FROM settings WHERE key = ?", (CHECKPOINT_KEY,)
            ).fetchone()
            current = None if row is None else str(row[0])
            if current != before:
                return current or wanted  # a concurrent scrape won: keep its figures
            conn.execute(
                "INSERT INTO settings (key, value) VALUES (?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (CHECKPOINT_KEY, wanted),
            )
            return wanted

        return _decode(self.store.write(write))


def _encode(points: dict[str, _Point]) -> str:
    return json.dumps(
        {
            name: {"until": p.until, "counts": [[*k, v] for k, v in sorted(p.counts.items())]}
            for name, p in points.items()
        },
        separators=(",", ":"),
    )


def _decode(raw: str | None) -> dict[str, _Point]:
    if not raw:
        return {}
    try:
        data = json.loads(raw)
        return {
            name: _Point(
                float(p["until"]),
                {tuple(str(x) for x in row[:-1]): float(row[-1]) for row in p["counts"]},
            )
            for name, p in data.items()
        }
    except (ValueError, KeyError, TypeError, IndexError):
        LOGGER.warning("metrics checkpoint unreadable; counting from the start again")
        return {}


# -- what is counted ---------------------------------------------------------------------

# The part tallies scan ``segments`` (no index on its times) and look each hit's message up by
# SID: CROSS JOIN keeps SQLite from doing it the other way round, a lookup per message (10x).
FINAL_CALL = "('completed', 'busy', 'failed', 'no-answer', 'canceled')"
UNSENT = "('queued', 'scheduled', 'sending')"  # a message that may still fail
SEND_LATENCY_BUCKETS = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0, 3600.0)


def _latency_sql() -> str:
    buckets = ", ".join(
        f"SUM(CASE WHEN latency <= {b!r} THEN 1 ELSE 0 END)" for b in SEND_LATENCY_BUCKETS
    )
    # From when the message could go (created, or its SendAt) to the network taking its last part.
    return (
        f"SELECT modem, COUNT(*), SUM(latency), {buckets} FROM (SELECT modem, date_sent -"
        " CASE WHEN send_at IS NOT NULL AND send_at > date_created THEN send_at ELSE date_created END"
        " AS latency FROM messages WHERE direction != 'inbound' AND date_sent >= :since"
        " AND date_sent < :until) AS sent GROUP BY modem"
    )


def store_tallies(retention_messages_days: int = 0) -> tuple[Tally, ...]:
    """The counters the metrics derive from the store."""
    return (
        Tally(
            "segments_sent",
            "appliance_sms_segments_sent",
            ("modem",),
            "SELECT m.modem, COUNT(*) FROM segments s CROSS JOIN messages m"
            " WHERE m.sid = s.message_sid AND s.sent_at >= :since AND s.sent_at < :until"
            " GROUP BY m.modem",
        ),
        Tally(
            "segments_delivered",
            "appliance_sms_segments_delivered",
            ("modem",),
            "SELECT m.modem, COUNT(*) FROM segments s CROSS JOIN messages m"
            " WHERE m.sid = s.message_sid AND s.reported_at >= :since AND s.reported_at < :until"
            " AND s.report_status < 32 GROUP BY m.modem",
        ),
        Tally(  # the network's status report said it failed (TP-Status 0x40 and up)
            "segments_undelivered",
            "appliance_sms_segments_failed",
            ("modem", "error_code"),
            "SELECT m.modem, m.error_code, COUNT(*) FROM segments s CROSS JOIN messages m"
            " WHERE m.sid = s.message_sid AND s.reported_at >= :since"
            " AND s.reported_at < :until AND s.report_status >= 32 GROUP BY m.modem, m.error_code",
        ),
        Tally(  # parts never sent (or cut mid-send, 30008) of a message that failed
            "segments_unsent",
            "appliance_sms_segments_failed",
            ("modem", "error_code"),
            "SELECT modem, error_code, SUM(num_segments - segments_sent) FROM messages"
            " WHERE status IN ('failed', 'undelivered') AND num_segments > segments_sent"
            " AND direction != 'inbound' AND date_created >= :since AND date_created < :until"
            " GROUP BY modem, error_code",
            unsettled=f"SELECT MIN(date_created) FROM messages WHERE status IN {UNSENT}",
            retained_days=retention_messages_days,
        ),
        Tally(
            "inbound",
            "appliance_sms_inbound",
            ("modem", "outcome"),
            "SELECT modem, CASE WHEN error_code IS NULL THEN 'received'"
            " WHEN error_code = 30009 THEN 'incomplete' ELSE 'failed' END AS outcome, COUNT(*)"
            " FROM messages WHERE direction = 'inbound' AND date_created >= :since"
            " AND date_created < :until GROUP BY modem, outcome",
        ),
        Tally(
            "quarantined",
            "appliance_sms_inbound",
            ("modem", "outcome"),
            "SELECT modem, 'quarantined', COUNT(*) FROM quarantine"
            " WHERE received_at >= :since AND received_at < :until GROUP BY modem",
        ),
        Tally(
            "calls",
            "appliance_calls",
            ("modem", "direction", "outcome"),
            "SELECT modem, direction, status, COUNT(*) FROM calls"
            f" WHERE status IN {FINAL_CALL} AND COALESCE(end_time, date_updated) >= :since"
            " AND COALESCE(end_time, date_updated) < :until GROUP BY modem, direction, status",
        ),
        Tally(
            "send_latency",
            "appliance_sms_send_latency_seconds",
            ("modem",),
            _latency_sql(),
            values=("count", "sum", *(repr(b) for b in SEND_LATENCY_BUCKETS)),
        ),
    )
