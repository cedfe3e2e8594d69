"""<Dial> options on the two-modem bridge: sendDigits, answerOnBridge, ringTone, record with
its status callback, and the warnings of bad attribute values (Twilio's codes)."""

from __future__ import annotations

import io
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import requests

from appliance.sim.host import SimulatorHost
from appliance.sim.voice import RemoteParty, Say, Silence, SimCall
from appliance.twiml import voice as twiml_voice
from appliance.twiml.dial import Dial
from tests.conftest import NUMBER, PHONE, wait_for
from tests.partysteps import Until
from tests.voice.test_dial import child_in_progress, start
from tests.voice.test_engine import loud
from tests.webapp import WebApp, twiml

pytestmark = pytest.mark.timeout(150)
ALICE = "+14155550171"
SECOND = "+15005550007"


def make_host(tmp_path: Path, callee_family: str = "sim7600") -> SimulatorHost:
    h = SimulatorHost(tmp_path / "sim", report_delay=0.05)
    h.add("modem1", "sim800", NUMBER, latency=0.005, boot_delay=0.0)
    h.add("modem2", callee_family, SECOND, latency=0.005, boot_delay=0.0)
    h.start()
    wait_for(lambda: all(m.booted for m in h.modems.values()), timeout=15)
    return h


@pytest.fixture
def host(tmp_path: Path) -> Iterator[SimulatorHost]:
    h = make_host(tmp_path)
    yield h
    h.stop()


def callee(host: SimulatorHost, number: str = ALICE) -> SimCall:
    calls = wait_for(lambda: [c for c in host.network.calls if c.number == number], timeout=20)
    return calls[0]  # type: ignore[no-any-return]


@pytest.mark.parametrize("family", ["huawei_e173", "sim800"])
def test_send_digits_reach_the_callee_after_the_answer(
    tmp_path: Path, webapp: WebApp, family: str
) -> None:
    h = make_host(tmp_path, family)
    d = start(tmp_path, h, webapp, ["modem1", "modem2"])
    try:
        webapp.routes["/voice"] = twiml(
            '<Response><Dial action="/dialed" timeLimit="3">'
            f'<Number sendDigits="1w2#">{ALICE}</Number></Dial></Response>'
        )
        webapp.routes["/dialed"] = twiml("<Response><Hangup/></Response>")
        h.network.set_callee(ALICE, outcome="answer", answer_after=1.0)
        h.network.incoming_call("modem1", PHONE, party=RemoteParty([Silence(30)]))
        dialed = webapp.wait(40, path="/dialed")
        assert dialed.param("DialCallStatus") == "completed"
        leg = callee(h)
        # AT+VTS (SIM800) or AT^DTMF (Huawei), one key at a time; "w" is a pause.
        assert leg.received_digits == "12#"
    finally:
        d.stop()
        h.stop()


def test_answer_on_bridge_keeps_the_caller_ringing_until_the_callee_answers(
    tmp_path: Path, host: SimulatorHost, webapp: WebApp
) -> None:
    d = start(tmp_path, host, webapp, ["modem1", "modem2"])
    try:
        webapp.routes["/voice"] = twiml(
            '<Response><Dial answerOnBridge="true" action="/dialed" timeLimit="3">'
            f"<Number>{ALICE}</Number></Dial></Response>"
        )
        webapp.routes["/dialed"] = twiml("<Response><Hangup/></Response>")
        # The engineer speaks once the caller is answered (the bridge), not at once: answering
        # the caller takes an ATA, which a busy machine may be slow over.
        bridged = Until(
            lambda: any(c.number == PHONE and c.state == "active" for c in host.network.calls)
        )
        talk = RemoteParty(
            [bridged, Silence(0.3), Say("Hello, the engineer speaking."), Silence(30)]
        )
        host.network.set_callee(ALICE, outcome="answer", answer_after=3.0, party=talk)
        caller = host.network.incoming_call("modem1", PHONE, party=RemoteParty([Silence(30)]))
        leg = callee(host)
        assert leg.wait_state("ringing", timeout=10)
        assert caller.state == "ringing"  # not answered while the callee rings
        assert leg.wait_state("active", timeout=15)
        assert caller.wait_state("active", timeout=15)
        assert caller.answered_at is not None and leg.answered_at is not None
        assert caller.answered_at >= leg.answered_at  # answered on the bridge
        dialed = webapp.wait(30, path="/dialed")
        assert dialed.param("DialCallStatus") == "completed"
        assert caller.wait_state("ended", timeout=15)
        assert loud(caller.heard()) > 0.5  # the callee's words came through
    finally:
        d.stop()


def peak_hz(pcm: bytes) -> float:
    x = np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<i2").astype(np.float64)
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    return float(np.fft.rfftfreq(x.size, 1 / 8000)[int(np.argmax(spectrum))])


def test_ring_tone_is_what_an_answered_caller_hears_while_the_callee_rings(
    tmp_path: Path, host: SimulatorHost, webapp: WebApp
) -> None:
    d = start(tmp_path, host, webapp, ["modem1", "modem2"])
    try:
        webapp.routes["/voice"] = twiml(
            '<Response><Dial ringTone="fr" timeLimit="2">'
            f"<Number>{ALICE}</Number></Dial></Response>"
        )
        host.network.set_callee(ALICE, outcome="answer", answer_after=5.0)
        caller = host.network.incoming_call("modem1", PHONE, party=RemoteParty([Silence(30)]))
        assert callee(host).wait_state("active", timeout=20)
        assert caller.wait_state("ended", timeout=20)
        heard = caller.heard()[: 16000 * 4]  # while it rang
        assert loud(heard) > 1.0  # France: 1.5 s on, 3.5 s off
        assert 430 <= peak_hz(heard) <= 450  # 440 Hz
    finally:
        d.stop()


def test_record_from_answer_dual_is_a_two_channel_recording_with_its_callback(
    tmp_path: Path, host: SimulatorHost, webapp: WebApp
) -> None:
    d = start(tmp_path, host, webapp, ["modem1", "modem2"])
    try:
        webapp.routes["/voice"] = twiml(
            '<Response><Dial record="record-from-answer-dual" action="/dialed" timeLimit="9"'
            ' recordingStatusCallback="/recstatus"'
            ' recordingStatusCallbackEvent="in-progress completed">'
            f"<Number>{ALICE}</Number></Dial></Response>"
        )
        webapp.routes["/dialed"] = twiml("<Response><Hangup/></Response>")
        engineer = RemoteParty(
            [
                Until(lambda: child_in_progress(d)),  # the bridge (and recording) follows
                Silence(0.5),
                Say("This is the engineer on call."),
                Silence(30),
            ]
        )
        host.network.set_callee(ALICE, outcome="answer", answer_after=1.0, party=engineer)
        # The caller speaks 5 s after the engineer answered, however long the dial took.
        answered = Until(
            lambda: any(c.number == ALICE and c.state == "active" for c in host.network.calls)
        )
        words = RemoteParty(
            [answered, Silence(5.0), Say("And this is the caller speaking."), Silence(30)]
        )
        host.network.incoming_call("modem1", PHONE, party=words)
        parent = webapp.wait(15, path="/voice").param("CallSid")
        dialed = webapp.wait(40, path="/dialed")
        assert dialed.param("DialCallStatus") == "completed"
        rec_sid = dialed.param("RecordingSid")
        assert rec_sid and rec_sid.startswith("RE")
        assert (dialed.param("RecordingUrl") or "").endswith(f"/Recordings/{rec_sid}")
        started, done = wait_for(
            lambda: len(webapp.to("/recstatus")) >= 2 and webapp.to("/recstatus")
        )
        assert started.param("RecordingStatus") == "in-progress"
        assert done.param("RecordingStatus") == "completed"
        assert done.param("RecordingSid") == rec_sid and done.param("CallSid") == parent
        assert done.param("RecordingChannels") == "2"
        assert done.param("RecordingSource") == "DialVerb"
        api = f"http://127.0.0.1:{d.server.port}/2010-04-01/Accounts/{d.account.sid}"
        auth = (d.account.sid, d.account.auth_token)
        meta = requests.get(f"{api}/Recordings/{rec_sid}.json", auth=auth, timeout=10).json()
        assert meta["channels"] == 2 and meta["source"] == "DialVerb"
        assert meta["call_sid"] == parent
        media = requests.get(f"{api}/Recordings/{rec_sid}.wav", auth=auth, timeout=10)
        with wave.open(io.BytesIO(media.content)) as w:
            assert w.getnchannels() == 2 and w.getframerate() == 8000
            frames = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
        caller_track, callee_track = frames[0::2].tobytes(), frames[1::2].tobytes()
        assert loud(caller_track) > 0.5 and loud(callee_track) > 0.5

        def first_loud(pcm: bytes) -> int:
            x = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
            rms = np.sqrt((x[: x.size // 160 * 160].reshape(-1, 160) ** 2).mean(axis=1))
            return int(np.argmax(rms > 327))

        # The engineer spoke first, the caller seconds later: each on their own channel.
        assert first_loud(caller_track) - first_loud(callee_track) > 50  # > 1 s of frames
    finally:
        d.stop()


def test_bad_dial_attributes_give_twilios_warnings() -> None:
    numbers = "".join(f"<Number>+1415555{n:04d}</Number>" for n in range(11))
    doc = twiml_voice.parse(
        (
            '<Response><Dial ringTone="mars" record="sometimes" timeLimit="-5" timeout="soon"'
            ' recordingStatusCallbackEvent="finished" recordingStatusCallbackMethod="PUT">'
            f'<Number sendDigits="12;AT+CFUN=0">{ALICE}</Number><Client>alice</Client>'
            f"{numbers}</Dial></Response>"
        ).encode(),
        "http://example.test/voice",
    )
    codes = {w.code for w in doc.warnings}
    assert {13220, 13217, 13216, 13212, 13222} <= codes
    messages = " ".join(w.message for w in doc.warnings)
    assert "recordingStatusCallbackEvent" in messages and "PUT" in messages
    assert "at most 10" in messages
    dial = doc.verbs[0]
    assert isinstance(dial, Dial)
    assert dial.ring_tone is None and dial.record == "do-not-record"
    assert dial.time_limit == 14400 and dial.timeout == 30
    assert dial.numbers[0].send_digits is None  # never reaches AT+VTS
    assert [c.identity for c in dial.clients] == ["alice"]
    assert len(dial.numbers) + len(dial.clients) == 10


def test_client_nouns_are_not_rung_without_browser_phones_and_say_so(
    tmp_path: Path, host: SimulatorHost, webapp: WebApp
) -> None:
    d = start(tmp_path, host, webapp, ["modem1", "modem2"])
    d.voice.clients = None  # as without the webrtc extra (or the HTTPS server)
    try:
        webapp.routes["/voice"] = twiml(
            '<Response><Dial action="/dialed" ringTone="xx"><Client>alice</Client></Dial>'
            "</Response>"
        )
        webapp.routes["/dialed"] = twiml("<Response><Hangup/></Response>")
        host.network.incoming_call("modem1", PHONE, party=RemoteParty([Silence(30)]))
        parent = webapp.wait(15, path="/voice").param("CallSid")
        dialed = webapp.wait(20, path="/dialed")
        assert dialed.param("DialCallStatus") == "failed"
        rows = d.store.read(
            "SELECT error_code, detail FROM call_events WHERE call_sid = ?", (parent,)
        )
        assert 13220 in [r["error_code"] for r in rows]  # Dial: Invalid ringTone value
        assert any("<Client>alice</Client> not rung" in r["detail"] for r in rows)
        assert not [c for c in host.network.calls if c.direction == "outbound"]
    finally:
        d.stop()


def test_record_from_ringing_mono_includes_the_ringback_and_the_call(
    tmp_path: Path, host: SimulatorHost, webapp: WebApp
) -> None:
    d = start(tmp_path, host, webapp, ["modem1", "modem2"])
    try:
        webapp.routes["/voice"] = twiml(
            '<Response><Dial record="record-from-ringing" action="/dialed" timeLimit="3"'
            ' ringTone="us" recordingStatusCallback="/recstatus">'
            f"<Number>{ALICE}</Number></Dial></Response>"
        )
        webapp.routes["/dialed"] = twiml("<Response><Hangup/></Response>")
        host.network.set_callee(ALICE, outcome="answer", answer_after=4.0)
        host.network.incoming_call("modem1", PHONE, party=RemoteParty([Silence(30)]))
        dialed = webapp.wait(40, path="/dialed")
        rec_sid = dialed.param("RecordingSid")
        done = wait_for(lambda: webapp.to("/recstatus"))[0]  # completed only: the default
        assert (
            done.param("RecordingStatus") == "completed" and done.param("RecordingSid") == rec_sid
        )
        assert done.param("RecordingChannels") == "1"
        row = d.store.read_one(
            "SELECT path, channels, duration FROM recordings WHERE sid = ?", (rec_sid,)
        )
        assert row is not None and row["channels"] == 1
        assert int(row["duration"]) >= 6  # about 4-5 s of ringing, then 3 s bridged
        with wave.open(str(row["path"])) as w:
            assert w.getnchannels() == 1
            pcm = w.readframes(w.getnframes())
        assert loud(pcm[: 16000 * 2]) > 1.5  # the US ringback: 2 s on
        assert 430 <= peak_hz(pcm[: 16000 * 2]) <= 490  # 440 + 480 Hz
    finally:
        d.stop()
