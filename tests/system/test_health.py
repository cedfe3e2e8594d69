"""/health tells the truth: a modem with no network, no ready SIM or no port is degraded (503,
a reason per modem), and the panel, the metrics and systemd's STATUS= line say the same; the
watchdog, which only a restart would answer, does not care."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import requests

from appliance.daemon import Daemon
from appliance.sim.host import SimulatorHost
from appliance.system import health
from appliance.system.service import Service
from tests.conftest import NUMBER, settings, wait_for
from tests.daemonproc import DaemonProcess
from tests.system.test_service import NotifySocket
from tests.web.test_panel import PASSWORD, Panel
from web.auth import set_password


def get_health(d: Daemon) -> tuple[int, dict[str, Any]]:
    rv = requests.get(f"http://127.0.0.1:{d.server.port}/health", timeout=10)
    return rv.status_code, rv.json()


def condition_is(d: Daemon, wanted: str) -> dict[str, Any] | None:
    status, body = get_health(d)
    modem = body["modems"][0]
    return body if modem["condition"] == wanted else None


def test_network_loss_is_degraded_until_the_network_is_back(sim, make_daemon, tmp_path):
    d = make_daemon(health_interval=0.2)
    status, body = get_health(d)
    assert status == 200 and body["ok"] and body["status"] == "ok" and body["ready"]
    assert body["modems"][0]["condition"] == "ok" and body["modems"][0]["reason"] is None
    set_password(d.store, PASSWORD)
    panel = Panel(d)
    assert panel.login().status_code == 302

    sim.fault(sim.modems["modem1"], "network_loss", True)
    body = wait_for(lambda: condition_is(d, "network_lost"), timeout=10)
    status, body = get_health(d)
    assert status == 503 and not body["ok"] and body["status"] == "degraded"
    modem = body["modems"][0]
    assert modem["modem"] == "modem1" and not modem["healthy"]
    assert modem["reason"].startswith("network lost") and modem["registration"] != "home"
    assert modem["state"] == "ready" and body["ready"]  # still connected: ready, not healthy
    # The signal of a lost network is unknown, not the last good figure.
    assert modem["signal"] == 99
    # A readiness probe (the tests' daemon helper) still sees a ready daemon behind the 503.
    assert DaemonProcess(tmp_path / "unused.toml", d.server.port).ready()

    # The panel's modem card says the same, and so do the metrics.
    html = panel.client.get("/").get_data(as_text=True)
    assert "condition-network_lost" in html and "degraded: network lost" in html
    metrics = requests.get(f"http://127.0.0.1:{d.server.port}/metrics", timeout=10).text
    assert 'appliance_modem_healthy{modem="modem1"} 0.0' in metrics
    assert 'appliance_modem_condition{condition="network_lost",modem="modem1"} 1.0' in metrics
    assert 'appliance_modem_registered{modem="modem1"} 0.0' in metrics

    sim.fault(sim.modems["modem1"], "network_loss", False)
    wait_for(lambda: condition_is(d, "ok"), timeout=10)
    status, body = get_health(d)
    assert status == 200 and body["ok"] and body["modems"][0]["registration"] == "home"
    html = panel.client.get("/").get_data(as_text=True)
    assert "condition-ok" in html and "degraded" not in html


def test_a_sim_that_locks_again_is_degraded_with_its_state(sim, make_daemon):
    d = make_daemon(health_interval=0.2)
    assert get_health(d)[0] == 200
    simulated = sim.modems["modem1"]
    simulated.pin_locked = True  # the SIM asks for its PIN again (reset, swapped card)
    wait_for(lambda: condition_is(d, "sim_not_ready"), timeout=10)
    status, body = get_health(d)
    assert status == 503
    assert body["modems"][0]["reason"] == "SIM not ready (SIM PIN)"
    assert body["modems"][0]["sim"] == "SIM PIN"
    simulated.pin_locked = False
    wait_for(lambda: condition_is(d, "ok"), timeout=10)
    assert get_health(d)[0] == 200


def test_a_sim_asking_for_a_pin_nobody_configured_is_degraded(tmp_path: Path):
    host = SimulatorHost(tmp_path / "sim", report_delay=0.05)
    host.add("modem1", "sim800", NUMBER, latency=0.005, boot_delay=0.0, pin="1234")
    host.start()
    d = Daemon(settings(tmp_path, host))
    try:
        wait_for(lambda: host.modems["modem1"].booted, timeout=15)
        d.start()
        body = wait_for(lambda: condition_is(d, "sim_not_ready"), timeout=15)
        status, body = get_health(d)
        assert status == 503 and not body["ready"]  # never connected: not ready either
        modem = body["modems"][0]
        assert modem["state"] != "ready" and "PIN" in modem["reason"]
        assert modem["reason"].startswith("SIM not ready")
        assert "modem1 degraded: SIM not ready" in Service(d.modems, d.store, grace=5).status_text()
    finally:
        d.stop()
        host.stop()


def test_an_unplugged_modem_is_degraded_and_comes_back(sim, make_daemon):
    d = make_daemon(health_interval=0.2)
    sim.fault(sim.modems["modem1"], "unplug")
    wait_for(lambda: condition_is(d, "disconnected"), timeout=10)
    status, body = get_health(d)
    assert status == 503 and not body["ready"]
    assert body["modems"][0]["reason"].startswith("modem ") and body["modems"][0]["last_error"]
    sim.fault(sim.modems["modem1"], "replug")
    assert d.modems["modem1"].connected.wait(15)
    wait_for(lambda: condition_is(d, "ok"), timeout=10)
    assert get_health(d)[0] == 200


@pytest.mark.timeout(60)
def test_the_radio_goes_to_status_and_never_stops_the_watchdog(sim, make_daemon, tmp_path):
    d = make_daemon(health_interval=0.2, watchdog_grace=1.5)
    ns = NotifySocket(tmp_path / "notify.sock")
    env = {"NOTIFY_SOCKET": str(ns.path), "WATCHDOG_USEC": "400000"}
    svc = Service(d.modems, d.store, grace=d.config.watchdog_grace, environ=env)
    svc.start()
    try:
        wait_for(lambda: ns.count("READY=1") == 1)
        assert any(line.startswith("STATUS=modem1 ready") for line in ns.lines())
        sim.fault(sim.modems["modem1"], "network_loss", True)
        wait_for(
            lambda: any(
                line.startswith("STATUS=modem1 degraded: network lost") for line in ns.lines()
            ),
            timeout=10,
        )
        pings = ns.count("WATCHDOG=1")
        wait_for(lambda: ns.count("WATCHDOG=1") >= pings + 3, timeout=5)  # still pinging
        assert svc.health() == (True, [])
        lost = len(ns.lines())
        sim.fault(sim.modems["modem1"], "network_loss", False)

        def back() -> bool:
            return any(x.startswith("STATUS=modem1 ready (home") for x in ns.lines()[lost:])

        wait_for(back, timeout=10)
    finally:
        svc.stopping()
        ns.close()


def test_conditions_from_state_sim_and_registration():
    assess = health.assess
    assert assess("m", "ready", None, None).healthy  # never polled: not a problem yet
    assert assess("m", "ready", None, {"sim": "READY", "registration": "roaming"}).healthy
    c = assess("m", "ready", None, {"sim": "READY", "registration": "denied"})
    assert c.problem == health.NETWORK_LOST and "denied" in (c.reason or "")
    c = assess("m", "ready", None, {"sim": "NOT INSERTED", "registration": "not registered"})
    assert c.problem == health.SIM_NOT_READY  # the SIM comes first: it is why
    c = assess("m", "connecting", "port /dev/gsm/x not present", {"sim": "READY"})
    assert (
        c.problem == health.DISCONNECTED
        and c.reason == "modem connecting: port /dev/gsm/x not present"
    )
    assert health.summary(c, None) == "m connecting (port /dev/gsm/x not present)"
    for error in (
        "connect failed: PinRequiredError: CME 11 (SIM card PIN is required)",
        "connect failed: IncorrectPinError: CME 16 (Incorrect PIN entered)",
        "connect failed: CmeError: CME 10",
        "connect failed: CommandRejected: AT+CPIN? +CME ERROR: 13",
    ):
        assert assess("m", "connecting", error, None).problem == health.SIM_NOT_READY, error
    assert not health.sim_refused("connect failed: CmeError: CME 100")
    ok = assess("m", "ready", None, {"registration": "home", "operator": "Op"})
    assert health.summary(ok, {"registration": "home", "operator": "Op"}) == "m ready (home, Op)"


def test_a_refused_pin_is_not_sent_again_so_the_sim_does_not_block(tmp_path: Path):
    """A SIM blocks after three wrong PINs: a typo in `pin` must cost one attempt, not
    one per reconnection or per restart; the right PIN, once configured, is sent."""
    host = SimulatorHost(tmp_path / "sim", report_delay=0.05)
    host.add("modem1", "sim800", NUMBER, latency=0.005, boot_delay=0.0, pin="1234")
    host.start()
    sim_modem = host.modems["modem1"]
    try:
        wait_for(lambda: sim_modem.booted, timeout=15)
        for _restart in range(2):
            d = Daemon(settings(tmp_path, host, modem={"pin": "9999"}, reconnect_delay=0.05))
            d.start()
            try:
                wait_for(lambda d=d: "not sent again" in (d.modems["modem1"].last_error or ""))
                time.sleep(1.0)  # several more reconnection attempts
                assert sim_modem.pin_attempts_left == 2 and sim_modem.pin_locked
                status, body = get_health(d)
                assert status == 503 and "PIN" in body["modems"][0]["reason"]
            finally:
                d.stop()
        d = Daemon(settings(tmp_path, host, modem={"pin": "1234"}))
        d.start()
        try:
            assert d.modems["modem1"].connected.wait(15), d.modems["modem1"].last_error
            assert sim_modem.pin_attempts_left == 3 and not sim_modem.pin_locked
        finally:
            d.stop()
    finally:
        host.stop()


def test_a_start_that_fails_half_way_leaves_no_thread_behind(tmp_path: Path, sim):
    """The HTTPS port is taken after the checks, once the modems have started: start()
    raises, and what had started (the modem's thread, the store's writer) is stopped."""
    import socket

    from tests.daemonproc import free_port

    port = free_port()
    d = Daemon(settings(tmp_path, sim, https_port=port))
    taken = socket.socket()
    taken.bind(("127.0.0.1", port))
    taken.listen()
    try:
        with pytest.raises(Exception, match=str(port)):
            d.start()
        wait_for(
            lambda: not any(m._thread and m._thread.is_alive() for m in d.modems.values()),
            timeout=10,
        )
        assert not d.store._thread.is_alive()
    finally:
        taken.close()
