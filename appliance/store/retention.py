"""Retention: a periodic purge of old logs, finished messages and calls, and recordings.

An appliance on an SD card must not grow without bound.  Every
``retention_interval`` seconds :func:`purge` deletes, in batches of
:data:`BATCH` rows (each batch one short write, so the writer thread is never
held for long):

* ``webhook_log`` entries and finished webhook jobs older than ``retention_webhook_log_days``;
* ``call_events`` older than ``retention_call_events_days``;
* ``quarantine`` rows older than ``retention_quarantine_days``;
* ``radio_history`` buckets older than 30 days (:data:`RADIO_HISTORY_DAYS`: the panel's radio
  chart shows 30 days, no more);
* cookie jars idle longer than Twilio's 4 hours (:data:`appliance.webhooks.cookies.COOKIE_IDLE_SECONDS`);
* the support number's texted escalation steps (``oncall_support_steps``) older than 2 days
  (:data:`SUPPORT_STEPS_DAYS`) whose call has ended (or is gone): a step row only keeps a
  retried step fetch from texting twice while its call runs;
* finished messages older than ``retention_messages_days``, with their segments and
  finished webhook jobs (queued, scheduled or sending messages are never touched);
* finished calls older than ``retention_calls_days``, with their call events and
  user-defined messages' rows;
* recordings older than ``retention_recordings_days``: the WAV file first, then the row,
  so a crash in between leaves a row whose file is gone (deleted on the next run),
  never a file nobody knows about.

A setting of 0 days keeps that kind of record forever.

On a fleet (several nodes on one PostgreSQL database) the purge is fleet-wide: each node's
thread wakes every ``retention_interval`` and claims the period's slot
(:func:`appliance.store.firings.fire`, name :data:`FIRING`); only the node that took it
purges, so one purge runs per period, not one per node.  A single box takes every slot.
A recording's file is on the node that held its call, so the purging node deletes the rows
of every node but only its own files: at each wake every node of a fleet also deletes the
files in its ``data_dir/recordings`` whose row is gone (:func:`orphans`; also after a REST
delete taken by another node), once they are older than :data:`ORPHAN_GRACE` (a file is
written just before its row), unless a pending row waits next to it (``RE….row.json``, a
recording made during an outage by a process that died: written at the next start).
"""

from __future__ import annotations

import dataclasses
import logging
import re
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

from appliance.config import Config
from appliance.errors import StoreClosed, StoreUnavailable
from appliance.store import usermessages
from appliance.store.database import Store
from appliance.store.firings import fire
from appliance.store.recordingfiles import PENDING_SUFFIX

LOGGER = logging.getLogger(__name__)

BATCH = 500  # rows deleted per write transaction
FIRING = "retention"  # fleet_firings.name of the periodic purge
DAY = 86400.0
FIRST_RUN_DELAY = 60.0  # seconds after start before the first purge (let the modems connect first)
RADIO_HISTORY_DAYS = 30  # days of 5-minute radio buckets kept (the panel charts 30 days)
# Days a support-number step row is kept once its call has ended: it only matters while the
# call runs (a call lasts at most TimeLimit's 4 hours); two days leave time to look at it.
SUPPORT_STEPS_DAYS = 2
FINAL_MESSAGE = ("sent", "delivered", "undelivered", "failed", "received", "read", "canceled")
FINAL_CALL = ("completed", "busy", "failed", "no-answer", "canceled")
FINAL_JOB = ("done", "failed")
FINAL_RECORDING = ("completed", "absent", "failed", "deleted")
ORPHAN_GRACE = 3600.0  # seconds a recording file with no row is kept (its row comes after it)
RECORDING_FILE = re.compile(r"(RE[0-9a-fA-F]{32})\.(wav|mp3)")


@dataclasses.dataclass(frozen=True)
class Policy:
    """How many days each kind of record is kept (0: forever)."""

    messages_days: int = 365
    calls_days: int = 365
    recordings_days: int = 90
    webhook_log_days: int = 30
    call_events_days: int = 30
    quarantine_days: int = 90
    # Twilio keeps a conversation's cookies 4 hours; webhooks.cookies.COOKIE_IDLE_SECONDS is the
    # same figure (a test checks they agree; the store does not import the webhooks package).
    cookie_idle_seconds: float = 4 * 3600
    radio_history_days: int = RADIO_HISTORY_DAYS
    support_steps_days: int = SUPPORT_STEPS_DAYS

    @classmethod
    def from_config(cls, cfg: Config) -> Policy:
        return cls(
            messages_days=cfg.retention_messages_days,
            calls_days=cfg.retention_calls_days,
            recordings_days=cfg.retention_recordings_days,
            webhook_log_days=cfg.retention_webhook_log_days,
            call_events_days=cfg.retention_call_events_days,
            quarantine_days=cfg.retention_quarantine_days,
        )


def _marks(n: int) -> str:
    return ",".join("?" * n)


def _batched(store: Store, fn: Callable[[sqlite3.Connection], int]) -> int:
    """Run ``fn`` (one batch, returns rows deleted) until a batch deletes fewer than BATCH."""
    total = 0
    while True:
        n = store.write(fn)
        total += n
        if n < BATCH:
            return total


def _simple(store: Store, table: str, column: str, cutoff: float, where: str = "") -> int:
    """Delete rows of ``table`` whose ``column`` is older than ``cutoff`` (id-keyed tables)."""
    extra = f" AND {where}" if where else ""
    sql = (
        f"DELETE FROM {table} WHERE id IN"
        f" (SELECT id FROM {table} WHERE {column} < ?{extra} ORDER BY id LIMIT {BATCH})"
    )
    return _batched(store, lambda conn: conn.execute(sql, (cutoff,)).rowcount)


def _radio_history(cutoff: float) -> Callable[[sqlite3.Connection], int]:
    """One batch of radio buckets older than ``cutoff`` (keyed by modem and bucket, no id:
    deleted by that key, as PostgreSQL has no rowid)."""

    def batch(conn: sqlite3.Connection) -> int:
        return conn.execute(
            "DELETE FROM radio_history WHERE (modem, bucket) IN (SELECT modem, bucket"
            " FROM radio_history"
            f" WHERE bucket < ? ORDER BY bucket LIMIT {BATCH})",
            (cutoff,),
        ).rowcount

    return batch


def _support_steps(cutoff: float) -> Callable[[sqlite3.Connection], int]:
    """One batch of ``oncall_support_steps`` rows older than ``cutoff`` whose call has ended
    or was deleted (keyed by call and step).  A live call's rows stay."""

    def batch(conn: sqlite3.Connection) -> int:
        return conn.execute(
            "DELETE FROM oncall_support_steps WHERE (call_sid, step) IN"
            " (SELECT s.call_sid, s.step"
            " FROM oncall_support_steps AS s LEFT JOIN calls AS c ON c.sid = s.call_sid"
            f" WHERE s.at < ? AND (c.sid IS NULL OR c.status IN ({_marks(len(FINAL_CALL))}))"
            f" ORDER BY s.at LIMIT {BATCH})",
            (cutoff, *FINAL_CALL),
        ).rowcount

    return batch


def _messages(store: Store, cutoff: float) -> int:
    def batch(conn: sqlite3.Connection) -> int:
        sids = [
            r[0]
            for r in conn.execute(
                f"SELECT sid FROM messages WHERE date_created < ?"
                f" AND status IN ({_marks(len(FINAL_MESSAGE))}) ORDER BY seq LIMIT {BATCH}",
                (cutoff, *FINAL_MESSAGE),
            )
        ]
        if not sids:
            return 0
        marks = _marks(len(sids))
        conn.execute(f"DELETE FROM segments WHERE message_sid IN ({marks})", sids)
        conn.execute(
            f"DELETE FROM webhook_jobs WHERE message_sid IN ({marks})"
            f" AND state IN ({_marks(len(FINAL_JOB))})",
            (*sids, *FINAL_JOB),
        )
        conn.execute(f"DELETE FROM messages WHERE sid IN ({marks})", sids)
        return len(sids)

    return _batched(store, batch)


def _calls(store: Store, cutoff: float) -> int:
    def batch(conn: sqlite3.Connection) -> int:
        sids = [
            r[0]
            for r in conn.execute(
                f"SELECT sid FROM calls WHERE date_created < ?"
                f" AND status IN ({_marks(len(FINAL_CALL))}) ORDER BY sid LIMIT {BATCH}",
                (cutoff, *FINAL_CALL),
            )
        ]
        if not sids:
            return 0
        marks = _marks(len(sids))
        conn.execute(f"DELETE FROM call_events WHERE call_sid IN ({marks})", sids)
        usermessages.purge(conn, marks, sids)
        conn.execute(f"DELETE FROM calls WHERE sid IN ({marks})", sids)
        return len(sids)

    return _batched(store, batch)


def _delete_recordings(sids: list[str]) -> Callable[[sqlite3.Connection], int]:
    def fn(conn: sqlite3.Connection) -> int:
        return conn.execute(
            f"DELETE FROM recordings WHERE sid IN ({_marks(len(sids))})", sids
        ).rowcount

    return fn


def _recordings(store: Store, cutoff: float, data_dir: Path) -> tuple[int, int]:
    """Delete old recordings: file first, then row.  Returns (rows, files) deleted."""
    root = data_dir.resolve()
    rows = files = 0
    while True:
        found = store.read(
            f"SELECT sid, path FROM recordings WHERE date_created < ?"
            f" AND status IN ({_marks(len(FINAL_RECORDING))}) ORDER BY sid LIMIT {BATCH}",
            (cutoff, *FINAL_RECORDING),
        )
        if not found:
            return rows, files
        for r in found:
            path = Path(r["path"]) if r["path"] else None
            if path is not None:
                if not path.is_absolute():
                    path = root / path
                path = path.resolve()
                if not path.is_relative_to(root):
                    LOGGER.warning(
                        "recording %s: %s is outside %s; row deleted, file left", r[0], path, root
                    )
                elif path.is_file():
                    path.unlink()
                    files += 1
        sids = [r[0] for r in found]
        store.write(_delete_recordings(sids))
        rows += len(sids)
        if len(found) < BATCH:
            return rows, files


def orphans(store: Store, data_dir: Path, now: float, grace: float = ORPHAN_GRACE) -> int:
    """Delete this node's recording files (``data_dir/recordings/RE….wav|.mp3``) whose row is
    gone and that are older than ``grace`` seconds; returns how many.  A file with a pending
    row (``RE….row.json``, written during an outage) is kept: its row comes at the next start.  On a fleet the rows
    are purged (or deleted through the API) by any node, the files only by their own."""
    folder = data_dir / "recordings"
    try:
        entries = list(folder.iterdir())
    except FileNotFoundError:
        return 0
    found: dict[str, list[Path]] = {}
    pending = {p.name[: -len(PENDING_SUFFIX)] for p in entries if p.name.endswith(PENDING_SUFFIX)}
    for path in entries:
        match = RECORDING_FILE.fullmatch(path.name)
        if match is None or match.group(1) in pending:  # its row is still to be written
            continue
        try:
            if path.stat().st_mtime > now - grace:
                continue
        except OSError:
            continue
        found.setdefault(match.group(1), []).append(path)
    sids = sorted(found)
    deleted = 0
    for i in range(0, len(sids), BATCH):
        batch = sids[i : i + BATCH]
        known = {
            r[0]
            for r in store.read(
                f"SELECT sid FROM recordings WHERE sid IN ({_marks(len(batch))})", tuple(batch)
            )
        }
        for sid in batch:
            if sid in known:
                continue
            for path in found[sid]:
                try:
                    path.unlink()
                    deleted += 1
                except OSError as e:
                    LOGGER.warning("recording file %s: could not remove it: %s", path, e)
    if deleted:
        LOGGER.info("retention: deleted %d recording files whose rows were gone", deleted)
    return deleted


def purge(store: Store, policy: Policy, data_dir: Path, now: float | None = None) -> dict[str, int]:
    """Delete everything the policy says is old; returns the count per kind."""
    now = time.time() if now is None else now
    counts: dict[str, int] = {}

    def older(days: int) -> float | None:
        return None if days <= 0 else now - days * DAY

    if (cutoff := older(policy.webhook_log_days)) is not None:
        counts["webhook_log"] = _simple(store, "webhook_log", "at", cutoff)
        counts["webhook_jobs"] = _simple(
            store, "webhook_jobs", "created", cutoff, "state IN ('done', 'failed')"
        )
    if (cutoff := older(policy.call_events_days)) is not None:
        counts["call_events"] = _simple(store, "call_events", "at", cutoff)
    if (cutoff := older(policy.quarantine_days)) is not None:
        counts["quarantine"] = _simple(store, "quarantine", "received_at", cutoff)
    if (cutoff := older(policy.radio_history_days)) is not None:
        counts["radio_history"] = _batched(store, _radio_history(cutoff))
    if (cutoff := older(policy.support_steps_days)) is not None:
        counts["oncall_support_steps"] = _batched(store, _support_steps(cutoff))
    idle = now - policy.cookie_idle_seconds
    counts["cookies"] = store.write(
        lambda conn: conn.execute("DELETE FROM cookies WHERE last_used < ?", (idle,)).rowcount
    )
    if (cutoff := older(policy.messages_days)) is not None:
        counts["messages"] = _messages(store, cutoff)
    if (cutoff := older(policy.calls_days)) is not None:
        counts["calls"] = _calls(store, cutoff)
    if (cutoff := older(policy.recordings_days)) is not None:
        counts["recordings"], counts["recording_files"] = _recordings(store, cutoff, data_dir)
    return counts


class Retention:
    """A thread that purges every ``interval`` seconds (the first run after ``first_delay``)."""

    def __init__(
        self,
        store: Store,
        policy: Policy,
        data_dir: Path,
        interval: float,
        first_delay: float = FIRST_RUN_DELAY,
        node: str | None = None,
    ) -> None:
        self.store, self.policy, self.data_dir = store, policy, data_dir
        # the node id the periodic purge claims its slot for (None: it purges every time)
        self.node = node
        self.interval = interval
        self.first_delay = min(first_delay, interval)
        self.runs = 0
        self.skipped = 0  # periods another node of the fleet purged
        self.orphan_grace = ORPHAN_GRACE
        self.orphans = 0  # recording files deleted whose rows were gone (a fleet)
        self.last: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def from_config(cls, store: Store, cfg: Config, node: str | None = None) -> Retention:
        return cls(store, Policy.from_config(cfg), cfg.data_dir, cfg.retention_interval, node=node)

    def start(self) -> None:
        if self.interval <= 0:
            LOGGER.info("retention purging is off (retention_interval = 0)")
            return
        self._thread = threading.Thread(target=self._run, name="retention", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)

    def run_once(self) -> dict[str, int]:
        started = time.monotonic()
        counts = purge(self.store, self.policy, self.data_dir)
        self.runs += 1
        self.last = counts
        deleted = {k: v for k, v in counts.items() if v}
        if deleted:
            LOGGER.info(
                "retention: deleted %s in %.2f s",
                ", ".join(f"{v} {k}" for k, v in deleted.items()),
                time.monotonic() - started,
            )
        return counts

    def _run(self) -> None:
        wait = self.first_delay
        while not self._stop.wait(wait):
            wait = self.interval
            try:
                if self.node is not None:  # a fleet: this node's files of rows purged anywhere
                    self.orphans += orphans(
                        self.store, self.data_dir, time.time(), self.orphan_grace
                    )
                if self.node is not None and not fire(self.store, FIRING, self.interval, self.node):
                    self.skipped += 1  # another node purged in this period
                    continue
                self.run_once()
            except StoreClosed:
                return
            except StoreUnavailable:  # the store logged the outage; the next pass purges
                continue
            except Exception:  # noqa: BLE001 - a failed purge must not stop the next one
                LOGGER.exception("retention purge failed; retrying in %.0f s", self.interval)
