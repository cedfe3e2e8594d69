"""<Record> on the call's clock: it ends without audio frames, and REST updates cut it short."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from appliance.daemon import Daemon
from appliance.sim.host import SimulatorHost
from appliance.sim.voice import RemoteParty, Silence
from tests.conftest import PHONE, wait_for
from tests.webapp import WebApp, twiml

pytestmark = pytest.mark.timeout(90)


def status_of(d: Daemon, sid: str) -> str:
    row = d.store.read_one("SELECT status FROM calls WHERE sid = ?", (sid,))
    assert row is not None
    return str(row["status"])


@pytest.mark.parametrize("attrs", ['timeout="2" maxLength="60"', 'timeout="0" maxLength="2"'])
def test_record_without_an_audio_port_ends_on_the_clock(
    sim: SimulatorHost, webapp: WebApp, voice_daemon: Callable[..., Daemon], attrs: str
) -> None:
    """No audio port, so no frames: timeout (silence) and maxLength still end <Record>."""
    d = voice_daemon(modem={"audio_port": ""})
    webapp.routes["/voice"] = twiml(
        f'<Response><Record {attrs} action="/recorded"/><Redirect>/after</Redirect></Response>'
    )
    webapp.routes["/after"] = twiml("<Response><Hangup/></Response>")
    remote = sim.network.incoming_call("modem1", PHONE, party=RemoteParty([Silence(60)]))
    sid = str(webapp.wait(15, path="/voice").param("CallSid"))
    started = time.monotonic()
    webapp.wait(15, path="/after")
    assert 1.5 <= time.monotonic() - started <= 10
    assert not webapp.to("/recorded")  # nothing was heard: nothing stored, the next verb ran
    assert remote.wait_state("ended", timeout=10)
    codes = [
        r["error_code"]
        for r in d.store.read("SELECT error_code FROM call_events WHERE call_sid = ?", (sid,))
    ]
    assert 16102 in codes


@pytest.mark.parametrize("audio", [True, False])
def test_rest_hangup_during_record_ends_the_call_at_once(
    sim: SimulatorHost, webapp: WebApp, voice_daemon: Callable[..., Daemon], audio: bool
) -> None:
    from twilio.rest import Client

    d = voice_daemon(modem={} if audio else {"audio_port": ""})
    webapp.routes["/voice"] = twiml(
        '<Response><Record timeout="40" maxLength="60" playBeep="false" action="/recorded"/>'
        "</Response>"
    )
    remote = sim.network.incoming_call("modem1", PHONE, party=RemoteParty([Silence(60)]))
    sid = str(webapp.wait(15, path="/voice").param("CallSid"))
    wait_for(lambda: status_of(d, sid) == "in-progress")
    time.sleep(1.0)  # <Record> is listening
    client = Client(d.account.sid, d.account.auth_token)
    client.api.base_url = f"http://127.0.0.1:{d.server.port}"
    client.calls(sid).update(status="completed")
    # "At once": long before the <Record>'s own 40 s; the waits end as soon as it is so.
    assert remote.wait_state("ended", timeout=15)
    assert remote.end_reason == "local-hangup"
    wait_for(lambda: status_of(d, sid) == "completed", timeout=15)
    assert not webapp.to("/recorded")  # the app ended the call: no action request


def test_rest_redirect_during_record_runs_the_new_twiml(
    sim: SimulatorHost, webapp: WebApp, voice_daemon: Callable[..., Daemon]
) -> None:
    from twilio.rest import Client

    d = voice_daemon()
    webapp.routes["/voice"] = twiml(
        '<Response><Record timeout="40" maxLength="60" playBeep="false" action="/recorded"/>'
        "</Response>"
    )
    webapp.routes["/new"] = twiml("<Response><Say>The plan has changed.</Say></Response>")
    remote = sim.network.incoming_call("modem1", PHONE, party=RemoteParty([Silence(60)]))
    sid = str(webapp.wait(15, path="/voice").param("CallSid"))
    wait_for(lambda: status_of(d, sid) == "in-progress")
    time.sleep(1.0)
    client = Client(d.account.sid, d.account.auth_token)
    client.api.base_url = f"http://127.0.0.1:{d.server.port}"
    client.calls(sid).update(url=webapp.url("/new"), method="POST")
    new = webapp.wait(15, path="/new")  # long before the <Record>'s 40 s
    assert new.param("CallSid") == sid and new.param("CallStatus") == "in-progress"
    assert remote.wait_state("ended", timeout=15)
    assert not webapp.to("/recorded")
