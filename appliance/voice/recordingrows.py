"""A recording's row and its status callback, written through the call writes' backlog.

A recording (``<Record>``, ``<Dial record>``) is a WAV file on disk first; its
``recordings`` row and its ``recordingStatusCallback`` (a webhook job) are store writes.
While the database is away (PostgreSQL) both are kept in the store's
:class:`~appliance.voice.backlog.Backlog`, in order after the call's other writes, and
written once it answers: what the caller said is on disk at once, the call goes on with
its TwiML, and the row and the callback come when they can (docs/reliability.md, "The
database is down").  Each is safe to run twice, as a kept write must be: the row is
looked for first, and :func:`~appliance.voice.callbacks.enqueue_status` queues a job once.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Callable
from typing import Any

from appliance.store.database import Store
from appliance.voice.backlog import Backlog
from appliance.voice.callbacks import enqueue_status


@dataclasses.dataclass(frozen=True)
class RecordingRow:
    """The ``recordings`` row of a WAV file written for a call."""

    sid: str
    call_sid: str
    duration: int
    channels: int
    source: str  # RecordVerb, DialVerb
    path: str
    start_time: float
    created: float  # the time the file was written: the row's date_created


def keep(store: Store, row: RecordingRow) -> None:
    """Write ``row`` now, or once the database is back (never raises StoreUnavailable)."""

    def fn(conn: sqlite3.Connection) -> None:
        if conn.execute("SELECT 1 FROM recordings WHERE sid = ?", (row.sid,)).fetchone():
            return  # a write an outage cut had landed
        conn.execute(
            "INSERT INTO recordings (sid, call_sid, status, duration, channels, source, path,"
            " start_time, date_created, date_updated) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (
                row.sid,
                row.call_sid,
                "completed",
                row.duration,
                row.channels,
                row.source,
                row.path,
                row.start_time,
                row.created,
                row.created,
            ),
        )

    Backlog.of(store).write(f"recording {row.sid} of {row.call_sid}", fn)


def callback(
    store: Store,
    call_sid: str,
    url: str,
    method: str | None,
    params: dict[str, Any],
    on_job: Callable[[], None] | None,
) -> None:
    """Queue a recording status callback now, or once the database is back (after the
    recording's row: the backlog keeps their order)."""
    Backlog.of(store).run(
        f"recording callback of {call_sid}",
        lambda: enqueue_status(store, call_sid, url, method, params),
    )
    if on_job:
        on_job()  # (a kept job: the workers look once the database is back)
