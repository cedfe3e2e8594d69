"""Media Streams end to end: a simulated GSM caller, the real daemon, and a real `websockets`
bot on 127.0.0.1 speaking Twilio's protocol.

Tones are measured on what the simulated caller heard (a single-bin DFT per 20 ms frame);
the bot decodes the μ-law it gets to measure the outbound track.
"""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from twilio.request_validator import RequestValidator
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request as WsRequest
from websockets.http11 import Response as WsResponse
from websockets.sync.server import ServerConnection, serve

from appliance.daemon import Daemon
from appliance.sim.host import SimulatorHost
from appliance.sim.voice import Digits, Hangup, Play, RemoteParty, Silence
from appliance.voice import mediastream, mulaw, tones
from tests.conftest import PHONE, wait_for
from tests.webapp import WebApp, twiml

pytestmark = pytest.mark.timeout(90)

Behaviour = Callable[["Bot", ServerConnection], None]


def tone(hz: float, seconds: float, dbfs: float = -10.0) -> bytes:
    return tones.to_pcm(tones.sine(hz, int(8000 * seconds), 32767 * 10 ** (dbfs / 20)))


def tone_seconds(pcm: bytes, hz: float) -> float:
    """Seconds of 20 ms frames that are mostly a tone at ``hz`` (and above -40 dBFS)."""
    x = np.frombuffer(pcm[: len(pcm) // 320 * 320], dtype="<i2").astype(np.float64)
    frames = x.reshape(-1, 160)
    if not len(frames):
        return 0.0
    n = np.arange(160)
    basis = np.exp(-2j * np.pi * hz * n / 8000)
    power = np.abs(frames @ basis) ** 2 * 2 / 160
    total = (frames**2).sum(axis=1)
    loud = np.sqrt(total / 160) > 32768 * 10 ** (-40 / 20)
    return float(((power > 0.5 * total) & loud).sum() * 0.02)


def media_msg(sid: str, pcm: bytes) -> str:
    payload = base64.b64encode(mulaw.encode(pcm)).decode()
    return json.dumps({"event": "media", "streamSid": sid, "media": {"payload": payload}})


class Bot:
    """A WebSocket server on 127.0.0.1; ``behave(bot, ws)`` runs per connection."""

    def __init__(
        self,
        behave: Behaviour | None = None,
        process_request: Callable[[ServerConnection, WsRequest], WsResponse | None] | None = None,
    ) -> None:
        self.behave = behave or Bot.listen
        self.messages: list[dict[str, Any]] = []
        self.times: list[float] = []
        self.headers: Headers | None = None
        self.path = ""
        self.connected = threading.Event()
        self.closed = threading.Event()
        self.server = serve(
            self._handler, "127.0.0.1", 0, process_request=process_request, compression=None
        )
        self.port = self.server.socket.getsockname()[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str = "/media") -> str:
        return f"ws://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self.server.shutdown()

    def _handler(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        self.headers = ws.request.headers
        self.path = ws.request.path
        self.connected.set()
        try:
            self.behave(self, ws)
        except ConnectionClosed:
            pass
        finally:
            self.closed.set()

    def receive(self, ws: ServerConnection) -> dict[str, Any]:
        msg = json.loads(ws.recv())
        self.messages.append(msg)
        self.times.append(time.monotonic())
        return msg

    def listen(self, ws: ServerConnection) -> None:
        while True:
            self.receive(ws)

    def events(self, name: str) -> list[dict[str, Any]]:
        return [m for m in list(self.messages) if m["event"] == name]

    def start(self) -> dict[str, Any]:
        return dict(wait_for(lambda: self.events("start"), timeout=20)[0])

    def sid(self) -> str:
        return str(self.start()["streamSid"])


@pytest.fixture
def bots() -> Any:
    made: list[Bot] = []

    def make(*args: Any, **kwargs: Any) -> Bot:
        bot = Bot(*args, **kwargs)
        made.append(bot)
        return bot

    yield make
    for bot in made:
        bot.close()


def events(d: Daemon, sid: str) -> list[tuple[str, int | None, str]]:
    rows = d.store.read(
        "SELECT kind, error_code, detail FROM call_events WHERE call_sid = ? ORDER BY id", (sid,)
    )
    return [(r["kind"], r["error_code"], r["detail"]) for r in rows]


def codes(d: Daemon, sid: str) -> list[int | None]:
    return [code for _, code, _ in events(d, sid)]


def test_echo_bot_protocol_signature_and_hangup(
    sim: SimulatorHost, webapp: WebApp, voice_daemon: Callable[..., Daemon], bots: Any
) -> None:
    def echo(bot: Bot, ws: ServerConnection) -> None:
        while True:
            msg = bot.receive(ws)
            if msg["event"] == "media":
                ws.send(
                    json.dumps(
                        {
                            "event": "media",
                            "streamSid": msg["streamSid"],
                            "media": {"payload": msg["media"]["payload"]},
                        }
                    )
                )

    bot = bots(echo)
    d = voice_daemon()
    webapp.routes["/voice"] = twiml(
        f'<Response><Connect><Stream url="{bot.url()}">'
        '<Parameter name="lang" value="fr"/><Parameter name="who" value="echo"/>'
        "</Stream></Connect></Response>"
    )
    party = RemoteParty([Silence(1.0), Play(tone(700, 1.5)), Silence(1.5), Hangup()])
    remote = sim.network.incoming_call("modem1", PHONE, party=party)
    call_sid = webapp.wait(15, path="/voice").param("CallSid")
    assert remote.wait_state("ended", timeout=30)
    assert bot.closed.wait(10), "the socket is closed after the caller hangs up"

    assert tone_seconds(remote.heard(), 700) > 1.0, "the caller's tone came back"
    first, start = bot.messages[0], bot.messages[1]
    assert first == {"event": "connected", "protocol": "Call", "version": "1.0.0"}
    sid = start["streamSid"]
    assert sid.startswith("MZ") and len(sid) == 34
    assert start["start"] == {
        "streamSid": sid,
        "accountSid": d.account.sid,
        "callSid": call_sid,
        "tracks": ["inbound"],
        "customParameters": {"lang": "fr", "who": "echo"},
        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
    }
    seqs = [m["sequenceNumber"] for m in bot.messages[1:]]
    assert seqs == [str(i) for i in range(1, len(seqs) + 1)]
    media = bot.events("media")
    assert len(media) > 50 and all(m["media"]["track"] == "inbound" for m in media)
    chunks = [m["media"]["chunk"] for m in media]
    assert chunks[:3] == ["1", "2", "3"] and all(
        isinstance(m["media"]["timestamp"], str) for m in media
    )
    assert all(len(base64.b64decode(m["media"]["payload"])) == 160 for m in media)
    stop = bot.messages[-1]
    assert stop["event"] == "stop" and stop["streamSid"] == sid
    assert stop["stop"] == {"accountSid": d.account.sid, "callSid": call_sid}
    # The upgrade is signed as Twilio signs a WebSocket URL: the URL alone.
    assert bot.headers is not None
    validator = RequestValidator(d.account.auth_token)
    assert validator.validate(bot.url(), {}, bot.headers["X-Twilio-Signature"])
    wait_for(lambda: not d.voice.phones["modem1"].flows, timeout=10)


def test_bot_audio_then_mark_comes_back_after_it_played_and_twiml_goes_on(
    sim: SimulatorHost, webapp: WebApp, voice_daemon: Callable[..., Daemon], bots: Any
) -> None:
    sent: dict[str, float] = {}

    def speak(bot: Bot, ws: ServerConnection) -> None:
        sid = ""
        while not sid:
            msg = bot.receive(ws)
            if msg["event"] == "start":
                sid = msg["streamSid"]
        pcm = tone(1000, 1.0)
        for i in range(0, len(pcm), 320):  # 50 frames at once: faster than real time
            ws.send(media_msg(sid, pcm[i : i + 320]))
        ws.send(json.dumps({"event": "mark", "streamSid": sid, "mark": {"name": "said"}}))
        sent["mark"] = time.monotonic()
        while not bot.events("mark"):
            bot.receive(ws)
        ws.close()

    bot = bots(speak)
    voice_daemon()
    webapp.routes["/voice"] = twiml(
        f'<Response><Connect action="/after"><Stream url="{bot.url()}"/></Connect>'
        "<Say>never</Say></Response>"
    )
    webapp.routes["/after"] = twiml("<Response><Hangup/></Response>")
    remote = sim.network.incoming_call("modem1", PHONE, party=RemoteParty([Silence(30)]))
    webapp.wait(30, path="/after")  # the bot closed: the action ran
    assert remote.wait_state("ended", timeout=15)
    (mark,) = bot.events("mark")
    assert mark["mark"] == {"name": "said"} and mark["sequenceNumber"].isdigit()
    back = bot.times[bot.messages.index(mark)] - sent["mark"]
    assert 0.8 <= back <= 1.6, f"the mark came back {back:.2f} s after 1 s of audio"
    assert 0.8 <= tone_seconds(remote.heard(), 1000) <= 1.2


def test_clear_barges_in_and_returns_pending_marks(
    sim: SimulatorHost, webapp: WebApp, voice_daemon: Callable[..., Daemon], bots: Any
) -> None:
    at: dict[str, float] = {}

    def talk_then_clear(bot: Bot, ws: ServerConnection) -> None:
        sid = bot.sid() if bot.events("start") else ""
        while not sid:
            if bot.receive(ws)["event"] == "start":
                sid = bot.events("start")[0]["streamSid"]
        pcm = tone(1000, 5.0)
        for i in range(0, len(pcm), 1600):
            ws.send(media_msg(sid, pcm[i : i + 1600]))
        ws.send(json.dumps({"event": "mark", "streamSid": sid, "mark": {"name": "end"}}))
        time.sleep(0.6)
        ws.send(json.dumps({"event": "clear", "streamSid": sid}))
        at["clear"] = time.monotonic()
        while not bot.events("mark"):
            bot.receive(ws)
        time.sleep(1.0)
        ws.close()

    bot = bots(talk_then_clear)
    voice_daemon()
    webapp.routes["/voice"] = twiml(
        f'<Response><Connect><Stream url="{bot.url()}"/></Connect><Hangup/></Response>'
    )
    remote = sim.network.incoming_call("modem1", PHONE, party=RemoteParty([Silence(30)]))
    assert remote.wait_state("ended", timeout=30)
    (mark,) = bot.events("mark")
    assert bot.times[bot.messages.index(mark)] - at["clear"] < 0.3
    heard = tone_seconds(remote.heard(), 1000)
    assert 0.2 <= heard <= 1.2, f"{heard:.2f} s of the 5 s were played before the clear"


def test_dtmf_reaches_the_bot(
    sim: SimulatorHost, webapp: WebApp, voice_daemon: Callable[..., Daemon], bots: Any
) -> None:
    bot = bots()
    voice_daemon()
    webapp.routes["/voice"] = twiml(
        f'<Response><Connect><Stream url="{bot.url()}"/></Connect></Response>'
    )
    party = RemoteParty([Silence(1.0), Digits("42#", on_ms=100, off_ms=100), Silence(2), Hangup()])
    remote = sim.network.incoming_call("modem1", PHONE, party=party)
    assert remote.wait_state("ended", timeout=30)
    assert bot.closed.wait(10)
    dtmf = bot.events("dtmf")
    assert [m["dtmf"] for m in dtmf] == [{"track": "inbound_track", "digit": d} for d in "42#"]


def test_start_stream_both_tracks_while_say_plays_then_stop(
    sim: SimulatorHost, webapp: WebApp, voice_daemon: Callable[..., Daemon], bots: Any
) -> None:
    bot = bots()
    d = voice_daemon()
    webapp.routes["/voice"] = twiml(
        f'<Response><Start><Stream name="fork" track="both_tracks" url="{bot.url()}"/></Start>'
        "<Say>Hello, this call is being streamed to a bot.</Say>"
        '<Stop><Stream name="fork"/></Stop><Pause length="1"/><Hangup/></Response>'
    )
    remote = sim.network.incoming_call("modem1", PHONE, party=RemoteParty([Silence(30)]))
    sid = webapp.wait(15, path="/voice").param("CallSid")
    assert remote.wait_state("ended", timeout=30)
    assert bot.closed.wait(10)
    assert bot.start()["start"]["tracks"] == ["inbound", "outbound"]
    out = b"".join(
        mulaw.decode(base64.b64decode(m["media"]["payload"]))
        for m in bot.events("media")
        if m["media"]["track"] == "outbound"
    )
    assert len([m for m in bot.events("media") if m["media"]["track"] == "inbound"]) > 20
    samples = np.frombuffer(out, dtype="<i2").astype(np.float64).reshape(-1, 160)
    speech = (np.sqrt((samples**2).mean(axis=1)) > 300).sum() * 0.02
    assert speech > 0.8, "the outbound track carries the <Say>"
    assert bot.messages[-1]["event"] == "stop"
    assert not [c for c in codes(d, str(sid)) if c]


def test_unreachable_bots_are_recorded_and_the_call_goes_on(
    sim: SimulatorHost, webapp: WebApp, voice_daemon: Callable[..., Daemon], bots: Any
) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    refusing = bots(process_request=lambda conn, req: conn.respond(403, "no\n"))
    plain = bots()
    d = voice_daemon()
    webapp.routes["/voice"] = twiml(
        f'<Response><Connect><Stream url="ws://127.0.0.1:{free}/x"/></Connect>'
        f'<Start><Stream url="{refusing.url()}"/></Start>'
        f'<Start><Stream url="wss://127.0.0.1:{plain.port}/tls"/></Start>'
        "<Say>Still here.</Say></Response>"
    )
    remote = sim.network.incoming_call("modem1", PHONE, party=RemoteParty([Silence(30)]))
    sid = str(webapp.wait(15, path="/voice").param("CallSid"))
    assert remote.wait_state("ended", timeout=30)
    assert tone_seconds(remote.heard(), 1000) == 0 and len(remote.heard()) > 16000
    got = [c for c in codes(d, sid) if c]
    assert got == [mediastream.REFUSED, mediastream.HANDSHAKE_ERROR, mediastream.TLS_ERROR]
    assert "HTTP 403" in events(d, sid)[1][2]


def test_bad_messages_warn_and_leave_the_call_running(
    sim: SimulatorHost,
    webapp: WebApp,
    voice_daemon: Callable[..., Daemon],
    bots: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(mediastream, "MAX_BUFFERED_SECONDS", 1.0)
    monkeypatch.setattr(mediastream, "MAX_PENDING_MARKS", 5)

    def rude(bot: Bot, ws: ServerConnection) -> None:
        sid = ""
        while not sid:
            if bot.receive(ws)["event"] == "start":
                sid = bot.events("start")[0]["streamSid"]
        ws.send("{not json")
        ws.send(json.dumps({"event": "dance", "streamSid": sid}))
        ws.send(json.dumps({"event": "media", "streamSid": sid, "media": {"payload": "%%%"}}))
        pcm = tone(1000, 3.0)  # 3 s at once, with 1 s allowed ahead of real time
        for i in range(0, len(pcm), 3200):
            ws.send(media_msg(sid, pcm[i : i + 3200]))
        for i in range(20):
            ws.send(json.dumps({"event": "mark", "streamSid": sid, "mark": {"name": f"m{i}"}}))
        time.sleep(2.0)
        ws.send("x" * (64 * 1024 + 10))  # over 64 KiB: the socket is closed (1009)
        while True:
            bot.receive(ws)

    bot = bots(rude)
    d = voice_daemon()
    webapp.routes["/voice"] = twiml(
        f'<Response><Connect><Stream url="{bot.url()}"/></Connect>'
        '<Redirect method="POST">/after</Redirect></Response>'
    )
    webapp.routes["/after"] = twiml("<Response><Say>Goodbye.</Say><Hangup/></Response>")
    remote = sim.network.incoming_call("modem1", PHONE, party=RemoteParty([Silence(40)]))
    sid = str(webapp.wait(15, path="/voice").param("CallSid"))
    webapp.wait(30, path="/after")  # the socket closed and the TwiML went on
    assert remote.wait_state("ended", timeout=20)
    got = codes(d, sid)
    assert got.count(31924) == 2  # not JSON (once per stream), then the frame over 64 KiB
    assert got.count(31951) == 1  # unknown event and bad base64: one warning a stream
    details = " ".join(detail for _, _, detail in events(d, sid))
    assert "faster than real time" in details and "more than 5 marks pending" in details
    assert 0.8 <= tone_seconds(remote.heard(), 1000) <= 1.3  # only the buffered second
    assert len(bot.events("mark")) == 5
    assert d.voice.phones["modem1"] is not None


def test_a_bot_that_never_answers_the_upgrade_times_out_and_the_call_goes_on(
    sim: SimulatorHost,
    webapp: WebApp,
    voice_daemon: Callable[..., Daemon],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A server that accepts TCP but never answers the HTTP upgrade: 31901, then the next verb."""
    monkeypatch.setattr(mediastream, "OPEN_TIMEOUT", 1.0)
    hanging = socket.socket()
    hanging.bind(("127.0.0.1", 0))
    hanging.listen(4)  # accepts connections (kernel backlog) and never reads or answers
    try:
        d = voice_daemon()
        webapp.routes["/voice"] = twiml(
            f'<Response><Connect><Stream url="ws://127.0.0.1:{hanging.getsockname()[1]}/bot"/>'
            "</Connect><Say>Still here.</Say></Response>"
        )
        remote = sim.network.incoming_call("modem1", PHONE, party=RemoteParty([Silence(20)]))
        sid = str(webapp.wait(15, path="/voice").param("CallSid"))
        assert remote.wait_state("ended", timeout=30)
        assert [c for c in codes(d, sid) if c] == [mediastream.TIMEOUT]
        assert len(remote.heard()) > 8000  # the <Say> after the failed <Connect> was played
    finally:
        hanging.close()
