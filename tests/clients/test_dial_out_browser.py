"""Issue 13's test (b) in headless Chromium: the official Voice JavaScript SDK (2.18.5 from npm,
unchanged) calls ``+15551234567``; the TwiML App answers ``<Dial callerId=SIM>`` and the
simulated modem dials the simulated callee, who answers with a 1 kHz tone.  The page hears
that tone (an AnalyserNode on the call's remote stream); the callee hears the page's fake
capture (a 600 Hz tone from a WAV file, measured with Goertzel on what the simulator heard);
``call.sendDigits`` reaches the callee as ``AT+VTS``; ``call.disconnect()`` ends the callee's
leg and the Dial's action gets ``completed``."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest
from playwright.sync_api import sync_playwright

from appliance.sim.voice import Play, RemoteParty, Silence
from appliance.voice import tones
from tests.clients import browserapp
from tests.clients.browserapp import heard_tone
from tests.clients.test_outgoing_browser import FLAGS, site  # noqa: F401 - the page's fixture
from tests.clients.test_signalling_browser import browser_page, events
from tests.conftest import NUMBER, wait_for
from tests.webapp import twiml

pytestmark = pytest.mark.timeout(120)

CALLEE = "+15551234567"  # the number the page's place() asks for
PAGE_HZ = 600  # the page's microphone (fake capture)


def capture_wav(path: Path) -> Path:
    """A 600 Hz tone, 16-bit mono at 48 kHz: Chromium loops it as the fake microphone."""
    t = np.arange(48000 * 2) / 48000
    pcm = (0.3 * 32767 * np.sin(2 * np.pi * PAGE_HZ * t)).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(48000)
        w.writeframes(pcm.tobytes())
    return path


def test_the_official_sdk_dials_a_number_through_the_modem(phones, sim, webapp, site, tmp_path):  # noqa: F811
    webapp.routes["/dialed"] = twiml("<Response><Hangup/></Response>")
    p, api, token = browserapp.start(
        phones,
        webapp,
        f'<Dial action="{webapp.url("/dialed")}" timeout="10" callerId="{NUMBER}">'
        f"<Number>{CALLEE}</Number></Dial>",
        sim=sim,
    )
    d = p.daemon
    tone = tones.beep(8000, 1000, -10.0)
    sim.network.set_callee(CALLEE, answer_after=0.5, party=RemoteParty([Play(tone), Silence(60)]))
    port = d.server.https_port
    wav = capture_wav(tmp_path / "mic.wav")
    with sync_playwright() as pw:
        page = browser_page(pw, port, *FLAGS, f"--use-file-for-fake-audio-capture={wav}")
        sid = browserapp.place_call(page, site, port, token, webapp)["CallSid"]
        callee = wait_for(
            lambda: next((c for c in sim.network.calls if getattr(c, "number", "") == CALLEE), None)
        )
        assert callee.wait_state("active", timeout=15)
        # the callee's 1 kHz tone reaches the page; the page's 600 Hz reaches the callee
        level_1k, level_1500 = wait_for(lambda: page.evaluate("window.tone"), timeout=20)
        assert level_1k - level_1500 > 20
        wait_for(lambda: heard_tone(callee.heard()[-16000:], PAGE_HZ, 1000), timeout=15)
        page.evaluate("window.call.sendDigits('7*')")
        wait_for(lambda: callee.received_digits == "7*", timeout=10)
        page.evaluate("window.call.disconnect()")
        assert callee.wait_state("ended", timeout=10)
        dialed = webapp.wait(path="/dialed", timeout=10).flat
        assert dialed["DialCallStatus"] == "completed" and dialed["CallSid"] == sid
        assert not [e for e in events(page) if "error" in e], events(page)
    wait_for(lambda: api.calls(sid).fetch().status == "completed")
    assert api.calls(dialed["DialCallSid"]).fetch().status == "completed"


EARLY = """() => {
  // while the Call rings, measure its remote stream: the appliance's ringback (440 + 480 Hz)
  window.early = null;
  const poll = () => {
    const call = window.call, stream = call && call.getRemoteStream();
    if (!stream) { setTimeout(poll, 50); return; }
    const ctx = new AudioContext(), analyser = ctx.createAnalyser();
    analyser.fftSize = 2048;
    ctx.createMediaStreamSource(stream).connect(analyser);
    const data = new Float32Array(analyser.frequencyBinCount);
    const bin = (hz) => Math.round(hz / (ctx.sampleRate / analyser.fftSize));
    const timer = setInterval(() => {
      analyser.getFloatFrequencyData(data);
      const at440 = data[bin(440)], at1k = data[bin(1000)];
      if (call.status() === 'ringing' && at440 > -60 && at440 - at1k > 15) {
        window.early = [at440, at1k];
        clearInterval(timer);
      }
    }, 50);
  };
  poll();
  return 'ok';
}"""


def test_answer_on_bridge_gives_the_sdk_early_media(phones, sim, webapp, site):  # noqa: F811
    p, api, token = browserapp.start(
        phones, webapp, f'<Dial answerOnBridge="true" timeout="10">{CALLEE}</Dial>', sim=sim
    )
    d = p.daemon
    tone = tones.beep(8000, 1000, -10.0)
    sim.network.set_callee(CALLEE, answer_after=4, party=RemoteParty([Play(tone), Silence(60)]))
    port = d.server.https_port
    with sync_playwright() as pw:
        page = browser_page(pw, port, *FLAGS)
        browserapp.place(page, site, port, token)
        assert page.evaluate(EARLY) == "ok"
        sid = webapp.wait(path="/voice", timeout=20).flat["CallSid"]
        # ringing, with the ringback heard, before the callee answers
        level_440, level_1k = wait_for(lambda: page.evaluate("window.early"), timeout=10)
        assert level_440 - level_1k > 15
        assert "accept" not in events(page) and api.calls(sid).fetch().status == "ringing"
        # the callee answers: the SDK's accept, and the callee's tone
        wait_for(lambda: "accept" in events(page), timeout=15)
        assert api.calls(sid).fetch().status == "in-progress"
        wait_for(lambda: page.evaluate("window.tone"), timeout=15)
        page.evaluate("window.call.disconnect()")
        wait_for(lambda: api.calls(sid).fetch().status == "completed")
        assert not [e for e in events(page) if "error" in e], events(page)
