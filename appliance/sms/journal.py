"""The send journal: the state of every part of an outbound message, and its delivery reports.

For each part of a claimed message (:meth:`appliance.sms.outbox.Outbox.claim`) the
modem thread

1. commits the part as ``sending`` (:meth:`SendJournal.part_started`),
2. issues ``AT+CMGS`` and waits for ``+CMGS: <mr>``,
3. commits the part as ``sent`` with its message reference (:meth:`SendJournal.part_sent`).

A crash between 1 and 3 leaves a part in ``sending``: the network may or may
not have it, and there is no way to ask.  On start-up :meth:`SendJournal.recover`
marks such a message ``failed`` with error 30008 and the text
"send interrupted ... may have been delivered" instead of sending it again:
never twice is the promise, and the uncertain case is visible, not silent.
At most one message per modem can be in that state after a crash.  Parts
that were never started are resumed.

Status reports are matched to the part sent with their message reference
(:meth:`SendJournal.apply_report`).  Every status change of a message is handed,
inside its transaction, to ``callbacks`` (the status callback queue).
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable

from appliance import logs
from appliance.sms import pdu
from appliance.sms.outcomes import report_outcome
from appliance.store.database import Row, Store

LOGGER = logging.getLogger(__name__)
# A message's status -> the level and words of its log line (other statuses: not logged).
STATUS_EVENTS = {
    "sending": (logging.DEBUG, "message sending"),
    "sent": (logging.INFO, "message sent"),
    "delivered": (logging.INFO, "message delivered"),
    "undelivered": (logging.WARNING, "message undelivered"),
    "failed": (logging.WARNING, "message failed"),
}


class SendJournal:
    """Per-part send bookkeeping and delivery reports on the store (base of the outbox)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.callbacks: Callable[[sqlite3.Connection, Row], None] | None = None

    def part_started(self, sid: str, part: int) -> None:
        self.store.write(
            lambda conn: conn.execute(
                "UPDATE segments SET state = 'sending' WHERE message_sid = ? AND part = ?",
                (sid, part),
            )
        )

    def part_sent(self, sid: str, part: int, mr: int, total: int) -> None:
        now = time.time()

        def fn(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE segments SET state = 'sent', mr = ?, sent_at = ? WHERE message_sid = ? AND part = ?",
                (mr, now, sid, part),
            )
            conn.execute(
                "UPDATE messages SET segments_sent = ?, date_updated = ? WHERE sid = ?",
                (part, now, sid),
            )
            if part == total:
                conn.execute(
                    "UPDATE messages SET status = 'sent', date_sent = ?, date_updated = ? WHERE sid = ?",
                    (now, now, sid),
                )
                self._status_changed(conn, sid)

        self.store.write(fn)

    def part_unknown(self, sid: str, part: int, reason: str) -> None:
        """The send of a part was cut (timeout, modem gone): delivery unknown, never resent."""
        now = time.time()

        def fn(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE segments SET state = 'unknown' WHERE message_sid = ? AND part = ?",
                (sid, part),
            )
            self._fail(
                conn,
                sid,
                30008,
                f"Send interrupted ({reason}); the message may have been delivered",
                now,
            )

        self.store.write(fn)

    def recover(self, modem: str) -> list[str]:
        """After a restart: settle messages a crash left in ``sending``.  Returns the failed SIDs."""
        now = time.time()

        def fn(conn: sqlite3.Connection) -> list[str]:
            failed = []
            rows = conn.execute(
                "SELECT sid FROM messages WHERE modem = ? AND status = 'sending'", (modem,)
            ).fetchall()
            for row in rows:
                cut = conn.execute(
                    "SELECT part FROM segments WHERE message_sid = ? AND state = 'sending'",
                    (row["sid"],),
                ).fetchall()
                if cut:
                    for part in cut:
                        conn.execute(
                            "UPDATE segments SET state = 'unknown' WHERE message_sid = ? AND part = ?",
                            (row["sid"], part["part"]),
                        )
                    self._fail(
                        conn,
                        row["sid"],
                        30008,
                        "Send interrupted by a restart; the message may have been delivered",
                        now,
                    )
                    failed.append(row["sid"])
                else:
                    conn.execute(
                        "UPDATE messages SET status = 'queued', date_updated = ? WHERE sid = ?",
                        (now, row["sid"]),
                    )
            return failed

        return self.store.write(fn)

    def _fail(
        self, conn: sqlite3.Connection, sid: str, code: int, message: str, now: float
    ) -> None:
        conn.execute(
            "UPDATE messages SET status = 'failed', error_code = ?, error_message = ?, date_updated = ?"
            " WHERE sid = ?",
            (code, message, now, sid),
        )
        self._status_changed(conn, sid)

    # -- delivery reports ----------------------------------------------------------------------

    def apply_report(self, modem: str, report: pdu.StatusReport) -> str | None:
        """Match a status report to the part sent with its MR; update the message.  Returns its SID."""
        now = time.time()
        status, code = report_outcome(report.status)

        def fn(conn: sqlite3.Connection) -> str | None:
            row = conn.execute(
                "SELECT s.message_sid, s.part FROM segments s JOIN messages m ON m.sid = s.message_sid"
                " WHERE m.modem = ? AND s.mr = ? AND s.state = 'sent' AND s.reported_at IS NULL"
                " AND s.sent_at > ? ORDER BY s.sent_at DESC LIMIT 1",
                (modem, report.mr, now - 7 * 86400),
            ).fetchone()
            if row is None:
                return None
            sid = row["message_sid"]
            if status == "sent":  # temporary: the SMSC is still trying; wait for the final report
                return str(sid)
            conn.execute(
                "UPDATE segments SET report_status = ?, reported_at = ? WHERE message_sid = ? AND part = ?",
                (report.status, now, sid, row["part"]),
            )
            parts = conn.execute(
                "SELECT report_status FROM segments WHERE message_sid = ?", (sid,)
            ).fetchall()
            msg = conn.execute("SELECT status FROM messages WHERE sid = ?", (sid,)).fetchone()
            if status == "undelivered":
                if msg["status"] != "undelivered":
                    conn.execute(
                        "UPDATE messages SET status = 'undelivered', error_code = ?, error_message = ?,"
                        " date_updated = ? WHERE sid = ?",
                        (code, f"Delivery failed (TP-Status 0x{report.status:02X})", now, sid),
                    )
                    self._status_changed(conn, sid)
            elif all(p["report_status"] is not None for p in parts) and msg["status"] == "sent":
                conn.execute(
                    "UPDATE messages SET status = 'delivered', date_updated = ? WHERE sid = ?",
                    (now, sid),
                )
                self._status_changed(conn, sid)
            return str(sid)

        return self.store.write(fn)

    def _status_changed(self, conn: sqlite3.Connection, sid: str) -> None:
        """Inside the transaction that changed it: the log line, the status callback."""
        row = conn.execute("SELECT * FROM messages WHERE sid = ?", (sid,)).fetchone()
        if row is None:
            return
        level, what = STATUS_EVENTS.get(row["status"], (logging.DEBUG, "message status"))
        failed = row["status"] in ("failed", "undelivered")
        logs.event(
            LOGGER,
            level,
            what,
            sid=sid,
            modem=row["modem"],
            from_=row["from_number"],
            to=row["to_number"],
            status=None if what != "message status" else row["status"],
            segments=row["num_segments"] if row["status"] == "sent" else None,
            error_code=row["error_code"] if failed else None,
            error=row["error_message"] if failed else None,
        )
        if self.callbacks is not None:
            self.callbacks(conn, row)
