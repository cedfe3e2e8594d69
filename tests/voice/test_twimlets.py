"""Built-in twimlets on real calls: a number whose Voice URL is a relative ``/twimlets/…`` URL
is answered by the appliance itself (resolved against its own base URL).

The simulated network plays the caller and records what it heard; everything between is
production code, the twimlets' HTTP layer included (the call engine requests them as it
requests any app, signed).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from appliance.daemon import Daemon
from appliance.sim.host import SimulatorHost
from appliance.sim.voice import Hangup, RemoteParty, Say, Silence, WaitHeard
from appliance.voice import tts
from tests.conftest import NUMBER, PHONE, wait_for
from tests.partysteps import Until
from tests.voice.conftest import start_daemon
from tests.voice.test_dial import ON_CALL, SECOND, child_in_progress
from tests.voice.test_engine import loud

pytestmark = pytest.mark.timeout(120)
OWNER = "+14155551212"  # who gets the voicemail's link


def log_of(d: Daemon, sid: str) -> list[dict[str, object]]:
    rows = d.store.read("SELECT * FROM webhook_log WHERE call_sid = ? ORDER BY id", (sid,))
    return [dict(r) for r in rows]


def first_call(d: Daemon) -> str:
    row = wait_for(lambda: d.store.read_one("SELECT sid FROM calls ORDER BY date_created"))
    return str(row["sid"])


def test_message_twimlet_is_heard_by_the_caller(
    sim: SimulatorHost, voice_daemon: Callable[..., Daemon]
) -> None:
    d = voice_daemon(modem={"voice_url": "/twimlets/message?Message[0]=Hello"})
    remote = sim.network.incoming_call("modem1", PHONE, party=RemoteParty([Silence(20)]))
    sid = first_call(d)
    assert remote.wait_state("ended", timeout=30)
    assert remote.end_reason == "local-hangup"  # the document ended: the appliance hung up
    wait_for(
        lambda: d.store.read_one("SELECT status FROM calls WHERE sid = ?", (sid,))[0] == "completed"
    )
    (request,) = log_of(d, sid)
    assert str(request["url"]).endswith("/twimlets/message?Message[0]=Hello")
    assert str(request["url"]).startswith(d.base_url())
    assert request["status"] == 200 and request["error_code"] is None
    assert str(request["response"]).endswith("<Response><Say>Hello</Say></Response>")
    assert json.loads(str(request["request"]))["From"] == PHONE
    # What the caller heard is the word: as much speech as "Hello" takes to say.
    hello = loud(tts.say("Hello"))
    assert hello > 0.2 and abs(loud(remote.heard()) - hello) < 0.3


def test_voicemail_twimlet_records_and_texts_the_link(
    sim: SimulatorHost, voice_daemon: Callable[..., Daemon]
) -> None:
    d = voice_daemon(modem={"voice_url": "/twimlets/voicemail?Sms=%2B14155551212"})
    party = RemoteParty(
        [WaitHeard(1.0, timeout=15), Silence(1.0), Say("Call me back about the invoice."), Hangup()]
    )
    remote = sim.network.incoming_call("modem1", PHONE, party=party)
    sid = first_call(d)
    assert remote.wait_state("ended", timeout=40)
    text = wait_for(lambda: d.store.read_one("SELECT * FROM messages"), timeout=20)
    rec = d.store.read_one("SELECT sid FROM recordings WHERE call_sid = ?", (sid,))
    assert rec is not None
    assert text["to_number"] == OWNER and text["from_number"] == NUMBER
    assert text["body"].startswith(f"New voicemail from {PHONE}: {d.base_url()}/2010-04-01/")
    assert text["body"].endswith(f"/Recordings/{rec['sid']}.mp3")
    wait_for(lambda: any(m.text == text["body"] for m in sim.network.outbox()))
    # The greeting, then the notification step: signed by the appliance, so not refused.
    statuses = [r["status"] for r in log_of(d, sid)]
    assert statuses == [200, 200], log_of(d, sid)


def start_two_modems(tmp_path: Path, host: SimulatorHost, voice_url: str) -> Daemon:
    modems = [
        {
            "name": name,
            "number": host.modems[name].number,
            "port": str(host.modems[name].port_path),
            "profile": host.modems[name].profile.family,
            "audio_port": str(host.modems[name].audio_path),
            "voice_url": voice_url if name == "modem1" else "",
        }
        for name in ("modem1", "modem2")
    ]
    return start_daemon(tmp_path, modems)


def test_forward_twimlet_dials_out_and_hangs_up_after(tmp_path: Path) -> None:
    host = SimulatorHost(tmp_path / "sim", report_delay=0.05)
    host.add("modem1", "sim800", NUMBER, latency=0.005, boot_delay=0.0)
    host.add("modem2", "sim7600", SECOND, latency=0.005, boot_delay=0.0)
    host.start()
    d = None
    try:
        wait_for(lambda: all(m.booted for m in host.modems.values()), timeout=15)
        d = start_two_modems(tmp_path, host, "/twimlets/forward?PhoneNumber=%2B14155550177")
        host.network.set_callee(
            ON_CALL,
            outcome="answer",
            answer_after=1.0,
            # The engineer speaks once the appliance saw the answer (the bridge follows).
            party=RemoteParty(
                [
                    Until(lambda: d is not None and child_in_progress(d)),
                    Silence(1.0),
                    Say("Hello, this is the engineer."),
                    Silence(1),
                    Hangup(),
                ]
            ),
        )
        caller = host.network.incoming_call("modem1", PHONE, party=RemoteParty([Silence(40)]))
        parent = first_call(d)
        child = wait_for(
            lambda: d.store.read_one(
                "SELECT * FROM calls WHERE parent_call_sid = ? AND status = 'completed'", (parent,)
            ),
            timeout=40,
        )
        assert child["direction"] == "outbound-dial" and child["to_number"] == ON_CALL
        assert child["modem"] == "modem2"
        assert caller.wait_state("ended", timeout=20)
        assert loud(caller.heard()) > 1.0  # the engineer, through the bridge
        first, action = wait_for(lambda: (log := log_of(d, parent)) and len(log) >= 2 and log)
        assert str(first["response"]).endswith(
            '<Response><Dial action="/twimlets/forward?Dial=true" timeout="20">'
            "+14155550177</Dial></Response>"
        )
        assert str(action["url"]) == f"{d.base_url()}/twimlets/forward?Dial=true"
        assert json.loads(str(action["request"]))["DialCallStatus"] == "completed"
        assert str(action["response"]).endswith("<Response><Hangup/></Response>")
    finally:
        if d is not None:
            d.stop()
        host.stop()
