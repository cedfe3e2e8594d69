"""The legacy twilio.js 1.x SDK (``twilio-client`` 1.15.1 from npm, unchanged) in headless
Chromium registers against the appliance with a capability token minted by the official twilio
Python library's ``ClientCapabilityToken``: ``Twilio.Device.setup(token, {chunderw:
'127.0.0.1:<https_port>', publishEvents: false})``.

Its signalling is the protocol the appliance speaks for the 2.x SDK (PStream version "1.5"
instead of "1.6", the same messages): it registers, and its calls are refused as 2.x's are.  The page aborts every request that leaves 127.0.0.1 and
records its host: only the SDK's default sounds (sdk.twilio.com) are asked for, and
registration works without them.

A call it places through a TwiML App ``<Dial>`` to the simulated GSM callee outlives a dropped
signalling socket: 1.x reconnects and sends ``listen`` again, the appliance re-attaches the call
to the new socket, and keys and the page's hang-up go over it (the call and the GSM leg end
``completed`` at once, not after the grace).
"""

from __future__ import annotations

import json
import socket
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, Route, sync_playwright
from twilio.jwt.client import ClientCapabilityToken

from appliance import sids
from appliance.sim.voice import Play, RemoteParty, Silence
from appliance.voice import tones
from tests.clients import browserapp
from tests.clients.browserapp import CALLEE, CALLEE_HZ, callee_call
from tests.clients.conftest import static_site
from tests.clients.test_outgoing_browser import FLAGS
from tests.clients.test_signalling_browser import browser_page
from tests.conftest import NUMBER, wait_for
from tests.webapp import twiml

ROOT = Path(__file__).resolve().parents[2]
SDK = ROOT / "tests/node/node_modules/twilio-client/dist/twilio.min.js"
APP = "AP" + "cd" * 16
FAKE_MEDIA = ("--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream")
pytestmark = pytest.mark.timeout(240)

PAGE = b"""<!doctype html><meta charset="utf-8"><title>legacy phone</title>
<script src="/twilio.min.js"></script>
<script>
window.events = [];
window.setup = (token, chunderw) => {
  for (const name of ['ready', 'offline']) {
    Twilio.Device.on(name, () => window.events.push(name));
  }
  Twilio.Device.on('error', (e) => window.events.push(
    `error:${e.code}:${e.twilioError ? e.twilioError.code : ''}:${e.message}`));
  Twilio.Device.setup(token, { chunderw, publishEvents: false, warnings: false });
};
window.place = (params) => {
  const c = window.conn = Twilio.Device.connect(params);
  for (const name of ['accept', 'disconnect']) {
    c.on(name, () => window.events.push(`call:${name}`));
  }
  c.on('error', (e) => window.events.push(`call:error:${e.code}`));
  return 'ok';
};
</script>"""


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    assert SDK.exists(), "the SDK comes from npm: `make test` runs npm ci in tests/node"
    files = {"/": (PAGE, "text/html"), "/twilio.min.js": (SDK.read_bytes(), "text/javascript")}
    with static_site(files) as url:
        yield url


def capability(account_sid: str, auth_token: str, name: str | None = "alice", **kw: Any) -> str:
    token = ClientCapabilityToken(account_sid, auth_token, **kw)
    if name is not None:
        token.allow_client_incoming(name)
    token.allow_client_outgoing(APP, team="support")
    return str(token.to_jwt())


def legacy_page(
    playwright: Any, https_port: int, site: str, flags: tuple[str, ...] = FAKE_MEDIA
) -> tuple[Page, set[str], list[dict[str, Any]]]:
    """The test page with the SDK loaded; requests off 127.0.0.1 are aborted, their hosts kept,
    and the signalling messages the SDK sends are kept."""
    page = browser_page(playwright, https_port, *flags)
    foreign: set[str] = set()
    sent: list[dict[str, Any]] = []

    def frame(payload: str | bytes) -> None:
        if isinstance(payload, str) and payload != "\n":
            sent.append(json.loads(payload))

    page.on("websocket", lambda ws: ws.on("framesent", frame))

    def route(r: Route) -> None:
        host = urllib.parse.urlsplit(r.request.url).hostname or ""
        if host == "127.0.0.1":
            r.continue_()
        else:
            foreign.add(host)
            r.abort()

    page.route("**/*", route)
    page.goto(site)
    return page, foreign, sent


def events(page: Page) -> list[str]:
    return list(page.evaluate("window.events"))


def test_the_legacy_sdk_registers_with_a_capability_token(phones, site):
    p = phones()
    account = p.daemon.account
    hub = p.daemon.server.hub
    chunderw = f"127.0.0.1:{p.daemon.server.https_port}"
    with sync_playwright() as pw:
        page, foreign, sent = legacy_page(pw, p.daemon.server.https_port, site)
        page.evaluate(
            "([t, c]) => setup(t, c)",
            [capability(account.sid, account.auth_token, ttl=600), chunderw],
        )
        wait_for(lambda: "ready" in events(page), timeout=20)
        assert page.evaluate("Twilio.Device.status()") == "ready"
        assert hub.identities() == {"alice": 1}
        conn = hub.devices("alice")[0]
        assert conn.grant is not None and conn.grant.kind == "capability"
        assert conn.grant.application_sid == APP and conn.grant.params == {"team": "support"}

        # unregisterPresence / registerPresence: register with audio off, then on
        page.evaluate("Twilio.Device.unregisterPresence()")
        wait_for(lambda: "offline" in events(page))
        wait_for(lambda: hub.identities() == {})
        page.evaluate("Twilio.Device.registerPresence()")
        wait_for(lambda: events(page).count("ready") == 2)
        assert hub.identities() == {"alice": 1}

        # a refreshed token (Device.updateToken, the 1.x way: listen again) keeps the registration
        page.evaluate(
            "(t) => Twilio.Device.updateToken(t)",
            capability(account.sid, account.auth_token, ttl=3600),
        )
        wait_for(lambda: conn.grant is not None and conn.grant.expires > time.time() + 3000)
        wait_for(lambda: events(page).count("ready") >= 3)  # connected -> register -> ready
        assert hub.devices("alice") == (conn,)
        assert not [e for e in events(page) if e.startswith("error")]
        # the 1.x PStream protocol: version 1.5, the token in listen, media.audio in register
        assert {m["version"] for m in sent} == {"1.5"}
        kinds = [m["type"] for m in sent]
        assert kinds[:2] == ["listen", "register"] and set(kinds) == {"listen", "register"}
        registers = len(sent)
        assert set(sent[0]["payload"]) == {"token", "browserinfo"}
        assert sent[0]["payload"]["browserinfo"]["v"] == "1.15.1"
        assert [m["payload"]["media"]["audio"] for m in sent if m["type"] == "register"][:3] == [
            True,
            False,
            True,
        ]

        # a call: the 1.x invite reaches the appliance, which refuses it (the token's App does
        # not exist): the Device raises the error, the Connection disconnects
        page.evaluate("""() => {
          const c = Twilio.Device.connect({ To: 'bob' });
          c.on('error', (e) => window.events.push(`call:error:${e.code}`));
          c.on('disconnect', () => window.events.push('call:disconnect'));
        }""")
        wait_for(lambda: "call:disconnect" in events(page), timeout=20)
        assert any(e.startswith("error:31001:") for e in events(page)), events(page)
        invite = next(m for m in sent[registers:] if m["type"] == "invite")
        assert invite["version"] == "1.5" and invite["payload"]["callsid"].startswith("TJS")
        assert invite["payload"]["twilio"] == {"params": "To=bob"}
        assert (
            invite["payload"]["sdp"].startswith("v=0") and invite["payload"]["preflight"] is False
        )
        # nothing but the default sounds was asked of Twilio's cloud (no eventgw, no chunderw)
        assert foreign == {"sdk.twilio.com"}, foreign
        page.close()


def test_a_legacy_call_outlives_a_dropped_socket_and_hangs_up_over_the_new_one(
    phones, sim, webapp, site
):
    webapp.routes["/dialed"] = twiml("<Response><Hangup/></Response>")
    dial = f'<Dial action="{webapp.url("/dialed")}" callerId="{NUMBER}">{CALLEE}</Dial>'
    p = browserapp.appliance(phones, sim)  # the default grace: 30 s
    d = p.daemon
    api, app, _ = browserapp.app_token(p, webapp, dial)
    sim.network.set_callee(
        CALLEE,
        answer_after=0.5,
        party=RemoteParty([Play(tones.beep(40_000, CALLEE_HZ, -10.0)), Silence(60)]),
    )
    token = ClientCapabilityToken(d.account.sid, d.account.auth_token, ttl=600)
    token.allow_client_incoming("alice")
    token.allow_client_outgoing(app.sid)
    port = d.server.https_port
    with sync_playwright() as pw:
        page, _, sent = legacy_page(pw, port, site, FLAGS)
        page.evaluate("([t, c]) => setup(t, c)", [str(token.to_jwt()), f"127.0.0.1:{port}"])
        wait_for(lambda: "ready" in events(page), timeout=20)
        assert page.evaluate("(p) => place(p)", {"To": CALLEE}) == "ok"
        sid = webapp.wait(path="/voice", timeout=20).flat["CallSid"]
        wait_for(lambda: "call:accept" in events(page), timeout=20)
        callee = callee_call(sim)
        assert callee.wait_state("active", timeout=15)
        found = d.client_line.calls[sid]
        dropped = found.device
        wait_for(lambda: found.peer.port.received > 8000, timeout=10)
        listens = [m for m in sent if m["type"] == "listen"]

        dropped.link.sock.shutdown(socket.SHUT_RDWR)  # as a lost network would
        # 1.x reconnects, sends listen again, and the appliance moves the call to that socket
        wait_for(lambda: found.device is not dropped, timeout=20)
        page.wait_for_timeout(200)  # Playwright delivers the frames it saw while called
        assert [m for m in sent if m["type"] == "listen"][len(listens) :]
        assert d.client_calls.reconnections._timers == {}  # no grace left running
        assert page.evaluate("window.conn.status()") == "open"
        assert api.calls(sid).fetch().status == "in-progress" and callee.state == "active"
        received = found.peer.port.received  # the media kept flowing
        wait_for(lambda: found.peer.port.received > received + 8000, timeout=10)

        page.evaluate("window.conn.sendDigits('7')")  # over the new socket (no telephone-event)
        wait_for(lambda: callee.received_digits == "7", timeout=10)
        hung = time.monotonic()
        page.evaluate("window.conn.disconnect()")
        assert callee.wait_state("ended", timeout=10)
        wait_for(lambda: api.calls(sid).fetch().status == "completed", timeout=10)
        assert time.monotonic() - hung < 5.0  # the page's hang-up, not the 30 s grace
        hangups = [m for m in sent if m["type"] == "hangup"]
        assert [(m["version"], m["payload"]["callsid"]) for m in hangups] == [("1.5", sid)]
        dialed = webapp.wait(path="/dialed", timeout=10).flat
        assert dialed["DialCallStatus"] == "completed"
        assert api.calls(dialed["DialCallSid"]).fetch().status == "completed"
        # the Device's own error for the dropped socket (1006: ConnectionError), nothing else
        errors = [e for e in events(page) if "error" in e]
        assert [e.split(":")[1] for e in errors] == ["31005"], errors
        assert "call:disconnect" in events(page)
        page.close()
    wait_for(lambda: d.client_line.calls == {} and d.client_calls.reconnections._timers == {})


@pytest.mark.parametrize(
    ("case", "code", "twilio_error"),
    [
        ("expired", 31205, 20104),  # JWT token expired; the SDK's AccessTokenExpired
        ("bad signature", 31204, 20101),  # JWT token invalid; AccessTokenInvalid
        ("another account", 31204, 20101),
        ("no client:incoming", 31201, 20151),  # AuthenticationFailed on register
    ],
)
def test_refused_capability_tokens_raise_the_documented_errors(
    phones, site, case, code, twilio_error
):
    p = phones()
    account = p.daemon.account
    now = int(time.time())
    token = {
        "expired": lambda: capability(account.sid, account.auth_token, nbf=now - 7200, ttl=-5),
        "bad signature": lambda: capability(account.sid, "x" * 32),
        "another account": lambda: capability(sids.new("AC"), account.auth_token),
        "no client:incoming": lambda: capability(account.sid, account.auth_token, name=None),
    }[case]()
    with sync_playwright() as pw:
        page, _, _ = legacy_page(pw, p.daemon.server.https_port, site)
        page.evaluate("([t, c]) => setup(t, c)", [token, f"127.0.0.1:{p.daemon.server.https_port}"])
        wait_for(lambda: any(e.startswith("error:") for e in events(page)), timeout=20)
        errors = [e for e in events(page) if e.startswith("error:")]
        _, sdk_code, original, message = errors[0].split(":", 3)
        assert (int(sdk_code), int(original)) == (code, twilio_error), errors
        assert message  # the appliance's reason reaches the page
        wait_for(lambda: "offline" in events(page))
        assert "ready" not in events(page)
        assert page.evaluate("Twilio.Device.status()") == "offline"
        assert p.daemon.server.hub.identities() == {}
        page.close()
