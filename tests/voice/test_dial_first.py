"""``<Dial>`` as the first verb on the one-modem path (hold, then three-way), on every family.

ATA's ``OK`` is not the connection: an incoming call is active only once the modem says so
(Huawei ``^CONN``, SIM7600 ``VOICE CALL: BEGIN``, SIM800 ``+CLCC`` stat 0, Quectel
``+QIND: "ccinfo"`` state 0; a generic modem says nothing and is polled with ``AT+CLCC``).
``AT+CHLD=2`` sent before that answers the still-ringing call instead of holding it, and the
``ATD`` that follows is refused.  With ``<Dial>`` first no ``<Say>`` gives the modem time, so
the runtime must wait for the family's connect evidence before the first verb runs.
"""

from __future__ import annotations

import pytest

from appliance.daemon import Daemon
from appliance.sim.host import SimulatorHost
from appliance.sim.voice import RemoteParty, Silence
from appliance.voice import call
from tests.conftest import PHONE, wait_for
from tests.webapp import WebApp, twiml

pytestmark = pytest.mark.timeout(120)
ON_CALL = "+15555550142"


def test_dial_as_the_first_verb_holds_the_connected_caller_and_joins(
    one_modem: tuple[SimulatorHost, Daemon], webapp: WebApp
) -> None:
    host, d = one_modem
    webapp.routes["/voice"] = twiml(
        '<Response><Dial action="/dialed" timeout="20" timeLimit="3">'
        f"<Number>{ON_CALL}</Number></Dial></Response>"
    )
    webapp.routes["/dialed"] = twiml("<Response><Hangup/></Response>")
    host.network.set_callee(
        ON_CALL, outcome="answer", answer_after=1.0, party=RemoteParty([Silence(30)])
    )
    caller = host.network.incoming_call("modem1", PHONE, party=RemoteParty([Silence(40)]))
    parent = webapp.wait(15, path="/voice").param("CallSid")
    dialed = webapp.wait(40, path="/dialed")
    assert dialed.param("DialCallStatus") == "completed"  # answered and bridged (three-way)
    assert 2 <= int(dialed.param("DialCallDuration") or 0) <= 5  # timeLimit="3" enforced
    child = d.store.read_one(
        "SELECT status, parent_call_sid FROM calls WHERE sid = ?", (dialed.param("DialCallSid"),)
    )
    assert child is not None and child["status"] == "completed"
    assert child["parent_call_sid"] == parent
    callee = [c for c in host.network.calls if getattr(c, "number", None) == ON_CALL][0]
    assert callee.answered_at is not None
    assert callee.wait_state("ended", timeout=10)
    assert caller.wait_state("ended", timeout=15)
    assert caller.end_reason == "local-hangup"  # the action's <Hangup>, not a failed dial
    wait_for(
        lambda: d.store.read_one(
            "SELECT 1 FROM calls WHERE sid = ? AND status = 'completed'", (parent,)
        )
    )


@pytest.mark.parametrize(
    ("dialect", "line"),
    [
        ("huawei", "^CONN:1,0"),
        ("sim800", '+CLCC: 1,1,0,0,0,"+14155550100",145,""'),
        ("sim7600", "VOICE CALL: BEGIN"),
        ("quectel", '+QIND: "ccinfo",2,1,0,0,0,"+14155550100",145'),
    ],
)
def test_each_dialects_connect_notice_makes_a_ringing_call_in_progress(
    dialect: str, line: str
) -> None:
    event = call.parse(line)
    assert event is not None and event.kind == "active"
    assert call.announces_connect(dialect)
    assert event.source in call.CONNECT_NOTICES[dialect]
    leg = call.CallLeg("CA1", incoming=True, status=call.RINGING)
    step = leg.apply(event, 5.0)
    assert step.answered_now and leg.status == call.IN_PROGRESS and leg.answered_at == 5.0


def test_a_generic_modem_has_no_connect_notice() -> None:
    assert not call.announces_connect("generic")
    assert not call.announces_connect("unknown-dialect")  # polled, like a generic modem


def test_a_clcc_listing_pairs_calls_whose_urcs_carried_no_index() -> None:
    # A generic modem: RING/+CLIP and ATD's OK carry no index; AT+CLCC lists the held caller
    # and the dialled callee, each the only call of its direction.
    caller = call.CallLeg("CA1", incoming=True, status=call.IN_PROGRESS, answered_at=1.0)
    child = call.CallLeg("CA2", incoming=False, status=call.RINGING)
    listed = call.parse_clcc(
        ['+CLCC: 1,1,1,0,0,"+14155550100",145', '+CLCC: 2,0,0,0,0,"+15555550142",145']
    )
    pairs = call.match_listing([caller, child], listed)
    assert [(leg.sid, e.index, e.kind) for leg, e in pairs] == [
        ("CA1", 1, "held"),
        ("CA2", 2, "active"),
    ]
    for leg, event in pairs:
        leg.apply(event, 2.0)
    assert caller.index == 1 and caller.held
    assert child.index == 2 and child.status == call.IN_PROGRESS  # the callee answered
    # once indexed, by index; two unindexed calls of one direction are not guessed
    assert call.match_listing([child], listed)[0][1].index == 2
    other = call.CallLeg("CA3", incoming=False, status=call.RINGING)
    fresh = call.CallLeg("CA4", incoming=False, status=call.RINGING)
    assert call.match_listing([other, fresh], listed) == []
