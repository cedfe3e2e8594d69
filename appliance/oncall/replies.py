"""ACK and RESOLVE by SMS: a paged person's reply, handled inside the inbox's transaction.

An inbound SMS that reads ``ACK``/``RESOLVE`` (optionally with the alert's code) from a
person who was paged acknowledges (stops the escalation) or resolves their alert; a bare word
applies to that person's most recent page of an alert still open.  The inbox calls
:meth:`Replies.intercept` before opt-out keywords and before the number's SMS URL; a message
it handles posts no webhook.  Anyone else's ``ACK`` goes the usual way.
"""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

from appliance import logs
from appliance.errors import ApplianceError
from appliance.oncall import paging
from appliance.oncall.pager import Pager
from appliance.sms.outbox import Outbox

LOGGER = logging.getLogger(__name__)


class Replies:
    """The inbox's hook for paged people's replies."""

    def __init__(self, pager: Pager, outbox: Outbox) -> None:
        self.pager = pager
        self.outbox = outbox

    def intercept(
        self, conn: sqlite3.Connection, modem: str, number: str, sender: str, text: str, now: float
    ) -> bool:
        """The inbox's hook: handle ``ACK``/``RESOLVE [code]`` from a paged person, inside the
        transaction that stores the message; True when it did (no opt-out, no webhook).

        Its writes are in a savepoint of their own: a failure here is logged and undone, and
        the message goes its usual way (it is never lost for a paging problem)."""
        command = paging.reply_command(text)
        if command is None:
            return False
        conn.execute("SAVEPOINT oncall_reply")
        try:
            handled = self._command(conn, modem, number, sender, command, now)
        except Exception:  # noqa: BLE001 - the inbound message must still be stored
            conn.execute("ROLLBACK TO oncall_reply")
            conn.execute("RELEASE oncall_reply")
            LOGGER.exception("on-call reply from %s not handled", sender)
            return False
        conn.execute("RELEASE oncall_reply")
        return handled

    def _command(
        self,
        conn: sqlite3.Connection,
        modem: str,
        number: str,
        sender: str,
        command: tuple[str, int | None],
        now: float,
    ) -> bool:
        verb, code = command
        wanted = ("open",) if verb == "ACK" else ("open", "acked")
        marks = ",".join("?" * len(wanted))
        query = (
            "SELECT a.* FROM oncall_pages p JOIN oncall_alerts a ON a.id = p.alert_id"
            f" WHERE p.phone = ? AND a.status IN ({marks})"
        )
        params: tuple[Any, ...] = (sender, *wanted)
        if code is not None:
            query, params = query + " AND a.id = ?", (*params, code)
        row = conn.execute(query + " ORDER BY p.at DESC, p.id DESC LIMIT 1", params).fetchone()
        if row is None:
            paged = conn.execute("SELECT 1 FROM oncall_pages WHERE phone = ?", (sender,)).fetchone()
            if paged is None:
                return False  # not a paged person: the message goes its usual way
            what = f"alert #{code}" if code is not None else "alert"
            self._reply(conn, modem, number, sender, f"No open {what} to {verb.lower()}.")
            return True
        person = conn.execute("SELECT id FROM oncall_people WHERE phone = ?", (sender,)).fetchone()
        woken: set[tuple[str, str]] = set()
        if verb == "ACK":
            conn.execute(
                "UPDATE oncall_alerts SET status = 'acked', acked_by = ?, acked_at = ?,"
                " next_at = NULL, updated = ? WHERE id = ?",
                (person["id"] if person else None, now, now, row["id"]),
            )
            logs.event(LOGGER, logging.INFO, "alert acknowledged", alert=row["id"], by=sender)
            reply = f"ACK #{row['id']}: acknowledged, escalation stopped. RESOLVE {row['id']} closes it."
        else:
            self.pager.close(conn, row, f"sms {sender}", now, woken, via=(modem, number))
            reply = f"Alert #{row['id']} resolved."
        if verb == "ACK" or sender not in self._texted(conn, row["id"]):
            self._reply(conn, modem, number, sender, reply)
        return True

    def _texted(self, conn: sqlite3.Connection, alert_id: int) -> set[str]:
        return {
            r[0]
            for r in conn.execute(
                "SELECT DISTINCT phone FROM oncall_pages WHERE alert_id = ? AND kind = 'sms'",
                (alert_id,),
            )
        }

    def _reply(self, conn: sqlite3.Connection, modem: str, number: str, to: str, body: str) -> None:
        try:
            self.outbox.insert(
                conn, modem=modem, from_number=number, to=to, body=body,
                direction="outbound-reply", opt_out_exempt=True,
            )  # fmt: skip
        except ApplianceError as e:
            logs.event(LOGGER, logging.WARNING, "page reply not sent", to=to, error=e.message)
