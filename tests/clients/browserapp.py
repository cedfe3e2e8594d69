"""The set-up the browser-call tests share: a daemon that offers 127.0.0.1 as its WebRTC host
candidate (with the simulated modem's audio port when a test dials through it), a TwiML App
whose VoiceUrl answers the test's TwiML, and a token whose outgoing grant names that App;
the call placed, by the official SDK in Chromium (:func:`place_call`) or by an aiortc peer
playing the browser over the signalling socket (:func:`place_peer_call`); and the simulated
callee those tests dial."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page
from twilio.jwt.access_token.grants import VoiceGrant
from twilio.rest import Client
from websockets.sync.client import ClientConnection

from appliance.clients.peer import Peer
from appliance.sim.voice import Play, RemoteParty, Silence
from appliance.voice import tones
from tests.clients.audiocheck import goertzel_dbfs
from tests.clients.conftest import Phones, receive, send
from tests.clients.test_outgoing import sdk_invite, windows
from tests.clients.test_peer import as_the_sdk_sends_it
from tests.clients.test_signalling_browser import events
from tests.conftest import client_for, wait_for
from tests.webapp import WebApp, twiml

CALLEE = "+15551230001"
CALLEE_HZ = 700  # the callee's tone; the browser sends 1 kHz (test_peer.talk)


def appliance(phones: Any, sim: Any = None, **settings: Any) -> Phones:
    """A daemon for browser calls on 127.0.0.1; with ``sim``, its modem has its audio port
    (plus any other ``modem`` settings given)."""
    if sim is not None:
        modem = {"audio_port": str(sim.modems["modem1"].audio_path)}
        settings["modem"] = {**settings.get("modem", {}), **modem}
    made: Phones = phones(webrtc_addresses="127.0.0.1", **settings)
    return made


def app_token(
    p: Phones, webapp: WebApp, voice: str, *, name: str = "Out", identity: str = "alice"
) -> tuple[Client, Any, str]:
    """The REST client, the App, and a token for ``identity`` whose App's VoiceUrl (``/voice``) answers
    ``<Response>{voice}</Response>``."""
    api = client_for(p.daemon)
    webapp.routes["/voice"] = twiml(f"<Response>{voice}</Response>")
    app = api.applications.create(friendly_name=name, voice_url=webapp.url("/voice"))
    return api, app, p.token(identity=identity, grant=VoiceGrant(outgoing_application_sid=app.sid))


def start(
    phones: Any, webapp: WebApp, voice: str, *, sim: Any = None, name: str = "Out", **settings: Any
) -> tuple[Phones, Client, str]:
    """:func:`appliance` and :func:`app_token` together: the daemon, its REST client, a token."""
    p = appliance(phones, sim, **settings)
    api, _, token = app_token(p, webapp, voice, name=name)
    return p, api, token


def place(page: Page, site: str, port: int, token: str) -> None:
    """Open the test page (``site``) and place its call (the page's ``place()``): the SDK's
    Device with ``token``, the appliance's signalling at 127.0.0.1:``port`` and its sounds."""
    page.goto(site)
    placed = page.evaluate(
        "([t, c, s]) => place(t, c, s)",
        [token, f"127.0.0.1:{port}", f"https://127.0.0.1:{port}/sdk/sounds.json"],
    )
    assert placed == "ok"


def place_call(page: Page, site: str, port: int, token: str, webapp: WebApp) -> dict[str, str]:
    """:func:`place`, then the App's VoiceUrl request (its form, ``CallSid`` in it) once the
    SDK's Call is accepted."""
    place(page, site, port, token)
    form = webapp.wait(path="/voice", timeout=20).flat
    wait_for(lambda: "accept" in events(page), timeout=20)
    return form


def place_peer_call(p: Phones, ws: ClientConnection, token: str, browser: Peer) -> dict[str, Any]:
    """The call of an aiortc ``browser`` as the SDK places it on the signalling socket ``ws``:
    ``listen`` with ``token``, ``invite`` with its offer, the appliance's ``answer`` (with its
    reconnect token) applied.  The answer's payload (``callsid``, ``sdp``, ``reconnect``), and
    the offer sent (``offer``)."""
    d = p.daemon
    send(ws, "listen", token=token)
    assert receive(ws)["type"] == "connected"
    offer = as_the_sdk_sends_it(d.media.submit(browser.offer()).result(10))
    sdk_invite(ws, offer, {})
    answer = receive(ws)
    assert answer["type"] == "answer" and answer["payload"]["reconnect"], answer
    d.media.submit(browser.accept(answer["payload"]["sdp"])).result(10)
    return {**answer["payload"], "offer": offer}


def callee_answers(sim: Any, answer_after: float, tone_ms: int) -> None:
    """:data:`CALLEE` answers after ``answer_after`` seconds and plays :data:`CALLEE_HZ` for
    ``tone_ms`` milliseconds, then a minute of silence."""
    sim.network.set_callee(
        CALLEE,
        answer_after=answer_after,
        party=RemoteParty([Play(tones.beep(tone_ms, CALLEE_HZ, -10.0)), Silence(60)]),
    )


def callee_call(sim: Any) -> Any:
    """The simulated network's call to :data:`CALLEE`, once placed."""
    return wait_for(
        lambda: next((c for c in sim.network.calls if getattr(c, "number", "") == CALLEE), None)
    )


def heard_tone(pcm: bytes, hz: float, other: float) -> bool:
    """Does some half second of ``pcm`` hold ``hz``, 15 dB over ``other``?"""
    return any(
        goertzel_dbfs(w, hz) > -25 and goertzel_dbfs(w, hz) - goertzel_dbfs(w, other) > 15
        for w in windows(pcm)
    )
