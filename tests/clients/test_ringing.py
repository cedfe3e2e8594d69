"""``<Dial><Client>`` (issue 13, slice 6) on a real daemon: a simulated GSM caller on the pty
rings browsers played by aiortc peers over the real wss signalling socket, as the Voice SDK
would (its ``answer`` carries no candidates).  Checked: the ``invite`` and its parameters,
the first answer wins and the other device gets ``cancel``, audio both ways through the
bridge (Goertzel on what the browser and the simulated caller heard), the child row and its
status callbacks; a reject gives ``busy``, a ring nobody takes ``no-answer``."""

from __future__ import annotations

import contextlib
import threading
import time
import urllib.parse
from typing import Any

import numpy as np
import pytest

from appliance.clients.audioport import FRAME_BYTES, WebRtcAudioPort
from appliance.clients.peer import Peer
from appliance.sim.host import SimulatorHost
from appliance.sim.party import Play, RemoteParty, Say, Silence
from appliance.voice import tones
from tests.clients import browserapp
from tests.clients.audiocheck import goertzel_dbfs
from tests.clients.conftest import WAIT, receive, send
from tests.clients.test_peer import as_the_sdk_sends_it
from tests.conftest import NUMBER, PHONE, client_for, wait_for
from tests.webapp import twiml

pytestmark = pytest.mark.timeout(90)

CALLER_HZ, BROWSER_HZ = 1000, 600  # each side's tone (the ringback has neither)


class Browser:
    """A registered browser phone: its signalling socket and, once it answers, its media."""

    def __init__(self, p: Any, identity: str = "alice") -> None:
        self.p, self.d = p, p.daemon
        self._stack = contextlib.ExitStack()
        self.ws = self._stack.enter_context(p.open())
        send(self.ws, "listen", token=p.token(identity=identity), browserinfo={})
        assert receive(self.ws)["type"] == "connected"
        send(self.ws, "register", media={"audio": True})
        assert receive(self.ws)["type"] == "ready"
        self.peer: Peer | None = None

    def next(self, kind: str, timeout: float = WAIT) -> dict[str, Any]:
        """The payload of the next ``kind`` message, within ``timeout`` seconds in all."""
        deadline = time.monotonic() + timeout
        while True:
            message = receive(self.ws, timeout=max(0.0, deadline - time.monotonic()))
            if message["type"] == kind:
                return dict(message["payload"])
            assert message["type"] not in ("invite", "cancel", "hangup", "error"), message

    def answer(self, invite: dict[str, Any]) -> None:
        """Accept the call as the SDK does: an answer SDP without candidates."""
        loop = self.d.media.start()
        self.peer = Peer(WebRtcAudioPort(loop), name="browser")
        made = self.d.media.submit(self.peer.answer(invite["sdp"])).result(10)
        send(self.ws, "answer", callsid=invite["callsid"], sdp=as_the_sdk_sends_it(made))

    def close(self) -> None:
        if self.peer is not None:
            self.d.media.submit(self.peer.close()).result(5)
        self._stack.close()


def phones_with_modem(phones, sim, webapp):
    return browserapp.appliance(phones, sim, modem={"voice_url": webapp.url("/voice")})


def tone(hz: int, seconds: float) -> bytes:
    return tones.beep(seconds * 1000, hz, -10.0)


def talk(port: WebRtcAudioPort, hz: int, stop: threading.Event) -> None:
    """A tone at -10 dBFS written in 20 ms frames on a 20 ms clock (as Media does)."""
    sound = tone(hz, 1.0)  # a whole number of cycles: it loops seamlessly

    def run() -> None:
        start, n = time.monotonic(), 0
        while not stop.is_set():
            i = (n * FRAME_BYTES) % len(sound)
            port.write(sound[i : i + FRAME_BYTES])
            n += 1
            time.sleep(max(0.0, start + n * 0.02 - time.monotonic()))

    threading.Thread(target=run, daemon=True).start()


def level(pcm: bytes, hz: int) -> float:
    return goertzel_dbfs(pcm[-8000:], hz)  # the last half second


def test_a_gsm_caller_rings_two_devices_one_answers_and_they_hear_each_other(phones, sim, webapp):
    p = phones_with_modem(phones, sim, webapp)
    d = p.daemon
    webapp.routes["/voice"] = twiml(
        f'<Response><Dial action="{webapp.url("/dialed")}" timeout="20">'
        f'<Client statusCallback="{webapp.url("/leg")}"'
        ' statusCallbackEvent="initiated ringing answered completed">'
        '<Identity>alice</Identity><Parameter name="ticket" value="42 &amp; up"/></Client>'
        "</Dial></Response>"
    )
    webapp.routes["/dialed"] = twiml("<Response><Hangup/></Response>")
    laptop, desk = Browser(p), Browser(p)
    stop = threading.Event()
    try:
        # the caller speaks (a 1 kHz tone) from 3 s on, long enough to outlast the answer
        party = RemoteParty([Silence(3), Play(tone(CALLER_HZ, 8)), Silence(20)])
        caller = sim.network.incoming_call("modem1", PHONE, party=party)
        parent = webapp.wait(15, path="/voice").flat["CallSid"]
        invites = [laptop.next("invite"), desk.next("invite")]
        sid = invites[0]["callsid"]
        assert invites[1]["callsid"] == sid and sid.startswith("CA") and sid != parent
        parameters = invites[0]["parameters"]
        assert parameters["From"] == PHONE and parameters["To"] == "client:alice"
        assert parameters["CallSid"] == sid and parameters["AccountSid"] == d.account.sid
        assert urllib.parse.parse_qs(parameters["Params"]) == {"ticket": ["42 & up"]}
        assert "a=candidate:" in invites[0]["sdp"] and invites[0]["sdp"] != invites[1]["sdp"]

        desk.answer(invites[1])
        confirmed = desk.next("answer")  # the confirmation, with a reconnect token
        assert confirmed["callsid"] == sid and len(confirmed["reconnect"]) >= 40
        assert laptop.next("cancel") == {"callsid": sid}  # the other device stops ringing
        assert desk.peer is not None
        heard: list[bytes] = []

        def listen() -> None:
            while not stop.is_set():
                heard.append(desk.peer.port.read(FRAME_BYTES, 0.1))  # type: ignore[union-attr]

        threading.Thread(target=listen, daemon=True).start()
        talk(desk.peer.port, BROWSER_HZ, stop)  # the browser speaks a 600 Hz tone
        wait_for(lambda: level(b"".join(heard), CALLER_HZ) > -25, timeout=15, interval=0.2)
        wait_for(lambda: level(caller.heard(), BROWSER_HZ) > -25, timeout=10, interval=0.2)
        pcm = b"".join(heard)[-8000:]
        assert goertzel_dbfs(pcm, CALLER_HZ) - goertzel_dbfs(pcm, 1500) > 20
        back = caller.heard()[-8000:]
        assert goertzel_dbfs(back, BROWSER_HZ) - goertzel_dbfs(back, 1500) > 20
        api = client_for(d)
        assert api.calls(sid).fetch().status == "in-progress"

        send(desk.ws, "hangup", callsid=sid)  # the browser hangs up: the <Dial> ends
        dialed = webapp.wait(15, path="/dialed").flat
        assert dialed["DialCallStatus"] == "completed" and dialed["DialCallSid"] == sid
        assert int(dialed["DialCallDuration"]) >= 1
        assert caller.wait_state("ended", timeout=10)
        row = api.calls(sid).fetch()
        assert (row.direction, row._from, row.to, row.status, row.parent_call_sid) == (
            "outbound-dial",
            PHONE,
            "client:alice",
            "completed",
            parent,
        )
        legs = wait_for(lambda: len(webapp.to("/leg")) >= 4 and webapp.to("/leg"))
        assert [r.flat["StatusCallbackEvent"] for r in legs] == [
            "initiated",
            "ringing",
            "answered",
            "completed",
        ]
        assert {r.flat["CallSid"] for r in legs} == {sid}
        assert legs[0].flat["To"] == "client:alice" and legs[0].flat["ParentCallSid"] == parent
    finally:
        stop.set()
        laptop.close()
        desk.close()


def test_a_reject_gives_busy_and_a_ring_nobody_takes_no_answer(phones, sim, webapp):
    p = phones_with_modem(phones, sim, webapp)
    webapp.routes["/voice"] = twiml(
        f'<Response><Dial action="{webapp.url("/dialed")}" timeout="3">'
        "<Client>alice</Client></Dial></Response>"
    )
    webapp.routes["/dialed"] = twiml("<Response><Hangup/></Response>")
    api = client_for(p.daemon)
    browser = Browser(p)
    try:
        # 1. the browser rejects: busy
        caller = sim.network.incoming_call("modem1", PHONE, party=RemoteParty([Silence(20)]))
        invite = browser.next("invite")
        send(browser.ws, "reject", callsid=invite["callsid"])
        dialed = webapp.wait(15, path="/dialed").flat
        assert dialed["DialCallStatus"] == "busy" and dialed["DialCallSid"] == invite["callsid"]
        assert api.calls(invite["callsid"]).fetch().status == "busy"
        assert caller.wait_state("ended", timeout=10)

        # 2. nobody answers within timeout="3": no-answer, and the browser gets cancel
        caller = sim.network.incoming_call("modem1", PHONE, party=RemoteParty([Silence(20)]))
        invite = browser.next("invite")
        started = time.monotonic()
        assert browser.next("cancel") == {"callsid": invite["callsid"]}
        assert 2.5 <= time.monotonic() - started <= 5
        dialed = webapp.wait(15, path="/dialed").flat
        assert dialed["DialCallStatus"] == "no-answer"
        assert api.calls(invite["callsid"]).fetch().status == "no-answer"
        assert caller.wait_state("ended", timeout=10)
        send(browser.ws, "reject", callsid=invite["callsid"])  # crossed the cancel: harmless

        # 3. a REST update cancels the ringing leg: the browser gets cancel
        caller = sim.network.incoming_call("modem1", PHONE, party=RemoteParty([Silence(20)]))
        invite = browser.next("invite")
        api.calls(invite["callsid"]).update(status="canceled")
        assert browser.next("cancel") == {"callsid": invite["callsid"]}
        dialed = webapp.wait(15, path="/dialed").flat
        assert dialed["DialCallStatus"] == "canceled"
        assert api.calls(invite["callsid"]).fetch().status == "canceled"
        assert caller.wait_state("ended", timeout=10)

        # 4. an identity with no browser registered: no-answer at once
        webapp.routes["/voice"] = twiml(
            f'<Response><Dial action="{webapp.url("/dialed")}" timeout="20">'
            "<Client>bob</Client></Dial></Response>"
        )
        started = time.monotonic()
        sim.network.incoming_call("modem1", PHONE, party=RemoteParty([Silence(20)]))
        dialed = webapp.wait(15, path="/dialed").flat
        assert dialed["DialCallStatus"] == "no-answer"
        assert time.monotonic() - started < 10
    finally:
        browser.close()


BOB, SECOND = "+14155550172", "+15005550010"


def test_a_client_and_a_number_ring_in_parallel_and_the_first_answer_wins(phones, tmp_path, webapp):
    host = SimulatorHost(tmp_path / "sim2", report_delay=0.05)
    host.add("modem1", "sim800", NUMBER, latency=0.005, boot_delay=0.0)
    host.add("modem2", "sim7600", SECOND, latency=0.005, boot_delay=0.0)
    host.start()
    p = None
    try:
        wait_for(lambda: all(m.booted for m in host.modems.values()), timeout=5)
        modems = [
            {
                "name": name,
                "number": m.number,
                "port": str(m.port_path),
                "profile": m.profile.family,
                "audio_port": str(m.audio_path),
                "voice_url": webapp.url("/voice"),
            }
            for name, m in host.modems.items()
        ]
        p = phones(webrtc_addresses="127.0.0.1", modems=modems)
        api = client_for(p.daemon)
        webapp.routes["/voice"] = twiml(
            f'<Response><Dial action="{webapp.url("/dialed")}" timeout="15" timeLimit="3">'
            f"<Number>{BOB}</Number><Client>alice</Client></Dial></Response>"
        )
        webapp.routes["/dialed"] = twiml("<Response><Hangup/></Response>")
        browser = Browser(p)
        try:
            # 1. the browser answers first: the number, still ringing, is hung up (canceled)
            host.network.set_callee(BOB, outcome="answer", answer_after=8.0)
            first = host.network.incoming_call("modem1", PHONE, party=RemoteParty([Silence(30)]))
            invite = browser.next("invite")
            bob = wait_for(lambda: [c for c in host.network.calls if c.number == BOB])[0]
            browser.answer(invite)
            assert browser.next("answer")["callsid"] == invite["callsid"]
            assert bob.wait_state("ended", timeout=10) and bob.answered_at is None
            assert browser.next("hangup") == {"callsid": invite["callsid"]}
            dialed = webapp.wait(15, path="/dialed").flat  # timeLimit="3"
            assert dialed["DialCallStatus"] == "completed"
            assert dialed["DialCallSid"] == invite["callsid"]
            rows = {
                r["to_number"]: r["status"]
                for r in p.daemon.store.read(
                    "SELECT to_number, status FROM calls WHERE direction = 'outbound-dial'"
                )
            }
            assert rows == {BOB: "canceled", "client:alice": "completed"}
            assert first.wait_state("ended", timeout=10)

            # 2. the number answers first: the browser, still ringing, gets cancel
            speech = RemoteParty([Silence(0.3), Say("Hello, this is Bob."), Silence(20)])
            host.network.set_callee(BOB, outcome="answer", answer_after=1.0, party=speech)
            caller = host.network.incoming_call("modem1", PHONE, party=RemoteParty([Silence(30)]))
            invite = browser.next("invite")
            assert browser.next("cancel") == {"callsid": invite["callsid"]}
            dialed = webapp.wait(20, path="/dialed").flat
            assert dialed["DialCallStatus"] == "completed"
            assert dialed["DialCallSid"] != invite["callsid"]
            assert api.calls(invite["callsid"]).fetch().status == "canceled"
            assert api.calls(dialed["DialCallSid"]).fetch().to == BOB
            assert caller.wait_state("ended", timeout=10)
        finally:
            browser.close()
    finally:
        if p is not None:
            p.daemon.stop()
        host.stop()


def test_the_client_url_whisper_runs_on_the_browser_before_the_bridge(phones, sim, webapp):
    p = phones_with_modem(phones, sim, webapp)
    webapp.routes["/voice"] = twiml(
        f'<Response><Dial action="{webapp.url("/dialed")}" timeout="10" timeLimit="2">'
        f'<Client url="{webapp.url("/whisper")}">alice</Client></Dial></Response>'
    )
    webapp.routes["/dialed"] = twiml("<Response><Hangup/></Response>")
    webapp.routes["/whisper"] = twiml("<Response><Say>A call for the help desk.</Say></Response>")
    browser = Browser(p)
    try:
        # 1. the whisper plays to the browser, then the call is bridged
        first = sim.network.incoming_call("modem1", PHONE, party=RemoteParty([Silence(30)]))
        parent = webapp.wait(15, path="/voice").flat["CallSid"]
        invite = browser.next("invite")
        browser.answer(invite)
        whisper = webapp.wait(10, path="/whisper").flat
        assert whisper["CallSid"] == invite["callsid"] and whisper["ParentCallSid"] == parent
        assert whisper["To"] == "client:alice" and whisper["Direction"] == "outbound-dial"
        assert whisper["CallStatus"] == "in-progress"
        heard: list[bytes] = []
        assert browser.peer is not None
        end = time.monotonic() + 4
        while time.monotonic() < end:
            heard.append(browser.peer.port.read(FRAME_BYTES, 0.1))
        pcm = np.frombuffer(b"".join(heard), dtype="<i2").astype(np.float64)
        assert np.sqrt(np.mean(pcm * pcm)) > 300, "the whisper's speech did not reach the browser"
        dialed = webapp.wait(15, path="/dialed").flat
        assert dialed["DialCallStatus"] == "completed"
        assert dialed["DialCallSid"] == invite["callsid"]
        assert first.wait_state("ended", timeout=10)
        browser.close()

        # 2. a whisper that hangs up declines the call: no-answer, and the browser is hung up
        webapp.routes["/whisper"] = twiml("<Response><Hangup/></Response>")
        browser = Browser(p)
        sim.network.incoming_call("modem1", PHONE, party=RemoteParty([Silence(30)]))
        invite = browser.next("invite")
        browser.answer(invite)
        assert browser.next("answer")["callsid"] == invite["callsid"]
        assert browser.next("hangup") == {"callsid": invite["callsid"]}
        dialed = webapp.wait(15, path="/dialed").flat
        assert dialed["DialCallStatus"] == "no-answer"
    finally:
        browser.close()
