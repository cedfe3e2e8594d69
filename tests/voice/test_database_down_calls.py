"""Calls while the PostgreSQL server is away (issue 16: "same promises as one box").

A call lives in the network, not in the store: an outage must not crash a thread or leave a
call stuck.  A call that rings during the outage is turned away as busy at once (no flow
could run it: its Voice URL and its row are in the store) and its row is written once the
server is back; a call already up goes on with its TwiML and ends, its end written then
(a ``<Dial>`` places no call: its child's row cannot be written first).
The server is this module's own (fsync on, as the daemon requires): the tests stop it
(``pg_ctl stop -m fast``) and start it again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import pytest

from appliance.daemon import Daemon
from appliance.errors import StoreUnavailable
from appliance.sim.host import SimulatorHost
from appliance.sim.voice import RemoteParty, Say, Silence, WaitHeard
from appliance.store.recordingfiles import PENDING_SUFFIX
from tests.conftest import PHONE, wait_for
from tests.pg import PgServer, own_server
from tests.webapp import Reply, Request, WebApp, twiml

pytestmark = pytest.mark.timeout(120)
ON_CALL = "+14155550177"


server = pytest.fixture(scope="module", name="server")(own_server)


def go_down(d: Daemon, server: PgServer) -> None:
    """Stop the server and let the store find out (its first call fails)."""
    server.pause()
    with pytest.raises(StoreUnavailable):
        d.store.read("SELECT 1")
    assert not d.store.available


def tracebacks(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.exc_info and r.name.startswith("appliance")]


def test_a_call_during_an_outage_is_turned_away_as_busy_and_recorded_after(
    sim: SimulatorHost,
    webapp: WebApp,
    voice_daemon: Callable[..., Daemon],
    server: PgServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    url = server.new_database()
    webapp.routes["/voice"] = twiml("<Response><Say>Hello.</Say></Response>")
    d = voice_daemon(database_url=url)
    try:
        go_down(d, server)
        try:
            started = time.monotonic()
            remote = sim.network.incoming_call("modem1", PHONE, party=RemoteParty([Silence(20)]))
            assert remote.wait_state("ended", timeout=10)
            assert remote.end_reason == "rejected" and remote.answered_at is None
            assert time.monotonic() - started < 5  # at once, not after ringing out
            time.sleep(1.0)
        finally:
            server.resume()
        wait_for(lambda: d.store.available, timeout=15)
        rows = wait_for(
            lambda: d.store.read("SELECT * FROM calls WHERE modem = 'modem1'") or None, timeout=10
        )
        assert len(rows) == 1, rows
        row = rows[0]
        assert (row["status"], row["direction"], row["from_number"]) == ("busy", "inbound", PHONE)
        assert row["error_code"] == 20503 and "database" in row["error_message"]
        assert not webapp.to("/voice")
        assert "call turned away as busy: database unreachable" in caplog.text

        # The daemon was never restarted: the next call is answered and runs its TwiML.
        again = sim.network.incoming_call("modem1", PHONE, party=RemoteParty([Silence(20)]))
        sid = webapp.wait(15, path="/voice").param("CallSid")
        assert again.wait_state("ended", timeout=20) and again.end_reason == "local-hangup"
        wait_for(
            lambda: (
                d.store.read_one("SELECT status FROM calls WHERE sid = ?", (sid,))["status"]
                == "completed"
            )
        )
        assert not tracebacks(caplog), tracebacks(caplog)
    finally:
        if not server.running:
            server.resume()
        d.stop()
        server.drop(url)


def test_a_call_up_when_the_outage_begins_runs_on_and_its_end_is_written_after(
    sim: SimulatorHost,
    webapp: WebApp,
    voice_daemon: Callable[..., Daemon],
    server: PgServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    url = server.new_database()
    down = threading.Event()
    webapp.routes["/voice"] = twiml(
        '<Response><Say>Hello.</Say><Pause length="4"/>'
        f"<Redirect>{webapp.url('/held')}</Redirect></Response>"
    )

    def held(req: Request) -> Reply:  # answered once the server is down: the <Dial> runs then
        assert down.wait(30)
        return twiml(f"<Response><Dial>{ON_CALL}</Dial><Say>Goodbye.</Say></Response>")(req)

    webapp.routes["/held"] = held
    webapp.routes["/status"] = lambda req: (204, "text/plain", b"")
    d = voice_daemon(database_url=url, modem={"status_callback": webapp.url("/status")})
    try:
        remote = sim.network.incoming_call("modem1", PHONE, party=RemoteParty([Silence(30)]))
        sid = webapp.wait(15, path="/voice").param("CallSid")
        assert remote.wait_state("active", timeout=15)
        go_down(d, server)
        down.set()
        try:
            # The TwiML runs on to its end with the server away; the call ends cleanly.  Its
            # <Dial> (one modem: hold, dial, join) places no call: the child's row cannot be
            # written, so the caller is not held and the next verb runs.
            assert remote.wait_state("ended", timeout=20)
            assert remote.end_reason == "local-hangup"
            assert not d.store.available  # it ended during the outage
            assert [c.direction for c in sim.network.calls] == ["inbound"]  # no ATD
            ended = time.time()
            time.sleep(1.5)  # the outage goes on after the call
        finally:
            server.resume()
        wait_for(lambda: d.store.available, timeout=15)
        row = wait_for(
            lambda: (
                (r := d.store.read_one("SELECT * FROM calls WHERE sid = ?", (sid,)))
                and r["status"] == "completed"
                and r
            ),
            timeout=10,
        )
        assert int(row["duration"]) >= 4 and row["end_time"] is not None
        assert row["end_time"] <= ended + 0.5  # the time it ended, not that of the write
        stuck = d.store.read(
            "SELECT sid FROM calls WHERE status IN ('ringing', 'in-progress', 'queued')"
        )
        assert not stuck, stuck
        assert not d.store.read("SELECT sid FROM calls WHERE parent_call_sid = ?", (sid,))
        refused = d.store.read(
            "SELECT error_code, detail FROM call_events WHERE call_sid = ? AND kind = ?",
            (sid, "dial-refused"),
        )
        assert [r["error_code"] for r in refused] == [20503] and ON_CALL in refused[0]["detail"]
        completed = webapp.wait(15, path="/status")
        assert completed.param("CallSid") == sid and completed.param("CallStatus") == "completed"
        time.sleep(1.0)  # a second callback would show now
        assert len(webapp.to("/status")) == 1
        assert "call ended: database unreachable" not in caplog.text
        assert not tracebacks(caplog), tracebacks(caplog)
    finally:
        down.set()
        if not server.running:
            server.resume()
        d.stop()
        server.drop(url)


def test_a_record_during_an_outage_keeps_the_file_and_writes_its_row_and_callback_after(
    sim: SimulatorHost,
    webapp: WebApp,
    voice_daemon: Callable[..., Daemon],
    server: PgServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    url = server.new_database()
    webapp.routes["/voice"] = twiml(
        "<Response><Say>Leave a message after the beep.</Say>"
        f'<Record action="{webapp.url("/recorded")}" maxLength="15" timeout="4"'
        f' recordingStatusCallback="{webapp.url("/recording")}"/>'
        "<Say>Not reached: the action's TwiML runs instead.</Say></Response>"
    )
    webapp.routes["/recorded"] = twiml("<Response><Say>Thank you.</Say></Response>")
    webapp.routes["/recording"] = lambda req: (204, "text/plain", b"")
    d = voice_daemon(database_url=url)
    try:
        remote = sim.network.incoming_call(
            "modem1",
            PHONE,
            party=RemoteParty(
                [
                    WaitHeard(1.0, timeout=15),
                    Silence(2.0),
                    Say("Please call me back about the boiler."),
                    Silence(30),
                ]
            ),
        )
        sid = webapp.wait(15, path="/voice").param("CallSid")
        assert remote.wait_state("active", timeout=15)
        go_down(d, server)
        try:
            # The message is recorded and the action requested with the server away; the
            # call goes on with the action's TwiML, to its end.
            recorded = webapp.wait(30, path="/recorded").flat
            assert recorded["CallSid"] == sid and recorded["From"] == PHONE
            assert int(recorded["RecordingDuration"]) >= 1
            rec_sid = recorded["RecordingSid"]
            path = d.config.data_dir / "recordings" / f"{rec_sid}.wav"
            assert path.stat().st_size > 16000  # on disk at once
            pending = path.with_name(rec_sid + PENDING_SUFFIX)
            assert pending.exists()  # its row and callback too, should the process die
            assert remote.wait_state("ended", timeout=20)
            assert remote.end_reason == "local-hangup"
            assert not d.store.available
            assert not webapp.to("/recording")  # its job waits for the database
            time.sleep(1.0)
        finally:
            server.resume()
        wait_for(lambda: d.store.available, timeout=15)
        rec = wait_for(
            lambda: d.store.read_one("SELECT * FROM recordings WHERE sid = ?", (rec_sid,)),
            timeout=10,
        )
        assert rec["call_sid"] == sid and rec["status"] == "completed"
        assert (
            rec["duration"] == int(recorded["RecordingDuration"]) and rec["source"] == "RecordVerb"
        )
        callback = webapp.wait(15, path="/recording").flat
        assert callback["RecordingSid"] == rec_sid and callback["RecordingStatus"] == "completed"
        wait_for(lambda: not pending.exists(), timeout=5)  # written: its work is done
        call_row = d.store.read_one("SELECT * FROM calls WHERE sid = ?", (sid,))
        assert call_row["status"] == "completed"
        time.sleep(1.0)  # a second callback would show now
        assert len(webapp.to("/recording")) == 1 and len(webapp.to("/recorded")) == 1
        assert "call ended: database unreachable" not in caplog.text
        assert not tracebacks(caplog), tracebacks(caplog)
    finally:
        if not server.running:
            server.resume()
        d.stop()
        server.drop(url)
