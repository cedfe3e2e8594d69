"""The `appliance` command, run as a user runs it: a real process against a real daemon."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import NUMBER, PHONE, wait_for
from tests.daemonproc import DaemonProcess, free_port

ROOT = Path(__file__).resolve().parent.parent


def appliance(cfg: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "appliance", "--config", str(cfg), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        input=stdin,
        timeout=60,
    )


def write_config(tmp_path: Path, sim, port: int) -> Path:
    cfg = tmp_path / "appliance.toml"
    cfg.write_text(
        f'data_dir = "{tmp_path / "data"}"\nhttp_port = {port}\n'
        f'[[modems]]\nname = "modem1"\nnumber = "{NUMBER}"\nport = "{sim.modems["modem1"].port_path}"\n'
    )
    return cfg


def test_send_account_and_at_through_the_running_daemon(tmp_path, sim, make_daemon):
    d = make_daemon()
    cfg = write_config(tmp_path, sim, d.server.port)
    rv = appliance(cfg, "account")
    assert rv.returncode == 0 and d.account.sid in rv.stdout and d.account.auth_token in rv.stdout
    rv = appliance(cfg, "send", "--to", PHONE, "--body", "CPU at 100% on db1")
    assert rv.returncode == 0, rv.stderr
    sid = rv.stdout.strip()
    assert sid.startswith("SM")
    assert sim.network.wait_outbox(1)
    assert sim.network.outbox("modem1")[0].text == "CPU at 100% on db1"
    rv = appliance(cfg, "at", "AT+CSQ")
    assert rv.returncode == 0 and "+CSQ:" in rv.stdout and "OK" in rv.stdout
    rv = appliance(cfg, "send", "--to", "+1415;ATH", "--body", "x")
    assert rv.returncode == 2 and "not a valid phone number" in rv.stderr


def test_send_without_a_daemon_queues_durably(tmp_path, sim, make_daemon):
    cfg = write_config(tmp_path, sim, 1)  # nothing listens on port 1
    rv = appliance(cfg, "send", "--to", PHONE, "--body", "queued while down")
    assert rv.returncode == 0, rv.stderr
    assert "not running" in rv.stderr
    d = make_daemon()  # the same data_dir: picks the message up
    assert sim.network.wait_outbox(1)
    assert sim.network.outbox("modem1")[0].text == "queued while down"
    assert d.store.read_one("SELECT sid FROM messages")["sid"] == rv.stdout.strip()


def test_sim_commands_play_the_network(tmp_path):
    """`appliance sim` against a daemon that runs its own simulated modem (port = "sim")."""
    import time

    port = free_port()
    cfg = tmp_path / "appliance.toml"
    cfg.write_text(
        f'data_dir = "{tmp_path / "data"}"\nhttp_port = {port}\nsim_latency = 0.01\n'
        f'[[modems]]\nname = "modem1"\nnumber = "{NUMBER}"\nport = "sim"\n'
    )
    daemon = DaemonProcess(cfg, port)
    daemon.start()
    try:
        daemon.wait_ready()
        rv = appliance(cfg, "sim", "sms", "--from", PHONE, "--body", "hello from a phone")
        assert rv.returncode == 0, rv.stderr
        assert appliance(cfg, "send", "--to", PHONE, "--body", "hello from the box").returncode == 0

        def outbox() -> list[str]:
            out = json.loads(appliance(cfg, "sim", "outbox").stdout)
            return [m["text"] for m in out["messages"]]

        wait_for(lambda: outbox() == ["hello from the box"], timeout=20, interval=0.3)
        rv = appliance(cfg, "sim", "fault", "network_loss", "on")
        assert rv.returncode == 0, rv.stderr
        status = json.loads(appliance(cfg, "sim", "status").stdout)
        assert status["status"]["registered"] is False
        appliance(cfg, "sim", "fault", "network_loss", "off")
        time.sleep(0.2)
        assert json.loads(appliance(cfg, "sim", "status").stdout)["status"]["registered"] is True
    finally:
        assert daemon.terminate() == 0


def test_sim_call_rings_the_running_appliance(tmp_path, webapp):
    """`appliance sim call` against `appliance run` with port = "sim": the make-run path."""
    from tests.webapp import twiml

    webapp.routes["/voice"] = twiml(
        '<Response><Gather action="/gathered" timeout="6"><Say>Your code, then hash.</Say>'
        "</Gather></Response>"
    )
    webapp.routes["/gathered"] = twiml("<Response><Say>Goodbye.</Say><Hangup/></Response>")
    port = free_port()
    cfg = tmp_path / "appliance.toml"
    cfg.write_text(
        f'data_dir = "{tmp_path / "data"}"\nhttp_port = {port}\nsim_latency = 0.01\n'
        f'[[modems]]\nname = "modem1"\nnumber = "{NUMBER}"\nport = "sim"\n'
        f'voice_url = "{webapp.url("/voice")}"\n'
    )
    daemon = DaemonProcess(cfg, port)
    daemon.start()
    try:
        daemon.wait_ready()
        rv = appliance(cfg, "sim", "call", "in", "--from", PHONE, "--press", "42#")
        assert rv.returncode == 0, rv.stderr
        gathered = webapp.wait(30, path="/gathered")
        assert gathered.param("Digits") == "42" and gathered.param("From") == PHONE

        def calls() -> list[dict]:
            out = json.loads(appliance(cfg, "sim", "call", "status", "--all").stdout)
            return out.get("calls", [])

        ended = wait_for(
            lambda: [c for c in calls() if c.get("state") == "ended"], timeout=30, interval=0.5
        )
        assert ended[0]["end_reason"] == "local-hangup"
    finally:
        assert daemon.terminate() == 0
