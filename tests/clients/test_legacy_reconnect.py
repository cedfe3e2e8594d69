"""A legacy twilio-client 1.x Device keeps its call through a dropped signalling socket (issue 13,
"reconnect after a dropped socket"), on a real daemon with the simulated modem on a pty: an
aiortc peer plays the browser over the real wss socket and speaks PStream "1.5" as 1.x does,
with capability tokens from the official Python library.

1.x sends no ``reconnect`` invite: it keeps its Connection and sends ``listen`` again on the new
socket.  Checked: a socket of another identity, and a 2.x socket of the same identity, do not
take the waiting call (another identity's keys get 31404); the 1.x Device's ``listen`` takes it
back, the grace timer stops, keys reach the GSM callee over the new socket, and the call's end
(the callee hangs up, the ``<Dial>`` action says ``<Hangup/>``) reaches it as ``hangup``.  A socket
the appliance still holds open is taken over only once it has been silent (its heartbeats
not echoed), and is then closed."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from twilio.jwt.client import ClientCapabilityToken

from appliance.clients import reconnection
from appliance.clients.audioport import WebRtcAudioPort
from appliance.clients.peer import Peer
from appliance.sim.voice import Play, RemoteParty, Silence
from appliance.voice import tones
from tests.clients import browserapp
from tests.clients.browserapp import CALLEE, CALLEE_HZ, callee_call
from tests.clients.conftest import receive, send
from tests.clients.test_outgoing import TJS
from tests.clients.test_peer import as_the_sdk_sends_it
from tests.clients.test_signalling import closed_code
from tests.conftest import NUMBER, client_for, wait_for
from tests.webapp import twiml

pytestmark = pytest.mark.timeout(120)

GRACE = 5.0


def send_legacy(ws: Any, kind: str, **payload: Any) -> None:
    """A message as 1.x's PStream sends it (``pstream.js``: version 1.5)."""
    ws.send(json.dumps({"type": kind, "version": "1.5", "payload": payload}))


def capability(p: Any, app_sid: str, name: str) -> str:
    account = p.daemon.account
    token = ClientCapabilityToken(account.sid, account.auth_token, ttl=600)
    token.allow_client_incoming(name)
    token.allow_client_outgoing(app_sid)
    return str(token.to_jwt())


def test_a_legacy_device_takes_back_its_call_and_no_other_identity_can(phones, sim, webapp):
    webapp.routes["/dialed"] = twiml("<Response><Hangup/></Response>")
    dial = f'<Dial action="{webapp.url("/dialed")}" callerId="{NUMBER}">{CALLEE}</Dial>'
    p = browserapp.appliance(phones, sim, client_reconnect_grace=GRACE)
    d = p.daemon
    api, app, _ = browserapp.app_token(p, webapp, dial)
    sim.network.set_callee(
        CALLEE,
        answer_after=0.5,
        party=RemoteParty([Play(tones.beep(40_000, CALLEE_HZ, -10.0)), Silence(60)]),
    )
    alice, bob = capability(p, app.sid, "alice"), capability(p, app.sid, "bob")
    browser = Peer(WebRtcAudioPort(d.media.start()), name="browser")
    try:
        with p.open() as ws:
            send_legacy(ws, "listen", token=alice, browserinfo={"p": "browser", "v": "1.15.1"})
            assert receive(ws)["type"] == "connected"
            send_legacy(ws, "register", media={"audio": True})
            assert receive(ws)["type"] == "ready"
            offer = as_the_sdk_sends_it(d.media.submit(browser.offer()).result(10))
            send_legacy(ws, "invite", callsid=TJS, sdp=offer, preflight=False, twilio={})
            answer = receive(ws)
            assert answer["type"] == "answer", answer
            sid = answer["payload"]["callsid"]
            d.media.submit(browser.accept(answer["payload"]["sdp"])).result(10)
            callee = callee_call(sim)
            assert callee.wait_state("active", timeout=15)
            found = d.client_line.calls[sid]
            dropped = found.device
        # the socket closed: the call waits in its grace, for a legacy Device of alice
        wait_for(lambda: sid in d.client_calls.reconnections._legacy)
        start = time.monotonic()
        with p.open() as other:  # bob's 1.x Device cannot take it, nor reach it
            send_legacy(other, "listen", token=bob)
            assert receive(other)["type"] == "connected"
            send_legacy(other, "dtmf", callsid=sid, dtmf="9")
            refused = receive(other)
            assert refused["type"] == "error" and refused["payload"]["error"]["code"] == 31404
            assert found.device is dropped
        with p.open() as other:  # nor a 2.x Device of alice (it re-attaches with its token)
            send(other, "listen", token=alice)
            assert receive(other)["type"] == "connected"
            send(other, "hangup", callsid=sid)
            time.sleep(0.3)
            assert found.device is dropped and api.calls(sid).fetch().status == "in-progress"
        with p.open() as ws:  # alice's 1.x Device: its listen takes the call back
            send_legacy(ws, "listen", token=alice, browserinfo={"p": "browser", "v": "1.15.1"})
            assert receive(ws)["type"] == "connected"
            wait_for(lambda: found.device is not dropped)
            assert found.device.holder.identity == "alice"
            assert time.monotonic() - start < GRACE
            assert (
                d.client_calls.reconnections._timers == {}
                and d.client_calls.reconnections._legacy == {}
            )
            send_legacy(ws, "register", media={"audio": True})
            assert receive(ws)["type"] == "ready"
            time.sleep(GRACE + 0.5)  # past the grace: the call goes on
            assert api.calls(sid).fetch().status == "in-progress" and callee.state == "active"
            send_legacy(ws, "dtmf", callsid=sid, dtmf="5")  # keys go over the new socket
            wait_for(lambda: callee.received_digits == "5", timeout=10)
            ended = time.monotonic()
            callee.hangup()  # the appliance's end (the action's <Hangup/>) reaches it too
            hangup = receive(ws)
            assert hangup == {"type": "hangup", "version": "1.6", "payload": {"callsid": sid}}
            assert time.monotonic() - ended < 3.0
        wait_for(lambda: api.calls(sid).fetch().status == "completed")
        dialed = webapp.wait(path="/dialed", timeout=10).flat
        assert dialed["DialCallStatus"] == "completed"
        assert api.calls(dialed["DialCallSid"]).fetch().status == "completed"
        wait_for(lambda: d.client_line.flows == {} and d.modems["modem1"].phone.flows == {})
    finally:
        d.media.submit(browser.close()).result(10)


def test_a_silent_socket_counts_as_dropped(phones, sim, webapp, monkeypatch):
    """1.x reconnects after 15 s without hearing the appliance, and the old socket's close may
    reach the appliance much later: a socket silent for ``SILENT`` s gives its call up."""
    monkeypatch.setattr(reconnection, "SILENT", 2.0)
    webapp.routes["/voice"] = twiml('<Response><Say>Hello.</Say><Pause length="40"/></Response>')
    p = browserapp.appliance(phones)
    d = p.daemon
    api = client_for(d)
    app = api.applications.create(friendly_name="Wait", voice_url=webapp.url("/voice"))
    alice = capability(p, app.sid, "alice")
    browser = Peer(WebRtcAudioPort(d.media.start()), name="browser")
    try:
        with p.open() as old:  # it will stop answering heartbeats (the test never echoes them)
            send_legacy(old, "listen", token=alice)
            assert receive(old)["type"] == "connected"
            offer = as_the_sdk_sends_it(d.media.submit(browser.offer()).result(10))
            send_legacy(old, "invite", callsid=TJS, sdp=offer, preflight=False, twilio={})
            answer = receive(old)
            assert answer["type"] == "answer", answer
            sid = answer["payload"]["callsid"]
            d.media.submit(browser.accept(answer["payload"]["sdp"])).result(10)
            wait_for(lambda: api.calls(sid).fetch().status == "in-progress")
            found = d.client_line.calls[sid]
            held = found.device
            old.send("\n")  # a heartbeat echo: the socket is alive
            with p.open() as ws:  # a live socket keeps its call
                send_legacy(ws, "listen", token=alice)
                assert receive(ws)["type"] == "connected"
                time.sleep(0.3)
                assert found.device is held
            time.sleep(2.5)  # silent past SILENT
            with p.open() as ws:
                send_legacy(ws, "listen", token=alice)
                assert receive(ws)["type"] == "connected"
                wait_for(lambda: found.device is not held)
                assert closed_code(old) == 1001  # the silent socket is closed
                send_legacy(ws, "hangup", callsid=sid)
                wait_for(lambda: api.calls(sid).fetch().status == "completed", timeout=5)
        assert d.client_line.calls == {} and d.client_calls.reconnections._timers == {}
    finally:
        d.media.submit(browser.close()).result(10)
