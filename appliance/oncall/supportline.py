"""The support number ("forward to on-call", ``/twimlets/oncall``): each step of a call's
escalation as TwiML (:mod:`appliance.oncall.supportplan`), with a text to each person rung.

A step's texts are claimed with a row of ``oncall_support_steps`` (call, step) committed with
the queued messages, so a step fetched twice (a retried webhook) texts once.  The texts go
from the number the call came in on.  When the plan runs out with nobody taking the call,
the caller is told so and a "missed call" alert pages the person on call (the pager's
escalation, deduplicated by the call's SID).
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Sequence

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
    ) -> str:
        """The TwiML for step ``step`` of the call (``chain``: the people fixed at step 0)."""
        if dial_status in ENDED:
            return supportplan.hangup()
        people = list(chain) if chain is not None else self.directory.chain(time.time())
        policy = self.directory.policy()
        steps = supportplan.plan(people, int(policy["repeat"]))
        phones = {p["id"]: p["phone"] for p in self.directory.people()}
        while step < len(steps):
            ringing = [pid for pid in steps[step] if pid in phones]  # removed since: skipped
            if ringing:
                self._text(call_sid, step, len(steps), ringing, [phones[p] for p in ringing],
                           caller)  # fmt: skip
                return supportplan.dial(
                    [phones[p] for p in ringing],
                    int(policy["ring_timeout"]),
                    supportplan.action_url(path, step + 1, people),
                    greet=step == 0,
                )
            step += 1
        self.pager.post(
            [paging.from_form(f"Missed call on the support line from {caller}", "critical",
                              f"call-{call_sid}" if call_sid else "")]
        )  # fmt: skip
        logs.event(LOGGER, logging.WARNING, "support call missed", call=call_sid or None)
        return supportplan.missed(paged=bool(steps))  # no steps: nobody is on call

    def _text(
        self,
        call_sid: str,
        step: int,
        total: int,
        people: list[int],
        phones: list[str],
        caller: str,
    ) -> None:
        """Text each person of the step, once per call and step."""
        body = supportplan.step_text(caller, step, total, len(phones))
        woken: list[str] = []

        def fn(conn: sqlite3.Connection) -> None:
            woken.clear()
            if call_sid:
                claimed = conn.execute(
                    "INSERT INTO oncall_support_steps (call_sid, step, people, at) VALUES (?,?,?,?)"
                    " ON CONFLICT (call_sid, step) DO NOTHING",
                    (call_sid, step, json.dumps(people), time.time()),
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
