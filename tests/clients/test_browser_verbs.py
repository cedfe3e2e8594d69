"""TwiML on a browser's call that its other tests leave out, on a real daemon: an aiortc peer
plays the browser over the real wss signalling socket.

* ``<Record>``: the recording holds the browser's 1 kHz tone.
* In-band DTMF: keys played as tones in the browser's audio (a softphone without
  ``sendDigits``, or a page that plays the keys' sounds into the call) reach ``<Gather>``.
* ``<Dial hangupOnStar>`` and ``<Dial timeLimit>`` with a browser as the caller, through the
  simulated modem: ``*`` sent as the SDK sends keys (``dtmf``) ends the bridge and the call
  goes on with the action's TwiML; the time limit ends the next bridge.

``<Message>`` on a browser's call (12200, skipped) is in test_streams_browser.py."""

from __future__ import annotations

import io
import threading
import time
import urllib.request
import wave

import pytest

from appliance.clients.audioport import FRAME_BYTES, WebRtcAudioPort
from appliance.clients.peer import Peer
from appliance.voice import tones
from tests.clients import browserapp
from tests.clients.browserapp import CALLEE, CALLEE_HZ, callee_call, heard_tone
from tests.clients.conftest import receive, send
from tests.clients.test_outgoing import record, verb_started
from tests.clients.test_peer import talk
from tests.conftest import NUMBER, wait_for
from tests.webapp import twiml

pytestmark = pytest.mark.timeout(60)


def play(port: WebRtcAudioPort, pcm: bytes) -> None:
    """``pcm`` into the browser's audio on a 20 ms clock, then silence (the port's)."""
    start = time.monotonic()
    for n, i in enumerate(range(0, len(pcm) - FRAME_BYTES + 1, FRAME_BYTES)):
        port.write(pcm[i : i + FRAME_BYTES])
        time.sleep(max(0.0, start + (n + 1) * 0.02 - time.monotonic()))


def test_record_on_a_browser_call_records_the_browsers_audio(phones, webapp):
    webapp.routes["/recorded"] = twiml("<Response><Hangup/></Response>")
    p, api, token = browserapp.start(
        phones,
        webapp,
        f'<Record maxLength="2" timeout="5" playBeep="false" action="{webapp.url("/recorded")}"/>',
    )
    d = p.daemon
    browser = Peer(WebRtcAudioPort(d.media.start()), name="browser")
    stop = threading.Event()
    talker: threading.Thread | None = None
    try:
        with p.open() as ws:
            talker = talk(browser.port, stop)  # 1 kHz from the start
            sid = browserapp.place_peer_call(p, ws, token, browser)["callsid"]
            form = webapp.wait(path="/recorded", timeout=20).flat
            assert form["CallSid"] == sid and form["RecordingSid"].startswith("RE")
            assert 1 <= int(form["RecordingDuration"]) <= 3
            assert receive(ws)["type"] == "hangup"  # the action's <Hangup/>
        with urllib.request.urlopen(form["RecordingUrl"] + ".wav", timeout=10) as resp:
            with wave.open(io.BytesIO(resp.read())) as w:
                assert (w.getframerate(), w.getnchannels()) == (8000, 1)
                pcm = w.readframes(w.getnframes())
        assert len(pcm) >= 16000  # a second or more
        assert heard_tone(pcm, 1000, 1500)  # the browser's tone is what was recorded
        recordings = api.recordings.list(call_sid=sid)
        assert [r.sid for r in recordings] == [form["RecordingSid"]]
        wait_for(lambda: api.calls(sid).fetch().status == "completed")
    finally:
        stop.set()
        d.media.submit(browser.close()).result(10)
        if talker is not None:
            talker.join(5)


def test_keys_played_in_the_browsers_audio_reach_gather(phones, webapp):
    webapp.routes["/gathered"] = twiml("<Response><Hangup/></Response>")
    p, api, token = browserapp.start(
        phones,
        webapp,
        f'<Gather numDigits="2" timeout="10" action="{webapp.url("/gathered")}"/>',
    )
    d = p.daemon
    browser = Peer(WebRtcAudioPort(d.media.start()), name="browser")
    try:
        with p.open() as ws:
            sid = browserapp.place_peer_call(p, ws, token, browser)["callsid"]
            wait_for(lambda: verb_started(d, sid, "Gather"), timeout=10)
            time.sleep(0.5)  # the media is up both ways
            play(browser.port, tones.digits_audio("47", on_ms=120, off_ms=120))
            form = webapp.wait(path="/gathered", timeout=10).flat
            assert (form["CallSid"], form["Digits"]) == (sid, "47")
            assert receive(ws)["type"] == "hangup"
        wait_for(lambda: api.calls(sid).fetch().status == "completed")
    finally:
        d.media.submit(browser.close()).result(10)


def test_hangup_on_star_and_time_limit_on_a_browsers_dial(phones, sim, webapp):
    dial = f'callerId="{NUMBER}">{CALLEE}</Dial>'
    webapp.routes["/starred"] = twiml(
        f'<Response><Dial timeLimit="2" action="{webapp.url("/limited")}" {dial}</Response>'
    )
    webapp.routes["/limited"] = twiml("<Response><Hangup/></Response>")
    p, api, token = browserapp.start(
        phones,
        webapp,
        f'<Dial hangupOnStar="true" action="{webapp.url("/starred")}" {dial}',
        sim=sim,
    )
    d = p.daemon
    browserapp.callee_answers(sim, answer_after=0.3, tone_ms=20_000)
    browser = Peer(WebRtcAudioPort(d.media.start()), name="browser")
    stop, heard = threading.Event(), []
    listener: threading.Thread | None = None
    try:
        with p.open() as ws:
            sid = browserapp.place_peer_call(p, ws, token, browser)["callsid"]
            listener = record(browser.port, stop, heard)
            first = callee_call(sim)
            assert first.wait_state("active", timeout=15)
            wait_for(lambda: heard_tone(b"".join(heard), CALLEE_HZ, 1000), timeout=10)

            send(ws, "dtmf", callsid=sid, dtmf="*")  # the SDK's sendDigits('*')
            starred = webapp.wait(path="/starred", timeout=10).flat
            assert (starred["CallSid"], starred["DialCallStatus"]) == (sid, "completed")
            assert first.wait_state("ended", timeout=10)  # the callee is hung up
            assert api.calls(sid).fetch().status == "in-progress"  # the browser is not

            # the action's <Dial timeLimit="2">: a new bridge, ended by the limit
            limited = webapp.wait(path="/limited", timeout=20).flat
            assert limited["DialCallStatus"] == "completed"
            assert 1 <= int(limited["DialCallDuration"]) <= 3
            assert limited["DialCallSid"] != starred["DialCallSid"]
            assert receive(ws)["type"] == "hangup"  # then its <Hangup/>
        wait_for(lambda: api.calls(sid).fetch().status == "completed")
        children = api.calls.list(parent_call_sid=sid)
        assert sorted(c.status for c in children) == ["completed", "completed"]
    finally:
        stop.set()
        d.media.submit(browser.close()).result(10)
        if listener is not None:
            listener.join(5)
