"""The modem thread's side of the outbound queue: claiming the next due message, giving
one back.

The modem thread takes the oldest due message of its modem (:meth:`SendQueue.claim`; a
scheduled one whose time has come is queued first) and sends its parts one by one,
journaling each (:mod:`appliance.sms.journal`: what a crash in the middle of a part means).
A part the modem *refused* (``+CMS ERROR``) was certainly not sent, so it is retried with
backoff up to a limit, then the message fails with the mapped error code
(:mod:`appliance.sms.outcomes`; :meth:`SendQueue.part_refused`).

``claim`` also settles opt-outs that came in while a message waited: if its recipient has
sent STOP to the modem's number since it was queued (or scheduled), it fails with 21610,
unsent, and the next message is taken.  Accepting messages is
:class:`~appliance.sms.outbox.Outbox`'s, built on this.
"""

from __future__ import annotations

import dataclasses
import sqlite3
import time

from appliance.sms import codec as sms
from appliance.sms import optout
from appliance.sms.journal import SendJournal
from appliance.sms.outcomes import RETRYABLE_CMS, twilio_error_for_cms
from appliance.store.database import Row, Store

RETRY_BACKOFF = (
    5.0  # seconds before retrying a refused part; doubles per attempt (patched in tests)
)


@dataclasses.dataclass(frozen=True)
class Claimed:
    """A message taken by the modem thread, with the parts still to send."""

    sid: str
    modem: str
    to_number: str
    body: str
    segments: tuple[sms.Segment, ...]
    next_part: int  # 1-based


class SendQueue(SendJournal):
    """Claiming and giving back queued messages on the store (base of the outbox)."""

    def __init__(self, store: Store, *, enforce_opt_outs: bool = True) -> None:
        super().__init__(store)
        # Refuse (21610) messages to recipients who sent an opt-out keyword to the From number.
        self.enforce_opt_outs = enforce_opt_outs

    def next_due(self, modem: str, now: float) -> float | None:
        """When the next queued or scheduled message of ``modem`` becomes due (now, later, or None)."""
        row = self.store.read_one(
            "SELECT MIN(CASE status WHEN 'queued' THEN COALESCE(next_attempt_at, 0) ELSE send_at END)"
            " FROM messages WHERE modem = ? AND status IN ('queued', 'scheduled')",
            (modem,),
        )
        return None if row is None or row[0] is None else float(row[0])

    def claim(self, modem: str, now: float) -> Claimed | None:
        """The next due message of ``modem``, now ``sending``.  On PostgreSQL the row is locked
        (``FOR UPDATE SKIP LOCKED``): a cancel on another node that holds it is skipped, and
        one that comes later waits for this commit and finds it ``sending``."""
        claim = self.store.dialect.claim

        def fn(conn: sqlite3.Connection) -> Claimed | None:
            conn.execute(
                "UPDATE messages SET status = 'queued', date_updated = ? WHERE modem = ?"
                " AND status = 'scheduled' AND send_at <= ?",
                (now, modem, now),
            )
            while True:
                row = conn.execute(
                    "SELECT * FROM messages WHERE modem = ? AND status = 'queued'"
                    " AND COALESCE(next_attempt_at, 0) <= ? ORDER BY seq LIMIT 1" + claim,
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

    # -- giving a message back (modem thread) -------------------------------------------------

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

    def requeue(self, sid: str) -> None:
        """Give back a claimed message whose next part was not started (modem went away)."""
        self.store.write(
            lambda conn: conn.execute(
                "UPDATE messages SET status = 'queued', date_updated = ? WHERE sid = ? AND status = 'sending'",
                (time.time(), sid),
            )
        )


def _next_ref(conn: sqlite3.Connection, modem: str) -> int:
    key = f"concat_ref:{modem}"
    row = conn.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
    ref = (int(row[0]) + 1) % 256 if row else 0
    conn.execute(
        "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (key, str(ref)),
    )
    return ref
