"""One line's calls in the store: the rows its phone writes and the status callbacks it queues.

A *line* is what calls are made on: a modem (its name, e.g. ``modem1``, and its SIM's number),
or, for browser phones, ``client`` (docs/design.md, "Browser phone calls").  The ``calls.modem``
column holds the line's name.  Every method runs on the line's thread (for a modem, through
its :class:`appliance.voice.phone.Phone`); the call flows and the REST API read the same
``calls`` rows.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Mapping

from appliance import sids
from appliance.store.database import Row, Store
from appliance.voice import call
from appliance.voice.backlog import Backlog
from appliance.voice.call import CallEvent, CallLeg, Step
from appliance.voice.callbacks import call_params, enqueue_status, rfc2822

# The error of a call's row when the database was away as it rang (a GSM call, a browser's,
# a <Dial><Client> leg): it was turned away, and its row written once the database was back.
TURNED_AWAY = (20503, "the database was unreachable: turned away as busy")

# The status callback event of each status a step reaches (an ended call's is "completed").
EVENT_OF_STATUS = {
    call.RINGING: "ringing",
    call.IN_PROGRESS: "answered",
}


class CallRecords:
    """The ``calls`` rows of one line, and the numbering of their status callbacks."""

    def __init__(
        self,
        store: Store,
        line: str,
        number: str,
        account_sid: Callable[[], str],
        on_job: Callable[[], None],
        node: str = "",
    ) -> None:
        self.store = store
        # calls.node_id of every call this line holds (the fleet's node id): the node a REST
        # update must reach and that has the call's recordings (issue 16, slice 6)
        self.node = node
        self.line = line  # calls.modem: a modem's name, or "client"
        self.number = number  # the line's own number (a SIM's), when the numbers row is gone
        self.account_sid = account_sid
        self.on_job = on_job
        self._sequence: dict[str, int] = {}
        # status changes and callbacks the database could not take (an outage): written
        # when it is back, in order (appliance.voice.backlog)
        self.backlog = Backlog.of(store)

    def stale(self) -> list[Row]:
        """Rows this line left ringing or in progress.  On a fleet only this node's (and
        rows from before calls had a node): every node has a browser line named ``client``,
        and another node's live browser call is not this node's to end."""
        sql = (
            "SELECT sid, status FROM calls WHERE modem = ? AND status IN ('ringing', 'in-progress')"
        )
        if self.node and self.store.dialect.name == "postgresql":
            return self.store.read(
                sql + " AND (node_id = ? OR node_id IS NULL)", (self.line, self.node)
            )
        return self.store.read(sql, (self.line,))

    def insert_incoming(self, sid: str, event: CallEvent) -> None:
        """A new inbound call, with the Voice URL and callbacks of the modem's number."""
        now = time.time()
        number = self.store.read_one(
            "SELECT phone_number, voice_url, voice_method, voice_fallback_url, voice_fallback_method,"
            " status_callback, status_callback_method FROM numbers WHERE modem = ?",
            (self.line,),
        )

        def fn(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO calls (sid, modem, direction, from_number, to_number, status, date_created,"
                " date_updated, url, method, fallback_url, fallback_method, status_callback,"
                " status_callback_method, status_callback_events, node_id) VALUES"
                " (?,?,?,?,?,?,?,?,?,?,?,?,?,?,'completed',?)",
                (
                    sid,
                    self.line,
                    "inbound",
                    event.number or "",
                    number["phone_number"] if number else self.number,
                    call.RINGING,
                    now,
                    now,
                    number["voice_url"] if number else "",
                    number["voice_method"] if number else "POST",
                    number["voice_fallback_url"] if number else "",
                    number["voice_fallback_method"] if number else "POST",
                    number["status_callback"] if number else "",
                    number["status_callback_method"] if number else "POST",
                    self.node or None,
                ),
            )

        self.store.write(fn)

    def insert_call(
        self,
        sid: str,
        *,
        direction: str,
        from_number: str,
        to_number: str,
        status: str,
        webhooks: Mapping[str, str],
    ) -> None:
        """A call no modem line started (a browser's), with the webhooks it runs: ``url``,
        ``method``, ``fallback_url``, ``fallback_method``, ``status_callback`` and
        ``status_callback_method`` (a TwiML App's, for a browser)."""
        now = time.time()
        names = (
            "url",
            "method",
            "fallback_url",
            "fallback_method",
            "status_callback",
            "status_callback_method",
        )
        values = [str(webhooks.get(n) or ("POST" if n.endswith("method") else "")) for n in names]
        self.store.write(
            lambda conn: conn.execute(
                "INSERT INTO calls (sid, modem, direction, from_number, to_number, status,"
                " date_created, date_updated, url, method, fallback_url, fallback_method,"
                " status_callback, status_callback_method, status_callback_events, node_id)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,'completed',?)",
                (
                    sid,
                    self.line,
                    direction,
                    from_number,
                    to_number,
                    status,
                    now,
                    now,
                    *values,
                    self.node or None,
                ),
            )
        )

    def insert_rejected(
        self,
        event: CallEvent,
        error: tuple[int, str] | None = None,
        at: float | None = None,
        to: str | None = None,
    ) -> None:
        """A call that was turned away as busy (a waiting call, or a call that came while
        the database was away: ``error`` says so): logged, never run.  Kept until the
        database is back if need be; written once (the row is looked for first).  ``to``:
        the number called, when it is not the line's own (a browser's ``To``)."""
        now = time.time() if at is None else at
        sid = sids.new("CA")
        code, message = error if error else (None, None)

        def fn(conn: sqlite3.Connection) -> None:
            if conn.execute("SELECT 1 FROM calls WHERE sid = ?", (sid,)).fetchone():
                return  # a write an outage cut had landed
            conn.execute(
                "INSERT INTO calls (sid, modem, direction, from_number, to_number, status, date_created,"
                " date_updated, end_time, error_code, error_message, node_id)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    sid,
                    self.line,
                    "inbound",
                    event.number or "",
                    self.number if to is None else to,
                    call.BUSY,
                    now,
                    now,
                    now,
                    code,
                    message,
                    self.node or None,
                ),
            )

        self.backlog.write(f"busy call {sid}", fn)

    def claim_queued(self) -> Row | None:
        """The oldest call the REST API queued on this line, now ``ringing`` and marked with
        this node (``calls.node_id``); None if none.

        A cheap read first (most looks find nothing, and a claim is a write), then one
        statement claims: ``UPDATE … WHERE sid = (SELECT … LIMIT 1 FOR UPDATE SKIP LOCKED)
        RETURNING *`` on PostgreSQL, so two claimers of one line (this node and another that
        took the modem name after this one's lease ran out) never take the same call, and a
        row a REST cancel is changing is skipped.
        On SQLite the single writer already serialises it (``Dialect.claim`` is empty)."""
        if (
            self.store.read_one(
                "SELECT sid FROM calls WHERE modem = ? AND status = 'queued'"
                " AND direction = 'outbound-api' LIMIT 1",
                (self.line,),
            )
            is None
        ):
            return None
        sql = (
            "UPDATE calls SET status = 'ringing', node_id = ?, date_updated = ? WHERE sid = ("
            "SELECT sid FROM calls WHERE modem = ? AND status = 'queued'"
            " AND direction = 'outbound-api' ORDER BY date_created, sid LIMIT 1"
            + self.store.dialect.claim
            + ") RETURNING *"
        )
        row: Row | None = self.store.write(
            lambda conn: conn.execute(sql, (self.node or None, time.time(), self.line)).fetchone()
        )
        return row  # None: canceled by the API (or claimed by another claimer) a moment ago

    def write_status(
        self,
        sid: str,
        status: str,
        leg: CallLeg | None = None,
        error: tuple[int, str] | None = None,
    ) -> None:
        now = time.time()
        start = None
        if leg is not None and leg.answered_at is not None:
            start = now - (time.monotonic() - leg.answered_at)
        duration = leg.duration() if leg is not None and status in call.ENDED else None
        ended = now if status in call.ENDED else None

        def fn(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE calls SET status = ?, date_updated = ?, start_time = COALESCE(start_time, ?),"
                " end_time = COALESCE(?, end_time), duration = COALESCE(?, duration),"
                " error_code = COALESCE(?, error_code), error_message = COALESCE(?, error_message)"
                " WHERE sid = ?",
                (
                    status,
                    now,
                    start,
                    ended,
                    duration,
                    error[0] if error else None,
                    error[1] if error else None,
                    sid,
                ),
            )

        self.backlog.write(f"status {status} of {sid}", fn)  # values fixed now: re-runnable

    def record_step(self, leg: CallLeg, step: Step, error: tuple[int, str] | None = None) -> None:
        """A change of ``leg`` on its row, and the status callback it calls for."""
        self.write_status(leg.sid, step.status, leg, error)
        event = "completed" if step.ended_now else EVENT_OF_STATUS.get(step.status)
        if event:
            self.emit_callback(leg.sid, event, step.status)

    def write_caller(self, leg: CallLeg) -> None:
        """The caller's number arrived after the row was written (RING before +CLIP)."""
        self.backlog.write(
            f"caller of {leg.sid}",
            lambda conn: conn.execute(
                "UPDATE calls SET from_number = ? WHERE sid = ? AND from_number = ''",
                (leg.number or "", leg.sid),
            ),
        )

    def emit_callback(self, sid: str, event: str, status: str) -> None:
        """Queue the status callback of ``event`` if the call asked for it (once the
        database is back, if it is away: with the time of the event)."""
        at = time.time()
        self.backlog.run(f"{event} callback of {sid}", lambda: self._emit(sid, event, status, at))

    def _emit(self, sid: str, event: str, status: str, at: float) -> None:
        row = self.store.read_one("SELECT * FROM calls WHERE sid = ?", (sid,))
        if row is None or not row["status_callback"]:
            return
        wanted = (row["status_callback_events"] or "completed").split()
        if event not in wanted:
            return
        seq = self._sequence.get(sid, 0)
        params = call_params(row, self.account_sid(), status)
        params.update(
            {
                "CallbackSource": "call-progress-events",
                "SequenceNumber": str(seq),
                "Timestamp": rfc2822(at),
                "StatusCallbackEvent": event,
            }
        )
        if event == "completed":
            duration = int(row["duration"] or 0)
            params["CallDuration"] = str(duration)
            params["Duration"] = str((duration + 59) // 60)
        enqueue_status(
            self.store, sid, row["status_callback"], row["status_callback_method"], params
        )
        self._sequence[sid] = seq + 1  # only once queued: a re-run (an outage) keeps its number
        if event == "completed":
            self._sequence.pop(sid, None)
        self.on_job()
