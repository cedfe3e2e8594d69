"""A busy callee on the one-modem ``<Dial>`` path (hold, then a second call), on every family.

While the caller is held the modem still carries a call.  The dialled call's end comes in
the family's call URCs, then the dial's V.25 result code ``BUSY``, which carries no call
index (SIM800 ``+CLCC: 2,0,6,...``; SIM7600 ``+CLCC`` 6 and ``VOICE CALL: END``; Quectel
``+QIND: "ccinfo",3,0,-1,...``; a generic modem ``BUSY`` alone), or Huawei's
``^CEND:2,0,104,17`` (Q.850 cause 17, user busy).  The runtime gives such a result code
to the one call being dialled, so ``DialCallStatus`` is busy, not no-answer.
"""

from __future__ import annotations

import pytest

from appliance.daemon import Daemon
from appliance.sim.host import SimulatorHost
from appliance.sim.voice import RemoteParty, Silence
from appliance.voice import call
from appliance.voice.call import CallEvent, CallLeg
from tests.conftest import PHONE
from tests.webapp import WebApp, twiml

pytestmark = pytest.mark.timeout(120)
ENGINEER = "+14155550177"


def test_one_modem_dial_to_a_busy_callee_is_busy(
    one_modem: tuple[SimulatorHost, Daemon], webapp: WebApp
) -> None:
    host, d = one_modem
    webapp.routes["/voice"] = twiml(
        "<Response><Say>Connecting you.</Say>"
        f'<Dial action="/dialed" timeout="20">{ENGINEER}</Dial></Response>'
    )
    webapp.routes["/dialed"] = twiml("<Response><Hangup/></Response>")
    host.network.set_callee(ENGINEER, outcome="busy")
    caller = host.network.incoming_call("modem1", PHONE, party=RemoteParty([Silence(40)]))
    dialed = webapp.wait(30, path="/dialed")
    assert dialed.param("DialCallStatus") == "busy"
    assert dialed.param("DialCallDuration") == "0"
    child = d.store.read_one(
        "SELECT status FROM calls WHERE sid = ?", (dialed.param("DialCallSid"),)
    )
    assert child is not None and child["status"] == "busy"
    callee = [c for c in host.network.calls if c.number == ENGINEER][0]
    assert callee.end_reason == "busy"
    assert caller.wait_state("ended", timeout=15)


def test_a_result_code_without_index_belongs_to_the_call_being_dialled() -> None:
    caller = CallLeg("CA1", incoming=True, index=1, status=call.IN_PROGRESS, answered_at=1.0)
    child = CallLeg("CA2", incoming=False, index=2, status=call.RINGING)
    busy, no_answer = call.parse("BUSY"), call.parse("NO ANSWER")
    assert busy is not None and no_answer is not None
    assert call.dial_outcome_leg(busy, [caller, child]) is child
    assert call.dial_outcome_leg(no_answer, [caller, child]) is child
    assert child.apply(busy, 2.0).status == call.BUSY
    # no reason, an index, or no single call being dialled: not for this rule
    no_carrier = call.parse("NO CARRIER")
    assert no_carrier is not None
    assert call.dial_outcome_leg(no_carrier, [caller, child]) is None
    indexed = CallEvent("released", 2, reason=call.BUSY)
    assert call.dial_outcome_leg(indexed, [caller, child]) is None
    other = CallLeg("CA3", incoming=False, index=3, status=call.RINGING)
    assert call.dial_outcome_leg(busy, [caller, child, other]) is None
    assert call.dial_outcome_leg(busy, [caller]) is None


class _ListsNoCall:
    """A handset whose AT+CLCC no longer lists the dialled call (its BUSY is still held)."""

    class voice:
        dialect = "sim7600"

    def calls(self) -> list[CallEvent]:
        return []


def test_a_dial_gone_from_clcc_waits_for_the_result_code_that_says_why(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The modem holds "+CLCC: 2,0,6", "VOICE CALL: END" and "BUSY" until the OK of an
    # AT+CLCC that no longer lists the call: the poll must not settle the leg as no-answer
    # before the BUSY that follows it.
    from appliance.voice import callwatch

    clock = [100.0]
    monkeypatch.setattr(callwatch.time, "monotonic", lambda: clock[0])
    child = CallLeg("CA2", incoming=False, index=2, status=call.RINGING, alerted=True)
    settled: list[str] = []

    def settle(leg: CallLeg, step: object, error: object = None, why: str | None = None) -> None:
        settled.append(leg.status)

    watch = callwatch.CallWatch(_ListsNoCall(), {"CA2": child}, settle)  # type: ignore[arg-type]
    watch.tick()  # the poll finds the call gone
    assert settled == [] and child.live
    busy = call.parse("BUSY")
    assert busy is not None
    assert not watch.awaits_reason(child, busy, clock[0] + 0.1)  # the reason replaces it
    child.apply(busy, clock[0] + 0.1)
    assert child.status == call.BUSY
    clock[0] += 1.0
    watch.tick()
    assert settled == []  # nothing left pending

    # Without a result code the end is settled after the grace, as before.
    other = CallLeg("CA3", incoming=False, index=3, status=call.RINGING, alerted=True)
    watch = callwatch.CallWatch(_ListsNoCall(), {"CA3": other}, settle)  # type: ignore[arg-type]
    watch.tick()
    assert settled == []
    clock[0] += callwatch.RELEASE_GRACE + 0.01
    watch.tick()
    assert settled == [call.NO_ANSWER]
