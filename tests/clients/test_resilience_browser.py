"""Issue 13's test (f) with the official Voice JavaScript SDK (2.18.5 from npm, unchanged) in
headless Chromium: the appliance's side of the signalling socket drops in the middle of a call
(a shutdown of its TCP socket, as a lost network would), the SDK's Call goes ``reconnecting``,
its reconnect ``invite`` (with the token from ``answer``) re-attaches the call to the new socket,
the Call is ``reconnected``, and ``disconnect()`` over the new socket ends the call."""

from __future__ import annotations

import socket

import pytest
from playwright.sync_api import sync_playwright
from twilio.jwt.access_token.grants import VoiceGrant

from tests.clients.test_outgoing_browser import FLAGS, site  # noqa: F401 - the page's fixture
from tests.clients.test_signalling_browser import browser_page, events
from tests.conftest import client_for, wait_for
from tests.webapp import WebApp, twiml

pytestmark = pytest.mark.timeout(120)

RECONNECTING = """() => {
  window.call.on('reconnecting', (e) => window.events.push(`reconnecting:${e.code}`));
  window.call.on('reconnected', () => window.events.push('reconnected'));
}"""


def test_the_official_sdk_reconnects_a_call_after_a_dropped_socket(phones, site):  # noqa: F811
    p = phones(webrtc_addresses="127.0.0.1")
    d = p.daemon
    api = client_for(d)
    webapp = WebApp()
    try:
        webapp.routes["/voice"] = twiml(
            '<Response><Say>Hello.</Say><Pause length="60"/></Response>'
        )
        app = api.applications.create(friendly_name="Desk", voice_url=webapp.url("/voice"))
        token = p.token(grant=VoiceGrant(outgoing_application_sid=app.sid))
        port = d.server.https_port
        with sync_playwright() as pw:
            page = browser_page(pw, port, *FLAGS)
            page.goto(site)
            placed = page.evaluate(
                "([t, c, s]) => place(t, c, s)",
                [token, f"127.0.0.1:{port}", f"https://127.0.0.1:{port}/sdk/sounds.json"],
            )
            assert placed == "ok"
            sid = webapp.wait(path="/voice", timeout=20).flat["CallSid"]
            wait_for(lambda: "accept" in events(page), timeout=20)
            page.evaluate(RECONNECTING)
            found = d.client_line.calls[sid]
            old = found.device
            wait_for(lambda: found.peer.port.received > 8000, timeout=10)

            old.link.sock.shutdown(socket.SHUT_RDWR)  # type: ignore[attr-defined]
            wait_for(lambda: any(e.startswith("reconnecting") for e in events(page)), timeout=15)
            wait_for(lambda: "reconnected" in events(page), timeout=30)
            assert found.device is not old  # the call moved to the new socket
            assert api.calls(sid).fetch().status == "in-progress"
            assert page.evaluate("window.call.status()") == "open"
            received = found.peer.port.received
            wait_for(lambda: found.peer.port.received > received + 8000, timeout=10)

            page.evaluate("window.call.disconnect()")
            wait_for(lambda: api.calls(sid).fetch().status == "completed", timeout=10)
            # the Device's own ConnectionError for the dropped socket, and nothing else
            assert [e for e in events(page) if "error" in e] == ["device:error:31005"]
            assert events(page).index("reconnected") < events(page).index("disconnect")
        wait_for(lambda: d.client_line.calls == {} and d.client_calls._timers == {})
    finally:
        webapp.close()
