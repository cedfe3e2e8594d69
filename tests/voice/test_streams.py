"""Media Streams end to end: a simulated GSM caller, the real daemon, and a real `websockets`
bot on 127.0.0.1 speaking Twilio's protocol.

Tones are measured on what the simulated caller heard (a single-bin DFT per 20 ms frame);
the bot decodes the μ-law it gets to measure the outbound track.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from twilio.request_validator import RequestValidator
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request as WsRequest
from websockets.http11 import Response as WsResponse
from websockets.sync.server import ServerConnection, serve

from appliance.daemon import Daemon
from appliance.sim.host import SimulatorHost
from appliance.sim.voice import Digits, Hangup, Play, RemoteParty, Silence
from appliance.voice import mediastream, mulaw, streamplayback, streamsocket, tones
from tests.conftest import PHONE, wait_for
from tests.partysteps import Until
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
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.behave = behave or Bot.listen
        self.messages: list[dict[str, Any]] = []
        self.times: list[float] = []
        self.headers: Headers | None = None
        self.path = ""
        self.connected = threading.Event()
        self.closed = threading.Event()
        self.scheme = "wss" if tls else "ws"
        self.server = serve(
            self._handler,
            "127.0.0.1",
            0,
            process_request=process_request,
            compression=None,
            ssl=tls,
        )
        self.port = self.server.socket.getsockname()[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str = "/media") -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}{path}"

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
    """The call's errors and warnings (not its timeline of verbs), in order."""
    rows = d.store.read(
        "SELECT kind, error_code, detail FROM call_events"
        " WHERE call_sid = ? AND kind IN ('error', 'warning') ORDER BY id",
        (sid,),
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
    party = RemoteParty(
        [Until(bot.connected.is_set), Silence(1.0), Play(tone(700, 1.5)), Silence(1.5), Hangup()]
    )
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
    party = RemoteParty(
        [
            Until(bot.connected.is_set),
            Silence(1.0),
            Digits("42#", on_ms=100, off_ms=100),
            Silence(2),
            Hangup(),
        ]
    )
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
    assert got[0] == streamsocket.REFUSED, "the <Connect> fails before the <Start>s run"
    assert sorted(got[1:]) == [streamsocket.TLS_ERROR, streamsocket.HANDSHAKE_ERROR]
    (handshake,) = [detail for _, code, detail in events(d, sid) if code == 31920]
    assert "HTTP 403" in handshake


def test_bad_messages_warn_and_leave_the_call_running(
    sim: SimulatorHost,
    webapp: WebApp,
    voice_daemon: Callable[..., Daemon],
    bots: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(streamplayback, "MAX_BUFFERED_SECONDS", 1.0)
    monkeypatch.setattr(streamplayback, "MAX_PENDING_MARKS", 5)

    def rude(bot: Bot, ws: ServerConnection) -> None:
        sid = ""
        while not sid:
            if bot.receive(ws)["event"] == "start":
                sid = bot.events("start")[0]["streamSid"]
        ws.send(b"\x00\x01binary")  # 31924 (a protocol error is warned once a stream)
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
    assert got.count(31924) == 2  # binary, then not JSON (once a stream); the frame over 64 KiB
    assert got.count(31951) == 1  # unknown event and bad base64: one warning a stream
    details = " ".join(detail for _, _, detail in events(d, sid))
    assert "faster than real time" in details and "more than 5 marks pending" in details
    assert "binary frame" in details
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
    monkeypatch.setattr(streamsocket, "OPEN_TIMEOUT", 1.0)
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
        assert [c for c in codes(d, sid) if c] == [streamsocket.TIMEOUT]
        assert len(remote.heard()) > 8000  # the <Say> after the failed <Connect> was played
    finally:
        hanging.close()


# --------------------------------------------------------------------------- TLS, a private CA


class LabCA:
    """A certificate authority made for the test, and server certificates it signs."""

    def __init__(self, name: str, folder: Path) -> None:
        self.folder = folder
        self.key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.datetime.now(datetime.UTC)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False
            )
            .sign(self.key, hashes.SHA256())
        )
        self.pem = folder / f"{name}.pem"
        self.pem.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))

    def server_context(self) -> ssl.SSLContext:
        """A TLS server context for 127.0.0.1 whose certificate this CA signed."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        ski = self.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False,
            )
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
            )
            .sign(self.key, hashes.SHA256())
        )
        chain = self.folder / f"server-{cert.serial_number}.pem"
        chain.write_bytes(
            cert.public_bytes(serialization.Encoding.PEM)
            + key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(chain)
        return context


def test_the_private_ca_setting_trusts_a_wss_bot_and_others_are_refused(
    sim: SimulatorHost,
    webapp: WebApp,
    voice_daemon: Callable[..., Daemon],
    bots: Any,
    tmp_path: Path,
) -> None:
    """``stream_ca_file`` (relative: in data_dir) adds a CA for wss://: a bot whose
    certificate it signed streams; one signed by another CA is refused with 31910."""
    ours, theirs = LabCA("ours", tmp_path), LabCA("theirs", tmp_path)
    trusted, untrusted = bots(tls=ours.server_context()), bots(tls=theirs.server_context())
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    (data / "bots-ca.pem").write_bytes(ours.pem.read_bytes())
    d = voice_daemon(stream_ca_file="bots-ca.pem")
    assert d.config.stream_ca_path == data / "bots-ca.pem"
    webapp.routes["/voice"] = twiml(
        f'<Response><Start><Stream url="{untrusted.url()}"/></Start>'
        f'<Connect><Stream url="{trusted.url()}"><Parameter name="tls" value="yes"/>'
        "</Stream></Connect></Response>"
    )
    party = RemoteParty(
        [
            Until(trusted.connected.is_set),
            Silence(1.0),
            Play(tone(700, 0.5)),
            Silence(0.5),
            Hangup(),
        ]
    )
    remote = sim.network.incoming_call("modem1", PHONE, party=party)
    sid = str(webapp.wait(15, path="/voice").param("CallSid"))
    assert remote.wait_state("ended", timeout=30)
    assert trusted.closed.wait(10)
    assert trusted.url().startswith("wss://127.0.0.1:")
    assert trusted.start()["start"]["customParameters"] == {"tls": "yes"}
    assert len(trusted.events("media")) > 20 and trusted.messages[-1]["event"] == "stop"
    assert not untrusted.connected.is_set(), "the handshake failed before the upgrade"
    ((kind, code, detail),) = [e for e in events(d, sid) if e[1]]
    assert (kind, code) == ("error", streamsocket.TLS_ERROR)
    assert untrusted.url() in detail and "certificate is not trusted" in detail


def test_without_the_setting_only_the_system_cas_are_trusted(bots: Any, tmp_path: Path) -> None:
    """The socket alone (streamsocket.open_socket), against a real TLS server on 127.0.0.1:
    the test CA is trusted only when given; a CA file that cannot be read is a 31910 that
    says which file."""
    ca = LabCA("lab", tmp_path)
    bot = bots(tls=ca.server_context())
    with pytest.raises(streamsocket.ConnectFailed) as e:
        streamsocket.open_socket(bot.url(), signature="s", ca_file=None, open_timeout=5)
    assert e.value.code == streamsocket.TLS_ERROR and "not trusted" in e.value.message
    ws = streamsocket.open_socket(bot.url(), signature="s", ca_file=ca.pem, open_timeout=5)
    try:
        assert bot.connected.wait(5) and bot.headers is not None
        assert bot.headers["X-Twilio-Signature"] == "s"
    finally:
        ws.close()
    missing = tmp_path / "nope.pem"
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    for path in (missing, garbage):
        with pytest.raises(streamsocket.ConnectFailed) as e:
            streamsocket.open_socket(bot.url(), signature="s", ca_file=path, open_timeout=5)
        assert e.value.code == streamsocket.TLS_ERROR
        assert f"stream_ca_file {path} cannot be loaded" in e.value.message


# --------------------------------------------------------------------------- marks at the end


def test_pending_marks_come_back_before_stop_when_the_caller_hangs_up(
    sim: SimulatorHost, webapp: WebApp, voice_daemon: Callable[..., Daemon], bots: Any
) -> None:
    """Twilio returns the marks whose audio did not play when the stream ends: after the
    marks already answered, before ``stop``, in the order the bot sent them."""

    def long_prompt(bot: Bot, ws: ServerConnection) -> None:
        sid = ""
        while not sid:
            if bot.receive(ws)["event"] == "start":
                sid = bot.events("start")[0]["streamSid"]
        ws.send(media_msg(sid, tone(1000, 0.2)))
        ws.send(json.dumps({"event": "mark", "streamSid": sid, "mark": {"name": "short"}}))
        pcm = tone(1000, 8.0)
        for i in range(0, len(pcm), 3200):
            ws.send(media_msg(sid, pcm[i : i + 3200]))
        for name in ("long", "after"):
            ws.send(json.dumps({"event": "mark", "streamSid": sid, "mark": {"name": name}}))
        while True:
            bot.receive(ws)

    bot = bots(long_prompt)
    voice_daemon()
    webapp.routes["/voice"] = twiml(
        f'<Response><Connect><Stream url="{bot.url()}"/></Connect></Response>'
    )
    remote = sim.network.incoming_call(
        "modem1", PHONE, party=RemoteParty([Until(bot.connected.is_set), Silence(2.5), Hangup()])
    )
    assert remote.wait_state("ended", timeout=30)
    assert bot.closed.wait(10)
    tail = [m["event"] for m in bot.messages if m["event"] != "media"]
    assert tail == ["connected", "start", "mark", "mark", "mark", "stop"]
    names = [m["mark"]["name"] for m in bot.events("mark")]
    assert names == ["short", "long", "after"]
    short, long_ = (bot.times[bot.messages.index(m)] for m in bot.events("mark")[:2])
    assert long_ - short < 5.0, "the 8 s prompt's mark came back at the hang-up, not played"
    assert tone_seconds(remote.heard(), 1000) < 4.0


# --------------------------------------------------------------------------- no audio port


def test_a_modem_without_an_audio_port_refuses_streams_clearly(
    sim: SimulatorHost,
    webapp: WebApp,
    make_daemon: Callable[..., Daemon],
    bots: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Media Streams carry the modem's audio: without an audio port no stream opens (the
    bot is never connected to), the call records an error and logs it, ``statusCallback``
    gets ``stream-error`` saying why, and the TwiML goes on."""
    bot = bots()
    d = make_daemon(modem={"voice_url": webapp.url("/voice")})  # no audio_port
    webapp.routes["/voice"] = twiml(
        f'<Response><Start><Stream name="fork" url="{bot.url()}"'
        f' statusCallback="{webapp.url("/stream-status")}"/></Start>'
        f'<Connect><Stream url="{bot.url()}"/></Connect><Redirect>/after</Redirect></Response>'
    )
    webapp.routes["/after"] = twiml("<Response><Hangup/></Response>")
    webapp.routes["/stream-status"] = lambda req: (204, "", b"")
    remote = sim.network.incoming_call("modem1", PHONE, party=RemoteParty([Silence(20)]))
    sid = str(webapp.wait(15, path="/voice").param("CallSid"))
    webapp.wait(15, path="/after")  # the <Connect> did not wait: the next verb ran
    assert remote.wait_state("ended", timeout=15)
    (status,) = wait_for(lambda: webapp.to("/stream-status"), timeout=15)
    assert status.param("StreamEvent") == "stream-error"
    assert status.param("StreamName") == "fork"
    assert str(status.param("StreamSid")).startswith("MZ")
    assert "no audio port" in str(status.param("StreamError"))
    errors = [e for e in events(d, sid) if e[0] == "error"]
    assert len(errors) == 2 and all("modem1 has no audio port" in e[2] for e in errors)
    assert "modem1 has no audio port" in caplog.text
    assert not bot.connected.is_set()
    assert not mediastream.streams_of(sid)


# --------------------------------------------------------------------------- the docs' bot


def test_the_30_line_bot_in_the_docs_answers_a_call(
    sim: SimulatorHost, webapp: WebApp, voice_daemon: Callable[..., Daemon]
) -> None:
    """docs/streams.md's bot, run as written (only its port and address changed): each key
    the caller presses comes back as a beep, and after ``#`` it closes, so the TwiML goes on."""
    text = (Path(__file__).parents[2] / "docs" / "streams.md").read_text()
    code = text.split("## A bot in 30 lines", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    assert len(code.splitlines()) <= 31  # 30 lines and a comment on how to run it
    port = free_port()
    code = code.replace('"0.0.0.0", 8765', f'"127.0.0.1", {port}')
    proc = subprocess.Popen(
        [sys.executable, "-u", "-c", code], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        wait_for(lambda: _listening(port), timeout=20)
        voice_daemon()
        webapp.routes["/voice"] = twiml(
            f'<Response><Connect><Stream url="ws://127.0.0.1:{port}/">'
            '<Parameter name="from" value="docs"/></Stream></Connect>'
            "<Redirect>/after</Redirect></Response>"
        )
        webapp.routes["/after"] = twiml("<Response><Hangup/></Response>")
        party = RemoteParty([Silence(1.5), Digits("5#", on_ms=100, off_ms=600), Silence(10)])
        remote = sim.network.incoming_call("modem1", PHONE, party=party)
        call_sid = str(webapp.wait(15, path="/voice").param("CallSid"))
        webapp.wait(20, path="/after")  # the bot returned after the mark of "#"
        assert remote.wait_state("ended", timeout=15)
        assert 0.4 <= tone_seconds(remote.heard(), 880) <= 0.8  # two 300 ms beeps
    finally:
        proc.terminate()
        out = proc.communicate(timeout=10)[0].decode()
    assert f"call {call_sid} {{'from': 'docs'}}" in out and "played 5" in out
    assert "played #" in out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
    except OSError:
        return False
    return True


def test_start_goes_on_at_once_while_the_stream_connects(
    sim: SimulatorHost,
    webapp: WebApp,
    voice_daemon: Callable[..., Daemon],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``<Start><Stream>`` does not hold the TwiML while the bot answers (Twilio's TwiML goes
    on too): the next verb runs at once; the stream's 31901 comes later, with
    ``stream-error``, and the call goes on."""
    monkeypatch.setattr(streamsocket, "OPEN_TIMEOUT", 4.0)
    hanging = socket.socket()
    hanging.bind(("127.0.0.1", 0))
    hanging.listen(4)  # accepts TCP, never answers the upgrade
    try:
        d = voice_daemon()
        webapp.routes["/voice"] = twiml(
            f'<Response><Start><Stream url="ws://127.0.0.1:{hanging.getsockname()[1]}/"'
            f' statusCallback="{webapp.url("/stream-status")}"/></Start>'
            "<Redirect>/after</Redirect></Response>"
        )
        webapp.routes["/after"] = twiml('<Response><Pause length="8"/><Hangup/></Response>')
        webapp.routes["/stream-status"] = lambda req: (204, "", b"")
        remote = sim.network.incoming_call("modem1", PHONE, party=RemoteParty([Silence(30)]))
        sid = str(webapp.wait(15, path="/voice").param("CallSid"))
        t0 = time.monotonic()
        webapp.wait(15, path="/after")
        assert time.monotonic() - t0 < 2.0, "the <Redirect> after <Start> ran at once"
        assert not [c for c in codes(d, sid) if c], "the stream is still connecting"
        (status,) = wait_for(lambda: webapp.to("/stream-status"), timeout=15)
        assert status.param("StreamEvent") == "stream-error"
        assert [c for c in codes(d, sid) if c] == [streamsocket.TIMEOUT]
        assert remote.state != "ended", "the call goes on"
        assert remote.wait_state("ended", timeout=20)
    finally:
        hanging.close()
