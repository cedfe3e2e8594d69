"""Voice end to end: the real daemon answers simulated calls and runs their TwiML.

The simulated modem plays the caller (appliance/sim/voice.py): it rings, presses
digits as real DTMF tones in the audio, speaks, hangs up, and records what it
heard.  Everything between is production code: driver over the pty, Phone in the
modem thread, CallFlow, espeak-ng, the DTMF detector, the recorder, the webhooks.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from twilio.request_validator import RequestValidator

from appliance.daemon import Daemon
from appliance.sim.host import SimulatorHost
from appliance.sim.voice import Digits, Hangup, RemoteParty, Say, Silence, WaitHeard
from tests.conftest import NUMBER, PHONE, wait_for
from tests.webapp import Request, WebApp, twiml

pytestmark = pytest.mark.timeout(90)


def loud(pcm: bytes) -> float:
    """Seconds of non-silent audio in 8 kHz PCM (20 ms frames above -40 dBFS)."""
    samples = np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<i2").astype(np.float64)
    frames = samples[: len(samples) // 160 * 160].reshape(-1, 160)
    if not len(frames):
        return 0.0
    rms = np.sqrt((frames**2).mean(axis=1))
    return float((rms > 32768 * 10 ** (-40 / 20)).sum() * 0.02)


def call_row(d: Daemon, sid: str) -> dict[str, object]:
    row = d.store.read_one("SELECT * FROM calls WHERE sid = ?", (sid,))
    assert row is not None
    return dict(row)


def signed(d: Daemon, req: Request) -> bool:
    validator = RequestValidator(d.account.auth_token)
    return bool(validator.validate(req.url, req.flat, req.headers.get("X-Twilio-Signature", "")))


def test_inbound_say_gather_digits_reach_the_app(
    sim: SimulatorHost, webapp: WebApp, voice_daemon: Callable[..., Daemon]
) -> None:
    d = voice_daemon()
    webapp.routes["/voice"] = twiml(
        '<Response><Gather numDigits="3" action="/gathered" timeout="5">'
        "<Say>Please enter your three digit code.</Say></Gather>"
        "<Say>We did not get anything.</Say></Response>"
    )
    webapp.routes["/gathered"] = twiml("<Response><Say>Thank you, goodbye.</Say></Response>")
    party = RemoteParty(
        [WaitHeard(0.5, timeout=10), Digits("123", on_ms=80, off_ms=80), Silence(8)]
    )
    remote = sim.network.incoming_call("modem1", PHONE, party=party)

    first = webapp.wait(15, path="/voice")
    assert first.param("CallStatus") == "ringing"
    assert first.param("Direction") == "inbound"
    assert first.param("From") == PHONE and first.param("To") == NUMBER
    assert first.param("AccountSid") == d.account.sid
    sid = first.param("CallSid")
    assert sid and sid.startswith("CA") and signed(d, first)

    gathered = webapp.wait(20, path="/gathered")
    assert gathered.param("Digits") == "123"
    assert gathered.param("CallSid") == sid and gathered.param("CallStatus") == "in-progress"
    assert signed(d, gathered)

    assert remote.wait_state("ended", timeout=20)
    assert remote.end_reason == "local-hangup"
    row = wait_for(lambda: (r := call_row(d, sid)) and r["status"] == "completed" and r)
    assert row["direction"] == "inbound" and int(row["duration"] or 0) >= 1  # type: ignore[call-overload]
    assert loud(remote.heard()) > 0.8  # part of the prompt (barge-in), then the goodbye
    assert not webapp.to("/voice")[1:], (
        "the action answered; the rest of the first document never ran"
    )


def test_gather_without_input_goes_on_with_the_next_verb(
    sim: SimulatorHost, webapp: WebApp, voice_daemon: Callable[..., Daemon]
) -> None:
    voice_daemon()
    webapp.routes["/voice"] = twiml(
        '<Response><Gather timeout="1" action="/never"><Say>Press a key.</Say></Gather>'
        '<Redirect method="POST">/after</Redirect></Response>'
    )
    webapp.routes["/after"] = twiml("<Response><Hangup/></Response>")
    remote = sim.network.incoming_call("modem1", PHONE, party=RemoteParty([Silence(20)]))
    webapp.wait(15, path="/after")
    assert not webapp.to("/never")
    assert remote.wait_state("ended", timeout=10)


def test_reject_busy_never_answers(
    sim: SimulatorHost, webapp: WebApp, voice_daemon: Callable[..., Daemon]
) -> None:
    d = voice_daemon()
    webapp.routes["/voice"] = twiml('<Response><Reject reason="busy"/><Say>never</Say></Response>')
    remote = sim.network.incoming_call("modem1", PHONE, party=RemoteParty([Silence(5)]))
    sid = webapp.wait(15, path="/voice").param("CallSid")
    assert remote.wait_state("ended", timeout=10)
    assert remote.end_reason in ("rejected", "busy")
    assert remote.heard() == b""  # never answered, so nothing was heard
    wait_for(lambda: call_row(d, str(sid))["status"] == "busy")


def test_record_voicemail_is_stored_and_served(
    sim: SimulatorHost, webapp: WebApp, voice_daemon: Callable[..., Daemon]
) -> None:
    d = voice_daemon()
    webapp.routes["/voice"] = twiml(
        "<Response><Say>Leave a message after the beep.</Say>"
        '<Record maxLength="10" timeout="2" action="/recorded" playBeep="true"/></Response>'
    )
    webapp.routes["/recorded"] = twiml("<Response><Hangup/></Response>")
    party = RemoteParty(
        [
            WaitHeard(1.0, timeout=15),
            Silence(1.0),
            Say("Hello, this is a test voicemail message."),
            Silence(6),
        ]
    )
    remote = sim.network.incoming_call("modem1", PHONE, party=party)
    rec = webapp.wait(40, path="/recorded")
    url, rsid = rec.param("RecordingUrl"), rec.param("RecordingSid")
    assert url and rsid and rsid.startswith("RE")
    assert 1 <= int(rec.param("RecordingDuration") or 0) <= 6
    row = d.store.read_one("SELECT * FROM recordings WHERE sid = ?", (rsid,))
    assert row is not None and Path(row["path"]).exists()
    with urllib.request.urlopen(url + ".wav", timeout=10) as resp:
        body = resp.read()
    assert body[:4] == b"RIFF" and body[8:12] == b"WAVE"
    assert loud(body[44:]) > 0.8  # the caller's words are in the recording
    assert remote.wait_state("ended", timeout=10)


def test_caller_hangs_up_mid_say(
    sim: SimulatorHost, webapp: WebApp, voice_daemon: Callable[..., Daemon]
) -> None:
    d = voice_daemon(modem={"status_callback": webapp.url("/status")})
    long_text = " ".join(["This is a long announcement that nobody will hear to the end."] * 20)
    webapp.routes["/voice"] = twiml(f"<Response><Say>{long_text}</Say></Response>")
    remote = sim.network.incoming_call(
        "modem1", PHONE, party=RemoteParty([WaitHeard(0.5, timeout=10), Hangup()])
    )
    sid = webapp.wait(15, path="/voice").param("CallSid")
    assert remote.wait_state("ended", timeout=15)
    assert remote.end_reason == "remote-hangup"
    wait_for(lambda: call_row(d, str(sid))["status"] == "completed", timeout=10)
    status = webapp.wait(10, path="/status")
    assert status.param("CallStatus") == "completed" and status.param("CallSid") == sid
    assert status.param("CallbackSource") == "call-progress-events" and signed(d, status)
    # Nothing left behind: no live flow, and the modem takes the next call.
    wait_for(lambda: not d.voice.phones["modem1"].flows, timeout=10)


def set_fallback(d: Daemon, url: str) -> None:
    d.store.write(
        lambda conn: conn.execute(
            "UPDATE numbers SET voice_fallback_url = ? WHERE modem = 'modem1'", (url,)
        )
    )


def test_failing_voice_url_uses_fallback_then_apologises(
    sim: SimulatorHost, webapp: WebApp, voice_daemon: Callable[..., Daemon]
) -> None:
    d = voice_daemon()
    webapp.routes["/voice"] = lambda req: (500, "text/plain", b"boom")
    webapp.routes["/fallback"] = lambda req: (200, "application/json", b"{}")
    set_fallback(d, webapp.url("/fallback"))
    remote = sim.network.incoming_call("modem1", PHONE, party=RemoteParty([Silence(30)]))
    sid = webapp.wait(15, path="/voice").param("CallSid")
    fb = webapp.wait(15, path="/fallback")
    assert fb.param("ErrorCode") == "11200" and fb.param("ErrorUrl") == webapp.url("/voice")
    assert remote.wait_state("ended", timeout=20)
    assert loud(remote.heard()) > 1.0  # the apology
    codes = [
        r["error_code"]
        for r in d.store.read(
            "SELECT error_code FROM webhook_log WHERE call_sid = ? ORDER BY id", (sid,)
        )
    ]
    assert codes == [11200, 12300]


def test_a_voice_answer_over_64_kb_is_11750_and_the_fallback_runs(
    sim: SimulatorHost, webapp: WebApp, voice_daemon: Callable[..., Daemon]
) -> None:
    # Twilio refuses TwiML over 64 kB as "response body too large" (11750); the cut body must
    # not be parsed and reported as a parse failure (12100).
    d = voice_daemon()
    huge = b"<Response><Say>" + b"x" * (100 * 1024) + b"</Say></Response>"
    webapp.routes["/voice"] = lambda req: (200, "text/xml", huge)
    webapp.routes["/fallback"] = twiml("<Response><Hangup/></Response>")
    set_fallback(d, webapp.url("/fallback"))
    remote = sim.network.incoming_call("modem1", PHONE, party=RemoteParty([Silence(30)]))
    sid = webapp.wait(15, path="/voice").param("CallSid")
    fb = webapp.wait(15, path="/fallback")
    assert fb.param("ErrorCode") == "11750" and fb.param("ErrorUrl") == webapp.url("/voice")
    assert remote.wait_state("ended", timeout=20)
    rows = d.store.read(
        "SELECT error_code, error_message FROM webhook_log WHERE call_sid = ? ORDER BY id", (sid,)
    )
    assert [r["error_code"] for r in rows] == [11750, None]
    assert "too large" in rows[0]["error_message"]


def test_redirect_loop_is_bounded(
    sim: SimulatorHost, webapp: WebApp, voice_daemon: Callable[..., Daemon]
) -> None:
    d = voice_daemon(max_call_documents=5)
    webapp.routes["/voice"] = twiml("<Response><Redirect>/voice</Redirect></Response>")
    remote = sim.network.incoming_call("modem1", PHONE, party=RemoteParty([Silence(30)]))
    assert remote.wait_state("ended", timeout=30)
    assert len(webapp.to("/voice")) == 5
    sid = webapp.to("/voice")[0].param("CallSid")
    events = d.store.read("SELECT error_code FROM call_events WHERE call_sid = ?", (sid,))
    assert 11215 in [e["error_code"] for e in events]


def test_unknown_verb_recorded_and_skipped(
    sim: SimulatorHost, webapp: WebApp, voice_daemon: Callable[..., Daemon]
) -> None:
    d = voice_daemon()
    webapp.routes["/voice"] = twiml(
        "<Response><Conference>room</Conference><Say>Still here.</Say></Response>"
    )
    remote = sim.network.incoming_call("modem1", PHONE, party=RemoteParty([Silence(15)]))
    sid = webapp.wait(15, path="/voice").param("CallSid")
    assert remote.wait_state("ended", timeout=20)
    assert loud(remote.heard()) > 0.3
    events = d.store.read("SELECT error_code FROM call_events WHERE call_sid = ?", (sid,))
    assert 12200 in [e["error_code"] for e in events]


def test_outbound_call_from_the_rest_api(
    sim: SimulatorHost, webapp: WebApp, voice_daemon: Callable[..., Daemon]
) -> None:
    from twilio.rest import Client

    d = voice_daemon()
    callee = "+14155550199"
    sim.network.set_callee(
        callee, outcome="answer", answer_after=1.0, party=RemoteParty([Silence(15)])
    )
    client = Client(d.account.sid, d.account.auth_token)
    client.api.base_url = f"http://127.0.0.1:{d.server.port}"
    created = client.calls.create(
        to=callee,
        from_=NUMBER,
        twiml="<Response><Say>This is your appliance calling.</Say></Response>",
        status_callback=webapp.url("/status"),
        status_callback_event=["initiated", "ringing", "answered", "completed"],
    )
    assert created.status == "queued"
    events = [webapp.wait(30, path="/status") for _ in range(4)]
    assert [e.param("StatusCallbackEvent") for e in events] == [
        "initiated",
        "ringing",
        "answered",
        "completed",
    ]
    assert [e.param("SequenceNumber") for e in events] == ["0", "1", "2", "3"]
    # Twilio's CallStatus of each event (docs/voice.md): "initiated" is a status of its own.
    assert [e.param("CallStatus") for e in events] == [
        "initiated",
        "ringing",
        "in-progress",
        "completed",
    ]
    assert all(signed(d, e) and e.param("CallSid") == created.sid for e in events)
    fetched = client.calls(created.sid).fetch()
    assert fetched.status == "completed" and fetched.direction == "outbound-api"
    remote = [c for c in sim.network.calls if getattr(c, "number", None) == callee][0]
    assert loud(remote.heard()) > 1.0


@pytest.mark.parametrize("outcome", ["busy", "no-answer"])
def test_outbound_busy_and_no_answer(
    sim: SimulatorHost, webapp: WebApp, voice_daemon: Callable[..., Daemon], outcome: str
) -> None:
    from twilio.rest import Client

    d = voice_daemon()
    callee = "+14155550188"
    sim.network.set_callee(callee, outcome=outcome)
    client = Client(d.account.sid, d.account.auth_token)
    client.api.base_url = f"http://127.0.0.1:{d.server.port}"
    created = client.calls.create(to=callee, from_=NUMBER, url=webapp.url("/never"), timeout=5)
    wait_for(lambda: client.calls(created.sid).fetch().status == outcome, timeout=30)
    assert not webapp.to("/never")


def test_dial_number_cannot_inject_at_commands(
    sim: SimulatorHost, webapp: WebApp, voice_daemon: Callable[..., Daemon]
) -> None:
    """A number typed into TwiML reaches ATD as dial characters only."""
    voice_daemon()
    webapp.routes["/voice"] = twiml(
        '<Response><Dial timeout="3">+1415555;AT+CFUN=0;</Dial><Say>back</Say></Response>'
    )
    remote = sim.network.incoming_call("modem1", PHONE, party=RemoteParty([Silence(20)]))
    webapp.wait(15, path="/voice")
    assert remote.wait_state("ended", timeout=30)
    assert sim.modems["modem1"].registered()  # AT+CFUN=0 never ran
    dialled = [getattr(c, "number", "") for c in sim.network.calls if c is not remote]
    assert all(set(n) <= set("+0123456789*#") for n in dialled)


def test_play_url_that_is_not_audio_is_recorded_and_skipped(
    sim: SimulatorHost, webapp: WebApp, voice_daemon: Callable[..., Daemon]
) -> None:
    d = voice_daemon()
    webapp.routes["/page"] = lambda req: (200, "text/html", b"<html>not a sound</html>")
    webapp.routes["/voice"] = twiml(
        f"<Response><Play>{webapp.url('/page')}</Play><Say>Played nothing.</Say></Response>"
    )
    remote = sim.network.incoming_call("modem1", PHONE, party=RemoteParty([Silence(20)]))
    sid = webapp.wait(15, path="/voice").param("CallSid")
    assert remote.wait_state("ended", timeout=20)
    assert loud(remote.heard()) > 0.4  # the next verb ran
    events = d.store.read("SELECT error_code, detail FROM call_events WHERE call_sid = ?", (sid,))
    assert any(e["error_code"] == 11100 and "/page" in e["detail"] for e in events)


def test_modem_that_stops_answering_mid_call_frees_everything(
    sim: SimulatorHost, webapp: WebApp, voice_daemon: Callable[..., Daemon]
) -> None:
    d = voice_daemon(command_timeout=1.0)
    webapp.routes["/voice"] = twiml("<Response><Say>Hold on.</Say><Pause length='60'/></Response>")
    remote = sim.network.incoming_call(
        "modem1", PHONE, party=RemoteParty([WaitHeard(0.3, timeout=10), Silence(60)])
    )
    sid = webapp.wait(15, path="/voice").param("CallSid")
    wait_for(lambda: call_row(d, str(sid))["status"] == "in-progress")
    sim.fault(sim.modems["modem1"], "stop_answering", True)  # the AT port goes silent
    # The watchdog's AT+CLCC times out twice: the modem is dropped and its calls end.
    wait_for(lambda: call_row(d, str(sid))["status"] in ("completed", "failed"), timeout=30)
    wait_for(lambda: not d.voice.phones["modem1"].flows, timeout=15)
    sim.fault(sim.modems["modem1"], "stop_answering", False)
    assert d.modems["modem1"].connected.wait(20)
    # The modem takes the next call as usual.
    webapp.routes["/voice"] = twiml("<Response><Say>Back again.</Say></Response>")
    again = sim.network.incoming_call("modem1", PHONE, party=RemoteParty([Silence(20)]))
    assert again.wait_state("ended", timeout=30) and loud(again.heard()) > 0.3
    del remote


def test_caller_hangs_up_during_record_still_posts_the_action(
    sim: SimulatorHost, webapp: WebApp, voice_daemon: Callable[..., Daemon]
) -> None:
    voice_daemon()
    webapp.routes["/voice"] = twiml(
        '<Response><Record playBeep="false" timeout="10" action="/recorded"/></Response>'
    )
    party = RemoteParty([Silence(0.5), Say("I will hang up in the middle of this."), Hangup()])
    remote = sim.network.incoming_call("modem1", PHONE, party=party)
    rec = webapp.wait(30, path="/recorded")
    assert rec.param("Digits") == "hangup" and rec.param("CallStatus") == "completed"
    assert int(rec.param("RecordingDuration") or 0) >= 1
    assert remote.end_reason == "remote-hangup"


def test_sms_inside_a_call_texts_the_caller(
    sim: SimulatorHost, webapp: WebApp, voice_daemon: Callable[..., Daemon]
) -> None:
    voice_daemon()
    webapp.routes["/voice"] = twiml(
        "<Response><Sms>Thanks for calling. Our opening hours: 9-17.</Sms><Hangup/></Response>"
    )
    remote = sim.network.incoming_call("modem1", PHONE, party=RemoteParty([Silence(20)]))
    assert remote.wait_state("ended", timeout=20)
    assert sim.network.wait_outbox(1, timeout=20)
    sent = sim.network.outbox()[0]
    assert sent.destination == PHONE and sent.text == "Thanks for calling. Our opening hours: 9-17."


def test_rest_update_redirects_then_ends_a_live_call(
    sim: SimulatorHost, webapp: WebApp, voice_daemon: Callable[..., Daemon]
) -> None:
    from twilio.rest import Client

    d = voice_daemon()
    webapp.routes["/voice"] = twiml("<Response><Say>Hello.</Say><Pause length='60'/></Response>")
    webapp.routes["/new"] = twiml(
        "<Response><Say>The plan has changed.</Say><Pause length='60'/></Response>"
    )
    remote = sim.network.incoming_call("modem1", PHONE, party=RemoteParty([Silence(60)]))
    sid = str(webapp.wait(15, path="/voice").param("CallSid"))
    wait_for(lambda: call_row(d, sid)["status"] == "in-progress")
    client = Client(d.account.sid, d.account.auth_token)
    client.api.base_url = f"http://127.0.0.1:{d.server.port}"
    client.calls(sid).update(url=webapp.url("/new"), method="POST")
    new = webapp.wait(15, path="/new")
    assert new.param("CallSid") == sid and new.param("CallStatus") == "in-progress"
    wait_for(lambda: loud(remote.heard()) > 0.5, timeout=15)
    client.calls(sid).update(status="completed")
    assert remote.wait_state("ended", timeout=15)
    assert remote.end_reason == "local-hangup"
    wait_for(lambda: client.calls(sid).fetch().status == "completed")


def test_rest_cancel_while_our_call_rings(
    sim: SimulatorHost, webapp: WebApp, voice_daemon: Callable[..., Daemon]
) -> None:
    from twilio.rest import Client

    d = voice_daemon()
    callee = "+14155550144"
    sim.network.set_callee(callee, outcome="no-answer")
    client = Client(d.account.sid, d.account.auth_token)
    client.api.base_url = f"http://127.0.0.1:{d.server.port}"
    created = client.calls.create(to=callee, from_=NUMBER, url=webapp.url("/never"), timeout=50)
    wait_for(lambda: client.calls(created.sid).fetch().status == "ringing", timeout=20)
    client.calls(created.sid).update(status="canceled")
    wait_for(lambda: client.calls(created.sid).fetch().status == "canceled", timeout=15)
    remote = [c for c in sim.network.calls if getattr(c, "number", None) == callee][0]
    assert remote.wait_state("ended", timeout=10)
    assert not webapp.to("/never")


def test_stopping_the_appliance_hangs_up_live_calls(
    sim: SimulatorHost, webapp: WebApp, voice_daemon: Callable[..., Daemon]
) -> None:
    import sqlite3

    d = voice_daemon()
    webapp.routes["/voice"] = twiml("<Response><Say>Hold on.</Say><Pause length='60'/></Response>")
    remote = sim.network.incoming_call("modem1", PHONE, party=RemoteParty([Silence(60)]))
    sid = str(webapp.wait(15, path="/voice").param("CallSid"))
    wait_for(lambda: call_row(d, sid)["status"] == "in-progress")
    d.stop()
    assert remote.wait_state("ended", timeout=5) and remote.end_reason == "local-hangup"
    conn = sqlite3.connect(d.config.db_path)
    try:
        status = conn.execute("SELECT status FROM calls WHERE sid = ?", (sid,)).fetchone()[0]
    finally:
        conn.close()
    assert status == "completed"


def test_play_a_wav_from_the_app_and_digits(
    sim: SimulatorHost, webapp: WebApp, voice_daemon: Callable[..., Daemon]
) -> None:
    import io
    import wave

    from appliance.voice import tones
    from appliance.voice.dtmf import DtmfDetector

    voice_daemon()
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(tones.beep(ms=1500, hz=440))
    webapp.routes["/tone.wav"] = lambda req: (200, "audio/wav", buf.getvalue())
    webapp.routes["/voice"] = twiml(
        f'<Response><Play loop="2">{webapp.url("/tone.wav")}</Play><Play digits="w19#"/></Response>'
    )
    remote = sim.network.incoming_call("modem1", PHONE, party=RemoteParty([Silence(30)]))
    assert remote.wait_state("ended", timeout=30)
    heard = remote.heard()
    assert loud(heard) >= 2.5  # the 1.5 s tone, twice
    detector = DtmfDetector()
    digits = "".join(
        d for i in range(0, len(heard), 320) for d in detector.feed(heard[i : i + 320])
    )
    assert digits == "19#"  # <Play digits> reached the caller as real DTMF
