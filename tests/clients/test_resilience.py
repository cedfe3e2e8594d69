"""Browser phones' resilience (issue 13, slice 7; tests (f) and (e)), on a real daemon with the
simulated modem on a pty: an aiortc peer plays the browser over the real wss signalling socket
and dials a number through the modem.  Checked: a signalling socket that drops in the middle
of a call leaves the call up (media flowing) for ``client_reconnect_grace``; the SDK's
reconnect ``invite`` (the call's CA sid and the ``reconnect`` token from ``answer``) on a new
socket re-attaches it; a wrong token gets ``hangup`` 31209; without a reconnect the call is hung
up after the grace, the GSM leg too, and both rows end ``completed``.  An Access Token that
expires in a call unregisters the device and refuses new calls (31205) while the call goes on,
and the socket closes once it ends.  A flood of invites is bounded by the cap on browser calls,
each refusal is 31480, and another browser's call is not touched."""

from __future__ import annotations

import threading
import time

import pytest
from twilio.jwt.access_token.grants import VoiceGrant

from appliance import config
from appliance.clients.audioport import WebRtcAudioPort
from appliance.clients.peer import Peer
from appliance.errors import ConfigError
from tests.clients import browserapp
from tests.clients.browserapp import CALLEE, CALLEE_HZ, callee_call, heard_tone
from tests.clients.conftest import receive, send
from tests.clients.test_outgoing import GOOD_SDP, TJS, record, sdk_invite
from tests.clients.test_peer import as_the_sdk_sends_it
from tests.clients.test_signalling import closed_code
from tests.conftest import NUMBER, client_for, wait_for
from tests.webapp import twiml

pytestmark = pytest.mark.timeout(120)


def start(phones, sim, webapp, grace: float):
    """A daemon with ``client_reconnect_grace`` = ``grace``, an App that dials the callee
    through the modem, and a callee who answers and plays a long tone."""
    webapp.routes["/dialed"] = twiml("<Response><Hangup/></Response>")
    dial = f'<Dial action="{webapp.url("/dialed")}" callerId="{NUMBER}">{CALLEE}</Dial>'
    p, api, token = browserapp.start(phones, webapp, dial, sim=sim, client_reconnect_grace=grace)
    browserapp.callee_answers(sim, answer_after=0.5, tone_ms=40_000)
    return p, api, token


def tone_since(heard: list[bytes], start: int) -> bool:
    return heard_tone(b"".join(heard[start:]), CALLEE_HZ, 1000)


def test_a_dropped_socket_reconnects_within_the_grace_and_the_call_goes_on(phones, sim, webapp):
    p, api, token = start(phones, sim, webapp, grace=4.0)
    d = p.daemon
    browser = Peer(WebRtcAudioPort(d.media.start()), name="browser")
    stop, heard = threading.Event(), []
    threads: list[threading.Thread] = []
    try:
        with p.open() as ws:
            answer = browserapp.place_peer_call(p, ws, token, browser)
            sid, reconnect, sdp = answer["callsid"], answer["reconnect"], answer["offer"]
            threads = [record(browser.port, stop, heard)]
            callee = callee_call(sim)
            assert callee.wait_state("active", timeout=15)
            wait_for(lambda: tone_since(heard, 0), timeout=15, interval=0.2)
        # the socket dropped: the call is still up and its media still flows
        dropped, n = time.monotonic(), len(heard)
        wait_for(lambda: tone_since(heard, n), timeout=5, interval=0.2)
        assert api.calls(sid).fetch().status == "in-progress" and callee.state == "active"
        with p.open() as ws:
            send(ws, "listen", token=token)
            assert receive(ws)["type"] == "connected"
            # a wrong token re-attaches nothing
            send(ws, "invite", callsid=sid, sdp=sdp, reconnect="x" * 43, twilio={})
            refused = receive(ws)
            assert refused["type"] == "hangup" and refused["payload"]["callsid"] == sid
            assert refused["payload"]["error"]["code"] == 31209
            # the SDK's reconnect: the CA sid, the token from answer, its current SDP
            send(ws, "invite", callsid=sid, sdp=sdp, reconnect=reconnect, twilio={})
            back = receive(ws)
            assert back == {
                "type": "answer",
                "version": "1.6",
                "payload": {"callsid": sid, "reconnect": reconnect},
            }
            assert time.monotonic() - dropped < 4.0  # within the grace
            # past the grace, the call goes on: the timer was stopped
            time.sleep(4.5)
            assert api.calls(sid).fetch().status == "in-progress" and callee.state == "active"
            n = len(heard)
            wait_for(lambda: tone_since(heard, n), timeout=5, interval=0.2)
            # the new socket carries the call: keys and the hang-up
            send(ws, "dtmf", callsid=sid, dtmf="5")
            wait_for(lambda: callee.received_digits == "5", timeout=10)
            send(ws, "hangup", callsid=sid)
            assert callee.wait_state("ended", timeout=10)
        wait_for(lambda: api.calls(sid).fetch().status == "completed")
        dialed = webapp.wait(path="/dialed", timeout=10).flat
        assert dialed["DialCallStatus"] == "completed"
        wait_for(lambda: d.client_line.flows == {} and d.modems["modem1"].phone.flows == {})
    finally:
        stop.set()
        d.media.submit(browser.close()).result(10)
        for t in threads:
            t.join(5)


def test_a_dropped_socket_without_reconnect_ends_the_call_and_its_gsm_leg(phones, sim, webapp):
    p, api, token = start(phones, sim, webapp, grace=2.0)
    d = p.daemon
    browser = Peer(WebRtcAudioPort(d.media.start()), name="browser")
    try:
        with p.open() as ws:
            sid = browserapp.place_peer_call(p, ws, token, browser)["callsid"]
            callee = callee_call(sim)
            assert callee.wait_state("active", timeout=15)
        dropped = time.monotonic()
        time.sleep(1.0)  # within the grace: nothing ends
        assert api.calls(sid).fetch().status == "in-progress" and callee.state == "active"
        assert callee.wait_state("ended", timeout=10)  # after the grace: the GSM leg too
        assert time.monotonic() - dropped >= 1.9
        wait_for(lambda: api.calls(sid).fetch().status == "completed")
        dialed = webapp.wait(path="/dialed", timeout=10).flat
        assert dialed["DialCallStatus"] == "completed" and dialed["CallStatus"] == "completed"
        assert api.calls(dialed["DialCallSid"]).fetch().status == "completed"
        wait_for(lambda: d.client_line.flows == {} and d.modems["modem1"].phone.flows == {})
        assert d.client_calls.reconnections._timers == {}
    finally:
        d.media.submit(browser.close()).result(10)


def test_a_token_that_expires_in_a_call_unregisters_but_the_call_goes_on(phones, webapp):
    p = browserapp.appliance(phones)
    d = p.daemon
    api = client_for(d)
    webapp.routes["/voice"] = twiml('<Response><Say>Hello.</Say><Pause length="40"/></Response>')
    app = api.applications.create(friendly_name="Wait", voice_url=webapp.url("/voice"))
    grant = VoiceGrant(incoming_allow=True, outgoing_application_sid=app.sid)
    browser = Peer(WebRtcAudioPort(d.media.start()), name="browser")
    try:
        with p.open() as ws:
            send(ws, "listen", token=p.token(grant=grant, ttl=6))
            assert receive(ws)["type"] == "connected"
            send(ws, "register", media={"audio": True})
            assert receive(ws)["type"] == "ready"
            sdk_invite(ws, as_the_sdk_sends_it(d.media.submit(browser.offer()).result(10)), {})
            message = receive(ws)
            assert message["type"] == "answer", message
            answer = message["payload"]
            sid = answer["callsid"]
            d.media.submit(browser.accept(answer["sdp"])).result(10)
            # the token runs out: the device is unregistered, the call is not touched
            msg = receive(ws)
            assert msg["type"] == "error" and msg["payload"]["error"]["code"] == 31205
            assert "goes on" in msg["payload"]["error"]["message"]
            assert receive(ws)["type"] == "offline"
            assert d.server.hub.identities() == {}
            # a new call is refused with the SDK's code; the live one is still up
            send(ws, "invite", callsid=TJS + "2", sdp=GOOD_SDP, twilio={"params": ""})
            refused = receive(ws)
            assert refused["type"] == "error" and refused["payload"]["callsid"] == TJS + "2"
            assert refused["payload"]["error"]["code"] == 31205
            assert receive(ws)["payload"] == {"callsid": TJS + "2"}
            time.sleep(1.0)
            assert api.calls(sid).fetch().status == "in-progress"
            assert d.server.hub.live == 1
            # the call ends: then the socket closes, as for any expired token
            send(ws, "hangup", callsid=sid)
            assert receive(ws)["type"] == "close"
            assert closed_code(ws) == 1008
        wait_for(lambda: api.calls(sid).fetch().status == "completed")
        assert len(api.calls.list()) == 1  # the refused call left no row
    finally:
        d.media.submit(browser.close()).result(10)


def test_an_invite_flood_is_bounded_and_spares_another_call(phones, webapp):
    p = browserapp.appliance(phones)
    d = p.daemon
    api = client_for(d)
    webapp.routes["/voice"] = twiml('<Response><Say>Hello.</Say><Pause length="40"/></Response>')

    def slow(request):  # the flood's App: its calls stay ringing while the flood runs
        time.sleep(3)
        return twiml("<Response><Hangup/></Response>")(request)

    webapp.routes["/slow"] = slow
    app = api.applications.create(friendly_name="Wait", voice_url=webapp.url("/voice"))
    flood_app = api.applications.create(friendly_name="Flood", voice_url=webapp.url("/slow"))
    browser = Peer(WebRtcAudioPort(d.media.start()), name="browser")
    try:
        with p.open() as bystander, p.open() as flooder:
            send(
                bystander,
                "listen",
                token=p.token(grant=VoiceGrant(outgoing_application_sid=app.sid)),
            )
            assert receive(bystander)["type"] == "connected"
            offer = d.media.submit(browser.offer()).result(10)
            sdk_invite(bystander, as_the_sdk_sends_it(offer), {})
            sid = receive(bystander)["payload"]["callsid"]

            send(
                flooder,
                "listen",
                token=p.token(
                    identity="mallory", grant=VoiceGrant(outgoing_application_sid=flood_app.sid)
                ),
            )
            assert receive(flooder)["type"] == "connected"
            for i in range(12):
                send(flooder, "invite", callsid=f"TJS{i}", sdp=GOOD_SDP, twilio={"params": ""})
            errors = []
            while len(errors) < 9:
                msg = receive(flooder)
                if msg["type"] == "error":
                    errors.append(msg["payload"])
            # one call is the bystander's; 3 more fit under client_calls' 4, 9 are refused
            assert {e["callsid"] for e in errors} == {f"TJS{i}" for i in range(3, 12)}
            assert {e["error"]["code"] for e in errors} == {31480}
            assert "At most 4 browser calls" in errors[0]["error"]["message"]
            assert d.client_line.count() == 4
            # the other browser's call is untouched and answers as usual
            assert api.calls(sid).fetch().status == "in-progress"
            send(bystander, "hangup", callsid=sid)
            wait_for(lambda: api.calls(sid).fetch().status == "completed")
        wait_for(lambda: d.client_line.calls == {} and d.client_line.flows == {}, timeout=15)
    finally:
        d.media.submit(browser.close()).result(10)


def test_client_calls_sets_how_many_browser_calls_are_up_at_once(phones, webapp):
    with pytest.raises(ConfigError, match="client_calls must be at least 1, got 0"):
        config.load(None, environ={"APPLIANCE_CLIENT_CALLS": "0"})
    p, api, token = browserapp.start(
        phones, webapp, '<Say>Hello.</Say><Pause length="40"/>', client_calls=1
    )
    d = p.daemon
    browser = Peer(WebRtcAudioPort(d.media.start()), name="browser")
    try:
        with p.open() as ws:
            send(ws, "listen", token=token)
            assert receive(ws)["type"] == "connected"
            sdk_invite(ws, as_the_sdk_sends_it(d.media.submit(browser.offer()).result(10)), {})
            sid = receive(ws)["payload"]["callsid"]
            send(ws, "invite", callsid="TJS-second", sdp=GOOD_SDP, twilio={"params": ""})
            refused = receive(ws)["payload"]
            assert (refused["callsid"], refused["error"]["code"]) == ("TJS-second", 31480)
            assert (
                refused["error"]["message"]
                == "At most 1 browser call at once on this appliance (client_calls)"
            )
            assert receive(ws) == {
                "type": "hangup",
                "version": "1.6",
                "payload": {"callsid": "TJS-second"},
            }
            assert api.calls(sid).fetch().status == "in-progress"
            send(ws, "hangup", callsid=sid)
            wait_for(lambda: api.calls(sid).fetch().status == "completed")
        assert len(api.calls.list()) == 1  # the refused call left no row
    finally:
        d.media.submit(browser.close()).result(10)
