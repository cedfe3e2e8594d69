"""<Dial> forwarding: a bridge across two modems, and hold + three-way on one modem."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.daemon import Daemon
from appliance.sim.host import SimulatorHost
from appliance.sim.voice import Digits, Hangup, RemoteParty, Say, Silence, WaitHeard
from tests.conftest import NUMBER, PHONE, wait_for
from tests.partysteps import Until
from tests.voice.conftest import start_daemon
from tests.voice.test_engine import loud
from tests.webapp import WebApp, twiml

pytestmark = pytest.mark.timeout(120)
SECOND = "+15005550007"
ON_CALL = "+14155550177"  # the developer on call this week


def start(tmp_path: Path, host: SimulatorHost, webapp: WebApp, names: list[str]) -> Daemon:
    modems = [
        {
            "name": name,
            "number": host.modems[name].number,
            "port": str(host.modems[name].port_path),
            "profile": host.modems[name].profile.family,
            "audio_port": str(host.modems[name].audio_path),
            "voice_url": webapp.url("/voice"),
        }
        for name in names
    ]
    return start_daemon(tmp_path, modems)


@pytest.fixture
def host(tmp_path: Path) -> Iterator[SimulatorHost]:
    h = SimulatorHost(tmp_path / "sim", report_delay=0.05)
    h.add("modem1", "sim800", NUMBER, latency=0.005, boot_delay=0.0)
    h.add("modem2", "sim7600", SECOND, latency=0.005, boot_delay=0.0)
    h.start()
    wait_for(lambda: all(m.booted for m in h.modems.values()), timeout=15)
    yield h
    h.stop()


def test_dial_bridges_two_modems(tmp_path: Path, host: SimulatorHost, webapp: WebApp) -> None:
    d = start(tmp_path, host, webapp, ["modem1", "modem2"])
    try:
        webapp.routes["/voice"] = twiml(
            f'<Response><Say>Connecting you.</Say><Dial action="/dialed" timeout="20">'
            f"<Number>{ON_CALL}</Number></Dial></Response>"
        )
        webapp.routes["/dialed"] = twiml("<Response><Hangup/></Response>")
        host.network.set_callee(
            ON_CALL,
            outcome="answer",
            answer_after=1.0,
            # The engineer speaks once the appliance saw the answer (the bridge follows at
            # once), not at a fixed time after it, which a busy machine may take to notice.
            party=RemoteParty(
                [
                    Until(lambda: child_in_progress(d)),
                    Silence(1.0),
                    Say("Hello, this is the engineer on call."),
                    Silence(1),
                    Hangup(),
                ]
            ),
        )
        caller = host.network.incoming_call("modem1", PHONE, party=RemoteParty([Silence(40)]))
        parent = webapp.wait(15, path="/voice").param("CallSid")
        dialed = webapp.wait(40, path="/dialed")
        assert dialed.param("DialCallStatus") == "completed"
        assert int(dialed.param("DialCallDuration") or 0) >= 2
        child = dialed.param("DialCallSid")
        row = d.store.read_one("SELECT * FROM calls WHERE sid = ?", (child,))
        assert row is not None and row["direction"] == "outbound-dial"
        assert row["parent_call_sid"] == parent and row["modem"] == "modem2"
        assert row["to_number"] == ON_CALL and row["status"] == "completed"
        assert caller.wait_state("ended", timeout=15)
        # The caller heard the greeting, then the engineer's words through the bridge.
        assert loud(caller.heard()) > 2.0
    finally:
        d.stop()


def test_dial_on_one_modem_holds_then_joins(
    tmp_path: Path, host: SimulatorHost, webapp: WebApp
) -> None:
    d = start(tmp_path, host, webapp, ["modem1"])
    try:
        webapp.routes["/voice"] = twiml(
            f'<Response><Dial action="/dialed" timeout="20" timeLimit="3">{ON_CALL}</Dial></Response>'
        )
        webapp.routes["/dialed"] = twiml("<Response><Say>Bye.</Say></Response>")
        host.network.set_callee(
            ON_CALL, outcome="answer", answer_after=1.0, party=RemoteParty([Silence(30)])
        )
        caller = host.network.incoming_call("modem1", PHONE, party=RemoteParty([Silence(40)]))
        dialed = webapp.wait(40, path="/dialed")
        assert dialed.param("DialCallStatus") == "completed"
        assert 2 <= int(dialed.param("DialCallDuration") or 0) <= 5  # timeLimit="3" enforced
        callee = [c for c in host.network.calls if getattr(c, "number", None) == ON_CALL][0]
        assert callee.wait_state("ended", timeout=10)
        assert caller.wait_state("ended", timeout=15)
    finally:
        d.stop()


@pytest.mark.parametrize("outcome", ["busy", "no-answer"])
def test_dial_outcomes_reach_the_action(
    tmp_path: Path, host: SimulatorHost, webapp: WebApp, outcome: str
) -> None:
    d = start(tmp_path, host, webapp, ["modem1", "modem2"])
    try:
        webapp.routes["/voice"] = twiml(
            f'<Response><Dial action="/dialed" timeout="4">{ON_CALL}</Dial></Response>'
        )
        webapp.routes["/dialed"] = twiml("<Response><Say>Nobody is there.</Say></Response>")
        host.network.set_callee(ON_CALL, outcome=outcome)
        caller = host.network.incoming_call("modem1", PHONE, party=RemoteParty([Silence(40)]))
        dialed = webapp.wait(40, path="/dialed")
        assert dialed.param("DialCallStatus") == outcome
        assert dialed.param("DialCallDuration") == "0"
        assert caller.wait_state("ended", timeout=15)
        assert loud(caller.heard()) > 0.5  # "Nobody is there."
    finally:
        d.stop()


def test_operator_refusing_hold_fails_the_dial_cleanly(
    tmp_path: Path, host: SimulatorHost, webapp: WebApp
) -> None:
    d = start(tmp_path, host, webapp, ["modem1"])
    try:
        host.network.refuse("hold", "mpty", "ect")
        webapp.routes["/voice"] = twiml(
            f'<Response><Dial timeout="5" callerId="+15551234567">{ON_CALL}</Dial>'
            "<Say>Sorry, nobody could be reached.</Say></Response>"
        )
        caller = host.network.incoming_call(
            "modem1", PHONE, party=RemoteParty([WaitHeard(0.5, timeout=20), Silence(10)])
        )
        sid = webapp.wait(15, path="/voice").param("CallSid")
        assert caller.wait_state("ended", timeout=30)
        assert loud(caller.heard()) > 0.5  # the caller was taken off hold and heard the next verb
        codes = [
            r["error_code"]
            for r in d.store.read("SELECT error_code FROM call_events WHERE call_sid = ?", (sid,))
        ]
        assert 13214 in codes  # callerId cannot be honoured by a SIM
        kinds = [
            r["kind"]
            for r in d.store.read("SELECT kind FROM call_events WHERE call_sid = ?", (sid,))
        ]
        assert "dial-refused" in kinds  # the network refused hold or the second call
    finally:
        d.stop()


def test_dial_on_one_modem_transfers_when_multiparty_is_refused(
    tmp_path: Path, host: SimulatorHost, webapp: WebApp
) -> None:
    d = start(tmp_path, host, webapp, ["modem1"])
    try:
        host.network.refuse("mpty")  # hold and transfer allowed, no three-way calls
        webapp.routes["/voice"] = twiml(
            f'<Response><Dial action="/dialed" timeout="20">{ON_CALL}</Dial></Response>'
        )
        host.network.set_callee(
            ON_CALL, outcome="answer", answer_after=1.0, party=RemoteParty([Silence(30)])
        )
        caller = host.network.incoming_call("modem1", PHONE, party=RemoteParty([Silence(40)]))
        sid = webapp.wait(15, path="/voice").param("CallSid")
        assert caller.wait_state("ended", timeout=30)
        assert caller.end_reason == "transferred"
        wait_for(lambda: not d.voice.phones["modem1"].flows, timeout=10)
        row = d.store.read_one("SELECT status FROM calls WHERE sid = ?", (sid,))
        assert row is not None and row["status"] == "completed"
        assert not webapp.to("/dialed")  # the caller left the appliance's line
    finally:
        d.stop()


def test_call_waiting_is_rejected_as_busy(
    tmp_path: Path, host: SimulatorHost, webapp: WebApp
) -> None:
    d = start(tmp_path, host, webapp, ["modem1"])
    try:
        webapp.routes["/voice"] = twiml(
            "<Response><Say>Please wait.</Say><Pause length='20'/></Response>"
        )
        first = host.network.incoming_call("modem1", PHONE, party=RemoteParty([Silence(30)]))
        assert first.wait_state("active", timeout=15)
        second = host.network.incoming_call(
            "modem1", "+14155550155", party=RemoteParty([Silence(10)])
        )
        assert second.wait_state("ended", timeout=15)
        assert second.end_reason == "busy"
        assert first.state == "active"  # the first call goes on
        rows = wait_for(
            lambda: d.store.read("SELECT status FROM calls WHERE from_number = '+14155550155'")
        )
        assert [r["status"] for r in rows] == ["busy"]
    finally:
        d.stop()


def test_hangup_on_star_drops_the_called_party_and_goes_on(
    tmp_path: Path, host: SimulatorHost, webapp: WebApp
) -> None:
    d = start(tmp_path, host, webapp, ["modem1", "modem2"])
    try:
        webapp.routes["/voice"] = twiml(
            f'<Response><Dial hangupOnStar="true" timeout="20">{ON_CALL}</Dial>'
            "<Say>You left the call with the engineer.</Say></Response>"
        )
        host.network.set_callee(
            ON_CALL, outcome="answer", answer_after=1.0, party=RemoteParty([Silence(40)])
        )
        caller = host.network.incoming_call(
            "modem1", PHONE, party=RemoteParty([Silence(6), Digits("*"), Silence(30)])
        )
        callee = wait_for(
            lambda: [c for c in host.network.calls if getattr(c, "number", None) == ON_CALL]
        )[0]
        assert callee.wait_state("ended", timeout=30)
        assert callee.end_reason == "local-hangup"  # the appliance hung up on the engineer
        assert caller.state == "active"
        assert caller.wait_state("ended", timeout=20)  # after the next verb
        assert caller.end_reason == "local-hangup"
        child = d.store.read_one("SELECT status FROM calls WHERE direction = 'outbound-dial'")
        assert child is not None and child["status"] == "completed"
    finally:
        d.stop()


def child_in_progress(d: Daemon) -> bool:
    """Has the appliance seen a dialled call answered?"""
    row = d.store.read_one(
        "SELECT 1 FROM calls WHERE direction = 'outbound-dial' AND status = 'in-progress'"
    )
    return row is not None


def state_of(host: SimulatorHost, number: str) -> str:
    """The state of the latest call to ``number`` ("" before it is dialled)."""
    calls = [c for c in host.network.calls if getattr(c, "number", None) == number]
    return calls[-1].state if calls else ""


MODEMS = pytest.mark.parametrize(
    "names", [["modem1", "modem2"], ["modem1"]], ids=["two-modems", "one-modem"]
)


@MODEMS
def test_caller_hanging_up_while_the_callee_rings_still_requests_the_action(
    tmp_path: Path, host: SimulatorHost, webapp: WebApp, names: list[str]
) -> None:
    d = start(tmp_path, host, webapp, names)
    try:
        webapp.routes["/voice"] = twiml(
            f'<Response><Dial action="/dialed" timeout="20">{ON_CALL}</Dial></Response>'
        )
        webapp.routes["/dialed"] = twiml("<Response><Redirect>/next</Redirect></Response>")
        webapp.routes["/next"] = twiml("<Response><Hangup/></Response>")
        host.network.set_callee(ON_CALL, outcome="no-answer")
        # The caller hangs up once the callee rings (not at a fixed time after the answer,
        # which a slow hold and ATD could outlast).
        rings = Until(lambda: state_of(host, ON_CALL) == "ringing")
        caller = host.network.incoming_call(
            "modem1", PHONE, party=RemoteParty([rings, Silence(1.0), Hangup()])
        )
        dialed = webapp.wait(20, path="/dialed")
        # Twilio: a child call whose caller went away before it was answered is canceled.
        assert dialed.param("DialCallStatus") == "canceled"
        assert dialed.param("CallStatus") == "completed"
        assert dialed.param("DialCallDuration") == "0"
        child = d.store.read_one(
            "SELECT status FROM calls WHERE sid = ?", (dialed.param("DialCallSid"),)
        )
        assert child is not None and child["status"] == "canceled"
        assert caller.end_reason == "remote-hangup"
        callee = [c for c in host.network.calls if getattr(c, "number", None) == ON_CALL][0]
        assert callee.wait_state("ended", timeout=10)
        wait_for(lambda: not d.voice.phones["modem1"].flows, timeout=10)
        assert not webapp.to("/next")  # the call is over: the action's answer is not run
    finally:
        d.stop()


@MODEMS
def test_caller_hanging_up_during_a_connected_dial_still_requests_the_action(
    tmp_path: Path, host: SimulatorHost, webapp: WebApp, names: list[str]
) -> None:
    d = start(tmp_path, host, webapp, names)
    try:
        webapp.routes["/voice"] = twiml(
            f'<Response><Dial action="/dialed" timeout="20">{ON_CALL}</Dial></Response>'
        )
        webapp.routes["/dialed"] = twiml("<Response><Redirect>/next</Redirect></Response>")
        webapp.routes["/next"] = twiml("<Response><Hangup/></Response>")
        host.network.set_callee(
            ON_CALL, outcome="answer", answer_after=1.0, party=RemoteParty([Silence(40)])
        )
        # The caller hangs up 3 s into the conversation, however long the dial took.
        talks = Until(lambda: state_of(host, ON_CALL) == "active")
        caller = host.network.incoming_call(
            "modem1", PHONE, party=RemoteParty([talks, Silence(3.0), Hangup()])
        )
        dialed = webapp.wait(30, path="/dialed")
        assert dialed.param("DialCallStatus") == "completed"
        assert dialed.param("CallStatus") == "completed"
        assert int(dialed.param("DialCallDuration") or 0) >= 2
        assert caller.end_reason == "remote-hangup"
        callee = [c for c in host.network.calls if getattr(c, "number", None) == ON_CALL][0]
        assert callee.wait_state("ended", timeout=10)
        assert callee.end_reason == "local-hangup"  # the appliance let the callee go
        wait_for(lambda: not d.voice.phones["modem1"].flows, timeout=10)
        assert not webapp.to("/next")
    finally:
        d.stop()
