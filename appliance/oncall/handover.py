"""The handover text: the person coming on call is told at the handover instant, once.

Each schedule's handovers are computed by the pure core; one that is due (within
:data:`GRACE` of now, and after the schedule was created) is claimed with a row in
``oncall_handovers`` (schedule, instant) committed with the text message itself, so a restart
or a second look never texts twice.  A handover that does not change who is on call (an
override, or a higher layer, covers it) is claimed without a text.  Who is on call is
asked of the schedule's team: the first escalation policy that lists the schedule (else
the first that uses every schedule), so two teams' rotations hand over side by side.

An override's start and end are handovers too (the person it names comes on call, then the
person the schedules have): claimed the same way, under the schedule id ``-override_id``
(schedule ids are positive), so each is texted once.  An instant more than
:data:`SLACK` before the override was created is not texted (it is history).
"""

from __future__ import annotations

import logging
import sqlite3
import time
from datetime import UTC, datetime
from typing import Any

from appliance import logs
from appliance.errors import ApplianceError
from appliance.oncall.directory import Directory
from appliance.sms.outbox import Outbox
from appliance.store.database import Store

LOGGER = logging.getLogger(__name__)
GRACE = 900.0  # seconds after a handover its text may still go (the appliance was down)
LOOKAHEAD = 86400.0  # seconds ahead the next handover is looked for
SLACK = 60.0  # seconds an override's start may precede its creation and still be texted


class Handovers:
    """Texts whoever comes on call at each schedule's handover."""

    def __init__(self, store: Store, outbox: Outbox, directory: Directory) -> None:
        self.store = store
        self.outbox = outbox
        self.directory = directory

    def send_due(self, now: float | None = None) -> int:
        """Text the handovers due now and not yet claimed; returns how many texts were queued."""
        now = time.time() if now is None else now
        created = {
            r["id"]: r["created"]
            for r in self.store.read("SELECT id, created FROM oncall_schedules")
        }
        schedules = {s["name"]: s for s in self.directory.schedules()}
        due: list[tuple[int, float, int, str]] = []  # schedule, instant, person, text
        seen: set[tuple[float, int]] = set()  # (instant, person) already texted in this pass

        policies = self.directory.policies.all()

        def team(schedule_id: int) -> dict[str, Any] | None:
            """The policy whose view of who is on call a schedule's handover uses: the first
            that lists it, else the first that uses every schedule, else the schedule alone."""
            listing = [p for p in policies if schedule_id in p["schedules"]]
            listing = listing or [p for p in policies if not p["schedules"]]
            return listing[0] if listing else {"schedules": [schedule_id], "default_person": None}

        def handover(claim: int, at: float, label: str, tz: Any, policy: Any = None) -> None:
            shift = self.directory.on_call(at, policy)
            before = self.directory.on_call(at - 1, policy).person
            if shift.person is None or shift.person == before or (at, shift.person) in seen:
                due.append((claim, at, -1, ""))
                return
            seen.add((at, shift.person))
            label = label or shift.source  # an override's end: the layer that takes over
            until = datetime.fromtimestamp(shift.ends, tz).strftime("%a %d %b %H:%M %Z")
            text = f"You are on call now ({label}) until {until}. Reply ACK to pages to stop escalation."
            if shift.ends == float("inf"):
                text = f"You are on call now ({label})."
            due.append((claim, at, shift.person, text))

        for r in self.directory.rotations():
            sched = schedules[r.name]
            for at, _incoming in r.handovers(max(now - GRACE, created[sched["id"]]), now + 1e-6):
                handover(sched["id"], at, r.name, r.tz, team(sched["id"]))
        for o in self.store.read(
            "SELECT id, starts, ends, created FROM oncall_overrides WHERE ends > ? AND starts <= ?",
            (now - GRACE, now + 1e-6),
        ):
            for at, label in ((o["starts"], "override"), (o["ends"], "")):
                if max(now - GRACE, o["created"] - SLACK) <= at <= now + 1e-6:
                    handover(-int(o["id"]), at, label, UTC)
        if not due:
            return 0
        modems: set[str] = set()

        def fn(conn: sqlite3.Connection) -> int:
            modems.clear()
            sender = conn.execute(
                "SELECT modem, phone_number FROM numbers ORDER BY date_created, sid LIMIT 1"
            ).fetchone()
            sent = 0
            for schedule_id, at, person_id, text in due:
                claimed = conn.execute(
                    "INSERT INTO oncall_handovers (schedule_id, at, person_id, sent)"
                    " VALUES (?,?,?,?) ON CONFLICT (schedule_id, at) DO NOTHING",
                    (schedule_id, at, person_id, now),
                ).rowcount
                if not claimed or person_id < 0 or sender is None:
                    continue
                person = conn.execute(
                    "SELECT phone FROM oncall_people WHERE id = ?", (person_id,)
                ).fetchone()
                if person is None:
                    continue
                try:
                    sid = self.outbox.insert(
                        conn, modem=sender["modem"], from_number=sender["phone_number"],
                        to=person["phone"], body=text, opt_out_exempt=True,
                    )  # fmt: skip
                except ApplianceError as e:
                    logs.event(LOGGER, logging.ERROR, "handover text not sent", error=e.message)
                    continue
                conn.execute(
                    "UPDATE oncall_handovers SET message_sid = ? WHERE schedule_id = ? AND at = ?",
                    (sid, schedule_id, at),
                )
                logs.event(LOGGER, logging.INFO, "handover texted", sid=sid, person=person_id)
                modems.add(sender["modem"])
                sent += 1
            return sent

        sent = int(self.store.write(fn))
        for modem in modems:
            self.outbox.wake(modem)
        return sent

    def next_at(self, now: float | None = None) -> float | None:
        """The next handover instant of any schedule (within a day)."""
        now = time.time() if now is None else now
        times = [
            at
            for r in self.directory.rotations()
            for at, _ in r.handovers(now + 1e-6, now + LOOKAHEAD)
        ]
        for o in self.store.read(
            "SELECT starts, ends FROM oncall_overrides WHERE ends > ? AND starts < ?",
            (now, now + LOOKAHEAD),
        ):
            times += [at for at in (o["starts"], o["ends"]) if now < at <= now + LOOKAHEAD]
        return min(times) if times else None
