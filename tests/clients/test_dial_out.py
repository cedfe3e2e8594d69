"""A browser dials a number through a modem (issue 13, slice 5; its test (b)), on a real daemon
with the simulated modem on a pty: an aiortc peer plays the browser over the real wss
signalling socket, the TwiML App's VoiceUrl answers ``<Dial>``, the simulated network's callee
answers.  Checked: audio both ways (Goertzel: the callee's tone at the browser, the browser's
tone in what the simulated modem heard), keys sent as signalling reaching the callee
(``AT+VTS``), the Dial action's parameters, the child row and its status callbacks, hang-up
from either side ending both legs, ``answerOnBridge`` as early media (``ringing`` with the
SDP, the ringback heard, ``answer`` at the bridge), and a callerId that is not a SIM's."""

from __future__ import annotations

import threading

import pytest

from appliance.clients.audioport import WebRtcAudioPort
from appliance.clients.peer import Peer
from appliance.sim.voice import Hangup, Play, RemoteParty, Silence
from appliance.voice import tones
from tests.clients import browserapp
from tests.clients.browserapp import CALLEE, CALLEE_HZ, callee_call, heard_tone
from tests.clients.conftest import receive, send
from tests.clients.test_outgoing import record, sdk_invite
from tests.clients.test_peer import as_the_sdk_sends_it, talk
from tests.conftest import NUMBER, wait_for
from tests.webapp import twiml

pytestmark = pytest.mark.timeout(90)


def start(phones, sim, webapp, dial: str):
    """A daemon whose modem has its audio port, an App whose VoiceUrl answers ``dial``."""
    webapp.routes["/dialed"] = twiml("<Response><Say>Goodbye.</Say></Response>")
    return browserapp.start(phones, webapp, dial, sim=sim)


def test_a_browser_dials_a_number_through_the_modem(phones, sim, webapp):
    callback = webapp.url("/child")
    p, api, token = start(
        phones,
        sim,
        webapp,
        f'<Dial action="{webapp.url("/dialed")}" timeout="10" callerId="{NUMBER}">'
        f'<Number statusCallback="{callback}"'
        f' statusCallbackEvent="initiated ringing answered completed">{CALLEE}</Number></Dial>',
    )
    d = p.daemon
    tone = tones.beep(3000, CALLEE_HZ, -10.0)
    sim.network.set_callee(
        CALLEE, answer_after=0.5, party=RemoteParty([Silence(0.5), Play(tone), Silence(60)])
    )
    loop = d.media.start()
    browser = Peer(WebRtcAudioPort(loop), name="browser")
    stop, heard = threading.Event(), []
    threads: list[threading.Thread] = []
    try:
        with p.open() as ws:
            sid = browserapp.place_peer_call(p, ws, token, browser)["callsid"]
            threads = [record(browser.port, stop, heard), talk(browser.port, stop)]

            callee = callee_call(sim)
            assert callee.wait_state("active", timeout=15)
            # the callee's tone reaches the browser; the browser's reaches the callee
            wait_for(lambda: heard_tone(b"".join(heard), CALLEE_HZ, 1000), timeout=15)
            wait_for(lambda: heard_tone(callee.heard()[-16000:], 1000, CALLEE_HZ), timeout=10)

            # sendDigits as signalling: relayed to the callee's modem (AT+VTS)
            send(ws, "dtmf", callsid=sid, dtmf="12#")
            wait_for(lambda: callee.received_digits == "12#", timeout=10)

            # the browser hangs up: the callee's leg ends, the action is asked (completed)
            send(ws, "hangup", callsid=sid)
            assert callee.wait_state("ended", timeout=10)
        dialed = webapp.wait(path="/dialed", timeout=10).flat
        assert dialed["DialCallStatus"] == "completed" and dialed["CallStatus"] == "completed"
        assert int(dialed["DialCallDuration"]) >= 1  # bridged for a second or more
        child = api.calls(dialed["DialCallSid"]).fetch()
        assert (child.parent_call_sid, child.direction, child.status) == (
            sid,
            "outbound-dial",
            "completed",
        )
        assert (child._from, child.to) == (NUMBER, CALLEE)
        wait_for(lambda: api.calls(sid).fetch().status == "completed")
        wait_for(lambda: len(webapp.to("/child")) >= 4, timeout=10)
        events = [r.flat["CallStatus"] for r in webapp.to("/child")]
        assert events == ["initiated", "ringing", "in-progress", "completed"]
        wait_for(lambda: d.client_line.flows == {} and d.modems["modem1"].phone.flows == {})
    finally:
        stop.set()
        d.media.submit(browser.close()).result(10)
        for t in threads:
            t.join(5)


def test_answer_on_bridge_rings_with_early_media_and_the_callee_hangs_up(phones, sim, webapp):
    p, api, token = start(
        phones,
        sim,
        webapp,
        f'<Dial answerOnBridge="true" action="{webapp.url("/dialed")}" timeout="10">'
        f"{CALLEE}</Dial>",
    )
    d = p.daemon
    tone = tones.beep(1500, CALLEE_HZ, -10.0)
    sim.network.set_callee(
        CALLEE, answer_after=2.5, party=RemoteParty([Play(tone), Silence(0.5), Hangup()])
    )
    loop = d.media.start()
    browser = Peer(WebRtcAudioPort(loop), name="browser")
    stop, heard = threading.Event(), []
    threads: list[threading.Thread] = []
    try:
        with p.open() as ws:
            send(ws, "listen", token=token)
            assert receive(ws)["type"] == "connected"
            sdk_invite(ws, as_the_sdk_sends_it(d.media.submit(browser.offer()).result(10)), {})
            ringing = receive(ws)
            assert ringing["type"] == "ringing" and "a=candidate:" in ringing["payload"]["sdp"]
            sid = ringing["payload"]["callsid"]
            d.media.submit(browser.accept(ringing["payload"]["sdp"])).result(10)
            threads = [record(browser.port, stop, heard)]
            assert api.calls(sid).fetch().status == "ringing"
            # the ringback (a +1 number: 440 + 480 Hz) plays while the callee rings
            wait_for(lambda: heard_tone(b"".join(heard), 440, 1000), timeout=10)
            answer = receive(ws)
            assert answer["type"] == "answer" and answer["payload"]["callsid"] == sid
            assert "sdp" not in answer["payload"]  # sent once, in ringing
            assert api.calls(sid).fetch().status == "in-progress"
            wait_for(lambda: heard_tone(b"".join(heard), CALLEE_HZ, 440), timeout=10)
            # the callee hangs up: the action runs (<Say>), then the browser is hung up
            dialed = webapp.wait(path="/dialed", timeout=15).flat
            assert dialed["DialCallStatus"] == "completed" and dialed["CallStatus"] == "in-progress"
            msg = receive(ws)
            assert msg == {"type": "hangup", "version": "1.6", "payload": {"callsid": sid}}
        wait_for(lambda: api.calls(sid).fetch().status == "completed")
        assert api.calls(dialed["DialCallSid"]).fetch().status == "completed"
        wait_for(lambda: d.client_line.flows == {} and d.modems["modem1"].phone.flows == {})
    finally:
        stop.set()
        d.media.submit(browser.close()).result(10)
        for t in threads:
            t.join(5)


def test_a_callerid_that_is_no_sims_number_fails_the_dial(phones, sim, webapp):
    p, api, token = start(
        phones,
        sim,
        webapp,
        f'<Dial action="{webapp.url("/dialed")}" callerId="+15559990000">{CALLEE}</Dial>',
    )
    d = p.daemon
    loop = d.media.start()
    browser = Peer(WebRtcAudioPort(loop), name="browser")
    try:
        with p.open() as ws:
            send(ws, "listen", token=token)
            assert receive(ws)["type"] == "connected"
            sdk_invite(ws, as_the_sdk_sends_it(d.media.submit(browser.offer()).result(10)), {})
            sid = receive(ws)["payload"]["callsid"]
            dialed = webapp.wait(path="/dialed", timeout=15).flat
            assert dialed["DialCallStatus"] == "failed" and "DialCallSid" not in dialed
            assert receive(ws)["type"] == "hangup"  # after the action's <Say>
        rows = d.store.read(
            "SELECT kind, error_code, detail FROM call_events WHERE call_sid = ?", (sid,)
        )
        assert [(r["kind"], r["error_code"]) for r in rows if r["error_code"]] == [("error", 13214)]
        assert not [c for c in sim.network.calls if getattr(c, "number", "") == CALLEE]
        wait_for(lambda: api.calls(sid).fetch().status == "completed")
    finally:
        d.media.submit(browser.close()).result(10)


def test_a_browser_that_hangs_up_while_the_callee_rings_cancels_the_leg(phones, sim, webapp):
    p, api, token = start(
        phones, sim, webapp, f'<Dial action="{webapp.url("/dialed")}">{CALLEE}</Dial>'
    )
    d = p.daemon
    sim.network.set_callee(CALLEE, answer_after=30)
    loop = d.media.start()
    browser = Peer(WebRtcAudioPort(loop), name="browser")
    try:
        with p.open() as ws:
            send(ws, "listen", token=token)
            assert receive(ws)["type"] == "connected"
            sdk_invite(ws, as_the_sdk_sends_it(d.media.submit(browser.offer()).result(10)), {})
            sid = receive(ws)["payload"]["callsid"]
            callee = callee_call(sim)
            assert callee.wait_state("ringing", timeout=10)
            send(ws, "hangup", callsid=sid)
            assert callee.wait_state("ended", timeout=10)
        dialed = webapp.wait(path="/dialed", timeout=10).flat
        assert dialed["DialCallStatus"] == "canceled" and dialed["CallStatus"] == "completed"
        assert api.calls(dialed["DialCallSid"]).fetch().status == "canceled"
        wait_for(lambda: d.client_line.flows == {} and d.modems["modem1"].phone.flows == {})
    finally:
        d.media.submit(browser.close()).result(10)
