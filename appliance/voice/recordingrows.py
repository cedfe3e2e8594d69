"""A recording's row and its status callback, written through the call writes' backlog.

A recording (``<Record>``, ``<Dial record>``) is a WAV file on disk first; its
``recordings`` row and its ``recordingStatusCallback`` (a webhook job) are store writes.
While the database is away (PostgreSQL) both are kept in the store's
:class:`~appliance.voice.backlog.Backlog`, in order after the call's other writes, and
written once it answers: what the caller said is on disk at once, the call goes on with
its TwiML, and the row and the callback come when they can (docs/reliability.md, "The
database is down").  Each is safe to run twice, as a kept write must be: the row is
looked for first, and :func:`~appliance.voice.callbacks.enqueue_status` queues a job once.

What is kept in memory dies with the process; the WAV file does not.  So a kept row is
also written next to its file (``RE….row.json``, atomically: the row and the callback),
and removed once the backlog has written them.  A process that dies first leaves it:
:func:`recover` (at the next start, or once the database is back if it is still away)
writes the row and queues the callback late, then removes the file.  Until then the orphan
sweep keeps the WAV (:func:`appliance.store.retention.orphans`).  While the database
answers nothing of this is written: the normal path is the row, at once.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import sqlite3
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from appliance import logs
from appliance.errors import StoreClosed, StoreUnavailable
from appliance.store.database import Store
from appliance.store.recordingfiles import PENDING_SUFFIX
from appliance.voice.backlog import Backlog
from appliance.voice.callbacks import enqueue_status

LOGGER = logging.getLogger(__name__)

_OURS: set[str] = set()  # names of the pending files this process wrote: its backlog writes them


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


@dataclasses.dataclass(frozen=True)
class StatusCallback:
    """A ``recordingStatusCallback`` to queue: where, how, and its parameters."""

    url: str
    method: str
    params: dict[str, str]


def _insert(row: RecordingRow) -> Callable[[sqlite3.Connection], None]:
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

    return fn


def keep(
    store: Store,
    row: RecordingRow,
    status: StatusCallback | None = None,
    on_job: Callable[[], None] | None = None,
) -> None:
    """Write ``row`` and queue ``status`` now, or once the database is back (never raises
    StoreUnavailable); a kept one is also written next to the file (:func:`recover`)."""
    backlog = Backlog.of(store)
    pending = Path(row.path).with_name(row.sid + PENDING_SUFFIX)
    early = not store.available  # known away: on disk before the first try
    if early:
        _write_pending(pending, row, status)
    written = backlog.write(f"recording {row.sid} of {row.call_sid}", _insert(row))
    if status is not None:
        written = callback(store, row.call_sid, status, on_job) and written
    if written and not early:
        return
    if not early:
        _write_pending(pending, row, status)
    backlog.run(f"recording {row.sid}'s pending file", lambda: _written(pending))


def callback(
    store: Store,
    call_sid: str,
    status: StatusCallback,
    on_job: Callable[[], None] | None,
) -> bool:
    """Queue a recording status callback now (True), or once the database is back (False;
    after the recording's row: the backlog keeps their order)."""
    queued = Backlog.of(store).run(
        f"recording callback of {call_sid}",
        lambda: enqueue_status(store, call_sid, status.url, status.method, status.params),
    )
    if on_job:
        on_job()  # (a kept job: the workers look once the database is back)
    return queued


def _write_pending(pending: Path, row: RecordingRow, status: StatusCallback | None) -> None:
    """The row and the callback, next to the file (temp file + rename: whole or absent)."""
    body = json.dumps(
        {
            "row": dataclasses.asdict(row),
            "callback": dataclasses.asdict(status) if status is not None else None,
        }
    )
    _OURS.add(pending.name)
    try:
        fd, tmp = tempfile.mkstemp(prefix=".rec-", suffix=".tmp", dir=pending.parent)
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(body)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, pending)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as e:  # the backlog still writes it if the process lives
        LOGGER.warning("recording %s: could not write its pending row: %s", row.sid, e)


def _written(pending: Path) -> None:
    """The backlog wrote the row and the callback: the pending file has done its work."""
    _OURS.discard(pending.name)
    try:
        pending.unlink(missing_ok=True)
    except OSError as e:
        LOGGER.warning("%s: could not remove it: %s", pending, e)


def recover(store: Store, folder: Path) -> int:
    """Write the rows (and queue the callbacks, late) of recordings a process that died left
    pending in ``folder``; returns how many.  Raises StoreUnavailable if the database is
    away (what is left stays for the next try)."""
    try:
        found = sorted(p for p in folder.iterdir() if p.name.endswith(PENDING_SUFFIX))
    except OSError:
        return 0
    done = 0
    for pending in found:
        if pending.name in _OURS:
            continue  # this process's backlog writes it
        try:
            data = json.loads(pending.read_text())
            row = RecordingRow(**data["row"])
            status = StatusCallback(**data["callback"]) if data.get("callback") else None
        except (OSError, ValueError, TypeError, KeyError) as e:
            LOGGER.warning("%s: unreadable, left as it is: %s", pending, e)
            continue
        if not (folder / f"{row.sid}.wav").is_file():
            pending.unlink(missing_ok=True)  # no file, nothing to recover
            continue
        store.write(_insert(row))
        if status is not None:
            enqueue_status(store, row.call_sid, status.url, status.method, status.params)
        pending.unlink(missing_ok=True)
        done += 1
        logs.event(
            LOGGER,
            logging.WARNING,
            "recording row written late",
            sid=row.sid,
            call=row.call_sid,
            why="the process ended during a database outage",
            callback="queued" if status is not None else "none",
        )
    return done


def recover_at_start(store: Store, folder: Path) -> None:
    """:func:`recover` now, or once the database is back if it is away (never raises)."""
    if store.dialect.name != "postgresql":
        return  # only an outage keeps a row: a single box on SQLite never writes one

    def attempt() -> bool:
        try:
            recover(store, folder)
        except StoreUnavailable:
            return False
        except StoreClosed:
            pass
        except Exception:  # noqa: BLE001 - a start-up must not fail on a recording
            LOGGER.exception("recovering the pending recording rows failed")
        return True

    lock = threading.Lock()

    def when_back() -> None:
        with lock:
            if when_back in store.outage.listeners and attempt():
                store.outage.listeners.remove(when_back)

    if not attempt():
        store.outage.listeners.append(when_back)
