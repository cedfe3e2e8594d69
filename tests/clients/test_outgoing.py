"""Calls from a browser (issue 13, slice 4), on a real daemon with the simulated modem: an aiortc
peer plays the browser and sends the Voice SDK's own ``invite`` over the real wss signalling
socket; the TwiML App's VoiceUrl is a real HTTP server on 127.0.0.1.  Checked: the webhook's
parameters and signature, the answer SDP, audio reaching the browser (a <Play>ed 1 kHz tone
by Goertzel, <Say> by level), digits sent as signalling reaching <Gather>'s action, the
appliance's hangup, the row and the status callback; and the refused invites' codes."""

from __future__ import annotations

import io
import json
import threading
import time
import urllib.parse
import wave

import numpy as np
import pytest
from twilio.jwt.access_token.grants import VoiceGrant
from twilio.request_validator import RequestValidator

from appliance.clients.audioport import FRAME_BYTES, WebRtcAudioPort
from appliance.clients.peer import Peer
from appliance.voice import tones
from tests.clients.audiocheck import goertzel_dbfs
from tests.clients.conftest import APP, receive, send
from tests.clients.test_peer import as_the_sdk_sends_it
from tests.conftest import client_for, wait_for
from tests.webapp import WebApp, twiml

pytestmark = pytest.mark.timeout(90)

TJS = "TJSf0e1d2c3-b4a5-4697-8899-aabbccddeeff"


@pytest.fixture
def webapp():
    app = WebApp()
    yield app
    app.close()


def tone_wav() -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(tones.beep(1200, 1000, -10.0))
    return buf.getvalue()


def sdk_invite(ws, sdp: str, params: dict[str, str]) -> None:
    """The invite exactly as the SDK's PStream sends it (pstream.ts: payload, type, version;
    twilio.params joined from encodeURIComponent pairs)."""
    text = "&".join(
        f"{urllib.parse.quote(k, safe='')}={urllib.parse.quote(v, safe='')}"
        for k, v in params.items()
    )
    ws.send(
        json.dumps(
            {
                "payload": {"callsid": TJS, "sdp": sdp, "twilio": {"params": text}},
                "type": "invite",
                "version": "1.6",
            }
        )
    )


def record(port: WebRtcAudioPort, stop: threading.Event, out: list[bytes]) -> threading.Thread:
    def run() -> None:
        while not stop.is_set():
            out.append(port.read(FRAME_BYTES, 0.1))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def verb_started(d, sid: str, name: str) -> bool:
    """The call's timeline says the verb has started (digits before a <Gather> are dropped)."""
    rows = d.store.read(
        "SELECT detail FROM call_events WHERE call_sid = ? AND kind = 'verb'", (sid,)
    )
    return any(name in str(r["detail"]) for r in rows)


def windows(pcm: bytes, seconds: float = 0.5) -> list[bytes]:
    size = int(8000 * 2 * seconds)
    return [pcm[i : i + size] for i in range(0, len(pcm) - size + 1, size // 2)]


def rms_dbfs(pcm: bytes) -> float:
    x = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    return float(20 * np.log10(max(np.sqrt(np.mean(x * x)), 1e-9) / 32767.0))


def test_a_browser_call_runs_the_apps_say_play_and_gather(phones, webapp):
    p = phones(webrtc_addresses="127.0.0.1")
    d = p.daemon
    api = client_for(d)
    webapp.routes["/voice"] = twiml(
        "<Response><Say>Welcome to the help desk.</Say>"
        f"<Play>{webapp.url('/tone.wav')}</Play>"
        f'<Gather numDigits="2" timeout="10" action="{webapp.url("/gathered")}">'
        "<Say>Press two keys.</Say></Gather></Response>"
    )
    webapp.routes["/tone.wav"] = lambda req: (200, "audio/wav", tone_wav())
    webapp.routes["/gathered"] = twiml("<Response><Hangup/></Response>")
    app = api.applications.create(
        friendly_name="Help desk",
        voice_url=webapp.url("/voice"),
        status_callback=webapp.url("/status"),
    )
    token = p.token(
        grant=VoiceGrant(
            outgoing_application_sid=app.sid, outgoing_application_params={"team": "support"}
        )
    )
    loop = d.media.start()  # the browser's peer shares the appliance's loop (and its ICE address)
    browser = Peer(WebRtcAudioPort(loop), name="browser")
    stop, heard = threading.Event(), []
    listener: threading.Thread | None = None
    try:
        with p.open() as ws:
            send(ws, "listen", token=token, browserinfo={}, reconnectTimeout=0)
            assert receive(ws)["type"] == "connected"
            offer_sdp = as_the_sdk_sends_it(d.media.submit(browser.offer()).result(10))
            started = time.monotonic()
            sdk_invite(ws, offer_sdp, {"To": "+15551234567", "Mood": "happy & well", "team": "x"})

            # the App's VoiceUrl, with Twilio's parameters for a client call, signed
            req = webapp.wait(path="/voice")
            connect_to_webhook = time.monotonic() - started
            form = req.flat
            sid = form["CallSid"]
            assert sid.startswith("CA") and len(sid) == 34
            assert {k: form[k] for k in ("AccountSid", "ApplicationSid", "From", "Caller")} == {
                "AccountSid": d.account.sid,
                "ApplicationSid": app.sid,
                "From": "client:alice",
                "Caller": "client:alice",
            }
            assert form["To"] == "+15551234567" and form["Called"] == "+15551234567"
            assert form["Direction"] == "inbound" and form["CallStatus"] == "ringing"
            assert form["ApiVersion"] == "2010-04-01"
            # the page's connect params; the grant's win over a page param of the same name
            assert form["Mood"] == "happy & well" and form["team"] == "support"
            assert RequestValidator(d.account.auth_token).validate(
                req.url, form, req.headers["X-Twilio-Signature"]
            )

            # answer: the CA sid replaces the TJS id, with the appliance's SDP
            answer = receive(ws)
            assert answer["type"] == "answer" and answer["payload"]["callsid"] == sid
            assert "a=candidate:" in answer["payload"]["sdp"]
            d.media.submit(browser.accept(answer["payload"]["sdp"])).result(10)
            listener = record(browser.port, stop, heard)
            assert api.calls(sid).fetch().status == "in-progress"

            # <Say> then the <Play>ed tone reach the browser; then <Gather> waits
            def tone_heard() -> bool:
                pcm = b"".join(heard)
                return any(goertzel_dbfs(w, 1000) > -20 for w in windows(pcm)[-4:])

            wait_for(tone_heard, timeout=20, interval=0.25)
            time.sleep(1.0)
            pcm = b"".join(heard)
            levels = [goertzel_dbfs(w, 1000) for w in windows(pcm)]
            first_tone = next(i for i, v in enumerate(levels) if v > -20)
            before = windows(pcm)[:first_tone]
            assert before and max(rms_dbfs(w) for w in before) > -35, "no speech before the tone"
            tone = windows(pcm)[first_tone + 1]
            assert goertzel_dbfs(tone, 1000) - goertzel_dbfs(tone, 1500) > 20

            # sendDigits without telephone-event: the SDK's dtmf message, to <Gather>
            wait_for(lambda: verb_started(d, sid, "Gather"))
            send(ws, "dtmf", callsid=sid, dtmf="4")
            send(ws, "dtmf", callsid=TJS, dtmf="2")  # the TJS id still names the call
            gathered = webapp.wait(path="/gathered", timeout=15)
            assert gathered.flat["Digits"] == "42" and gathered.flat["CallSid"] == sid
            assert RequestValidator(d.account.auth_token).validate(
                gathered.url, gathered.flat, gathered.headers["X-Twilio-Signature"]
            )

            # <Hangup/>: the appliance hangs up the browser
            msg = receive(ws)
            assert msg == {"type": "hangup", "version": "1.6", "payload": {"callsid": sid}}
        status = webapp.wait(path="/status", timeout=10).flat
        assert status["CallStatus"] == "completed" and status["CallSid"] == sid
        assert status["From"] == "client:alice" and status["Direction"] == "inbound"
        assert int(status["CallDuration"]) >= 1
        row = api.calls(sid).fetch()
        assert (row.direction, row._from, row.to, row.status) == (
            "inbound",
            "client:alice",
            "+15551234567",
            "completed",
        )
        wait_for(lambda: d.client_line.calls == {} and d.client_line.flows == {})
        assert connect_to_webhook < 5
    finally:
        stop.set()
        d.media.submit(browser.close()).result(10)
    if listener is not None:
        listener.join(5)


def test_a_browser_that_hangs_up_ends_its_call(phones, webapp):
    # no reconnect grace: the dropped socket ends its call at once (test_resilience.py
    # tests the grace)
    p = phones(webrtc_addresses="127.0.0.1", client_reconnect_grace=0)
    d = p.daemon
    api = client_for(d)
    webapp.routes["/voice"] = twiml('<Response><Say>Hi.</Say><Pause length="30"/></Response>')
    app = api.applications.create(friendly_name="Wait", voice_url=webapp.url("/voice"))
    loop = d.media.start()
    browser = Peer(WebRtcAudioPort(loop), name="browser")
    other = Peer(WebRtcAudioPort(loop), name="other")
    try:
        with p.open() as ws:
            send(ws, "listen", token=p.token(grant=VoiceGrant(outgoing_application_sid=app.sid)))
            assert receive(ws)["type"] == "connected"
            sdk_invite(ws, as_the_sdk_sends_it(d.media.submit(browser.offer()).result(10)), {})
            answer = receive(ws)
            sid = answer["payload"]["callsid"]
            assert webapp.wait(path="/voice").flat["To"] == ""
            send(ws, "hangup", callsid=sid)
            wait_for(lambda: api.calls(sid).fetch().status == "completed")
            # a second call on the same socket, dropped with the socket
            sdk_invite(ws, as_the_sdk_sends_it(d.media.submit(other.offer()).result(10)), {})
            second = receive(ws)["payload"]["callsid"]
            assert second != sid
        wait_for(lambda: api.calls(second).fetch().status == "completed")
        wait_for(lambda: d.client_line.flows == {})
    finally:
        for peer in (browser, other):
            d.media.submit(peer.close()).result(10)


@pytest.mark.parametrize(
    "case", ["no outgoing grant", "unknown app", "deleted app", "bad sdp", "params"]
)
def test_refused_invites_get_twilios_codes(phones, webapp, case):
    p = phones(webrtc_addresses="127.0.0.1")
    api = client_for(p.daemon)
    app = api.applications.create(friendly_name="Desk", voice_url=webapp.url("/voice"))
    grant = {
        "no outgoing grant": VoiceGrant(incoming_allow=True),
        "unknown app": VoiceGrant(outgoing_application_sid=APP),
    }.get(case, VoiceGrant(outgoing_application_sid=app.sid))
    token = p.token(grant=grant)
    if case == "deleted app":
        api.applications(app.sid).delete()  # after the token was minted
    sdp = "v=0\r\n" if case == "bad sdp" else GOOD_SDP
    params = {f"p{i}": "v" for i in range(41)} if case == "params" else {"To": "+1555"}
    code, words = {
        "no outgoing grant": (31201, "outgoing grant"),
        "unknown app": (31001, APP),
        "deleted app": (31001, app.sid),
        "bad sdp": (31100, "SDP"),
        "params": (31103, "at most 40"),
    }[case]
    with p.open() as ws:
        send(ws, "listen", token=token)
        assert receive(ws)["type"] == "connected"
        sdk_invite(ws, sdp, params)
        error = receive(ws)
        assert error["type"] == "error" and error["payload"]["callsid"] == TJS
        assert error["payload"]["error"]["code"] == code, error
        assert words in error["payload"]["error"]["message"]
        assert receive(ws) == {"type": "hangup", "version": "1.6", "payload": {"callsid": TJS}}
    assert api.calls.list() == [] and webapp.requests == []
    assert not p.daemon.media.running  # refused before the media loop starts


# An SDP as Chrome offers it (no candidates), for the refusals that come before media
GOOD_SDP = (
    "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 0 111\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\n"
    "a=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n"
    "a=fingerprint:sha-256 " + ":".join(["AB"] * 32) + "\r\na=setup:actpass\r\n"
    "a=sendrecv\r\na=rtcp-mux\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:111 opus/48000/2\r\n"
)


@pytest.mark.parametrize(
    ("reason", "code", "status"), [("busy", 31486, "busy"), ("rejected", 31603, "no-answer")]
)
def test_a_first_reject_hangs_the_browser_up_with_the_sdks_code(
    phones, webapp, reason, code, status
):
    p = phones(webrtc_addresses="127.0.0.1")
    api = client_for(p.daemon)
    webapp.routes["/voice"] = twiml(f'<Response><Reject reason="{reason}"/></Response>')
    app = api.applications.create(friendly_name="Closed", voice_url=webapp.url("/voice"))
    with p.open() as ws:
        send(ws, "listen", token=p.token(grant=VoiceGrant(outgoing_application_sid=app.sid)))
        assert receive(ws)["type"] == "connected"
        sdk_invite(ws, GOOD_SDP, {"To": "+15551234567"})
        sid = webapp.wait(path="/voice").flat["CallSid"]
        msg = receive(ws)  # no answer: the call is refused as it rings
        assert msg["type"] == "hangup" and msg["payload"]["callsid"] == sid
        assert msg["payload"]["error"]["code"] == code
    wait_for(lambda: api.calls(sid).fetch().status == status)
    wait_for(lambda: p.daemon.client_line.flows == {})
