"""<Dial> with several <Number> nouns: parallel ringing on free modems, first answer wins;
the <Number url> whisper (accept, decline, hang up) and the fewer-modems-than-numbers rule."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.daemon import Daemon
from appliance.sim.host import SimulatorHost
from appliance.sim.voice import Digits, RemoteParty, Say, Silence, SimCall, WaitHeard
from tests.conftest import NUMBER, PHONE, wait_for
from tests.partysteps import Until
from tests.voice.test_dial import start
from tests.voice.test_engine import loud
from tests.webapp import Request, WebApp, twiml

pytestmark = pytest.mark.timeout(150)
ALICE, BOB, CAROL = "+14155550171", "+14155550172", "+14155550173"
FAMILIES = {"modem2": "sim7600", "modem3": "sim800", "modem4": "quectel_ec25"}


@pytest.fixture
def host(tmp_path: Path) -> Iterator[SimulatorHost]:
    h = SimulatorHost(tmp_path / "sim", report_delay=0.05)
    h.add("modem1", "sim800", NUMBER, latency=0.005, boot_delay=0.0)
    for i, (name, family) in enumerate(FAMILIES.items()):
        h.add(name, family, f"+1500555001{i}", latency=0.005, boot_delay=0.0)
    h.start()
    wait_for(lambda: all(m.booted for m in h.modems.values()), timeout=15)
    yield h
    h.stop()


def callee(host: SimulatorHost, number: str) -> SimCall:
    calls = wait_for(lambda: [c for c in host.network.calls if c.number == number], timeout=20)
    return calls[0]  # type: ignore[no-any-return]


def ended(host: SimulatorHost, number: str) -> bool:
    """Was ``number`` dialled, and is its call over?"""
    calls = [c for c in host.network.calls if c.number == number]
    return bool(calls) and all(c.state == "ended" for c in calls)


def child_rows(d: Daemon) -> dict[str, dict[str, object]]:
    rows = d.store.read("SELECT * FROM calls WHERE direction = 'outbound-dial'")
    return {r["to_number"]: dict(r) for r in rows}


def events(d: Daemon, sid: str) -> list[str]:
    rows = d.store.read("SELECT detail FROM call_events WHERE call_sid = ?", (sid,))
    return [str(r["detail"]) for r in rows]


def test_parallel_ring_first_answer_wins_and_the_others_are_hung_up(
    tmp_path: Path, host: SimulatorHost, webapp: WebApp
) -> None:
    d = start(tmp_path, host, webapp, ["modem1", *FAMILIES])
    try:
        webapp.routes["/voice"] = twiml(
            '<Response><Dial action="/dialed" timeout="20" timeLimit="4">'
            f"<Number>{ALICE}</Number>"
            f'<Number statusCallback="/legstatus" statusCallbackEvent="initiated answered'
            f' completed">{BOB}</Number>'
            f"<Number>{CAROL}</Number></Dial></Response>"
        )
        webapp.routes["/dialed"] = twiml("<Response><Hangup/></Response>")
        # Bob speaks once the bridge is up, not at a fixed time after his answer (the losers'
        # hang-ups come first, which a busy machine may take a while over).
        losers_gone = Until(lambda: ended(host, ALICE) and ended(host, CAROL))
        speech = RemoteParty(
            [losers_gone, Silence(0.5), Say("Hello, this is Bob on call."), Silence(30)]
        )
        host.network.set_callee(ALICE, outcome="answer", answer_after=8.0)
        host.network.set_callee(BOB, outcome="answer", answer_after=1.5, party=speech)
        host.network.set_callee(CAROL, outcome="no-answer")
        caller = host.network.incoming_call("modem1", PHONE, party=RemoteParty([Silence(60)]))
        parent = webapp.wait(15, path="/voice").param("CallSid")
        legs = [callee(host, n) for n in (ALICE, BOB, CAROL)]
        # Every leg went out at once, each on its own modem.
        starts = [leg.created_at for leg in legs]
        assert max(starts) - min(starts) < 1.0
        assert len({leg.modem.name for leg in legs}) == 3
        dialed = webapp.wait(40, path="/dialed")
        rows = child_rows(d)
        assert dialed.param("DialCallStatus") == "completed"
        assert dialed.param("DialCallSid") == rows[BOB]["sid"]
        assert 3 <= int(dialed.param("DialCallDuration") or 0) <= 6  # timeLimit="4"
        for number in (ALICE, CAROL):  # the losers were hung up while they rang
            assert legs[(ALICE, BOB, CAROL).index(number)].wait_state("ended", timeout=10)
            assert rows[number]["status"] == "canceled"
            assert rows[number]["parent_call_sid"] == parent
        assert legs[0].end_reason == "local-hangup" and legs[0].answered_at is None
        assert legs[0].ended_at is not None and legs[1].answered_at is not None
        assert legs[0].ended_at - legs[1].answered_at < 2.0  # hung up once Bob answered
        assert rows[BOB]["status"] == "completed"
        progress = wait_for(lambda: len(webapp.to("/legstatus")) >= 3 and webapp.to("/legstatus"))
        assert [r.param("StatusCallbackEvent") for r in progress] == [
            "initiated",
            "answered",
            "completed",
        ]
        assert {r.param("CallSid") for r in progress} == {rows[BOB]["sid"]}
        assert progress[0].param("ParentCallSid") == parent
        assert caller.wait_state("ended", timeout=15)
        assert loud(caller.heard()) > 1.0  # Bob's words came through the bridge
    finally:
        d.stop()


def test_fewer_free_modems_than_numbers_rings_the_first_in_document_order(
    tmp_path: Path, host: SimulatorHost, webapp: WebApp
) -> None:
    d = start(tmp_path, host, webapp, ["modem1", "modem2", "modem3"])
    try:
        webapp.routes["/voice"] = twiml(
            '<Response><Dial action="/dialed" timeout="4">'
            f"<Number>{ALICE}</Number><Number>{BOB}</Number><Number>{CAROL}</Number>"
            "</Dial></Response>"
        )
        webapp.routes["/dialed"] = twiml("<Response><Hangup/></Response>")
        for n in (ALICE, BOB, CAROL):
            host.network.set_callee(n, outcome="no-answer")
        host.network.incoming_call("modem1", PHONE, party=RemoteParty([Silence(40)]))
        parent = webapp.wait(15, path="/voice").param("CallSid")
        dialed = webapp.wait(40, path="/dialed")
        assert dialed.param("DialCallStatus") == "no-answer"
        assert sorted(child_rows(d)) == sorted([ALICE, BOB])
        assert not [c for c in host.network.calls if c.number == CAROL]  # never dialled
        notes = events(d, str(parent))
        assert any("rang the first 2 in document order" in n and CAROL in n for n in notes)
    finally:
        d.stop()


SCREEN = (
    '<Response><Gather numDigits="1" action="/screened" timeout="5">'
    "<Say>Press 1 to take the call.</Say></Gather><Hangup/></Response>"
)


def screened(req: Request) -> tuple[int, str, bytes]:
    if req.param("Digits") == "1":
        return 200, "text/xml", b"<Response><Say>Connecting.</Say></Response>"
    return 200, "text/xml", b"<Response><Hangup/></Response>"


def test_whisper_accepted_with_gather_wins_while_the_other_leg_keeps_ringing(
    tmp_path: Path, host: SimulatorHost, webapp: WebApp
) -> None:
    d = start(tmp_path, host, webapp, ["modem1", "modem2", "modem3"])
    try:
        webapp.routes["/voice"] = twiml(
            '<Response><Dial action="/dialed" timeout="25" timeLimit="3">'
            f'<Number url="/screen">{ALICE}</Number><Number>{BOB}</Number></Dial></Response>'
        )
        webapp.routes["/screen"] = twiml(SCREEN)
        webapp.routes["/screened"] = screened
        webapp.routes["/dialed"] = twiml("<Response><Hangup/></Response>")
        # Alice presses her key while she hears the whisper's prompt: after the /screen fetch
        # and the <Gather>'s start, however long they take (a key before it would be lost).
        alice = RemoteParty([WaitHeard(1.0, timeout=20), Silence(1.0), Digits("1"), Silence(30)])
        host.network.set_callee(ALICE, outcome="answer", answer_after=1.0, party=alice)
        host.network.set_callee(BOB, outcome="no-answer")
        host.network.incoming_call("modem1", PHONE, party=RemoteParty([Silence(60)]))
        parent = webapp.wait(15, path="/voice").param("CallSid")
        whisper = webapp.wait(20, path="/screen")
        rows = child_rows(d)
        # The whisper runs on the callee's leg: its own CallSid, the caller as parent.
        assert whisper.param("CallSid") == rows[ALICE]["sid"]
        assert whisper.param("ParentCallSid") == parent
        assert whisper.param("Direction") == "outbound-dial"
        assert whisper.param("CallStatus") == "in-progress"
        bob = callee(host, BOB)
        assert bob.state == "ringing"  # still ringing during Alice's whisper
        assert webapp.wait(20, path="/screened").param("Digits") == "1"
        assert bob.wait_state("ended", timeout=15)  # Alice accepted: Bob is let go
        assert loud(callee(host, ALICE).heard()) > 1.0  # Alice heard the private prompt
        dialed = webapp.wait(40, path="/dialed")
        assert dialed.param("DialCallStatus") == "completed"
        assert dialed.param("DialCallSid") == rows[ALICE]["sid"]
        assert child_rows(d)[BOB]["status"] == "canceled"
    finally:
        d.stop()


def test_whisper_declined_or_hung_up_drops_that_leg_and_the_next_answer_wins(
    tmp_path: Path, host: SimulatorHost, webapp: WebApp
) -> None:
    d = start(tmp_path, host, webapp, ["modem1", *FAMILIES])
    try:
        webapp.routes["/voice"] = twiml(
            '<Response><Dial action="/dialed" timeout="25" timeLimit="3">'
            f'<Number url="/screen">{ALICE}</Number>'
            f'<Number url="/busyline">{BOB}</Number>'
            f"<Number>{CAROL}</Number></Dial></Response>"
        )
        webapp.routes["/screen"] = twiml(SCREEN)
        webapp.routes["/screened"] = screened
        webapp.routes["/busyline"] = twiml("<Response><Say>Sorry.</Say><Hangup/></Response>")
        webapp.routes["/dialed"] = twiml("<Response><Hangup/></Response>")
        alice = RemoteParty([WaitHeard(1.0, timeout=20), Silence(1.0), Digits("2"), Silence(30)])
        host.network.set_callee(ALICE, outcome="answer", answer_after=1.0, party=alice)
        host.network.set_callee(BOB, outcome="answer", answer_after=1.0)
        host.network.set_callee(CAROL, outcome="answer", answer_after=9.0)
        host.network.incoming_call("modem1", PHONE, party=RemoteParty([Silence(60)]))
        webapp.wait(15, path="/voice")
        assert webapp.wait(20, path="/screened").param("Digits") == "2"
        a, b = callee(host, ALICE), callee(host, BOB)
        assert a.wait_state("ended", timeout=15) and b.wait_state("ended", timeout=15)
        carol = callee(host, CAROL)
        assert carol.answered_at is None  # both whispers dropped out while Carol still rang
        assert a.ended_at is not None and b.ended_at is not None
        dialed = webapp.wait(40, path="/dialed")
        rows = child_rows(d)
        assert dialed.param("DialCallStatus") == "completed"
        assert dialed.param("DialCallSid") == rows[CAROL]["sid"]
        assert rows[ALICE]["status"] == "completed" and rows[BOB]["status"] == "completed"
    finally:
        d.stop()


def test_every_whisper_hanging_up_ends_the_dial_as_no_answer(
    tmp_path: Path, host: SimulatorHost, webapp: WebApp
) -> None:
    d = start(tmp_path, host, webapp, ["modem1", "modem2"])
    try:
        webapp.routes["/voice"] = twiml(
            '<Response><Dial action="/dialed" timeout="20">'
            f'<Number url="/busyline">{ALICE}</Number></Dial></Response>'
        )
        webapp.routes["/busyline"] = twiml("<Response><Hangup/></Response>")
        webapp.routes["/dialed"] = twiml("<Response><Say>Nobody took it.</Say></Response>")
        host.network.set_callee(ALICE, outcome="answer", answer_after=1.0)
        caller = host.network.incoming_call("modem1", PHONE, party=RemoteParty([Silence(40)]))
        dialed = webapp.wait(30, path="/dialed")
        assert dialed.param("DialCallStatus") == "no-answer"
        assert dialed.param("DialCallSid") == child_rows(d)[ALICE]["sid"]
        assert callee(host, ALICE).end_reason == "local-hangup"
        assert caller.wait_state("ended", timeout=20)
        assert loud(caller.heard()) > 0.5  # the action's <Say> reached the caller
    finally:
        d.stop()
