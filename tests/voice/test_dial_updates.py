"""REST updates of a <Dial>'s child call (Twilio parity): Status=completed hangs up an
answered leg and the parent's <Dial> ends completed; Status=canceled ends one ringing leg
while the others keep ringing; redirecting a dialled leg, or starting a Media Stream on it,
is refused with a clear 400."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from twilio.base.exceptions import TwilioRestException

from appliance.daemon import Daemon
from appliance.sim.host import SimulatorHost
from appliance.sim.voice import RemoteParty, Silence, SimCall
from tests.conftest import NUMBER, PHONE, client_for, wait_for
from tests.voice.test_dial import start
from tests.voice.test_engine import loud
from tests.webapp import Request, WebApp, twiml

pytestmark = pytest.mark.timeout(120)
ALICE, BOB = "+14155550181", "+14155550182"


@pytest.fixture
def host(tmp_path: Path) -> Iterator[SimulatorHost]:
    h = SimulatorHost(tmp_path / "sim", report_delay=0.05)
    h.add("modem1", "sim800", NUMBER, latency=0.005, boot_delay=0.0)
    h.add("modem2", "sim7600", "+15005550021", latency=0.005, boot_delay=0.0)
    h.add("modem3", "quectel_ec25", "+15005550022", latency=0.005, boot_delay=0.0)
    h.start()
    wait_for(lambda: all(m.booted for m in h.modems.values()), timeout=15)
    yield h
    h.stop()


def callee(host: SimulatorHost, number: str) -> SimCall:
    calls = wait_for(lambda: [c for c in host.network.calls if c.number == number], timeout=20)
    return calls[0]  # type: ignore[no-any-return]


def child(d: Daemon, number: str) -> dict[str, object]:
    row = wait_for(
        lambda: d.store.read_one(
            "SELECT * FROM calls WHERE direction = 'outbound-dial' AND to_number = ?", (number,)
        ),
        timeout=20,
    )
    return dict(row)


def status_of(d: Daemon, sid: object) -> str:
    return str(d.store.read_one("SELECT status FROM calls WHERE sid = ?", (sid,))["status"])


@pytest.mark.parametrize(
    "names", [["modem1", "modem2"], ["modem1"]], ids=["two-modems", "one-modem"]
)
def test_hanging_up_the_answered_child_ends_the_dial_completed_and_the_parent_goes_on(
    tmp_path: Path, host: SimulatorHost, webapp: WebApp, names: list[str]
) -> None:
    # On one modem the callee is a second call joined to the caller (AT+CHLD=3): the update
    # hangs up that call alone, as it hangs up the other modem's call on two.
    d = start(tmp_path, host, webapp, names)
    try:
        webapp.routes["/voice"] = twiml(
            f'<Response><Dial action="/dialed" timeout="20"><Number>{ALICE}</Number></Dial>'
            "</Response>"
        )
        webapp.routes["/dialed"] = twiml("<Response><Redirect>/after</Redirect></Response>")
        webapp.routes["/after"] = twiml("<Response><Hangup/></Response>")
        # Alice would stay on the line for a minute: only the REST update ends her leg.
        host.network.set_callee(
            ALICE, outcome="answer", answer_after=1.0, party=RemoteParty([Silence(60)])
        )
        caller = host.network.incoming_call("modem1", PHONE, party=RemoteParty([Silence(60)]))
        parent = webapp.wait(15, path="/voice").param("CallSid")
        leg = child(d, ALICE)
        alice = callee(host, ALICE)
        assert alice.wait_state("active", timeout=15)
        wait_for(lambda: status_of(d, leg["sid"]) == "in-progress", timeout=10)
        assert caller.state == "active"  # bridged (two modems) or joined (one), not held
        # A Media Stream is started on the call that runs TwiML, not on a dialled leg.
        with pytest.raises(TwilioRestException) as refused:
            client_for(d).calls(str(leg["sid"])).streams.create(url="wss://127.0.0.1:9/bot")
        assert refused.value.status == 400 and "dialled by <Dial>" in refused.value.msg
        assert "parent call" in refused.value.msg
        updated = client_for(d).calls(str(leg["sid"])).update(status="completed")
        assert updated.status == "completed" and updated.parent_call_sid == parent
        dialed = webapp.wait(15, path="/dialed")
        assert dialed.param("CallSid") == parent
        assert dialed.param("DialCallStatus") == "completed"
        assert dialed.param("DialCallSid") == leg["sid"]
        assert alice.wait_state("ended", timeout=15)
        assert alice.end_reason == "local-hangup"  # the appliance hung Alice up
        # The parent's TwiML went on: the action's <Redirect> was followed.
        assert webapp.wait(15, path="/after").param("CallSid") == parent
        assert caller.wait_state("ended", timeout=15)
        wait_for(lambda: status_of(d, leg["sid"]) == "completed", timeout=15)
        assert d.store.read_one("SELECT control FROM calls WHERE sid = ?", (leg["sid"],))[0] is None
    finally:
        d.stop()


def test_canceling_one_ringing_leg_leaves_the_other_ringing_to_win(
    tmp_path: Path, host: SimulatorHost, webapp: WebApp
) -> None:
    d = start(tmp_path, host, webapp, ["modem1", "modem2", "modem3"])
    try:
        webapp.routes["/voice"] = twiml(
            '<Response><Dial action="/dialed" timeout="25" timeLimit="2">'
            f"<Number>{ALICE}</Number><Number>{BOB}</Number></Dial></Response>"
        )
        webapp.routes["/dialed"] = twiml("<Response><Hangup/></Response>")
        host.network.set_callee(ALICE, outcome="answer", answer_after=20.0)
        host.network.set_callee(
            BOB, outcome="answer", answer_after=7.0, party=RemoteParty([Silence(30)])
        )
        host.network.incoming_call("modem1", PHONE, party=RemoteParty([Silence(60)]))
        parent = webapp.wait(15, path="/voice").param("CallSid")
        alice_leg, bob_leg = child(d, ALICE), child(d, BOB)
        wait_for(lambda: status_of(d, alice_leg["sid"]) == "ringing", timeout=10)
        alice, bob = callee(host, ALICE), callee(host, BOB)
        updated = client_for(d).calls(str(alice_leg["sid"])).update(status="canceled")
        assert updated.status == "canceled"
        assert alice.wait_state("ended", timeout=15)
        assert bob.state == "ringing" and alice.answered_at is None  # Bob rings on
        wait_for(lambda: status_of(d, alice_leg["sid"]) == "canceled", timeout=15)
        dialed = webapp.wait(40, path="/dialed")
        assert dialed.param("CallSid") == parent
        assert dialed.param("DialCallStatus") == "completed"
        assert dialed.param("DialCallSid") == bob_leg["sid"]  # Bob answered and won
        assert bob.answered_at is not None
        assert status_of(d, bob_leg["sid"]) == "completed"
    finally:
        d.stop()


def alice_rings(d: Daemon, host: SimulatorHost, webapp: WebApp) -> tuple[str, dict[str, object]]:
    """A caller's ``<Dial>`` of Alice, who would answer only after 20 s: the parent call's SID
    and Alice's leg, once it rings."""
    webapp.routes["/voice"] = twiml(
        f'<Response><Dial action="/dialed" timeout="25"><Number>{ALICE}</Number></Dial></Response>'
    )
    webapp.routes["/dialed"] = twiml("<Response><Hangup/></Response>")
    host.network.set_callee(ALICE, outcome="answer", answer_after=20.0)
    host.network.incoming_call("modem1", PHONE, party=RemoteParty([Silence(60)]))
    parent = webapp.wait(15, path="/voice").param("CallSid")
    leg = child(d, ALICE)
    wait_for(lambda: status_of(d, leg["sid"]) == "ringing", timeout=10)
    return str(parent), leg


def test_canceling_the_only_ringing_leg_ends_the_dial_canceled(
    tmp_path: Path, host: SimulatorHost, webapp: WebApp
) -> None:
    d = start(tmp_path, host, webapp, ["modem1", "modem2"])
    try:
        _parent, leg = alice_rings(d, host, webapp)
        assert client_for(d).calls(str(leg["sid"])).update(status="completed").status == "canceled"
        dialed = webapp.wait(10, path="/dialed")  # long before Alice's 20 s
        assert dialed.param("DialCallStatus") == "canceled"
        assert dialed.param("DialCallSid") == leg["sid"]
        assert callee(host, ALICE).answered_at is None
    finally:
        d.stop()


def test_redirecting_a_ringing_leg_is_refused_clearly(
    tmp_path: Path, host: SimulatorHost, webapp: WebApp
) -> None:
    d = start(tmp_path, host, webapp, ["modem1", "modem2"])
    try:
        parent, leg = alice_rings(d, host, webapp)
        client = client_for(d)
        for update in ({"twiml": "<Response><Say>Hi</Say></Response>"}, {"url": webapp.url("/x")}):
            with pytest.raises(TwilioRestException) as refused:
                client.calls(str(leg["sid"])).update(**update)
            assert refused.value.status == 400 and refused.value.code == 21220, update
            assert str(parent) in refused.value.msg and "not bridged" in refused.value.msg
        row = d.store.read_one("SELECT status, control FROM calls WHERE sid = ?", (leg["sid"],))
        assert row["status"] == "ringing" and row["control"] is None
        assert callee(host, ALICE).state == "ringing"  # nothing changed
        assert not webapp.to("/dialed")
    finally:
        d.stop()


def test_redirecting_the_bridged_leg_runs_its_twiml_while_the_parent_goes_on(
    tmp_path: Path, host: SimulatorHost, webapp: WebApp
) -> None:
    d = start(tmp_path, host, webapp, ["modem1", "modem2"])
    try:
        webapp.routes["/voice"] = twiml(
            f'<Response><Dial action="/dialed" timeout="20"><Number>{ALICE}</Number></Dial>'
            "</Response>"
        )
        webapp.routes["/dialed"] = twiml("<Response><Redirect>/after</Redirect></Response>")
        webapp.routes["/after"] = twiml('<Response><Pause length="30"/></Response>')
        webapp.routes["/moved"] = twiml(
            "<Response><Say>You have been moved to a queue of your own.</Say>"
            '<Pause length="30"/></Response>'
        )
        host.network.set_callee(
            ALICE, outcome="answer", answer_after=1.0, party=RemoteParty([Silence(60)])
        )
        caller = host.network.incoming_call("modem1", PHONE, party=RemoteParty([Silence(60)]))
        parent = webapp.wait(15, path="/voice").param("CallSid")
        leg = child(d, ALICE)
        alice = callee(host, ALICE)
        assert alice.wait_state("active", timeout=15)
        client = client_for(d)

        def redirected() -> bool:
            try:
                rv = client.calls(str(leg["sid"])).update(url=webapp.url("/moved"))
            except TwilioRestException as e:  # answered, not bridged yet
                assert e.code == 21220
                return False
            assert rv.status == "in-progress"
            return True

        wait_for(redirected, timeout=10)

        def first(path: str) -> Request:
            return wait_for(lambda: webapp.to(path), timeout=15)[0]  # type: ignore[no-any-return]

        moved = first("/moved")  # the child's own TwiML request
        assert moved.param("CallSid") == leg["sid"]
        assert moved.param("ParentCallSid") == parent
        assert moved.param("Direction") == "outbound-dial"
        dialed = first("/dialed")
        assert dialed.param("CallSid") == parent
        assert dialed.param("DialCallStatus") == "completed"
        assert dialed.param("DialCallSid") == leg["sid"]
        assert first("/after").param("CallSid") == parent  # the parent goes on
        wait_for(lambda: loud(alice.heard()) > 0.5, timeout=15)  # Alice hears her new TwiML
        assert alice.state == "active" and caller.state == "active"  # two calls now
        # The leg is a call of its own now: REST controls it like any other.
        assert client.calls(str(leg["sid"])).update(status="completed").status == "completed"
        assert alice.wait_state("ended", timeout=10) and alice.end_reason == "local-hangup"
        assert caller.state == "active"
        wait_for(lambda: status_of(d, leg["sid"]) == "completed", timeout=15)
    finally:
        d.stop()


@pytest.mark.parametrize(
    "names", [["modem1", "modem2"], ["modem1"]], ids=["two-modems", "one-modem"]
)
def test_hanging_up_the_bridged_parent_ends_both_legs_without_the_action(
    tmp_path: Path, host: SimulatorHost, webapp: WebApp, names: list[str]
) -> None:
    """Status=completed on the caller's call while its <Dial> is bridged (Twilio: it ends the
    parent call): the callee is hung up too, both rows end completed, no action request."""
    d = start(tmp_path, host, webapp, names)
    try:
        webapp.routes["/voice"] = twiml(
            f'<Response><Dial action="/dialed" timeout="20"><Number>{ALICE}</Number></Dial>'
            "</Response>"
        )
        webapp.routes["/dialed"] = twiml("<Response><Say>Goodbye.</Say></Response>")
        host.network.set_callee(
            ALICE, outcome="answer", answer_after=1.0, party=RemoteParty([Silence(60)])
        )
        caller = host.network.incoming_call("modem1", PHONE, party=RemoteParty([Silence(60)]))
        parent = str(webapp.wait(15, path="/voice").param("CallSid"))
        leg = child(d, ALICE)
        alice = callee(host, ALICE)
        assert alice.wait_state("active", timeout=15)
        wait_for(lambda: status_of(d, leg["sid"]) == "in-progress", timeout=10)
        assert client_for(d).calls(parent).update(status="completed").status == "completed"
        assert caller.wait_state("ended", timeout=15)
        assert alice.wait_state("ended", timeout=15)
        wait_for(lambda: status_of(d, parent) == "completed", timeout=10)
        wait_for(lambda: status_of(d, leg["sid"]) == "completed", timeout=10)
        assert webapp.to("/dialed") == []
    finally:
        d.stop()
