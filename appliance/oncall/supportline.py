"""The support number ("forward to on-call", ``/twimlets/oncall``): each step of a call's
escalation as TwiML (:mod:`appliance.oncall.supportplan`), with a text to each person rung.

A step's texts are claimed with a row of ``oncall_support_steps`` (call, step) committed with
the queued messages, so a step fetched twice (a retried webhook) texts once.  The texts go
from the number the call came in on.  When the plan runs out with nobody taking the call,
the caller is told so and a "missed call" alert pages the person on call (the pager's
escalation, deduplicated by the call's SID).

A number's Voice URL may name an escalation policy (``/twimlets/oncall?Policy=shop``): its
schedules say who rings, its ring time how long.  The first step's row records the policy,
and the action URL carries the name, so every later step runs under the same one.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Sequence
from typing import Any

from appliance import logs
from appliance.errors import ApplianceError
from appliance.oncall import paging, supportplan
from appliance.oncall.directory import Directory
from appliance.oncall.pager import Pager
from appliance.sms.outbox import Outbox
from appliance.store.database import Store

LOGGER = logging.getLogger(__name__)
# A DialCallStatus that ends the escalation: someone took the call, or the caller hung up
# while the phones rang (an abandoned call is not paged).
ENDED = ("completed", "answered", "canceled")


class SupportLine:
    """Answers the support number's TwiML requests, one step at a time."""

    def __init__(self, store: Store, outbox: Outbox, directory: Directory, pager: Pager) -> None:
        self.store = store
        self.outbox = outbox
        self.directory = directory
        self.pager = pager

    def answer(
        self,
        *,
        path: str,
        step: int,
        chain: Sequence[int] | None,
        call_sid: str,
        caller: str,
        dial_status: str = "",
        policy_name: str = "",
    ) -> str:
        """The TwiML for step ``step`` of the call (``chain``: the people fixed at step 0)
        under the escalation policy ``policy_name`` (blank: ``default``)."""
        if dial_status in ENDED:
            return supportplan.hangup()
        policy = self.policy(call_sid, policy_name)
        people = list(chain) if chain is not None else self.directory.chain(time.time(), policy)
        steps = supportplan.plan(people, int(policy["repeat"]))
        everyone = self.directory.people()
        phones = {p["id"]: p["phone"] for p in everyone}
        clients = {p["id"]: p["client"] for p in everyone if p["client"]}
        while step < len(steps):
            ringing = [pid for pid in steps[step] if pid in phones]  # removed since: skipped
            if ringing:
                self._text(call_sid, step, len(steps), ringing, [phones[p] for p in ringing],
                           caller, policy["id"])  # fmt: skip
                return supportplan.dial(
                    [phones[p] for p in ringing],
                    int(policy["ring_timeout"]),
                    supportplan.action_url(path, step + 1, people, policy_name.strip()),
                    greet=step == 0,
                    clients=[clients[p] for p in ringing if p in clients],
                )
            step += 1
        self.pager.post(
            [paging.from_form(f"Missed call on the support line from {caller}", "critical",
                              f"call-{call_sid}" if call_sid else "")],
            policy=policy,
        )  # fmt: skip
        logs.event(LOGGER, logging.WARNING, "support call missed", call=call_sid or None)
        return supportplan.missed(paged=bool(steps))  # no steps: nobody is on call

    def policy(self, call_sid: str, name: str) -> dict[str, Any]:
        """The policy the call runs under: the one its first step recorded (a rename or a
        restart mid-call changes nothing), else the one named, else (an unknown name: a
        caller is never turned away) the default policy, logged as an error."""
        policies = self.directory.policies
        if call_sid:
            row = self.store.read_one(
                "SELECT policy_id FROM oncall_support_steps WHERE call_sid = ? ORDER BY step"
                " LIMIT 1",
                (call_sid,),
            )
            found = None if row is None else policies.get(int(row[0]))
            if found is not None:
                return found
        found = policies.named(name)
        if found is None:
            logs.event(LOGGER, logging.ERROR, "support line: unknown escalation policy",
                       policy=name, call=call_sid or None)  # fmt: skip
            return policies.default()
        return found

    def _text(
        self,
        call_sid: str,
        step: int,
        total: int,
        people: list[int],
        phones: list[str],
        caller: str,
        policy_id: int,
    ) -> None:
        """Text each person of the step, once per call and step."""
        body = supportplan.step_text(caller, step, total, len(phones))
        woken: list[str] = []

        def fn(conn: sqlite3.Connection) -> None:
            woken.clear()
            if call_sid:
                claimed = conn.execute(
                    "INSERT INTO oncall_support_steps (call_sid, step, people, at, policy_id)"
                    " VALUES (?,?,?,?,?) ON CONFLICT (call_sid, step) DO NOTHING",
                    (call_sid, step, json.dumps(people), time.time(), policy_id),
                ).rowcount
                if not claimed:
                    return
            via = conn.execute(
                "SELECT modem, to_number FROM calls WHERE sid = ? AND direction = 'inbound'",
                (call_sid,),
            ).fetchone()
            if via is None:
                via = conn.execute(
                    "SELECT modem, phone_number FROM numbers ORDER BY date_created, sid LIMIT 1"
                ).fetchone()
            if via is None:
                return
            for phone in phones:
                try:
                    self.outbox.insert(
                        conn, modem=via[0], from_number=via[1], to=phone, body=body,
                        opt_out_exempt=True,
                    )  # fmt: skip
                except ApplianceError as e:
                    logs.event(LOGGER, logging.ERROR, "support text not sent", to=phone,
                               error=e.message)  # fmt: skip
                    continue
                woken.append(str(via[0]))

        self.store.write(fn)
        for modem in set(woken):
            self.outbox.wake(modem)
