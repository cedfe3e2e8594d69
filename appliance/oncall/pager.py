"""Paging: alerts in the store, their escalation, and ACK/RESOLVE by SMS reply.

Theory of operation
-------------------
An alert is a row of ``oncall_alerts`` carrying its escalation ``chain`` (the people to page,
fixed when it opens) and the index of its next ``step`` (:func:`appliance.oncall.paging.plan`)
with the instant it is due (``next_at``).  Opening an alert commits, in one transaction, the
row, its first step's text messages (queued in the outbox) and ``oncall_pages`` rows: the
alert is on disk, and paged, before the HTTP reply.  Each later step is claimed the same way
by the pager's thread: the step's messages and calls and the move to the next step are one
commit.  A crash loses no step and runs none twice; after a restart the alert carries on
from the step it had reached.

An alert opens under an escalation policy (:mod:`appliance.oncall.policies`; ``default``
unless the post names one): the policy's schedules fix the chain, and the alert records
the policy's id, whose repeat, ACK and ring times every later step uses.

A firing alert whose fingerprint is already open under the same policy is a repeat
(Alertmanager re-posts every ``repeat_interval``): counted, not paged; under another policy
it is that team's own alert.  ``resolved`` closes the policy's alert and tells the people paged.
A paged person's ``ACK``/``RESOLVE`` reply is handled by :mod:`appliance.oncall.replies`.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Callable, Sequence
from typing import Any

from appliance import logs, sids
from appliance.errors import ApplianceError
from appliance.oncall import paging
from appliance.oncall.directory import Directory
from appliance.oncall.paging import AlertIn
from appliance.oncall.policies import DEFAULT_ID
from appliance.sms.outbox import Outbox
from appliance.store.database import Row, Store

LOGGER = logging.getLogger(__name__)
WITH_POLICY = (
    "SELECT a.*, p.name AS policy_name FROM oncall_alerts a"
    " LEFT JOIN oncall_policies p ON p.id = a.policy_id"
)


class Pager:
    """Opens, escalates, acknowledges and resolves alerts."""

    def __init__(
        self,
        store: Store,
        outbox: Outbox,
        directory: Directory,
        wake_voice: Callable[[str], None],
    ) -> None:
        self.store = store
        self.outbox = outbox
        self.directory = directory
        self.wake_voice = wake_voice
        self.listeners: list[Callable[[], None]] = []  # told when a step's due time may change

    # -- opening, repeating and resolving ------------------------------------------------------

    def post(
        self,
        alerts: Sequence[AlertIn],
        now: float | None = None,
        policy: dict[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        """Apply posted alerts in one commit under ``policy`` (the default one); one outcome
        per alert (``paged``, ``repeat``, ``resolved``, ``unknown``, ``nobody``: opened, but
        nobody is on call)."""
        now = time.time() if now is None else now
        policy = self.directory.policies.default() if policy is None else policy
        chain = self.directory.chain(now, policy)
        woken: set[tuple[str, str]] = set()

        def fn(conn: sqlite3.Connection) -> list[dict[str, Any]]:
            woken.clear()
            return [self._apply(conn, a, chain, policy, now, woken) for a in alerts]

        outcomes = self.store.write(fn)
        self._wake(woken)
        return outcomes

    def _apply(
        self,
        conn: sqlite3.Connection,
        alert: AlertIn,
        chain: list[int],
        policy: dict[str, Any],
        now: float,
        woken: set[tuple[str, str]],
    ) -> dict[str, Any]:
        row = conn.execute(
            "SELECT * FROM oncall_alerts"
            " WHERE policy_id = ? AND fingerprint = ? AND status <> 'resolved'",
            (policy["id"], alert.fingerprint),
        ).fetchone()
        if alert.status == "resolved":
            if row is None:
                return {"fingerprint": alert.fingerprint, "outcome": "unknown"}
            self.close(conn, row, "source", now, woken)
            return {"id": row["id"], "fingerprint": alert.fingerprint, "outcome": "resolved"}
        if row is not None:
            conn.execute(
                "UPDATE oncall_alerts SET repeats = repeats + 1, updated = ? WHERE id = ?",
                (now, row["id"]),
            )
            return {"id": row["id"], "fingerprint": alert.fingerprint, "outcome": "repeat"}
        cur = conn.execute(
            "INSERT INTO oncall_alerts (fingerprint, source, body, severity, status, chain, step,"
            " next_at, created, updated, policy_id) VALUES (?,?,?,?,'open',?,0,?,?,?,?)"
            " RETURNING id",
            (alert.fingerprint, alert.source, alert.body, alert.severity, json.dumps(chain),
             now if chain else None, now, now, policy["id"]),
        )  # fmt: skip
        alert_id = int(cur.fetchone()[0])
        logs.event(
            LOGGER, logging.WARNING, "alert opened", alert=alert_id, severity=alert.severity,
            source=alert.source, paged=len(chain), policy=policy["name"],
        )  # fmt: skip
        if not chain:
            return {"id": alert_id, "fingerprint": alert.fingerprint, "outcome": "nobody"}
        fresh = conn.execute("SELECT * FROM oncall_alerts WHERE id = ?", (alert_id,)).fetchone()
        self._step(conn, fresh, policy, now, woken)
        return {"id": alert_id, "fingerprint": alert.fingerprint, "outcome": "paged"}

    def close(
        self,
        conn: sqlite3.Connection,
        row: Row,
        by: str,
        now: float,
        woken: set[tuple[str, str]],
        via: tuple[str, str] | None = None,
    ) -> None:
        """Resolve ``row`` in ``conn``'s transaction and text the people paged (from ``via``,
        a modem and its number, or the first number); the modems to wake go in ``woken``."""
        conn.execute(
            "UPDATE oncall_alerts SET status = 'resolved', resolved_at = ?, resolved_by = ?,"
            " next_at = NULL, updated = ? WHERE id = ?",
            (now, by, now, row["id"]),
        )
        phones = [
            r[0]
            for r in conn.execute(
                "SELECT DISTINCT phone FROM oncall_pages WHERE alert_id = ? AND kind = 'sms'",
                (row["id"],),
            )
        ]
        for phone in phones:
            text = f"RESOLVED #{row['id']}: {paging.cut(row['body'], 140)}"
            self._text(conn, phone, text, woken, via)
        logs.event(LOGGER, logging.INFO, "alert resolved", alert=row["id"], by=by)

    def resolve(self, alert_id: int, by: str = "api") -> bool:
        """Close an alert (REST, panel); False if there is no such open alert."""
        now = time.time()
        woken: set[tuple[str, str]] = set()

        def fn(conn: sqlite3.Connection) -> bool:
            woken.clear()
            row = conn.execute(
                "SELECT * FROM oncall_alerts WHERE id = ? AND status <> 'resolved'", (alert_id,)
            ).fetchone()
            if row is None:
                return False
            self.close(conn, row, by, now, woken)
            return True

        done = self.store.write(fn)
        self._wake(woken)
        return bool(done)

    # -- escalation ----------------------------------------------------------------------------

    def _step(
        self,
        conn: sqlite3.Connection,
        row: Row,
        policy: dict[str, Any],
        now: float,
        woken: set[tuple[str, str]],
    ) -> None:
        """Run the alert's next step under ``policy`` (its repeat, ACK and ring times) and
        schedule the one after (or none: the plan is over)."""
        steps = paging.plan(json.loads(row["chain"]), int(policy["repeat"]))
        index = int(row["step"])
        if index >= len(steps):
            conn.execute("UPDATE oncall_alerts SET next_at = NULL WHERE id = ?", (row["id"],))
            return
        step = steps[index]
        people = {
            r["id"]: r
            for r in conn.execute(
                f"SELECT * FROM oncall_people WHERE id IN ({','.join('?' * len(step.people))})",
                step.people,
            )
        }
        for pid in step.people:
            person = people.get(pid)
            if person is None:
                continue  # removed since the alert opened
            if step.sms:
                text = paging.page_text(row["id"], row["body"], row["severity"], index)
                ref = self._text(conn, person["phone"], text, woken)
                self._page(conn, row["id"], person, "sms", index, ref, now)
            if step.call:
                ref = self._call(
                    conn, person["phone"], row, int(policy["ring_timeout"]), woken, now
                )
                self._page(conn, row["id"], person, "call", index, ref, now)
        last = index + 1 >= len(steps)
        conn.execute(
            "UPDATE oncall_alerts SET step = ?, next_at = ?, updated = ? WHERE id = ?",
            (index + 1, None if last else now + float(policy["ack_timeout"]), now, row["id"]),
        )

    def _page(
        self,
        conn: sqlite3.Connection,
        alert_id: int,
        person: Row,
        kind: str,
        step: int,
        ref: str | None,
        now: float,
    ) -> None:
        conn.execute(
            "INSERT INTO oncall_pages (alert_id, person_id, phone, kind, step, ref, at)"
            " VALUES (?,?,?,?,?,?,?)",
            (alert_id, person["id"], person["phone"], kind, step, ref, now),
        )

    def _sender(self, conn: sqlite3.Connection) -> Row | None:
        """The number pages go out from: the appliance's first number."""
        row: Row | None = conn.execute(
            "SELECT modem, phone_number FROM numbers ORDER BY date_created, sid LIMIT 1"
        ).fetchone()
        return row

    def _text(
        self,
        conn: sqlite3.Connection,
        to: str,
        body: str,
        woken: set[tuple[str, str]],
        via: tuple[str, str] | None = None,
    ) -> str | None:
        """Queue a text to ``to`` from ``via`` (modem, number), by default the first number."""
        if via is None:
            sender = self._sender(conn)
            if sender is None:
                LOGGER.error("cannot page %s: the appliance has no number", to)
                return None
            via = (sender["modem"], sender["phone_number"])
        try:
            sid = self.outbox.insert(
                conn, modem=via[0], from_number=via[1], to=to, body=body, opt_out_exempt=True
            )
        except ApplianceError as e:
            logs.event(LOGGER, logging.ERROR, "page not sent", to=to, error=e.message)
            return None
        woken.add(("sms", via[0]))
        return sid

    def _call(
        self,
        conn: sqlite3.Connection,
        to: str,
        alert: Row,
        ring: int,
        woken: set[tuple[str, str]],
        now: float,
    ) -> str | None:
        sender = self._sender(conn)
        if sender is None:
            return None
        sid = sids.new("CA")
        conn.execute(
            "INSERT INTO calls (sid, modem, direction, from_number, to_number, status,"
            " date_created, date_updated, twiml, timeout) VALUES (?,?,'outbound-api',?,?,"
            "'queued',?,?,?,?)",
            (sid, sender["modem"], sender["phone_number"], to, now, now,
             paging.call_twiml(alert["id"], alert["body"]), ring),
        )  # fmt: skip
        woken.add(("call", sender["modem"]))
        return sid

    def _wake(self, woken: set[tuple[str, str]]) -> None:
        for kind, modem in sorted(woken):
            if kind == "sms":
                self.outbox.wake(modem)
            else:
                self.wake_voice(modem)
        for listener in self.listeners:
            listener()

    def escalate_due(self, now: float | None = None) -> int:
        """Run the step of every open alert that is due; returns how many ran.  On a fleet
        every node's on-call thread looks: the due alerts are claimed (``FOR UPDATE SKIP
        LOCKED`` on PostgreSQL), so a node skips those another is stepping, and after that
        node's commit their ``next_at`` has moved on (a step runs once per fleet)."""
        now = time.time() if now is None else now
        claim = self.store.dialect.claim
        policies = {p["id"]: p for p in self.directory.policies.all()}
        woken: set[tuple[str, str]] = set()

        def fn(conn: sqlite3.Connection) -> int:
            woken.clear()
            due = conn.execute(
                "SELECT * FROM oncall_alerts WHERE status = 'open' AND next_at IS NOT NULL"
                " AND next_at <= ? ORDER BY next_at LIMIT 100" + claim,
                (now,),
            ).fetchall()
            for row in due:
                logs.event(LOGGER, logging.WARNING, "alert escalated", alert=row["id"],
                           step=row["step"])  # fmt: skip
                # The policy it opened under (deleted: impossible while open; the default).
                policy = policies.get(row["policy_id"]) or policies[DEFAULT_ID]
                self._step(conn, row, policy, now, woken)
            return len(due)

        ran = int(self.store.write(fn))
        if ran:
            self._wake(woken)
        return ran

    def next_due(self) -> float | None:
        row = self.store.read_one(
            "SELECT MIN(next_at) FROM oncall_alerts WHERE status = 'open' AND next_at IS NOT NULL"
        )
        return None if row is None or row[0] is None else float(row[0])

    # -- reading -------------------------------------------------------------------------------

    def alerts(self, status: str = "", limit: int = 50) -> list[dict[str, Any]]:
        where, params = ("WHERE a.status = ?", (status,)) if status else ("", ())
        rows = self.store.read(
            f"{WITH_POLICY} {where} ORDER BY a.id DESC LIMIT ?", (*params, limit)
        )
        return [alert_record(r) for r in rows]

    def alert(self, alert_id: int) -> dict[str, Any] | None:
        row = self.store.read_one(f"{WITH_POLICY} WHERE a.id = ?", (alert_id,))
        return None if row is None else alert_record(row)


def alert_record(row: Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "code": str(row["id"]),
        "fingerprint": row["fingerprint"],
        "source": row["source"],
        "body": row["body"],
        "severity": row["severity"],
        "status": row["status"],
        "step": row["step"],
        "next_escalation": row["next_at"],
        "repeats": row["repeats"],
        "acked_by": row["acked_by"],
        "acked_at": row["acked_at"],
        "resolved_at": row["resolved_at"],
        "created": row["created"],
        "policy": row["policy_name"],
    }
