"""Broadcasts: one message per subscriber of a list, now or on a cron schedule.

A broadcast is a :class:`~appliance.campaigns.spec.Spec` kept in the ``broadcasts``
table; its content is rendered by :mod:`appliance.campaigns.content`.  A run renders
every message first and queues them only when the whole run rendered: a forecast API
that is down fails the run (visibly, with its error) and the scheduler retries it later;
it never half-sends.  Messages go through :meth:`appliance.sms.outbox.Outbox.insert`,
the same core as the REST API, in batches of :data:`BATCH` per transaction; opt-outs
are refused there (21610) and recorded per recipient.

A run cut short (a stop, a crash, a node of the fleet lost) is carried on, not lost: the
restarted node takes its own unfinished runs back, and another node of the fleet takes those
of a node lost or stopped (:meth:`Broadcasts.take_over`).  Each batch commits its messages
with their ``broadcast_recipients`` rows, under the run's row lock and only while this node
owns the run, so a run carried on skips whoever was queued and nobody is sent it twice.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable
from typing import Any

from appliance.campaigns.content import Rendered, Renderer, RunFailed
from appliance.campaigns.lists import Subscribers
from appliance.campaigns.spec import BroadcastError, Spec
from appliance.campaigns.weather import WeatherClient
from appliance.errors import ApplianceError
from appliance.sms import codec as sms
from appliance.sms.outbox import Outbox, OutboxError
from appliance.store.database import Row, Store
from appliance.store.fleet import LEASE

LOGGER = logging.getLogger(__name__)

BATCH = 1000  # messages per transaction when queueing a run
PREVIEW = 3


class Broadcasts:
    """Broadcast definitions, runs and their recipients."""

    def __init__(
        self,
        store: Store,
        outbox: Outbox,
        subscribers: Subscribers,
        weather: WeatherClient,
        *,
        auth_token: Callable[[], str],
        number_of: Callable[[str], Row],
        rate: float,
        node: str = "",
    ) -> None:
        self.store = store
        self.outbox = outbox
        self.subscribers = subscribers
        self.weather = weather
        self._number_of = number_of
        self.rate = rate  # segments per second per modem (0: as fast as the modem takes them)
        self.node = node  # this node's id: its runs' broadcast_runs.node_id
        self.content = Renderer(subscribers, weather, auth_token=auth_token, number_of=number_of)

    # -- definitions -------------------------------------------------------------------------

    def create(self, spec: Spec) -> int:
        now = time.time()
        return self.store.write(
            lambda conn: int(
                conn.execute(
                    "INSERT INTO broadcasts (name, list_id, modem, kind, content, schedule, timezone,"
                    " enabled, created, updated) VALUES (?,?,?,?,?,?,?,?,?,?) RETURNING id",
                    (
                        spec.name,
                        spec.list_id,
                        spec.modem,
                        spec.kind,
                        spec.content,
                        spec.schedule,
                        spec.timezone,
                        int(spec.enabled),
                        now,
                        now,
                    ),
                ).fetchone()[0]
                or 0
            )
        )

    def update(self, broadcast_id: int, spec: Spec) -> None:
        self.store.write(
            lambda conn: conn.execute(
                "UPDATE broadcasts SET name = ?, list_id = ?, modem = ?, kind = ?, content = ?,"
                " schedule = ?, timezone = ?, enabled = ?, updated = ? WHERE id = ?",
                (
                    spec.name,
                    spec.list_id,
                    spec.modem,
                    spec.kind,
                    spec.content,
                    spec.schedule,
                    spec.timezone,
                    int(spec.enabled),
                    time.time(),
                    broadcast_id,
                ),
            )
        )

    def delete(self, broadcast_id: int) -> None:
        self.store.write(
            lambda conn: conn.execute("DELETE FROM broadcasts WHERE id = ?", (broadcast_id,))
        )

    def get(self, broadcast_id: int) -> Row | None:
        return self.store.read_one(
            "SELECT b.*, l.name AS list_name FROM broadcasts b"
            " LEFT JOIN subscriber_lists l ON l.id = b.list_id WHERE b.id = ?",
            (broadcast_id,),
        )

    def all(self) -> list[Row]:
        return self.store.read(
            "SELECT b.*, l.name AS list_name, (SELECT r.state FROM broadcast_runs r"
            " WHERE r.broadcast_id = b.id ORDER BY r.id DESC LIMIT 1) AS last_state"
            " FROM broadcasts b LEFT JOIN subscriber_lists l ON l.id = b.list_id ORDER BY b.name"
        )

    # -- rendering ---------------------------------------------------------------------------

    def render(self, b: Row, subs: list[Row]) -> list[Rendered]:
        """Every subscriber's messages.  Raises :class:`RunFailed` if the source is down."""
        return self.content.render(b, subs)

    def preview(self, broadcast_id: int) -> dict[str, Any]:
        """A few rendered messages, the audience, segments and the estimated duration."""
        b = self.get(broadcast_id)
        if b is None:
            raise BroadcastError("no such broadcast")
        audience = self.subscribers.audience(b["list_id"])
        samples: list[dict[str, Any]] = []
        error = ""
        try:
            for r in self.render(b, audience[:PREVIEW]):
                samples.append(
                    {
                        "to": r.subscriber["phone_number"],
                        "bodies": r.bodies,
                        "segments": sum(sms.count_segments(x) for x in r.bodies),
                        "error": r.error,
                    }
                )
        except RunFailed as e:
            error = e.message
        per = [s["segments"] for s in samples if s["segments"]]
        per_message = max(per) if per else 1
        total_segments = per_message * len(audience)
        seconds = total_segments / self.rate if self.rate > 0 else 0.0
        return {
            "broadcast": b,
            "audience": len(audience),
            "samples": samples,
            "segments_each": per_message,
            "segments_total": total_segments,
            "seconds": seconds,
            "error": error,
        }

    # -- runs --------------------------------------------------------------------------------

    def run(self, broadcast_id: int, *, reason: str = "manual", attempt: int = 1) -> int:
        """Render and queue one run; returns the run's id.  Raises :class:`RunFailed`
        (after recording the failure on the run) when it failed as a whole, and
        :class:`BroadcastError` when the broadcast is gone or already running."""
        run_id = self.store.write(lambda conn: self.begin(conn, broadcast_id, reason, attempt))
        return self.carry_on(run_id)

    def begin(self, conn: sqlite3.Connection, broadcast_id: int, reason: str, attempt: int) -> int:
        """Start a run in the caller's transaction: its ``broadcast_runs`` row (rendering),
        unless the broadcast is gone or a run of it is in progress here or on a live node of
        the fleet (:class:`BroadcastError`).  The broadcast's row is locked first on
        PostgreSQL, so two nodes starting it together are taken in turn."""
        now = time.time()
        b = conn.execute(
            f"SELECT id FROM broadcasts WHERE id = ?{self.store.dialect.lock}", (broadcast_id,)
        ).fetchone()
        if b is None:
            raise BroadcastError(f"broadcast {broadcast_id} no longer exists")
        busy = conn.execute(
            "SELECT r.id FROM broadcast_runs r LEFT JOIN nodes n ON n.id = r.node_id"
            " WHERE r.broadcast_id = ? AND r.state IN ('rendering', 'queueing')"
            " AND (r.node_id = ? OR n.stopped IS NULL"
            f" AND n.heartbeat >= {self.store.dialect.now} - ?) LIMIT 1",  # the fleet's clock
            (broadcast_id, self.node, LEASE),
        ).fetchone()
        if busy is not None:
            raise BroadcastError(f"broadcast {broadcast_id} is already running")
        return int(
            conn.execute(
                "INSERT INTO broadcast_runs (broadcast_id, reason, attempt, state, total, started,"
                " node_id) VALUES (?,?,?,'rendering',0,?,?) RETURNING id",
                (broadcast_id, reason, attempt, now, self.node),
            ).fetchone()[0]
            or 0
        )

    def carry_on(self, run_id: int) -> int:
        """Render and queue the run :meth:`begin` started (on this node); returns its id."""
        run = self.get_run(run_id)
        b = None if run is None else self.get(run["broadcast_id"])
        if run is None or b is None:
            if run is not None:
                self._finish(run_id, "failed", "the broadcast was deleted")
            raise BroadcastError(f"broadcast run {run_id} no longer exists")
        return self._run(b, run_id, run["started"])

    def take_over(self, *, own: bool) -> list[int]:
        """Claim unfinished runs to carry on here: this node's own, cut by a stop or a crash
        (``own``, at start), or those of another node of the fleet lost (no heartbeat for
        :data:`LEASE` s) or stopped.  Each is claimed by a compare-and-set on its
        ``node_id``, so one node carries it on.  Returns the run ids taken."""
        if own:
            rows = self.store.read(
                "SELECT id, node_id FROM broadcast_runs WHERE state IN ('rendering', 'queueing')"
                " AND (node_id = ? OR node_id IS NULL)",
                (self.node,),
            )
        else:
            rows = self.store.read(
                "SELECT r.id, r.node_id FROM broadcast_runs r LEFT JOIN nodes n"
                " ON n.id = r.node_id WHERE r.state IN ('rendering', 'queueing')"
                " AND r.node_id != ? AND (n.id IS NULL OR n.stopped IS NOT NULL"
                f" OR n.heartbeat < {self.store.dialect.now} - ?)",
                (self.node, LEASE),
            )
        taken = []
        for row in rows:
            was = row["node_id"]

            def claim(conn: sqlite3.Connection, run_id: int = row["id"], was: Any = was) -> int:
                return conn.execute(
                    "UPDATE broadcast_runs SET node_id = ? WHERE id = ?"
                    " AND state IN ('rendering', 'queueing')"
                    + (" AND node_id IS NULL" if was is None else " AND node_id = ?"),
                    (self.node, run_id) + (() if was is None else (was,)),
                ).rowcount

            if self.store.write(claim) == 1:
                LOGGER.warning(
                    "broadcast run %d cut short on %s: carried on here",
                    row["id"],
                    "this node" if own or was is None else f"node {was}",
                )
                taken.append(int(row["id"]))
        return taken

    def _owned(self, conn: sqlite3.Connection, run_id: int) -> None:
        """Lock the run's row; :class:`BroadcastError` if another node took it over."""
        row = conn.execute(
            f"SELECT node_id FROM broadcast_runs WHERE id = ?{self.store.dialect.lock}",
            (run_id,),
        ).fetchone()
        if row is None or (row[0] or "") != self.node:
            raise BroadcastError(f"broadcast run {run_id} was taken over by another node")

    def _run(self, b: Row, run_id: int, started: float) -> int:
        try:
            audience = self.subscribers.audience(b["list_id"])
            done = {
                r[0]
                for r in self.store.read(
                    "SELECT phone_number FROM broadcast_recipients WHERE run_id = ?", (run_id,)
                )
            }  # queued before a stop, a crash or a lost node cut the run: not again
            self.store.write(
                lambda conn: conn.execute(
                    "UPDATE broadcast_runs SET total = ? WHERE id = ?", (len(audience), run_id)
                )
            )
            audience = [sub for sub in audience if sub["phone_number"] not in done]
            rendered = self.render(b, audience)
        except RunFailed as e:
            self._finish(run_id, "failed", e.message)
            LOGGER.warning("broadcast %s run %d failed: %s", b["name"], run_id, e.message)
            raise
        except Exception as e:
            self._finish(run_id, "failed", f"{type(e).__name__}: {e}")
            raise
        self.store.write(
            lambda conn: conn.execute(
                "UPDATE broadcast_runs SET state = 'queueing' WHERE id = ?", (run_id,)
            )
        )
        from_number = self._number_of(b["modem"])["phone_number"]
        queued = skipped = segments = 0
        for start in range(0, len(rendered), BATCH):
            chunk = rendered[start : start + BATCH]
            items: list[tuple[str, str, tuple[str, list[sms.Segment]] | None, str]] = []
            for r in chunk:
                to = r.subscriber["phone_number"]
                if r.error or not r.bodies:
                    items.append((to, "", None, r.error or "nothing to send"))
                    continue
                for body in r.bodies:
                    try:
                        items.append((to, body, self.outbox.validate(to, body), ""))
                    except ApplianceError as e:
                        items.append((to, body, None, e.message))

            def fn(conn: sqlite3.Connection, items: list[Any] = items) -> tuple[int, int, int]:
                self._owned(conn, run_id)
                q = s = n = 0
                for to, body, checked, error in items:
                    sid = None
                    if checked is not None:
                        try:
                            sid = self.outbox.insert(
                                conn,
                                modem=b["modem"],
                                from_number=from_number,
                                to=to,
                                body=body,
                                validated=checked,
                            )
                            q += 1
                            n += len(checked[1])
                        except OutboxError as e:
                            error = f"{e.code}: {e.message}"
                    if sid is None:
                        s += 1
                    conn.execute(
                        "INSERT INTO broadcast_recipients (run_id, phone_number, message_sid, error)"
                        " VALUES (?,?,?,?) ON CONFLICT (run_id, phone_number) DO NOTHING",
                        (run_id, to, sid, error or None),
                    )
                conn.execute(
                    "UPDATE broadcast_runs SET queued = queued + ?, skipped = skipped + ?,"
                    " segments = segments + ? WHERE id = ?",
                    (q, s, n, run_id),
                )
                return q, s, n

            q, s, n = self.store.write(fn)
            queued, skipped, segments = queued + q, skipped + s, segments + n
            self.outbox.wake(b["modem"])
        self._finish(run_id, "done", None)
        LOGGER.info(
            "broadcast %s run %d: %d queued, %d skipped in %.2f s",
            b["name"],
            run_id,
            queued,
            skipped,
            time.time() - started,
        )
        return run_id

    def _finish(self, run_id: int, state: str, error: str | None) -> None:
        """End the run, unless another node took it over meanwhile (it ends it)."""
        self.store.write(
            lambda conn: conn.execute(
                "UPDATE broadcast_runs SET state = ?, error = ?, finished = ? WHERE id = ?"
                " AND (node_id = ? OR node_id IS NULL)",
                (state, error, time.time(), run_id, self.node),
            )
        )

    def runs(self, broadcast_id: int, limit: int = 20) -> list[Row]:
        return self.store.read(
            "SELECT r.*, (SELECT COUNT(*) FROM broadcast_recipients x JOIN messages m"
            " ON m.sid = x.message_sid WHERE x.run_id = r.id AND m.status = 'delivered') AS delivered"
            " FROM broadcast_runs r WHERE r.broadcast_id = ? ORDER BY r.id DESC LIMIT ?",
            (broadcast_id, limit),
        )

    def get_run(self, run_id: int) -> Row | None:
        return self.store.read_one("SELECT * FROM broadcast_runs WHERE id = ?", (run_id,))

    def recipients(self, run_id: int, limit: int = 500, offset: int = 0) -> list[Row]:
        return self.store.read(
            "SELECT x.phone_number, x.message_sid, x.error, m.status, m.error_code, m.body"
            " FROM broadcast_recipients x LEFT JOIN messages m ON m.sid = x.message_sid"
            " WHERE x.run_id = ? ORDER BY x.phone_number LIMIT ? OFFSET ?",
            (run_id, limit, offset),
        )
