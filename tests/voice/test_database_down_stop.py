"""A daemon stopped during a PostgreSQL outage, or just as the server comes back.

The calls' writes kept in memory during an outage (:mod:`appliance.voice.backlog`) are lost
if the process ends before the server returns; a clean stop is that case with one more
chance: before the store closes, the daemon gives the server a few seconds and writes them.
What is still not written is counted in one WARNING line; a flush that finds the store
closed (the server came back as the daemon stopped) ends there: no ERROR, no traceback.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from appliance.daemon import Daemon
from appliance.errors import StoreUnavailable
from appliance.sim.host import SimulatorHost
from appliance.sim.voice import RemoteParty, Silence
from appliance.store.pg import PgStore
from appliance.voice.backlog import Backlog
from tests.conftest import PHONE, wait_for
from tests.pg import PgServer, own_server
from tests.voice.test_database_down_calls import go_down, tracebacks
from tests.webapp import WebApp, twiml

pytestmark = pytest.mark.timeout(120)


server = pytest.fixture(scope="module", name="server")(own_server)


def calls(url: str) -> list[tuple[Any, ...]]:
    """The calls' rows, read on a connection of the test's own (the daemon's store is shut)."""
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT status, error_code FROM calls WHERE modem = 'modem1'"
        ).fetchall()


def turned_away(d: Daemon, sim: SimulatorHost, server: PgServer) -> None:
    """The server stops; a call rings and is turned away as busy: its row is kept."""
    go_down(d, server)
    remote = sim.network.incoming_call("modem1", PHONE, party=RemoteParty([Silence(20)]))
    assert remote.wait_state("ended", timeout=10) and remote.end_reason == "rejected"
    wait_for(lambda: Backlog.of(d.store).size >= 1)


def not_made(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if "call writes not made" in r.getMessage()]


@pytest.mark.parametrize("settle", [0.0, 1.5])
def test_a_daemon_stopped_as_the_database_comes_back_writes_what_it_kept(
    sim: SimulatorHost,
    webapp: WebApp,
    voice_daemon: Callable[..., Daemon],
    server: PgServer,
    caplog: pytest.LogCaptureFixture,
    settle: float,
) -> None:
    """Stopped at once after the server starts (the stop waits for the prober), or while
    the prober's own flush may be running: either way the row is written once, quietly."""
    caplog.set_level(logging.INFO)
    url = server.new_database()
    webapp.routes["/voice"] = twiml("<Response><Say>Hello.</Say></Response>")
    d = voice_daemon(database_url=url)
    try:
        turned_away(d, sim, server)
        server.resume()
        time.sleep(settle)
        started = time.monotonic()
        d.stop()
        assert time.monotonic() - started < 10
        assert calls(url) == [("busy", 20503)]
        assert not not_made(caplog)
        assert not tracebacks(caplog), tracebacks(caplog)
        assert "kept call write failed" not in caplog.text
    finally:
        if not server.running:
            server.resume()
        d.stop()
        server.drop(url)


def test_a_daemon_stopped_during_an_outage_says_what_it_could_not_write(
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
        turned_away(d, sim, server)
        started = time.monotonic()
        d.stop()
        assert 2.5 < time.monotonic() - started < 15  # the few seconds it gave the server
        lines = not_made(caplog)
        assert [(r.levelname, r.getMessage()) for r in lines] == [
            ("WARNING", lines[0].getMessage())
        ]
        assert "n=1" in lines[0].getMessage() and "unreachable" in lines[0].getMessage()
        assert not tracebacks(caplog), tracebacks(caplog)
        server.resume()
        assert calls(url) == []  # lost, as docs/reliability.md says
    finally:
        if not server.running:
            server.resume()
        d.stop()
        server.drop(url)


def test_a_flush_that_finds_the_store_closed_ends_quietly(
    server: PgServer, caplog: pytest.LogCaptureFixture
) -> None:
    """The prober's flush after close (the server came back as the daemon stopped): one
    WARNING with the count, no ERROR, nothing raised."""
    caplog.set_level(logging.INFO)
    url = server.new_database()
    store = PgStore(url)
    backlog = Backlog.of(store)
    try:
        server.pause()
        with pytest.raises(StoreUnavailable):
            store.read("SELECT 1")
        for n in range(3):
            backlog.write(f"write {n}", lambda conn: conn.execute("SELECT 1"))
        assert backlog.size == 3
        store.close()
        assert backlog.flush() is False
        assert backlog.flush() is False  # said once
        lines = not_made(caplog)
        assert [r.levelname for r in lines] == ["WARNING"]
        assert "n=3" in lines[0].getMessage() and "closed" in lines[0].getMessage()
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR and "backlog" in r.name]
        assert not tracebacks(caplog)
    finally:
        store.close()
        if not server.running:
            server.resume()
        server.drop(url)
