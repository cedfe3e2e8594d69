"""The database stopped for 30 s under a three-node fleet's traffic (issue 16, slice 7).

Three ``appliance run`` processes on one PostgreSQL server of this module's own (fsync on, as
the daemon requires; never the session's shared one, which other tests use): traffic flows
(:mod:`tests.system.fleetload`), the server is stopped as an administrator would
(``pg_ctl stop -m fast``) for :data:`OUTAGE` seconds, then started again on the same port.

While it is away every node answers REST with 503 in Twilio's error shape (code 20503,
``Retry-After``), says so in ``/health``, and keeps inbound SMS on its SIM.  When it is back,
every node recovers by itself (the same processes, nothing restarted), and nothing is lost or
done twice: each inbound SMS stored, posted to the app and answered once, each accepted create
sent once, no refused create sent.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import wait_for
from tests.pg import PgServer, own_server
from tests.system.fleetload import FleetUnderLoad

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]
OUTAGE = 30.0  # seconds the server is stopped (issue 16)


server = pytest.fixture(scope="module", name="server")(own_server)


def health(port: int) -> tuple[int, dict[str, Any]]:
    rv = requests.get(f"http://127.0.0.1:{port}/health", timeout=10)
    return rv.status_code, rv.json()


def test_the_database_stopped_for_30_s_under_three_nodes_loses_nothing(
    tmp_path: Path, server: PgServer
) -> None:
    url = server.new_database()
    fleet = FleetUnderLoad(tmp_path, url, 16)
    try:
        fleet.start_nodes()
        pids = {node: proc.pid for node, proc in fleet.nodes.items()}
        fleet.start_traffic()
        t = fleet.traffic
        wait_for(lambda: len(t.accepted) >= 10 and len(fleet.app.to("/sms")) >= 3, timeout=20)

        server.pause()
        down = time.monotonic()
        try:
            wait_for(lambda: t.refused, timeout=10)
            for node, proc in fleet.nodes.items():
                # REST: 503, Twilio's error shape, Retry-After; nothing stored.
                rv = requests.post(
                    fleet.create_url(node),
                    data={"To": "+14155550100", "From": "+15005550021", "Body": "probe"},
                    auth=(fleet.sid, fleet.token),
                    timeout=15,
                )
                assert rv.status_code == 503 and rv.headers["Retry-After"] == "5", node
                assert set(rv.json()) == {"code", "message", "more_info", "status"}
                assert rv.json()["code"] == 20503 and rv.json()["status"] == 503
                # /health: degraded, with the reason; the modem still there and ready.
                status, body = health(proc.port)
                assert status == 503 and body["database"]["ok"] is False, (node, body)
                assert "unreachable" in body["database"]["reason"]
                assert body["modems"][0]["state"] == "ready", (node, body)
            # Inbound SMS wait on the SIMs: not deleted until they are committed.
            modems = fleet.sim.modems.values()
            wait_for(lambda: sum(m.receive_memory().used for m in modems) >= 5, timeout=15)
            time.sleep(max(0.0, OUTAGE - (time.monotonic() - down)))
            held = sum(m.receive_memory().used for m in modems)
            waiting = sum(fleet.sim.network.pending(m) for m in modems)  # the SIMs were full
        finally:
            server.resume()
        back = time.monotonic()

        # Every node finds the server again by itself, and the traffic flows on.
        for proc in fleet.nodes.values():
            port = proc.port
            wait_for(lambda: health(port)[1]["database"]["ok"], timeout=20)  # noqa: B023
        recovered = time.monotonic() - back
        accepted = len(t.accepted)
        wait_for(lambda: len(t.accepted) >= accepted + 10, timeout=20)
        fleet.stop_traffic()
        wait_for(fleet.settled, timeout=60, interval=0.3)
        time.sleep(1.0)  # anything sent or posted twice would show now

        # The same processes, all up, none restarted.
        assert {node: proc.pid for node, proc in fleet.nodes.items()} == pids
        assert all(proc.proc is not None and proc.proc.poll() is None
                   for proc in fleet.nodes.values())  # fmt: skip
        # Their heartbeats go on (all were over 30 s old: "lost"), each holding its modem.
        held_by = {f"node-{node}": [f"{node}1"] for node in fleet.nodes}
        for proc in fleet.nodes.values():
            port = proc.port
            wait_for(lambda: health(port)[1]["fleet"]["up"] == 3, timeout=20)  # noqa: B023
            status, body = health(port)
            assert status == 200, body
            assert {n["name"]: n["modems"] for n in body["fleet"]["nodes"]} == held_by
        for proc in fleet.nodes.values():
            assert proc.terminate() == 0

        figures = fleet.check(cuts_allowed=0)
        # No node died: each SMS was posted to the app exactly once, no request went unanswered.
        assert figures["webhook_posts"] == figures["inbound"], figures
        assert not t.unanswered, t.unanswered[:5]
        statuses = {status for _, status, _ in t.refused}
        assert statuses == {503}, statuses
        assert all(e["code"] == 20503 and e["retry_after"] == "5" for _, _, e in t.refused)
        print(
            f"outage {OUTAGE:.0f} s ({held} SMS waited on the SIMs, {waiting} in the network),"
            f" every node back {recovered:.1f} s after the start: "
            + ", ".join(f"{k} {v}" for k, v in figures.items())
        )
    finally:
        fleet.close()
        if not server.running:
            server.resume()
        server.drop(url)
