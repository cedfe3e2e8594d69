"""A ``<Dial>`` bridge that is up when the PostgreSQL server goes away (issue 16).

A simulated GSM caller on modem1 is bridged by ``<Dial>`` to a simulated callee through
modem2; the server stops (``pg_ctl stop -m fast``) while both talk.  The audio keeps
flowing both ways, the caller hangs up, the Dial's action is requested (once, during the
outage, with the call's parameters as last read), and once the server is back both legs'
rows are right: completed, with their durations and end times, none left in progress, and
each status callback queued once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from appliance.daemon import Daemon
from appliance.sim.host import SimulatorHost
from appliance.sim.party import Hangup, RemoteParty, Say, Silence
from tests.conftest import NUMBER, PHONE, wait_for
from tests.pg import PgServer, own_server
from tests.voice.conftest import start_daemon
from tests.voice.test_database_down_calls import go_down, tracebacks
from tests.voice.test_engine import loud
from tests.webapp import WebApp, twiml

pytestmark = pytest.mark.timeout(120)
SECOND = "+15005550007"
ON_CALL = "+14155550177"
OTHER = "+14155550178"


server = pytest.fixture(scope="module", name="server")(own_server)


@pytest.fixture
def host(tmp_path: Path) -> Iterator[SimulatorHost]:
    h = SimulatorHost(tmp_path / "sim", report_delay=0.05)
    h.add("modem1", "sim800", NUMBER, latency=0.005, boot_delay=0.0)
    h.add("modem2", "sim7600", SECOND, latency=0.005, boot_delay=0.0)
    h.start()
    wait_for(lambda: all(m.booted for m in h.modems.values()), timeout=5)
    yield h
    h.stop()


def start(tmp_path: Path, host: SimulatorHost, webapp: WebApp, url: str) -> Daemon:
    modems = [
        {
            "name": name,
            "number": host.modems[name].number,
            "port": str(host.modems[name].port_path),
            "profile": host.modems[name].profile.family,
            "audio_port": str(host.modems[name].audio_path),
            "voice_url": webapp.url("/voice"),
            "status_callback": webapp.url("/status"),
        }
        for name in ("modem1", "modem2")
    ]
    return start_daemon(tmp_path, modems, database_url=url)


def row(d: Daemon, sid: str) -> Any:
    return d.store.read_one("SELECT * FROM calls WHERE sid = ?", (sid,))


def test_a_dial_bridge_up_when_the_outage_begins_talks_on_and_both_rows_are_written_after(
    tmp_path: Path,
    host: SimulatorHost,
    webapp: WebApp,
    server: PgServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    url = server.new_database()
    d = start(tmp_path, host, webapp, url)
    try:
        webapp.routes["/voice"] = twiml(
            '<Response><Dial action="/dialed" timeout="20">'
            f'<Number statusCallback="{webapp.url("/child")}" statusCallbackEvent="completed">'
            f"{ON_CALL}</Number></Dial></Response>"
        )
        webapp.routes["/dialed"] = twiml("<Response><Hangup/></Response>")
        webapp.routes["/status"] = lambda req: (204, "text/plain", b"")
        webapp.routes["/child"] = lambda req: (204, "text/plain", b"")
        host.network.set_callee(
            ON_CALL,
            outcome="answer",
            answer_after=1.0,
            party=RemoteParty(
                [Silence(5), Say("Hello, this is the engineer on call, speaking."), Silence(30)]
            ),
        )
        caller = host.network.incoming_call(
            "modem1",
            PHONE,
            party=RemoteParty(
                [Silence(8), Say("I am the caller, can you hear me?"), Silence(2), Hangup()]
            ),
        )
        parent = webapp.wait(15, path="/voice").param("CallSid")
        child_row = wait_for(
            lambda: d.store.read_one(
                "SELECT * FROM calls WHERE parent_call_sid = ? AND status = 'in-progress'",
                (parent,),
            ),
            timeout=20,
        )
        child = child_row["sid"]
        callee = next(c for c in host.network.calls if getattr(c, "number", None) == ON_CALL)
        go_down(d, server)
        down_at = time.monotonic()
        caller_mark, callee_mark = len(caller.heard()), len(callee.heard())
        try:
            # Both talk through the bridge with the server away; the caller hangs up.
            assert caller.wait_state("ended", timeout=30)
            assert caller.end_reason == "remote-hangup"
            assert callee.wait_state("ended", timeout=10)
            assert callee.end_reason == "local-hangup"  # the appliance let the callee go
            dialed = webapp.wait(15, path="/dialed").flat
            ended = time.time()
            assert not d.store.available  # all of it during the outage
            assert time.monotonic() - down_at >= 5
            assert loud(caller.heard()[caller_mark:]) > 1.0  # the engineer's words
            assert loud(callee.heard()[callee_mark:]) > 1.0  # the caller's
            assert dialed["CallSid"] == parent and dialed["DialCallSid"] == child
            assert dialed["DialCallStatus"] == "completed" and dialed["CallStatus"] == "completed"
            assert int(dialed["DialCallDuration"]) >= 7
            time.sleep(1.0)  # the outage goes on after the call
        finally:
            server.resume()
        wait_for(lambda: d.store.available, timeout=15)

        def both_completed() -> Any:
            a, b = row(d, parent), row(d, child)
            return (a, b) if a["status"] == b["status"] == "completed" else None

        a, b = wait_for(both_completed, timeout=10)
        assert int(a["duration"]) >= int(b["duration"]) >= 7
        for r in (a, b):
            assert r["end_time"] is not None and r["end_time"] <= ended + 0.5
        stuck = d.store.read(
            "SELECT sid FROM calls WHERE status IN ('queued', 'ringing', 'in-progress')"
        )
        assert not stuck, stuck
        # The two callbacks are about two SIDs, so either may come first: webapp.wait(path=)
        # would drop the other one, so look at what arrived instead.
        (completed,) = wait_for(lambda: webapp.to("/status"), timeout=15)
        assert completed.param("CallSid") == parent
        assert completed.param("CallStatus") == "completed"
        (child_done,) = wait_for(lambda: webapp.to("/child"), timeout=15)
        assert child_done.param("CallSid") == child
        assert child_done.param("CallStatus") == "completed"
        time.sleep(1.5)  # a second request would show now
        assert len(webapp.to("/dialed")) == 1
        assert [r.param("CallSid") for r in webapp.to("/status")] == [parent]
        assert len(webapp.to("/child")) == 1
        logged = d.store.read(
            "SELECT url FROM webhook_log WHERE call_sid = ? AND job_id IS NULL ORDER BY id",
            (parent,),
        )
        assert [r["url"].rsplit("/", 1)[1] for r in logged] == ["voice", "dialed"]
        assert "call ended: database unreachable" not in caplog.text
        assert not tracebacks(caplog), tracebacks(caplog)
    finally:
        if not server.running:
            server.resume()
        d.stop()
        server.drop(url)


def test_a_dial_to_numbers_during_an_outage_places_no_call_and_the_call_goes_on(
    tmp_path: Path,
    host: SimulatorHost,
    webapp: WebApp,
    server: PgServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A child call's row is written before its ATD, so during the outage no number is
    dialled: a ``<Dial>`` with a ``<Client>`` rings that (turned away ``busy``), one of
    numbers alone ends ``failed`` (no DialCallSid), each requests its action with the call's
    parameters as last read, and one without an action goes on with the next verb."""
    caplog.set_level(logging.INFO)
    url = server.new_database()
    d = start(tmp_path, host, webapp, url)
    down = threading.Event()
    numbers = f"<Number>{ON_CALL}</Number><Number>{OTHER}</Number>"
    try:
        webapp.routes["/voice"] = twiml(
            f"<Response><Say>Hello.</Say><Redirect>{webapp.url('/held')}</Redirect></Response>"
        )

        def held(req: Any) -> Any:  # answered once the server is down: the Dials run then
            assert down.wait(30)
            return twiml(
                f'<Response><Dial action="{webapp.url("/mixed")}" timeout="10">'
                f"<Number>{ON_CALL}</Number><Client>alice</Client><Number>{OTHER}</Number>"
                "</Dial><Say>Not reached.</Say></Response>"
            )(req)

        webapp.routes["/held"] = held
        webapp.routes["/mixed"] = twiml(
            f'<Response><Dial action="{webapp.url("/numbers")}" timeout="10">{numbers}</Dial>'
            "</Response>"
        )
        webapp.routes["/numbers"] = twiml(
            f'<Response><Dial timeout="10">{ON_CALL}</Dial><Say>Goodbye.</Say></Response>'
        )
        webapp.routes["/status"] = lambda req: (204, "text/plain", b"")
        for number in (ON_CALL, OTHER):  # they would answer, if dialled
            host.network.set_callee(number, outcome="answer", answer_after=0.5)
        caller = host.network.incoming_call("modem1", PHONE, party=RemoteParty([Silence(30)]))
        parent = webapp.wait(15, path="/voice").param("CallSid")
        wait_for(lambda: webapp.to("/held"), timeout=15)
        go_down(d, server)
        down.set()
        try:
            mixed = webapp.wait(20, path="/mixed").flat
            assert mixed["CallSid"] == parent and mixed["From"] == PHONE
            assert mixed["CallStatus"] == "in-progress"
            assert mixed["DialCallStatus"] == "busy"  # the <Client>'s: turned away
            client_leg = mixed["DialCallSid"]
            numbers_only = webapp.wait(10, path="/numbers").flat
            assert numbers_only["CallSid"] == parent and numbers_only["From"] == PHONE
            assert numbers_only["DialCallStatus"] == "failed"
            assert "DialCallSid" not in numbers_only
            assert numbers_only["DialCallDuration"] == "0"
            # the bare number without an action: the next verb, then the end of the TwiML
            assert caller.wait_state("ended", timeout=15)
            assert caller.end_reason == "local-hangup"
            assert not d.store.available  # all of it during the outage
        finally:
            server.resume()
        wait_for(lambda: d.store.available, timeout=15)
        assert [c.number for c in host.network.calls] == [PHONE]  # not one ATD
        wait_for(lambda: row(d, parent)["status"] == "completed", timeout=10)
        children = d.store.read("SELECT * FROM calls WHERE parent_call_sid = ?", (parent,))
        assert [(c["sid"], c["to_number"], c["status"]) for c in children] == [
            (client_leg, "client:alice", "busy")
        ]
        refused = d.store.read(
            "SELECT error_code, detail FROM call_events WHERE call_sid = ? AND kind = ?"
            " ORDER BY id",
            (parent, "dial-refused"),
        )
        assert [r["error_code"] for r in refused] == [20503, 20503, 20503]
        assert [r["detail"].split(": ")[1] for r in refused] == [
            f"{ON_CALL}, {OTHER}",
            f"{ON_CALL}, {OTHER}",
            ON_CALL,
        ]
        logged = d.store.read(
            "SELECT url FROM webhook_log WHERE call_sid = ? AND job_id IS NULL ORDER BY id",
            (parent,),
        )
        assert [r["url"].rsplit("/", 1)[1] for r in logged] == ["voice", "held", "mixed", "numbers"]
        assert "call ended: database unreachable" not in caplog.text
        assert not tracebacks(caplog), tracebacks(caplog)
    finally:
        down.set()
        if not server.running:
            server.resume()
        d.stop()
        server.drop(url)
