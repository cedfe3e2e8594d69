"""Broadcast schedules in their rows, each firing claimed in the database (issue 16, slice 5).

A scheduled broadcast's next firing is in its row (``broadcasts.next_run``, migration 0023),
and so is a failed run's retry (``retry_at``, ``retry_attempt``).  Every node looks for due
ones every second (the panel scheduler's poll) and fires one by moving it on with a
compare-and-set (``UPDATE broadcasts SET next_run = <the next> WHERE id = ? AND next_run =
<the one due> AND ...``), in the transaction that starts the run (:meth:`Broadcasts.begin`):
on a fleet the first node's update wins and the others' match no row, so each firing runs
once per fleet (docs/design.md, "Slice 5 as built").  The cron arithmetic is APScheduler's
:class:`CronTrigger`, used as a pure function (:func:`appliance.campaigns.spec.firing`),
with APScheduler's semantics kept: runs missed while the appliance was off are one run
(coalesced) if the latest is within the misfire grace period, and none if it is older.  A
paused (``enabled = 0``) or deleted broadcast matches no compare-and-set, whichever node
looks, and neither does a row read before another node moved it on.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable
from datetime import UTC, datetime, tzinfo
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from appliance.campaigns.content import RunFailed
from appliance.campaigns.spec import BroadcastError, cron_trigger, firing, first_run
from appliance.errors import StoreUnavailable
from appliance.store.database import Row, Store

if TYPE_CHECKING:
    from appliance.campaigns.broadcasts import Broadcasts

LOGGER = logging.getLogger(__name__)


class Schedules:
    """The broadcasts' schedules and retries: set, read, and fired once per firing."""

    def __init__(
        self,
        store: Store,
        broadcasts: Broadcasts,
        *,
        grace: float,
        retry_delay: float,
        attempts: int,
        submit: Callable[..., None],
    ) -> None:
        self.store = store
        self.broadcasts = broadcasts
        self.grace = grace  # seconds a missed firing (or a retry) may still run late
        self.retry_delay = retry_delay
        self.attempts = attempts
        self.submit = submit  # runs ``fn(*args)`` on the scheduler's pool

    def sync(self) -> None:
        """Give each enabled, scheduled broadcast without a next run its first one, and take
        it from the others; a next run already set stays (so a run missed while the
        appliance was off still fires within the grace period)."""
        now = time.time()
        for b in self.store.read(
            "SELECT id, schedule, timezone, enabled, next_run FROM broadcasts"
            " WHERE (enabled = 1 AND schedule != '') = (next_run IS NULL)"
        ):
            scheduled = bool(b["enabled"]) and b["schedule"] != ""
            self._set_next(b["id"], self._first(b, now) if scheduled else None, b["next_run"])

    def schedule(self, broadcast_id: int, schedule: str, timezone: str) -> None:
        """(Re)start a broadcast's schedule from now; an empty schedule stops it."""
        when = first_run(cron_trigger(schedule, timezone), time.time()) if schedule else None
        self._set_next(broadcast_id, when)

    def next_run(self, broadcast_id: int) -> datetime | None:
        """When the broadcast fires next, in its time zone (None: not scheduled)."""
        row = self.store.read_one(
            "SELECT next_run, timezone FROM broadcasts WHERE id = ?", (broadcast_id,)
        )
        if row is None or row["next_run"] is None:
            return None
        try:
            zone: tzinfo = ZoneInfo(row["timezone"])
        except (ZoneInfoNotFoundError, ValueError):
            zone = UTC
        return datetime.fromtimestamp(row["next_run"], zone)

    def run_now(self, broadcast_id: int) -> int:
        """Start a manual run here and carry it on on the pool; returns its run id.  Raises
        :class:`BroadcastError` (with the reason) when it is refused: a run of it is going
        somewhere in the fleet, or it no longer exists."""
        run_id = self.store.write(
            lambda conn: self.broadcasts.begin(conn, broadcast_id, "manual", 1)
        )
        self.submit(self._carry_on, broadcast_id, run_id, 1)
        return run_id

    def carry_on_cut(self, *, own: bool) -> int:
        """Carry on the runs cut short: this node's own (``own``: at start) or a lost or
        stopped node's (:meth:`Broadcasts.take_over`).  Returns how many were taken."""
        taken = self.broadcasts.take_over(own=own)
        for run_id in taken:
            run = self.broadcasts.get_run(run_id)
            if run is not None:
                self.submit(self._carry_on, run["broadcast_id"], run_id, run["attempt"])
        return len(taken)

    def fire_due(self, now: float | None = None) -> int:
        """Fire the due scheduled runs and retries that no other node fired first: each
        claimed by a compare-and-set on its row, in the transaction that starts its run, and
        carried on on the pool.  Returns how many runs this node started."""
        if not self.store.available:
            return 0  # the database is unreachable: due runs fire when it is back
        now = time.time() if now is None else now
        try:
            due = self.store.read(
                "SELECT id, schedule, timezone, next_run, retry_at, retry_attempt FROM broadcasts"
                " WHERE enabled = 1 AND (next_run <= ? OR retry_at <= ?)",
                (now, now),
            )
        except StoreUnavailable:
            return 0
        started = 0
        for b in due:
            for claim in (self.claim_firing, self.claim_retry):
                try:
                    took = claim(b, now)
                except StoreUnavailable:
                    return started
                if took is not None:
                    run_id, attempt = took
                    self.submit(self._carry_on, b["id"], run_id, attempt)
                    started += 1
        return started

    def claim_firing(self, b: Row, now: float) -> tuple[int, int] | None:
        """Fire ``b`` (its row as read) if its next run is due and still the one read:
        (the run started, its attempt), or None (not due, taken, changed, missed or busy)."""
        if b["next_run"] is None or b["next_run"] > now:
            return None
        try:
            fires, following = firing(
                cron_trigger(b["schedule"], b["timezone"]), b["next_run"], now, self.grace
            )
        except BroadcastError as e:  # a schedule the form would refuse (edited in the database)
            LOGGER.error("broadcast %d: %s: its schedule is stopped", b["id"], e.message)
            fires, following = None, None

        def fn(conn: sqlite3.Connection) -> tuple[int, int] | None:
            moved = conn.execute(
                "UPDATE broadcasts SET next_run = ? WHERE id = ? AND next_run = ?"
                " AND schedule = ? AND timezone = ? AND enabled = 1",
                (following, b["id"], b["next_run"], b["schedule"], b["timezone"]),
            ).rowcount
            if not moved:
                return None  # another node fired it first, or it changed meanwhile
            if fires is None:
                LOGGER.warning(
                    "broadcast %d: run of %s missed by more than %g s: skipped",
                    b["id"],
                    datetime.fromtimestamp(b["next_run"], UTC).isoformat(),
                    self.grace,
                )
                return None
            return self._begin(conn, b["id"], "schedule", 1)

        result: tuple[int, int] | None = self.store.write(fn)
        return result

    def claim_retry(self, b: Row, now: float) -> tuple[int, int] | None:
        """Take ``b``'s due retry if it is still the one read, and start it unless late."""
        if b["retry_at"] is None or b["retry_at"] > now:
            return None
        attempt = int(b["retry_attempt"])
        late = now - b["retry_at"] > self.grace  # paused meanwhile, or every node was off

        def fn(conn: sqlite3.Connection) -> tuple[int, int] | None:
            taken = conn.execute(
                "UPDATE broadcasts SET retry_at = NULL WHERE id = ? AND retry_at = ?"
                " AND retry_attempt = ? AND enabled = 1",
                (b["id"], b["retry_at"], attempt),
            ).rowcount
            if taken and late:
                LOGGER.warning(
                    "broadcast %d: retry missed by more than %g s: skipped", b["id"], self.grace
                )
                return None
            return self._begin(conn, b["id"], "retry", attempt) if taken else None

        result: tuple[int, int] | None = self.store.write(fn)
        return result

    def _begin(
        self, conn: sqlite3.Connection, broadcast_id: int, reason: str, attempt: int
    ) -> tuple[int, int] | None:
        """Start the run in the claim's transaction; the claim stands even when the run is
        refused (a run of the broadcast is still going: the firing is skipped, as before)."""
        try:
            return self.broadcasts.begin(conn, broadcast_id, reason, attempt), attempt
        except BroadcastError as e:
            LOGGER.warning("broadcast %d: %s: this %s is skipped", broadcast_id, e.message, reason)
            return None

    def _carry_on(self, broadcast_id: int, run_id: int, attempt: int) -> None:
        try:
            self.broadcasts.carry_on(run_id)
        except RunFailed:
            if attempt >= self.attempts:
                LOGGER.error("broadcast %d: attempt %d failed, giving up", broadcast_id, attempt)
                return
            when = time.time() + self.retry_delay
            LOGGER.info(
                "broadcast %d: retrying at %s",
                broadcast_id,
                datetime.fromtimestamp(when, UTC).isoformat(),
            )
            self.store.write(
                lambda conn: conn.execute(
                    "UPDATE broadcasts SET retry_at = ?, retry_attempt = ? WHERE id = ?",
                    (when, attempt + 1, broadcast_id),
                )
            )
        except BroadcastError as e:
            LOGGER.warning("broadcast %d: %s", broadcast_id, e.message)

    def _first(self, b: Row, now: float) -> float | None:
        try:
            return first_run(cron_trigger(b["schedule"], b["timezone"]), now)
        except BroadcastError as e:
            LOGGER.error("broadcast %d: %s: its schedule is stopped", b["id"], e.message)
            return None

    def _set_next(self, broadcast_id: int, when: float | None, was: Any = ...) -> None:
        """Set a broadcast's next run; with ``was``, only if it still is that (a node
        starting beside another may not undo what the other just did)."""
        sql, params = "UPDATE broadcasts SET next_run = ? WHERE id = ?", (when, broadcast_id)
        if was is not ...:
            sql += " AND next_run IS NULL" if was is None else " AND next_run = ?"
            params += () if was is None else (was,)
        self.store.write(lambda conn: conn.execute(sql, params))
