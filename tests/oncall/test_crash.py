"""SIGKILL in the middle of an escalation: after the restart the alert carries on from the
step it had reached, under the escalation policy it opened with, not from the start and not
twice.  The simulated modem lives in this
test process, so it outlives the kill like the phone network does."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from tests.conftest import NUMBER, wait_for
from tests.daemonproc import DaemonProcess, free_port
from tests.oncall.test_paging import ALICE, BOB, texts_to


@pytest.mark.timeout(180)
def test_sigkill_mid_escalation_carries_on_without_repeating(tmp_path, sim):
    sim.network.set_callee(ALICE, outcome="no-answer")
    sim.network.set_callee(BOB, outcome="no-answer")
    port = free_port()
    data = tmp_path / "data"
    cfg = tmp_path / "appliance.toml"
    cfg.write_text(
        f'data_dir = "{data}"\nhttp_port = {port}\nhttps_port = 0\noutbound_rate = 0.0\n'
        f"reconnect_delay = 0.2\ncommand_timeout = 3.0\n"
        f'[[modems]]\nname = "modem1"\nnumber = "{NUMBER}"\n'
        f'port = "{sim.modems["modem1"].port_path}"\nprofile = "sim800"\n'
    )
    daemon = DaemonProcess(cfg, port, tmp_path / "daemon.log")
    base = f"http://127.0.0.1:{port}/appliance"

    def db(sql: str, *params: Any) -> list[Any]:
        conn = sqlite3.connect(data / "appliance.sqlite3")
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()

    daemon.start()
    try:
        daemon.wait_ready()
        settings = dict(db("SELECT key, value FROM settings"))
        auth = (settings["account_sid"], settings["auth_token"])
        for name, phone in (("Alice", ALICE), ("Bob", BOB)):
            requests.post(f"{base}/oncall/people", data={"name": name, "phone": phone},
                          auth=auth, timeout=10)  # fmt: skip
        rv = requests.post(
            f"{base}/oncall/schedules", auth=auth, timeout=10,
            data={"name": "ops", "rotation": "weekly", "handover_time": "00:00",
                  "start": datetime.now(UTC).date().isoformat(), "people": ["1", "2"]},
        )  # fmt: skip
        assert rv.status_code == 201, rv.text
        # A named policy (the default one waits 300 s for an ACK): after the restart the
        # alert carries on under the policy it opened with, its 4 s ACK time.
        rv = requests.post(f"{base}/oncall/policies", data={"name": "ops", "default_person": "1",
                           "ack_timeout": "4", "repeat": "1"}, auth=auth, timeout=10)  # fmt: skip
        assert rv.status_code == 201, rv.text
        rv = requests.post(f"{base}/alerts", data={"Body": "raid degraded", "Policy": "ops"},
                           auth=auth, timeout=10)  # fmt: skip
        assert rv.json()["alerts"][0]["outcome"] == "paged"
        wait_for(lambda: any("raid degraded" in t for t in texts_to(sim, ALICE)))
        # Step 1 (call Alice) committed: kill before step 2 is due.
        wait_for(lambda: db("SELECT step FROM oncall_alerts")[0][0] == 2, timeout=15)
        daemon.kill()
        assert db("SELECT COUNT(*) FROM calls WHERE to_number = ?", ALICE)[0][0] == 1
        daemon.start()
        daemon.wait_ready()
        # Step 2: Bob is texted (and called); Alice's page and call are not repeated.
        wait_for(lambda: any("raid degraded" in t for t in texts_to(sim, BOB)), timeout=30)
        assert db("SELECT step, COUNT(*) FROM oncall_pages GROUP BY step ORDER BY step") == [
            (0, 1),
            (1, 1),
            (2, 2),
        ]
        assert len([t for t in texts_to(sim, ALICE) if "raid degraded" in t]) == 1
        assert db("SELECT COUNT(*) FROM calls WHERE to_number = ?", ALICE)[0][0] == 1
        # Step 3 (everyone at once) comes the policy's 4 s later, and with repeat 1 it is
        # the last: the plan is over.
        wait_for(lambda: db("SELECT step, next_at FROM oncall_alerts") == [(4, None)], timeout=20)
        assert db("SELECT step, COUNT(*) FROM oncall_pages WHERE step = 3") == [(3, 4)]
        assert db("SELECT p.name FROM oncall_alerts a JOIN oncall_policies p"
                  " ON p.id = a.policy_id") == [("ops",)]  # fmt: skip
    except AssertionError:
        print((tmp_path / "daemon.log").read_text()[-6000:])
        raise
    finally:
        if daemon.proc is not None and daemon.proc.poll() is None:
            daemon.terminate()
