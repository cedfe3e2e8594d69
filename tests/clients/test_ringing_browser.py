"""Issue 13's test (a) in headless Chromium: a simulated GSM caller on the pty reaches
``<Dial><Client>alice</Client></Dial>``; the official Voice JavaScript SDK (2.18.5 from npm,
unchanged) registered as alice rings, shows the caller and the ``<Parameter>``, and accepts.
The caller's 1 kHz tone reaches the page (an AnalyserNode on the call's remote stream), the
page's 600 Hz tone (Chromium's fake capture of a WAV file) reaches the simulated caller
(Goertzel on what the simulator heard), and the page's hang-up ends the ``<Dial>``."""

from __future__ import annotations

import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from playwright.sync_api import sync_playwright

from appliance.sim.party import Play, RemoteParty, Silence
from appliance.voice import tones
from tests.clients.audiocheck import goertzel_dbfs
from tests.clients.conftest import static_site
from tests.clients.test_outgoing_browser import FLAGS, PAGE
from tests.clients.test_signalling_browser import SDK, browser_page, events
from tests.conftest import PHONE, client_for, wait_for
from tests.webapp import twiml

pytestmark = pytest.mark.timeout(120)

RING = b"""<script>
window.ring = async (token, chunderw, soundsUrl) => {
  const sounds = await (await fetch(soundsUrl)).json();
  const device = new Twilio.Device(token, { chunderw, publishEvents: false, sounds,
                                            logLevel: 'warn' });
  device.on('error', (e) => window.events.push(`device:error:${e.code}`));
  device.on('incoming', (call) => {
    window.call = call;
    window.events.push(`incoming ${call.parameters.From} ${call.parameters.To}`
                       + ` ticket=${call.customParameters.get('ticket')}`);
    call.on('accept', () => { window.events.push('accept'); listen(call); });
    call.on('disconnect', () => window.events.push('disconnect'));
    call.on('cancel', () => window.events.push('cancel'));
    call.on('error', (e) => window.events.push(`call:error:${e.code}`));
    call.accept();
  });
  await device.register();
  return device.state;
};
</script>"""
PAGE_HZ = 600


@pytest.fixture
def site() -> Iterator[str]:
    assert SDK.exists(), "the SDK comes from npm: `make test` runs npm ci in tests/node"
    files = {
        "/": (PAGE + RING, "text/html"),
        "/twilio.min.js": (SDK.read_bytes(), "text/javascript"),
    }
    with static_site(files) as url:
        yield url


def capture_wav(path: Path) -> Path:
    """What Chromium's fake microphone plays (in a loop): 2 s of 600 Hz at 48 kHz."""
    t = np.arange(96000) / 48000.0
    pcm = (0.3 * 32767 * np.sin(2 * np.pi * PAGE_HZ * t)).astype("<i2").tobytes()
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(48000)
        w.writeframes(pcm)
    return path


def test_the_official_sdk_is_rung_by_a_gsm_caller_and_they_hear_each_other(
    phones, sim, webapp, site, tmp_path
):
    p = phones(
        webrtc_addresses="127.0.0.1",
        modem={
            "voice_url": webapp.url("/voice"),
            "audio_port": str(sim.modems["modem1"].audio_path),
        },
    )
    d = p.daemon
    webapp.routes["/voice"] = twiml(
        f'<Response><Dial action="{webapp.url("/dialed")}" timeout="20">'
        '<Client><Identity>alice</Identity><Parameter name="ticket" value="7"/></Client>'
        "</Dial></Response>"
    )
    webapp.routes["/dialed"] = twiml("<Response><Hangup/></Response>")
    port = d.server.https_port
    wav = capture_wav(tmp_path / "page.wav")
    with sync_playwright() as pw:
        page = browser_page(pw, port, *FLAGS, f"--use-file-for-fake-audio-capture={wav}")
        page.goto(site)
        state = page.evaluate(
            "([t, c, s]) => ring(t, c, s)",
            [p.token(), f"127.0.0.1:{port}", f"https://127.0.0.1:{port}/sdk/sounds.json"],
        )
        assert state == "registered"
        tone = tones.beep(8000, 1000, -10.0)
        caller = sim.network.incoming_call(
            "modem1", PHONE, party=RemoteParty([Silence(2), Play(tone), Silence(20)])
        )
        parent = webapp.wait(15, path="/voice").flat["CallSid"]
        wait_for(lambda: "accept" in events(page), timeout=20)
        assert f"incoming {PHONE} client:alice ticket=7" in events(page)
        sid = page.evaluate("window.call.parameters.CallSid")
        # the caller's tone reaches the page; the page's reaches the caller
        level_1k, level_1500 = wait_for(lambda: page.evaluate("window.tone"), timeout=20)
        assert level_1k - level_1500 > 20

        def page_heard() -> bool:
            back = caller.heard()[-8000:]
            return goertzel_dbfs(back, PAGE_HZ) - goertzel_dbfs(back, 1500) > 20

        wait_for(page_heard, timeout=15, interval=0.2)
        assert d.client_line.calls[sid].peer.codec == "PCMU"
        page.evaluate("window.call.disconnect()")
        dialed = webapp.wait(15, path="/dialed").flat
        assert dialed["DialCallStatus"] == "completed" and dialed["DialCallSid"] == sid
        assert not [e for e in events(page) if "error" in e or e == "cancel"], events(page)
    assert caller.wait_state("ended", timeout=10)
    row = client_for(d).calls(sid).fetch()
    assert (row.to, row.status, row.parent_call_sid) == ("client:alice", "completed", parent)
