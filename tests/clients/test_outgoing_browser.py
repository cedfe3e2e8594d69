"""Issue 13's test (c) in headless Chromium: the official Voice JavaScript SDK (2.18.5 from npm,
unchanged) calls out with ``device.connect({params: {To}})``; the TwiML App answers <Say>,
<Play> of a 1 kHz tone and <Gather>.  The page hears the tone (an AnalyserNode on the
call's remote stream), ``call.sendDigits('42')`` reaches the Gather's action, and the
appliance's hang-up disconnects the call.  Chromium runs with fake media and offers its
loopback address (``--allow-loopback-in-peer-connection``, no mDNS names), as the design
says; the appliance offers 127.0.0.1 (``webrtc_addresses``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import sync_playwright

from tests.clients import browserapp
from tests.clients.conftest import static_site
from tests.clients.test_outgoing import tone_wav, verb_started
from tests.clients.test_signalling_browser import SDK, browser_page, events
from tests.conftest import wait_for
from tests.webapp import WebApp, twiml

pytestmark = pytest.mark.timeout(120)

PAGE = b"""<!doctype html><meta charset="utf-8"><title>phone</title>
<script src="/twilio.min.js"></script>
<script>
window.events = [];
window.tone = null;
window.place = async (token, chunderw, soundsUrl) => {
  const sounds = await (await fetch(soundsUrl)).json();
  const device = new Twilio.Device(token, { chunderw, publishEvents: false, sounds,
                                            logLevel: 'warn' });
  device.on('error', (e) => window.events.push(`device:error:${e.code}`));
  const call = await device.connect({ params: { To: '+15551234567', Mood: 'calm' } });
  window.call = call;
  call.on('accept', () => { window.events.push('accept'); listen(call); });
  call.on('disconnect', () => window.events.push('disconnect'));
  call.on('error', (e) => window.events.push(`call:error:${e.code}`));
  return 'ok';
};
function listen(call) {
  // the SDK's remote stream comes with the track event, which may follow 'accept'
  if (!call.getRemoteStream()) { setTimeout(() => listen(call), 50); return; }
  const ctx = new AudioContext();
  const analyser = ctx.createAnalyser();
  analyser.fftSize = 2048;
  ctx.createMediaStreamSource(call.getRemoteStream()).connect(analyser);
  const data = new Float32Array(analyser.frequencyBinCount);
  const bin = (hz) => Math.round(hz / (ctx.sampleRate / analyser.fftSize));
  const timer = setInterval(() => {
    analyser.getFloatFrequencyData(data);
    const at1k = data[bin(1000)], at1500 = data[bin(1500)];
    if (at1k > -60 && at1k - at1500 > 20 && window.tone === null) {
      window.tone = [at1k, at1500];
      clearInterval(timer);
    }
  }, 50);
}
</script>"""

FLAGS = (
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--allow-loopback-in-peer-connection",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
)


@pytest.fixture
def site() -> Iterator[str]:
    assert SDK.exists(), "the SDK comes from npm: `make test` runs npm ci in tests/node"
    files = {"/": (PAGE, "text/html"), "/twilio.min.js": (SDK.read_bytes(), "text/javascript")}
    with static_site(files) as url:
        yield url


def test_the_official_sdk_calls_say_play_and_gather(phones, site):
    p = browserapp.appliance(phones)
    d = p.daemon
    webapp = WebApp()
    try:
        api, app, token = browserapp.app_token(
            p,
            webapp,
            "<Say>Hello.</Say>"
            f"<Play>{webapp.url('/tone.wav')}</Play>"
            f'<Gather numDigits="2" timeout="15" action="{webapp.url("/gathered")}">'
            "<Say>Press two keys.</Say></Gather>",
            name="Desk",
        )
        webapp.routes["/tone.wav"] = lambda req: (200, "audio/wav", tone_wav())
        webapp.routes["/gathered"] = twiml("<Response><Hangup/></Response>")
        port = d.server.https_port
        with sync_playwright() as pw:
            page = browser_page(pw, port, *FLAGS)
            form = browserapp.place_call(page, site, port, token, webapp)
            assert form["From"] == "client:alice" and form["To"] == "+15551234567"
            assert form["Mood"] == "calm" and form["ApplicationSid"] == app.sid
            sid = form["CallSid"]
            assert page.evaluate("window.call.parameters.CallSid") == sid
            # the page hears the <Play>ed tone; the appliance hears the page (fake capture)
            found = d.client_line.calls[sid]
            level_1k, level_1500 = wait_for(
                lambda: page.evaluate("window.tone"), timeout=20, interval=0.1
            )
            assert level_1k - level_1500 > 20
            wait_for(lambda: found.peer.port.received > 8000, timeout=10)
            assert found.peer.codec == "PCMU"  # the SDK's first preference
            wait_for(lambda: verb_started(d, sid, "Gather"), timeout=10)
            page.evaluate("window.call.sendDigits('42')")
            gathered = webapp.wait(path="/gathered", timeout=20).flat
            assert gathered["Digits"] == "42"
            wait_for(lambda: "disconnect" in events(page), timeout=10)
            assert not [e for e in events(page) if "error" in e], events(page)
            assert page.evaluate("window.call.status()") == "closed"
        wait_for(lambda: api.calls(sid).fetch().status == "completed")
    finally:
        webapp.close()
