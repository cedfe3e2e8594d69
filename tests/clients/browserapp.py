"""The set-up the browser-call tests share: a daemon that offers 127.0.0.1 as its WebRTC host
candidate (with the simulated modem's audio port when a test dials through it), a TwiML App
whose VoiceUrl answers the test's TwiML, and a token whose outgoing grant names that App;
and the simulated callee those tests dial."""

from __future__ import annotations

from typing import Any

from twilio.jwt.access_token.grants import VoiceGrant
from twilio.rest import Client

from tests.clients.audiocheck import goertzel_dbfs
from tests.clients.conftest import Phones
from tests.clients.test_outgoing import windows
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
