"""The Voice JavaScript SDK as a LAN without internet sees it (docs/clients.md, issue 13): in
headless Chromium, a page loads the SDK from the appliance's own ``/sdk/twilio.min.js`` (not
from node_modules), makes a Device with the ``sounds`` option of ``/sdk/sounds.json``, and every
sound the SDK fetches comes from the appliance: nothing is asked of twilio.com (requests to any
other host are recorded and blocked).  Each sound decodes in the browser to its length.

The page is another origin (a plain HTTP server on 127.0.0.1, as a customer's site would be),
so the SDK's cross-origin fetches of the sounds also check the routes' CORS header.
"""

from __future__ import annotations

import re
import time
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Route, sync_playwright

from appliance.voice import phonesounds
from tests.clients.conftest import static_site
from tests.clients.test_signalling_browser import browser_page

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(240)

PAGE = """<!doctype html><meta charset="utf-8"><title>phone</title>
<script src="{base}/sdk/twilio.min.js"></script>
<script>
window.start = async (token, chunderw) => {{
  const sounds = await (await fetch('{base}/sdk/sounds.json')).json();
  window.device = new Twilio.Device(token, {{ chunderw, publishEvents: false, sounds }});
  return sounds;
}};
window.durations = async (urls) => {{
  const context = new AudioContext();
  const out = {{}};
  for (const [name, url] of Object.entries(urls)) {{
    const data = await (await fetch(url)).arrayBuffer();
    out[name] = (await context.decodeAudioData(data)).duration;
  }}
  return out;
}};
</script>"""


def documented_sounds() -> dict[str, str]:
    """The ``sounds: {...}`` object docs/clients.md gives: option name -> file name."""
    doc = (ROOT / "docs/clients.md").read_text()
    block = doc[doc.index("const sounds = {") :]
    block = block[: block.index("};")]
    return dict(re.findall(r"(\w+): base \+ '([\w-]+\.wav)'", block))


def test_the_sdk_from_the_appliance_takes_every_sound_from_the_appliance(phones):
    p = phones()
    port = p.daemon.server.https_port
    base = f"https://127.0.0.1:{port}"
    requested: list[str] = []
    blocked: list[str] = []
    responses: dict[str, Any] = {}

    def only_loopback(route: Route) -> None:
        if urllib.parse.urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    page_html = PAGE.format(base=base).encode()
    with static_site({"/": (page_html, "text/html")}) as site, sync_playwright() as pw:
        page = browser_page(pw, port)
        page.on("request", lambda r: requested.append(r.url))
        page.on("response", lambda r: responses.setdefault(r.url, r))
        page.route("**/*", only_loopback)
        page.goto(site)
        assert page.evaluate("typeof Twilio.Device") == "function"
        sounds = page.evaluate("([t, c]) => start(t, c)", [p.token(), f"127.0.0.1:{port}"])
        # The SDK preloads each sound (a muted play) as the Device is made.
        wanted = set(sounds.values())
        end = time.monotonic() + 20
        while not wanted <= set(requested) and time.monotonic() < end:
            page.wait_for_timeout(100)  # Playwright delivers its events meanwhile
        page.wait_for_timeout(500)  # and any request that would go elsewhere
        durations = page.evaluate("(urls) => durations(urls)", sounds)
        statuses = {
            u: (r.status, r.headers.get("content-type"))
            for u, r in responses.items()
            if u in wanted
        }
        page.context.browser.close()

    assert not blocked, blocked
    assert f"{base}/sdk/twilio.min.js" in requested
    assert wanted <= set(requested), wanted - set(requested)
    assert all(urllib.parse.urlsplit(u).hostname == "127.0.0.1" for u in requested), requested
    assert not [u for u in requested if "twilio.com" in u]
    # The option names every sound of the SDK, each a file of the appliance.
    assert set(sounds) == set(phonesounds.OPTION_NAMES)
    assert sounds == {k: f"{base}/sdk/sounds/{v}.wav" for k, v in phonesounds.OPTION_NAMES.items()}
    assert set(statuses) == wanted and set(statuses.values()) == {(200, "audio/wav")}
    for key, seconds in durations.items():
        expected = phonesounds.DURATIONS[phonesounds.OPTION_NAMES[key]]
        assert seconds == pytest.approx(expected, abs=0.01), (key, seconds)
    # docs/clients.md's literal `sounds` object is the same set of files.
    assert documented_sounds() == {k: f"{v}.wav" for k, v in phonesounds.OPTION_NAMES.items()}
