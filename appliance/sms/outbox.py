"""The outbound queue: durable, FIFO per modem, sent at most once.

Theory of operation
-------------------
A message is a row in ``messages`` (status ``queued``) with one ``segments``
row per SMS part, all written in one transaction before anyone is told the
message was accepted.  The modem thread takes the oldest due message of its
modem (``claim``), and for each part:

1. commits the part as ``sending`` (the send journal),
2. issues ``AT+CMGS`` and waits for ``+CMGS: <mr>``,
3. commits the part as ``sent`` with its message reference.

A crash between 1 and 3 leaves a part in ``sending``: the network may or may
not have it, and there is no way to ask.  On start-up :meth:`Outbox.recover`
marks such a message ``failed`` with error 30008 and the text
"send interrupted ... may have been delivered" instead of sending it again:
never twice is the promise, and the uncertain case is visible, not silent.
At most one message per modem can be in that state after a crash.  Parts
that were never started are resumed.  A part the modem *refused*
(``+CMS ERROR``) was certainly not sent, so it is retried with backoff up to a
limit, then the message fails with the mapped error code.

``claim`` also settles opt-outs that came in while a message waited: if its
recipient has sent STOP to the modem's number since it was queued (or
scheduled), it fails with 21610, unsent, and the next message is taken.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import time
from collections.abc import Callable

from appliance import sids
from appliance.errors import ApplianceError
from appliance.numbers import normalize
from appliance.sms import codec as sms
from appliance.sms import optout, pdu
from appliance.store.database import Row, Store

API_VERSION = "2010-04-01"

# +CMS ERROR codes (3GPP 27.005 3.2.5) that mean "try again later".
RETRYABLE_CMS = {
    38,  # network out of order
    41,  # temporary failure
    42,  # congestion
    47,  # resources unavailable
    331,  # no network service
    332,  # network timeout
    500,  # unknown error (SIM800 answers this for transient radio failures)
    512,  # (SIMCom) another SMS being received: "MM establishment failure"
    515,  # device busy
}
# +CMS ERROR codes mapped to Twilio's asynchronous error codes.
CMS_TO_TWILIO = {
    1: 30005,  # unassigned number
    8: 30004,  # operator determined barring
    10: 30004,  # call barred
    21: 30007,  # short message transfer rejected
    27: 30003,  # destination out of service
    28: 30005,  # unidentified subscriber
    29: 30004,  # facility rejected
    30: 30005,  # unknown subscriber
}
RETRY_BACKOFF = (
    5.0  # seconds before retrying a refused part; doubles per attempt (patched in tests)
)


class OutboxError(ApplianceError):
    """A message cannot be accepted (carries the Twilio error code)."""

    def __init__(self, message: str, code: int, status: int = 400) -> None:
        super().__init__(message, code=code)
        self.status = status


@dataclasses.dataclass(frozen=True)
class Claimed:
    """A message taken by the modem thread, with the parts still to send."""

    sid: str
    modem: str
    to_number: str
    body: str
    segments: tuple[sms.Segment, ...]
    next_part: int  # 1-based


def twilio_error_for_cms(code: int | None) -> int:
    return CMS_TO_TWILIO.get(code or 0, 30008)


def report_outcome(tp_st: int) -> tuple[str, int | None]:
    """TP-Status of a status report -> (message status, Twilio error code)."""
    category = pdu.status_category(tp_st)
    if category == "delivered":
        return "delivered", None
    if category == "pending":
        return "sent", None
    if tp_st in (0x41, 0x44, 0x62):  # incompatible destination, SC-specific, no response from SME
        return "undelivered", 30003
    if tp_st in (0x43, 0x45):  # connection rejected by SME, error in SME
        return "undelivered", 30005
    if tp_st in (0x42, 0x48, 0x63):  # rejected, barring
        return "undelivered", 30007 if tp_st == 0x42 else 30004
    if tp_st in (0x46, 0x47, 0x66):  # validity expired / deleted
        return "undelivered", 30003
    return "undelivered", 30008


class Outbox:
    """Queue operations on the store.  ``notify`` wakes the sending modem thread."""

    def __init__(
        self, store: Store, account_sid: Callable[[], str], *, enforce_opt_outs: bool = True
    ) -> None:
        self.store = store
        self._account_sid = account_sid
        # Refuse (21610) messages to recipients who sent an opt-out keyword to the From number.
        self.enforce_opt_outs = enforce_opt_outs
        self.listeners: list[Callable[[str], None]] = []
        self.callbacks: Callable[[sqlite3.Connection, Row], None] | None = None

    def _notify(self, modem: str) -> None:
        for listener in self.listeners:
            listener(modem)

    # -- accepting ---------------------------------------------------------------------------

    def validate(self, to: str, body: str) -> tuple[str, list[sms.Segment]]:
        if body is None or body == "":
            raise OutboxError("Message body is required.", 21602)
        to_e164 = normalize(to, field="To")
        try:
            segments = sms.split(body)
        except sms.BodyTooLong:
            raise OutboxError(
                "The concatenated message body exceeds the 1600 character limit.", 21617
            ) from None
        return to_e164, segments

    def insert(
        self,
        conn: sqlite3.Connection,
        *,
        modem: str,
        from_number: str,
        to: str,
        body: str,
        direction: str = "outbound-api",
        status_callback: str | None = None,
        status_callback_method: str = "POST",
        send_at: float | None = None,
        opt_out_exempt: bool = False,
        validated: tuple[str, list[sms.Segment]] | None = None,
    ) -> str:
        """Insert a validated message inside the caller's transaction; return its SID.

        Raises :class:`OutboxError` 21610 when ``to`` has opted out of ``from_number``
        (checked in the same transaction, so a STOP committed before is always seen).
        ``opt_out_exempt`` is for the appliance's own STOP/START/HELP confirmations.
        """
        to_e164, segments = validated or self.validate(to, body)
        if self.enforce_opt_outs and not opt_out_exempt:
            # Opt-outs are keyed on the number as stored for the modem (E.164), whatever
            # spelling of it the caller passed as From.
            ours = conn.execute(
                "SELECT phone_number FROM numbers WHERE modem = ?", (modem,)
            ).fetchone()
            number = str(ours[0]) if ours is not None else from_number
            if optout.is_opted_out(conn, number, to_e164):
                raise OutboxError(optout.UNSUBSCRIBED_MESSAGE, optout.UNSUBSCRIBED_CODE, 400)
        sid = sids.new("SM")
        now = time.time()
        conn.execute(
            "INSERT INTO messages (sid, account_sid, direction, modem, from_number, to_number, body,"
            " status, num_segments, status_callback, status_callback_method, send_at,"
            " date_created, date_updated) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                sid,
                self._account_sid(),
                direction,
                modem,
                from_number,
                to_e164,
                body,
                "scheduled" if send_at else "queued",
                len(segments),
                status_callback or None,
                status_callback_method,
                send_at,
                now,
                now,
            ),
        )
        conn.executemany(
            "INSERT INTO segments (message_sid, part, state) VALUES (?, ?, 'pending')",
            [(sid, i + 1) for i in range(len(segments))],
        )
        return sid

    def enqueue(self, **kwargs: object) -> str:
        """Validate and durably queue a message; returns once it is on disk."""
        # Validate outside the writer thread (fail fast, keep the writer's work short), once.
        checked = self.validate(str(kwargs["to"]), str(kwargs["body"]))
        sid = self.store.write(lambda conn: self.insert(conn, validated=checked, **kwargs))  # type: ignore[arg-type]
        self._notify(str(kwargs["modem"]))
        return sid

    def wake(self, modem: str) -> None:
        self._notify(modem)

    # -- sending (modem thread) ----------------------------------------------------------------

    def next_due(self, modem: str, now: float) -> float | None:
        """When the next queued or scheduled message of ``modem`` becomes due (now, later, or None)."""
        row = self.store.read_one(
            "SELECT MIN(CASE status WHEN 'queued' THEN COALESCE(next_attempt_at, 0) ELSE send_at END)"
            " FROM messages WHERE modem = ? AND status IN ('queued', 'scheduled')",
            (modem,),
        )
        return None if row is None or row[0] is None else float(row[0])

    def claim(self, modem: str, now: float) -> Claimed | None:
        def fn(conn: sqlite3.Connection) -> Claimed | None:
            conn.execute(
                "UPDATE messages SET status = 'queued', date_updated = ? WHERE modem = ?"
                " AND status = 'scheduled' AND send_at <= ?",
                (now, modem, now),
            )
            while True:
                row = conn.execute(
                    "SELECT * FROM messages WHERE modem = ? AND status = 'queued'"
                    " AND COALESCE(next_attempt_at, 0) <= ? ORDER BY seq LIMIT 1",
                    (modem, now),
                ).fetchone()
                if row is None:
                    return None
                if not self._unsubscribed_since_queued(conn, row):
                    break
                # Queued (or scheduled) before the recipient sent STOP: Twilio fails it, unsent.
                self._fail(
                    conn, row["sid"], optout.UNSUBSCRIBED_CODE, optout.UNSUBSCRIBED_MESSAGE, now
                )
            ref = row["concat_ref"]
            if ref is None:
                ref = _next_ref(conn, modem)
            conn.execute(
                "UPDATE messages SET status = 'sending', concat_ref = ?, date_updated = ? WHERE sid = ?",
                (ref, now, row["sid"]),
            )
            self._status_changed(conn, row["sid"])
            return Claimed(
                sid=row["sid"],
                modem=modem,
                to_number=row["to_number"],
                body=row["body"],
                segments=tuple(sms.split(row["body"], ref)),
                next_part=int(row["segments_sent"]) + 1,
            )

        return self.store.write(fn)

    def _unsubscribed_since_queued(self, conn: sqlite3.Connection, row: Row) -> bool:
        """Whether the recipient of a not-yet-sent message opted out after it was queued.

        Messages queued after the opt-out were checked by :meth:`insert` (only the
        exempt keyword replies got in), so only an opt-out newer than the message counts.
        A message with parts already sent is finished, not cut in the middle.
        """
        if not self.enforce_opt_outs or row["segments_sent"]:
            return False
        ours = conn.execute(
            "SELECT phone_number FROM numbers WHERE modem = ?", (row["modem"],)
        ).fetchone()
        number = str(ours[0]) if ours is not None else str(row["from_number"])
        since = optout.opted_out_at(conn, number, row["to_number"])
        return since is not None and float(row["date_created"]) < since

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

    def part_refused(self, sid: str, part: int, cms: int | None, retry_limit: int) -> str:
        """The modem refused a part: it was not sent.  Retry later, or fail.  Returns the new status."""
        now = time.time()

        def fn(conn: sqlite3.Connection) -> str:
            row = conn.execute("SELECT attempts FROM messages WHERE sid = ?", (sid,)).fetchone()
            attempts = int(row["attempts"]) + 1
            conn.execute(
                "UPDATE segments SET state = 'pending' WHERE message_sid = ? AND part = ?",
                (sid, part),
            )
            if cms in RETRYABLE_CMS and attempts < retry_limit:
                conn.execute(
                    "UPDATE messages SET status = 'queued', attempts = ?, next_attempt_at = ?,"
                    " date_updated = ? WHERE sid = ?",
                    (attempts, now + RETRY_BACKOFF * 2 ** (attempts - 1), now, sid),
                )
                return "queued"
            code = twilio_error_for_cms(cms)
            self._fail(conn, sid, code, f"The modem refused the message (+CMS ERROR: {cms})", now)
            return "failed"

        return self.store.write(fn)

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

    def requeue(self, sid: str) -> None:
        """Give back a claimed message whose next part was not started (modem went away)."""
        self.store.write(
            lambda conn: conn.execute(
                "UPDATE messages SET status = 'queued', date_updated = ? WHERE sid = ? AND status = 'sending'",
                (time.time(), sid),
            )
        )

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
        if self.callbacks is not None:
            row = conn.execute("SELECT * FROM messages WHERE sid = ?", (sid,)).fetchone()
            self.callbacks(conn, row)


def _next_ref(conn: sqlite3.Connection, modem: str) -> int:
    key = f"concat_ref:{modem}"
    row = conn.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
    ref = (int(row[0]) + 1) % 256 if row else 0
    conn.execute(
        "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (key, str(ref)),
    )
    return ref


def status_callback_params(row: Row) -> dict[str, str]:
    """Twilio's status callback parameters for a message row."""
    params = {
        "MessageSid": row["sid"],
        "SmsSid": row["sid"],
        "AccountSid": row["account_sid"],
        "From": row["from_number"],
        "To": row["to_number"],
        "MessageStatus": row["status"],
        "SmsStatus": row["status"],
        "ApiVersion": API_VERSION,
    }
    if row["status"] in ("failed", "undelivered") and row["error_code"]:
        params["ErrorCode"] = str(row["error_code"])
    if row["status"] in ("delivered", "undelivered"):
        params["RawDlrDoneDate"] = time.strftime("%y%m%d%H%M", time.gmtime(row["date_updated"]))
    return params


def dumps(params: dict[str, str]) -> str:
    return json.dumps(params, sort_keys=True)
