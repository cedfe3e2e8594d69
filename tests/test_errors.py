"""Errors that say what to do (issue 12, item 2): every start-up and command failure is one
line, without a traceback, that names the setting or the command that fixes it; exit status 2
for a usage error, 1 for a runtime one.  And no log line carries a credential.

The commands run as a user runs them: ``appliance`` in its own process.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from appliance import cli, config
from appliance.daemon import Daemon
from tests.conftest import NUMBER, PHONE, wait_for
from tests.daemonproc import DaemonProcess, free_port
from tests.test_cli import ROOT, appliance, command_paths, sim_config

USAGE, RUNTIME = 2, 1


def run(
    cfg: Path | None, *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """``appliance`` with extra environment variables (none of the caller's APPLIANCE_*)."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("APPLIANCE_")}
    environ.update(env or {})
    options = ["--config", str(cfg)] if cfg is not None else []
    return subprocess.run(
        [sys.executable, "-m", "appliance", *options, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=environ,
        timeout=timeout,
    )


def one_line(rv: subprocess.CompletedProcess[str], status: int) -> str:
    """The failure's single line (asserted: the exit status, one line, no traceback)."""
    assert rv.returncode == status, (rv.returncode, rv.stdout, rv.stderr)
    assert "Traceback" not in rv.stderr, rv.stderr
    lines = rv.stderr.splitlines()
    assert len(lines) == 1, rv.stderr
    assert lines[0].startswith("appliance"), lines
    return lines[0]


# --------------------------------------------------------------------------- start-up


def test_a_busy_http_port_is_named_before_the_banner(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        cfg = sim_config(tmp_path, port)
        rv = run(cfg, "run")
        line = one_line(rv, RUNTIME)
        assert f":{port}" in line and "in use" in line
        assert "http_port" in line and "APPLIANCE_HTTP_PORT" in line and str(cfg) in line
        assert "AccountSid" not in rv.stdout  # checked before the credentials banner
        rv = run(cfg, "run", env={"APPLIANCE_HTTP_PORT": str(port)})
        assert "APPLIANCE_HTTP_PORT" in one_line(rv, RUNTIME)


def test_an_unknown_modem_profile_lists_the_known_ones(tmp_path):
    cfg = sim_config(tmp_path, free_port(), profile="nokia3310")
    line = one_line(run(cfg, "run"), USAGE)
    assert "modem1" in line and "'nokia3310'" in line and "`profile`" in line
    assert "APPLIANCE_MODEM_MODEM1_PROFILE" in line
    for family in ("sim800", "sim7600", "huawei_e173", "quectel_ec25"):
        assert family in line


def test_a_bad_number_in_the_config_names_the_modems_number_setting(tmp_path):
    cfg = sim_config(tmp_path, free_port())
    cfg.write_text(cfg.read_text().replace(NUMBER, "+1555"))
    for command in (("run",), ("account",), ("send", "--to", PHONE, "--body", "x")):
        line = one_line(run(cfg, *command), USAGE)
        assert "'To'" not in line, line
        assert "modem modem1" in line and "'+1555'" in line and "`number` setting" in line
        assert str(cfg) in line and "APPLIANCE_MODEM_MODEM1_NUMBER" in line
    rv = run(sim_config(tmp_path, 1), "account", env={"APPLIANCE_MODEM_MODEM1_NUMBER": "12"})
    line = one_line(rv, USAGE)
    assert "'12'" in line and "(APPLIANCE_MODEM_MODEM1_NUMBER)" in line


def test_bad_toml_names_the_file_line_and_column(tmp_path):
    cfg = tmp_path / "appliance.toml"
    cfg.write_text('http_port = 8080\n[[modems]\nname = "modem1"\n')
    line = one_line(run(cfg, "run"), USAGE)
    assert f"{cfg}:2:9: not valid TOML" in line and "line 2, column 9" in line
    line = one_line(run(cfg, "status"), USAGE)
    assert f"{cfg}:2:9" in line


def test_a_bad_value_names_the_setting_and_where_it_came_from(tmp_path):
    line = one_line(run(None, "account", env={"APPLIANCE_HTTP_PORT": "eighty"}), USAGE)
    assert "APPLIANCE_HTTP_PORT" in line and "http_port" in line
    line = one_line(run(tmp_path / "missing.toml", "status"), USAGE)
    assert "missing.toml does not exist" in line


def test_a_data_dir_that_cannot_be_a_directory_is_named(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    cfg = sim_config(tmp_path, free_port())
    rv = run(cfg, "run", env={"APPLIANCE_DATA_DIR": str(blocker / "data")})
    line = one_line(rv, RUNTIME)
    assert "data_dir" in line and "APPLIANCE_DATA_DIR" in line and str(blocker) in line
    assert "AccountSid" not in rv.stdout


def test_a_second_daemon_on_one_data_dir_is_refused(tmp_path):
    port = free_port()
    cfg = sim_config(tmp_path, port)
    daemon = DaemonProcess(cfg, port)
    daemon.start()
    try:
        daemon.wait_ready()
        line = one_line(run(cfg, "run", env={"APPLIANCE_HTTP_PORT": str(free_port())}), RUNTIME)
        assert f"pid {daemon.pid}" in line and "already running" in line and "data_dir" in line
    finally:
        assert daemon.terminate() == 0


# --------------------------------------------------------------------------- the modem's port


def test_a_missing_modem_port_is_an_error_in_the_log_at_once(tmp_path):
    port = free_port()
    tty = tmp_path / "ttyUSB7"
    cfg = sim_config(tmp_path, port)
    cfg.write_text(cfg.read_text().replace('port = "sim"', f'port = "{tty}"'))
    log = tmp_path / "daemon.log"
    daemon = DaemonProcess(cfg, port, log=log)
    daemon.start()
    try:
        line = wait_for(
            lambda: next((ln for ln in log.read_text().splitlines() if " ERROR " in ln), None),
            timeout=30,
            interval=0.2,
        )
        assert "modem=modem1" in line and str(tty) in line and "not present" in line
        assert "`port` setting" in line and "APPLIANCE_MODEM_MODEM1_PORT" in line
    finally:
        assert daemon.terminate() == 0


def test_a_missing_modem_port_is_reported_again_every_minute(tmp_path, monkeypatch, caplog):
    """Every UNREACHABLE_REPORT_INTERVAL (a minute; here 0.3 s), not only in /health."""
    from appliance.modem import modem as modem_module

    monkeypatch.setattr(modem_module, "UNREACHABLE_REPORT_INTERVAL", 0.3)
    cfg = config.load(
        None,
        environ={},
        overrides={
            "data_dir": str(tmp_path / "data"),
            "reconnect_delay": 0.05,
            "modems": [{"name": "modem1", "number": NUMBER, "port": str(tmp_path / "ttyUSB7")}],
        },
    )
    caplog.set_level(logging.DEBUG, logger="appliance.modem.modem")
    d = Daemon(cfg, http=False)
    d.start()
    try:

        def errors() -> list[str]:
            return [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]

        wait_for(lambda: len(errors()) >= 3, timeout=10)
        time.sleep(0.1)
        found = errors()
        # one line each interval, not one per reconnect attempt (every 0.05 s, backing off)
        assert len(found) <= 6, found
        assert all("modem=modem1" in e and "`port` setting" in e for e in found)
    finally:
        d.stop()


# --------------------------------------------------------------------------- no daemon, no simulator


def test_commands_that_need_the_daemon_say_it_is_not_running_and_where_they_looked(tmp_path):
    port = free_port()
    cfg = sim_config(tmp_path, port)
    line = one_line(run(cfg, "status"), RUNTIME)
    assert "not running" in line and f"http://127.0.0.1:{port}" in line
    assert "`appliance run`" in line and "run.json" in line


def test_sim_commands_without_a_simulator_say_how_to_start_one(tmp_path):
    cfg = sim_config(tmp_path, free_port())
    for command in (("sim", "outbox"), ("sim", "call", "status")):
        line = one_line(run(cfg, *command), RUNTIME)
        assert "simulator is not running" in line and "control.sock" in line
        assert 'port = "sim"' in line


def test_usage_errors_exit_2_and_runtime_errors_exit_1(tmp_path):
    cfg = sim_config(tmp_path, free_port())
    line = one_line(run(cfg, "send", "--to", PHONE, "--body", "x", "--modem", "modem9"), USAGE)
    assert "no modem named 'modem9'" in line
    line = one_line(run(cfg, "send", "--to", PHONE, "--body", "x", "--from", "+4930123"), USAGE)
    assert "--from takes one of" in line and NUMBER in line
    assert "--press KEYS" in one_line(
        run(cfg, "sim", "call", "in", "--from", PHONE, "--press-after", "2"), USAGE
    )
    line = one_line(run(cfg, "send", "--to"), USAGE)  # argparse's errors too: one line
    assert line.startswith("appliance send: ") and "`appliance send --help`" in line
    rv = run(None, "probe", "--port", str(tmp_path / "none"), "--timeout", "0.2")
    assert rv.returncode == RUNTIME and "Traceback" not in rv.stderr


# --------------------------------------------------------------------------- found by its run file


def test_commands_find_a_daemon_started_on_another_port(tmp_path, monkeypatch):
    """The daemon runs with APPLIANCE_HTTP_PORT; a second shell without it still finds it."""
    configured, actual = free_port(), free_port()
    cfg = sim_config(tmp_path, configured)
    monkeypatch.setenv("APPLIANCE_HTTP_PORT", str(actual))
    daemon = DaemonProcess(cfg, actual)
    daemon.start()
    monkeypatch.delenv("APPLIANCE_HTTP_PORT")
    run_file = config.load(cfg, environ={}).run_path
    try:
        daemon.wait_ready()
        written = json.loads(run_file.read_text())
        assert written["pid"] == daemon.pid and written["port"] == actual
        rv = run(cfg, "send", "--to", PHONE, "--body", "found it")
        assert rv.returncode == 0 and rv.stderr == "", rv.stderr
        rv = run(cfg, "status")
        assert rv.returncode == 0 and f"http://127.0.0.1:{actual}" in rv.stdout, rv.stderr
    finally:
        assert daemon.terminate() == 0
    assert not run_file.exists()  # removed at stop
    rv = run(cfg, "send", "--to", PHONE, "--body", "queued")
    assert rv.returncode == 0 and f"nothing answers on http://127.0.0.1:{configured}" in rv.stderr


# --------------------------------------------------------------------------- CLI polish


def test_version_comes_from_the_package_metadata():
    from importlib import metadata

    rv = appliance(None, "--version")
    assert (
        rv.returncode == 0 and rv.stdout.strip() == f"appliance {metadata.version('sim-appliance')}"
    )


def test_every_subcommand_says_what_it_does():
    parser = cli.build_parser()
    seen = 0
    stack = [parser]
    while stack:
        p = stack.pop()
        assert p.description and len(p.description) > 15, p.prog
        seen += 1
        for action in p._actions:
            if hasattr(action, "choices") and isinstance(action.choices, dict):
                stack.extend(action.choices.values())
    assert seen == len(command_paths()) + 1
    rv = appliance(None, "status", "--help")
    assert rv.returncode == 0 and "queue depths" in rv.stdout


# --------------------------------------------------------------------------- no credential in a log


def test_no_log_line_carries_an_auth_token_key_secret_or_password(tmp_path):
    port = free_port()
    cfg = sim_config(tmp_path, port, voice_url=f"http://127.0.0.1:{port}/welcome/voice")
    cfg.write_text(cfg.read_text().replace("sim_latency", 'log_level = "DEBUG"\nsim_latency'))
    log = tmp_path / "daemon.log"
    daemon = DaemonProcess(cfg, port, log=log)
    daemon.start()
    try:
        daemon.wait_ready()
        token = re.search(r"AuthToken\s+(\w+)", appliance(cfg, "account").stdout).group(1)  # type: ignore[union-attr]
        sid = re.search(r"AccountSid\s+(AC\w+)", appliance(cfg, "account").stdout).group(1)  # type: ignore[union-attr]
        created = appliance(cfg, "apikey", "create", "--name", "ci").stdout
        key = re.search(r"Sid\s+(SK\w+)", created).group(1)  # type: ignore[union-attr]
        secret = re.search(r"Secret\s+(\S+)", created).group(1)  # type: ignore[union-attr]
        password = "correct horse battery staple"
        assert appliance(cfg, "panel-password", stdin=password + "\n").returncode == 0
        for command in (
            ("status",),
            ("send", "--to", PHONE, "--body", "hello"),
            ("at", "AT+CSQ"),
            ("sim", "sms", "--from", PHONE, "--body", "hi"),
            ("sim", "outbox"),
        ):
            assert appliance(cfg, *command).returncode == 0, command
        import base64

        for user, secret_word in ((key, secret), (sid, token), (sid, "wrong" + token)):
            req = urllib.request.Request(f"http://127.0.0.1:{port}/2010-04-01/Accounts/{sid}.json")
            pair = base64.b64encode(f"{user}:{secret_word}".encode()).decode()
            req.add_header("Authorization", "Basic " + pair)
            try:
                urllib.request.urlopen(req, timeout=10).close()
            except OSError:
                pass  # 403 for the key, 401 for the wrong token: logged or not, never the secret
        data = f"username=admin&password={password.replace(' ', '+')}".encode()
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/login", data=data, timeout=10).close()
        except OSError:
            pass
        wait_for(lambda: " DEBUG " in log.read_text(), timeout=10)
    finally:
        assert daemon.terminate() == 0
    text = log.read_text()
    assert "INFO" in text and sid in text  # the log is there, and the banner in it
    for credential in (token, secret, password):
        assert credential not in text
