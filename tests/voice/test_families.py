"""Every modem family, through its own call URC dialect and audio method, end to end.

Huawei (^CONN/^CEND, AT^DDSETEX=2), SIM800 (+CLCC, +DTMF), SIM7600 (VOICE CALL: BEGIN/END,
AT+CPCMREG once connected, +RXDTMF), Quectel EC25 (+QIND ccinfo, no RING, AT+QPCMV,
+QTONEDET) and a generic modem (RING/+CLIP/NO CARRIER, AT+CLCC polling, in-band DTMF only).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from twilio.rest import Client

from appliance.daemon import Daemon
from appliance.sim.host import SimulatorHost
from appliance.sim.voice import Digits, Hangup, RemoteParty, Silence, WaitHeard
from tests.conftest import NUMBER, PHONE, wait_for
from tests.voice.conftest import daemon_on_family
from tests.voice.test_engine import loud
from tests.webapp import WebApp, twiml

pytestmark = pytest.mark.timeout(120)
FAMILIES = ["sim800", "huawei_e173", "sim7600", "quectel_ec25", "generic"]


@pytest.fixture(params=FAMILIES)
def family_daemon(
    request: pytest.FixtureRequest, tmp_path: Path, webapp: WebApp
) -> Iterator[tuple[SimulatorHost, Daemon]]:
    with daemon_on_family(
        tmp_path, webapp, request.param, status_callback=webapp.url("/status")
    ) as pair:
        yield pair


def test_inbound_call_digits_and_remote_hangup(
    family_daemon: tuple[SimulatorHost, Daemon], webapp: WebApp
) -> None:
    host, d = family_daemon
    webapp.routes["/voice"] = twiml(
        '<Response><Gather numDigits="4" action="/gathered" timeout="6">'
        "<Say>Enter your four digit PIN.</Say></Gather></Response>"
    )
    webapp.routes["/gathered"] = twiml(
        "<Response><Say>Thank you. Please hold the line.</Say><Pause length='30'/></Response>"
    )
    party = RemoteParty(
        [WaitHeard(0.5, timeout=15), Digits("4721", on_ms=90, off_ms=90), WaitHeard(1.0), Hangup()]
    )
    remote = host.network.incoming_call("modem1", PHONE, party=party)
    first = webapp.wait(15, path="/voice")
    assert first.param("From") == PHONE and first.param("CallStatus") == "ringing"
    gathered = webapp.wait(25, path="/gathered")
    assert gathered.param("Digits") == "4721"  # once each, whether heard in-band or by URC
    assert remote.wait_state("ended", timeout=20) and remote.end_reason == "remote-hangup"
    status = webapp.wait(15, path="/status")
    assert status.param("CallStatus") == "completed"
    sid = first.param("CallSid")
    row = d.store.read_one("SELECT status, duration FROM calls WHERE sid = ?", (sid,))
    assert row is not None and row["status"] == "completed" and int(row["duration"]) >= 1
    assert loud(remote.heard()) > 0.8
    wait_for(lambda: not d.voice.phones["modem1"].flows, timeout=10)


def test_outbound_call_answered_then_completed(
    family_daemon: tuple[SimulatorHost, Daemon], webapp: WebApp
) -> None:
    host, d = family_daemon
    callee = "+14155550166"
    host.network.set_callee(
        callee, outcome="answer", answer_after=1.0, party=RemoteParty([Silence(20)])
    )
    client = Client(d.account.sid, d.account.auth_token)
    client.api.base_url = f"http://127.0.0.1:{d.server.port}"
    call = client.calls.create(
        to=callee,
        from_=NUMBER,
        twiml="<Response><Say>Your parcel arrives today.</Say></Response>",
        status_callback=webapp.url("/status"),
        status_callback_event=["answered", "completed"],
    )
    events = [webapp.wait(40, path="/status") for _ in range(2)]
    assert [e.param("StatusCallbackEvent") for e in events] == ["answered", "completed"]
    fetched = client.calls(call.sid).fetch()
    assert fetched.status == "completed" and int(fetched.duration) >= 1
    remote = [c for c in host.network.calls if getattr(c, "number", None) == callee][0]
    assert loud(remote.heard()) > 0.8
