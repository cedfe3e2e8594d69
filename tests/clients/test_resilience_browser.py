"""Issue 13's test (f) with the official Voice JavaScript SDK (2.18.5 from npm, unchanged) in
headless Chromium: the appliance's side of the signalling socket drops in the middle of a call
(a shutdown of its TCP socket, as a lost network would), the SDK's Call goes ``reconnecting``,
its reconnect ``invite`` (with the token from ``answer``) re-attaches the call to the new socket,
the Call is ``reconnected``, and ``disconnect()`` over the new socket ends the call.

And the SDK's ICE restart (``reinvite``): its re-offer with new ICE credentials is answered,
Chrome moves to its new ICE generation, and the call's audio goes on."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from playwright.sync_api import Page, sync_playwright
from twilio.rest import Client

from appliance.daemon import Daemon
from tests.clients import browserapp
from tests.clients.test_outgoing_browser import FLAGS, site  # noqa: F401 - the page's fixture
from tests.clients.test_signalling_browser import browser_page, events
from tests.conftest import wait_for
from tests.webapp import WebApp

pytestmark = pytest.mark.timeout(120)


@contextmanager
def desk_call(phones: Any, url: str) -> Iterator[tuple[Daemon, Client, Page, str]]:
    """The SDK in Chromium (the page at ``url``) calls an App that says hello and waits a
    minute: the daemon, its REST client, the page and the call's sid, once it is accepted."""
    p = browserapp.appliance(phones)
    webapp = WebApp()
    try:
        api, _, token = browserapp.app_token(
            p, webapp, '<Say>Hello.</Say><Pause length="60"/>', name="Desk"
        )
        port = p.daemon.server.https_port
        with sync_playwright() as pw:
            page = browser_page(pw, port, *FLAGS)
            sid = browserapp.place_call(page, url, port, token, webapp)["CallSid"]
            yield p.daemon, api, page, sid
    finally:
        webapp.close()


RECONNECTING = """() => {
  window.call.on('reconnecting', (e) => window.events.push(`reconnecting:${e.code}`));
  window.call.on('reconnected', () => window.events.push('reconnected'));
}"""


def test_the_official_sdk_reconnects_a_call_after_a_dropped_socket(phones, site):  # noqa: F811
    with desk_call(phones, site) as (d, api, page, sid):
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
    wait_for(lambda: d.client_line.calls == {} and d.client_calls.reconnections._timers == {})


# The SDK's ICE restart, run as its media-reconnect backoff runs it (call.ts: 'ready' calls
# the media handler's iceRestart): a re-offer with new ICE credentials in a ``reinvite``.
RESTART = """async () => {
  const pc = window.call._mediaHandler.version.pc;
  const ufrag = () => /a=ice-ufrag:(\\S+)/.exec(pc.localDescription.sdp)[1];
  const before = ufrag();
  window.call._mediaHandler.iceRestart();
  for (let i = 0; i < 100 && (pc.signalingState !== 'stable' || ufrag() === before); i++) {
    await new Promise((r) => setTimeout(r, 100));
  }
  return [before, ufrag(), pc.signalingState];
}"""

# ICE state, the selected pair's state, and the ICE generation (ufrag) of its local candidate
SELECTED = """async () => {
  const pc = window.call._mediaHandler.version.pc;
  const stats = await pc.getStats();
  let pair = null;
  stats.forEach((s) => { if (s.type === 'transport') pair = stats.get(s.selectedCandidatePairId); });
  const local = pair ? stats.get(pair.localCandidateId) : null;
  return [pc.iceConnectionState, pair ? pair.state : null, local ? local.usernameFragment : null];
}"""


def test_the_official_sdk_restarts_ice_and_the_call_goes_on(phones, site):  # noqa: F811
    with desk_call(phones, site) as (d, api, page, sid):
        found = d.client_line.calls[sid]
        wait_for(lambda: found.peer.port.received > 8000, timeout=10)

        before, after, signalling = page.evaluate(RESTART)
        assert before != after and signalling == "stable"  # the restart's answer was taken
        agent = found.peer.pc.getTransceivers()[0].receiver.transport.transport._connection
        assert agent.remote_username == after  # the appliance took the new credentials
        # Chrome moves to its new ICE generation once the appliance answers its checks
        # (and Chrome answers the appliance's consent checks) with the new credentials
        wait_for(lambda: page.evaluate(SELECTED) == ["connected", "succeeded", after], 20)
        received = found.peer.port.received
        wait_for(lambda: found.peer.port.received > received + 8000, timeout=10)
        assert page.evaluate("window.call.status()") == "open"
        assert api.calls(sid).fetch().status == "in-progress"
        page.evaluate("window.call.disconnect()")
        wait_for(lambda: api.calls(sid).fetch().status == "completed", timeout=10)
        assert [e for e in events(page) if "error" in e] == []
