"""The `appliance` command, run as a user runs it: a real process against a real daemon.

Every command `appliance --help` lists, and every command line README.md and docs/*.md show,
has a test here that runs it: :data:`COMMAND_TESTS` (checked against the parser and the docs
by ``test_every_command_has_a_test_that_runs_it``) says which.
"""

from __future__ import annotations

import argparse
import ast
import base64
import inspect
import json
import os
import re
import shlex
import sqlite3
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from appliance import cli, config
from appliance.cli.client import api
from tests.conftest import NUMBER, PHONE, wait_for
from tests.daemonproc import DaemonProcess, free_port

ROOT = Path(__file__).resolve().parent.parent
DOCS = (ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")))
CALLEE = "+14155550199"


def appliance(
    cfg: Path | None, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    options = ["--config", str(cfg)] if cfg is not None else []
    return subprocess.run(
        [sys.executable, "-m", "appliance", *options, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        input=stdin,
        timeout=60,
    )


def run_json(cfg: Path, *args: str) -> Any:
    rv = appliance(cfg, *args)
    assert rv.returncode == 0, rv.stderr
    return json.loads(rv.stdout)


def write_config(tmp_path: Path, sim: Any, port: int) -> Path:
    cfg = tmp_path / "appliance.toml"
    cfg.write_text(
        f'data_dir = "{tmp_path / "data"}"\nhttp_port = {port}\nhttps_port = 0\n'
        f'[[modems]]\nname = "modem1"\nnumber = "{NUMBER}"\nport = "{sim.modems["modem1"].port_path}"\n'
    )
    return cfg


def sim_config(directory: Path, port: int, **modem: str) -> Path:
    """An appliance.toml for `appliance run` on its own simulated modem (port = "sim")."""
    lines = [
        f'data_dir = "{directory / "data"}"',
        f"http_port = {port}",
        "https_port = 0",
        "sim_latency = 0.01",
        "[[modems]]",
        'name = "modem1"',
        f'number = "{NUMBER}"',
        'port = "sim"',
        *(f'{key} = "{value}"' for key, value in modem.items()),
    ]
    cfg = directory / "appliance.toml"
    cfg.write_text("\n".join(lines) + "\n")
    return cfg


@dataclass
class Running:
    """`appliance run` in its own process, on its own simulated modem."""

    cfg: Path
    port: int
    log: Path

    def calls(self) -> list[dict[str, Any]]:
        """Every call on the simulated network, ended ones too."""
        return list(run_json(self.cfg, "sim", "call", "status", "--all")["calls"])

    def call(self, call_id: str) -> dict[str, Any]:
        return next(c for c in self.calls() if c["id"] == call_id)

    def ended(self, call_id: str, timeout: float = 40) -> dict[str, Any]:
        return dict(
            wait_for(
                lambda: (c := self.call(call_id))["state"] == "ended" and c,
                timeout=timeout,
                interval=0.3,
            )
        )

    def webhooks(self) -> list[tuple[str, dict[str, str]]]:
        """(url, parameters) of every webhook the daemon logged, oldest first."""
        db = config.load(self.cfg, environ={}).db_path
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
        try:
            rows = conn.execute("SELECT url, request FROM webhook_log ORDER BY id").fetchall()
            return [(url, json.loads(request)) for url, request in rows]
        finally:
            conn.close()

    def rest(self, method: str, path: str, data: dict[str, str] | None = None) -> Any:
        return api(config.load(self.cfg, environ={}), method, path, data)


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    """`appliance run`; the number's Voice URL is the appliance's own welcome TwiML."""
    directory = tmp_path_factory.mktemp("running")
    port = free_port()
    cfg = sim_config(directory, port, voice_url=f"http://127.0.0.1:{port}/welcome/voice")
    daemon = DaemonProcess(cfg, port, log=directory / "daemon.log")
    daemon.start()
    try:
        daemon.wait_ready()
        yield Running(cfg, port, directory / "daemon.log")
    finally:
        assert daemon.terminate() == 0


# --------------------------------------------------------------------------- the command tree


def command_paths(
    parser: argparse.ArgumentParser | None = None, prefix: tuple[str, ...] = ()
) -> dict[tuple[str, ...], bool]:
    """Every command path of the parser (``("sim", "call", "in")``) → whether it is a leaf."""
    parser = parser or cli.build_parser()
    paths: dict[tuple[str, ...], bool] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                below = command_paths(sub, (*prefix, name))
                paths[(*prefix, name)] = not below
                paths.update(below)
    return paths


def path_of(argv: list[str]) -> tuple[str, ...]:
    paths = command_paths()
    path: tuple[str, ...] = ()
    for word in argv:
        if (*path, word) in paths:
            path = (*path, word)
    return path


COMMAND_LINE = re.compile(
    r"(?:^|[\s`(/])appliance ((?:"
    + "|".join(re.escape(p[0]) for p in command_paths() if len(p) == 1)
    + r")\b[^`\n]*)",
    re.M,
)


def documented_command_lines() -> list[tuple[str, list[str], bool]]:
    """(doc name, argv, in a code block) of every `appliance …` in README.md and docs/*.md.

    Optional ``[...]`` parts are left out, ``a|b|c`` means its first choice, and what
    follows `` #`` is a comment.  Prose may name a command without its arguments.
    """
    found = []
    for doc in DOCS:
        text = doc.read_text()
        blocks = re.findall(r"^```.*?^```", text, re.S | re.M)
        prose = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
        for chunk, in_block in [*((b, True) for b in blocks), (prose, False)]:
            for line in COMMAND_LINE.findall(chunk):
                line = re.split(r"\s+#", line)[0]
                line = re.sub(r"\[[^\]]*\]", "", line)
                line = re.sub(r"(\S+?)\|\S+", r"\1", line)
                found.append((doc.name, shlex.split(line), in_block))
    return found


def test_help_for_every_command():
    top = appliance(None, "--help")
    assert top.returncode == 0, top.stderr
    for path in command_paths():
        if len(path) == 1:
            assert path[0] in top.stdout, path
        rv = appliance(None, *path, "--help")
        assert rv.returncode == 0, (path, rv.stderr)
        assert f"usage: appliance {' '.join(path)}" in rv.stdout, path


def test_documented_command_lines_are_valid_and_each_command_has_a_test():
    """Command lines in code blocks parse as they stand; prose names real commands."""
    lines = documented_command_lines()
    assert sum(in_block for _, _, in_block in lines) > 10, lines
    parser = cli.build_parser()
    for doc, argv, in_block in lines:
        if in_block:
            try:
                parser.parse_args(argv)
            except SystemExit:
                pytest.fail(f"{doc}: `appliance {shlex.join(argv)}` does not parse")
        assert path_of(argv) in COMMAND_TESTS, (doc, argv)


def test_every_command_has_a_test_that_runs_it():
    leaves = {path for path, leaf in command_paths().items() if leaf}
    assert leaves == set(COMMAND_TESTS)
    for path, test in COMMAND_TESTS.items():
        source = inspect.getsource(test)
        if path == ("run",):  # the daemon fixtures start `appliance run` (DaemonProcess)
            assert "running" in inspect.signature(test).parameters, test.__name__
            continue
        for word in path:
            assert f'"{word}"' in source, (path, test.__name__)


# --------------------------------------------------------------------------- run


def test_run_starts_the_daemon_and_prints_how_to_try_it(running):
    """`appliance run` (the fixture): the banner's credentials and commands are real."""
    banner = running.log.read_text()
    out = appliance(running.cfg, "account").stdout
    sid = re.search(r"AccountSid (AC\w+)", out).group(1)  # type: ignore[union-attr]
    assert f"AccountSid {sid}" in banner and f"http://127.0.0.1:{running.port}" in banner
    assert f"http://127.0.0.1:{running.port}/welcome/voice" in banner
    parser = cli.build_parser()
    shown = [shlex.split(line) for line in re.findall(r"\.venv/bin/appliance ([^\n]+)", banner)]
    assert len(shown) >= 3
    for argv in shown:
        parser.parse_args(argv)


# --------------------------------------------------------------------------- send, account, at


def test_send_account_and_at_through_the_running_daemon(tmp_path, sim, make_daemon):
    d = make_daemon()
    cfg = write_config(tmp_path, sim, d.server.port)
    rv = appliance(cfg, "account")
    assert rv.returncode == 0 and d.account.sid in rv.stdout and d.account.auth_token in rv.stdout
    rv = appliance(cfg, "account", "--shell")
    assert rv.returncode == 0 and f"export TWILIO_ACCOUNT_SID={d.account.sid}\n" in rv.stdout
    rv = appliance(cfg, "send", "--to", PHONE, "--body", "CPU at 100% on db1")
    assert rv.returncode == 0, rv.stderr
    sid = rv.stdout.strip()
    assert sid.startswith("SM")
    assert sim.network.wait_outbox(1)
    assert sim.network.outbox("modem1")[0].text == "CPU at 100% on db1"
    rv = appliance(cfg, "send", "--to", PHONE, "--body", "two", "--from", NUMBER)
    assert rv.returncode == 0, rv.stderr
    rv = appliance(cfg, "send", "--to", PHONE, "--body", "three", "--modem", "modem1")
    assert rv.returncode == 0, rv.stderr
    assert sim.network.wait_outbox(3)
    rv = appliance(cfg, "at", "AT+CSQ")
    assert rv.returncode == 0 and "+CSQ:" in rv.stdout and "OK" in rv.stdout
    rv = appliance(cfg, "at", "--modem", "modem1", "AT+CGMI")
    assert rv.returncode == 0 and "OK" in rv.stdout
    rv = appliance(cfg, "send", "--to", "+1415;ATH", "--body", "x")
    assert rv.returncode == 2 and "not a valid phone number" in rv.stderr
    rv = appliance(cfg, "send", "--to", PHONE, "--body", "x", "--modem", "modem9")
    assert rv.returncode == 2 and "no modem named 'modem9'" in rv.stderr


def test_send_without_a_daemon_queues_durably(tmp_path, sim, make_daemon):
    cfg = write_config(tmp_path, sim, 1)  # nothing listens on port 1
    rv = appliance(cfg, "send", "--to", PHONE, "--body", "queued while down")
    assert rv.returncode == 0, rv.stderr
    assert "not running" in rv.stderr
    d = make_daemon()  # the same data_dir: picks the message up
    assert sim.network.wait_outbox(1)
    assert sim.network.outbox("modem1")[0].text == "queued while down"
    assert d.store.read_one("SELECT sid FROM messages")["sid"] == rv.stdout.strip()


# --------------------------------------------------------------------------- page

ALICE = "+14155550111"
CAROL = "+14155550133"


def _texts_to(sim: Any, to: str) -> list[str]:
    return [m.text for m in sim.network.outbox("modem1") if m.destination == to]


ONCALL_DOC = ROOT / "docs" / "oncall.md"


def _alice_on_call(d) -> None:
    person = d.oncall.directory.add_person("Alice", ALICE)
    d.oncall.directory.set_policy({"default_person": str(person["id"])})


def _monit_script() -> str:
    blocks = re.findall(r"```sh\n(#!/bin/sh\n.*?)```", ONCALL_DOC.read_text(), re.S)
    (script,) = [b for b in blocks if "MONIT_SERVICE" in b]
    return script


def test_page_through_the_daemon_and_a_monit_exec(tmp_path, sim, make_daemon):
    d = make_daemon()
    _alice_on_call(d)
    cfg = write_config(tmp_path, sim, d.server.port)
    rv = appliance(cfg, "page", "backup failed on nas1", "--severity", "warning")
    assert rv.returncode == 0, rv.stderr
    assert re.fullmatch(r"alert \d+: paged\n", rv.stdout)
    wait_for(lambda: any("backup failed on nas1" in t for t in _texts_to(sim, ALICE)))
    rv = appliance(cfg, "page", "backup failed on nas1")
    assert rv.stdout.endswith("repeat\n")
    rv = appliance(cfg, "page", "")
    assert rv.returncode == 2 and "Body is required" in rv.stderr
    # --policy: that policy's people (here its default person, Carol), not Alice.
    carol = d.oncall.directory.add_person("Carol", CAROL)
    d.oncall.directory.policies.create({"name": "it", "default_person": str(carol["id"])}, None)
    rv = appliance(cfg, "page", "raid degraded on nas1", "--policy", "it")
    assert rv.returncode == 0 and rv.stdout.endswith("paged\n"), rv.stderr
    wait_for(lambda: any("raid degraded" in t for t in _texts_to(sim, CAROL)))
    assert not any("raid degraded" in t for t in _texts_to(sim, ALICE))
    rv = appliance(cfg, "page", "x", "--policy", "nope")
    assert rv.returncode == 2 and "No escalation policy named 'nope'" in rv.stderr
    # Monit runs the script with its variables; the page names the service and the event.
    script = tmp_path / "page-oncall"
    script.write_text(_monit_script())
    script.chmod(0o755)
    env = {
        **os.environ,
        "APPLIANCE": f"{sys.executable} -m appliance --config {cfg}",
        "MONIT_SERVICE": "nginx",
        "MONIT_EVENT": "Does not exist",
        "MONIT_DESCRIPTION": "process is not running",
        "MONIT_HOST": "web1",
        "MONIT_DATE": "Mon, 07 Dec 2026 01:00:00",
    }
    done = subprocess.run([str(script)], env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    wait_for(lambda: any("nginx" in t and "web1" in t for t in _texts_to(sim, ALICE)))


def test_page_without_a_daemon_is_stored_and_sent_at_start(tmp_path, sim, make_daemon):
    cfg = write_config(tmp_path, sim, 1)  # nothing listens on port 1
    d = make_daemon()
    _alice_on_call(d)
    d.stop()
    rv = appliance(cfg, "page", "ups on battery", "--policy", "nope")
    assert rv.returncode == 2 and "No escalation policy named 'nope'" in rv.stderr
    rv = appliance(cfg, "page", "ups on battery")
    assert rv.returncode == 0, rv.stderr
    assert "not running" in rv.stderr and rv.stdout.endswith("paged\n")
    make_daemon()  # the same data_dir: the page goes out
    wait_for(lambda: any("ups on battery" in t for t in _texts_to(sim, ALICE)))
    assert Path(cfg).exists()


def test_at_console_straight_to_the_port_without_a_daemon(tmp_path, sim):
    cfg = write_config(tmp_path, sim, 1)  # no daemon: `at` opens the port itself
    rv = appliance(cfg, "at", "AT+CSQ")
    assert rv.returncode == 0 and "+CSQ:" in rv.stdout and "OK" in rv.stdout, rv.stderr
    rv = appliance(cfg, "at", stdin="AT\nAT+CGMI\n\nAT+CSQ\n")  # interactive: an empty line quits
    assert rv.returncode == 0, rv.stderr
    assert rv.stdout.startswith("AT console to modem1") and "+CSQ" not in rv.stdout
    assert rv.stdout.count("OK") == 2


# --------------------------------------------------------------------------- sim


def test_sim_commands_play_the_network(running):
    """`appliance sim sms|outbox|fault|status` against `appliance run` with port = "sim"."""
    cfg = running.cfg
    run_json(
        cfg, "sim", "sms", "--from", PHONE, "--body", "hello from a phone", "--modem", "modem1"
    )
    assert appliance(cfg, "send", "--to", PHONE, "--body", "hello from the box").returncode == 0
    assert appliance(cfg, "send", "--to", PHONE, "--body", "5 € a month").returncode == 0

    def outbox(*modem: str) -> list[str]:
        return [m["text"] for m in run_json(cfg, "sim", "outbox", *modem)["messages"]]

    wait_for(lambda: "hello from the box" in outbox(), timeout=20, interval=0.3)
    assert "hello from the box" in outbox("--modem", "modem1")
    wait_for(lambda: "5 € a month" in outbox(), timeout=20, interval=0.3)
    shown = appliance(cfg, "sim", "outbox").stdout  # text as written, not \u20ac
    assert '"5 € a month"' in shown and "\\u20ac" not in shown
    rv = appliance(cfg, "sim", "fault", "network_loss", "on")
    assert rv.returncode == 0, rv.stderr
    try:
        status = run_json(cfg, "sim", "status")
        assert status["status"]["registered"] is False
    finally:
        run_json(cfg, "sim", "fault", "network_loss", "off", "--modem", "modem1")

    def registered() -> bool:
        return bool(run_json(cfg, "sim", "status", "--modem", "modem1")["status"]["registered"])

    wait_for(registered, timeout=5, interval=0.2)
    assert run_json(cfg, "sim", "fault", "signal", "12")["status"]
    rv = appliance(cfg, "sim", "fault", "no_such_fault")
    assert rv.returncode == 2 and "invalid choice" in rv.stderr


def test_sim_commands_without_a_simulator_say_so(tmp_path):
    cfg = sim_config(tmp_path, 1)
    rv = appliance(cfg, "sim", "status")
    assert rv.returncode == 1 and "simulator is not running" in rv.stderr  # runtime, not usage
    assert "Traceback" not in rv.stderr


def sim_faults() -> set[str]:
    """The fault names ``SimulatorHost.fault`` accepts: the strings it compares ``name`` with."""
    from appliance.sim import host

    tree = ast.parse(inspect.getsource(host.SimulatorHost.fault).strip())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and getattr(node.left, "id", None) == "name":
            for right in node.comparators:
                names |= {c.value for c in ast.walk(right) if isinstance(c, ast.Constant)}
    return names - {"set_signal"}  # an old spelling of signal, kept for scripts


def test_sim_fault_names_agree_in_the_simulator_the_help_and_the_doc():
    simulator = sim_faults()
    assert {"unplug", "network_loss", "refuse", "cpcmreg_fail"} <= simulator
    rv = appliance(None, "sim", "fault", "--help")
    listed = rv.stdout.split("\nfaults:\n", 1)[1]
    in_help = set(re.findall(r"^  (\w+) ", listed, re.M))
    doc = (ROOT / "docs" / "simulator.md").read_text()
    table = doc.split("## Fault switches", 1)[1].split("\n## ", 1)[0]
    in_doc = set(re.findall(r"^\| `(\w+)` \|", table, re.M))
    assert in_help == simulator, in_help ^ simulator
    assert in_doc == simulator, in_doc ^ simulator


def test_sim_call_in_digits_hangup_and_status(running):
    """`appliance sim call in|digits|hangup|status`: the appliance answers with its welcome TwiML."""
    cfg = running.cfg
    call = run_json(cfg, "sim", "call", "in", "--from", PHONE)["call"]
    wait_for(lambda: running.call(call["id"])["state"] == "active", timeout=20, interval=0.3)
    live = run_json(cfg, "sim", "call", "status")["calls"]  # live calls only
    assert [c["id"] for c in live] == [call["id"]]
    rv = run_json(cfg, "sim", "call", "digits", "42#", "--modem", "modem1")
    assert rv["call"]["id"] == call["id"]
    assert running.ended(call["id"])["end_reason"] == "local-hangup"  # <Hangup/> after the keys
    assert any(
        url.endswith("/welcome/voice/keys") and params.get("Digits") == "42"
        for url, params in running.webhooks()
    )

    second = run_json(cfg, "sim", "call", "in", "--from", "+14155550111", "--say", "hello")
    second_id = second["call"]["id"]
    wait_for(lambda: running.call(second_id)["state"] == "active", timeout=20, interval=0.3)
    rv = run_json(cfg, "sim", "call", "hangup", "--call", second_id)
    assert rv["call"]["id"] == second_id
    assert running.ended(second_id, timeout=10)["end_reason"] == "remote-hangup"


def test_sim_call_callee_scripts_how_a_dialled_number_answers(running):
    """`appliance sim call callee NUMBER --outcome …` (issue 11, item 5: it crashed)."""
    cfg = running.cfg
    rv = appliance(cfg, "sim", "call", "callee", CALLEE, "--outcome", "busy")
    assert rv.returncode == 0, rv.stderr
    assert json.loads(rv.stdout)["number"] == CALLEE
    path = "/2010-04-01/Accounts/{AccountSid}/Calls"
    twiml = "<Response><Pause length='20'/></Response>"
    sid = running.rest("POST", path + ".json", {"To": CALLEE, "From": NUMBER, "Twiml": twiml})[
        "sid"
    ]
    wait_for(
        lambda: running.rest("GET", f"{path}/{sid}.json")["status"] == "busy",
        timeout=30,
        interval=0.3,
    )

    run_json(
        cfg,
        "sim",
        "call",
        "callee",
        CALLEE,
        "--outcome",
        "answer",
        "--answer-after",
        "0.5",
        "--press",
        "5",
        "--hangup-after",
        "1",
    )
    sid = running.rest("POST", path + ".json", {"To": CALLEE, "From": NUMBER, "Twiml": twiml})[
        "sid"
    ]
    wait_for(
        lambda: running.rest("GET", f"{path}/{sid}.json")["status"] == "completed",
        timeout=30,
        interval=0.3,
    )
    dialled = [c for c in running.calls() if c["number"] == CALLEE and c["direction"] != "in"]
    assert dialled[-1]["end_reason"] == "remote-hangup" and dialled[-1]["duration"] < 15


def test_voice_doc_try_it_works_as_written(tmp_path, monkeypatch):
    """docs/voice.md's "Try it", command for command (the doc's port 8080 made free)."""
    text = (ROOT / "docs" / "voice.md").read_text()
    block = re.search(r"Try it without hardware.*?```sh\n(.*?)```", text, re.S)
    assert block is not None
    lines = [re.split(r"\s+#", line)[0].split() for line in block.group(1).splitlines()]
    port = free_port()
    start = next(line for line in lines if line[-2:] == ["make", "run"])
    for assignment in start[:-2]:
        name, value = assignment.split("=", 1)
        monkeypatch.setenv(name, value.replace(":8080", f":{port}"))
    daemon = DaemonProcess(sim_config(tmp_path, port), port)  # `make run`: `appliance run`
    daemon.start()
    try:
        daemon.wait_ready()
        cfg = tmp_path / "appliance.toml"
        here = Running(cfg, port, tmp_path / "none.log")
        commands = [line[1:] for line in lines if line and line[0] == ".venv/bin/appliance"]
        assert [c[:3] for c in commands] == [["sim", "call", "in"], ["sim", "call", "status"]]
        call = run_json(cfg, *commands[0])["call"]
        ended = here.ended(call["id"])
        assert ended["end_reason"] == "local-hangup" and ended["heard_seconds"] > 1
        status = run_json(cfg, *commands[1])
        assert status["calls"][-1]["id"] == call["id"]
        assert any(
            url.endswith("/welcome/voice/keys") and params.get("Digits") == "1234"
            for url, params in here.webhooks()
        )
    finally:
        assert daemon.terminate() == 0


def test_sim_call_rings_the_running_appliance(tmp_path, webapp):
    """`appliance sim call` against `appliance run` with an app's Voice URL: the make-run path."""
    from tests.webapp import twiml

    webapp.routes["/voice"] = twiml(
        '<Response><Gather action="/gathered" timeout="6"><Say>Your code, then hash.</Say>'
        "</Gather></Response>"
    )
    webapp.routes["/gathered"] = twiml("<Response><Say>Goodbye.</Say><Hangup/></Response>")
    port = free_port()
    cfg = sim_config(tmp_path, port, voice_url=webapp.url("/voice"))
    daemon = DaemonProcess(cfg, port)
    daemon.start()
    try:
        daemon.wait_ready()
        rv = appliance(cfg, "sim", "call", "in", "--from", PHONE, "--press", "42#")
        assert rv.returncode == 0, rv.stderr
        gathered = webapp.wait(30, path="/gathered")
        assert gathered.param("Digits") == "42" and gathered.param("From") == PHONE
        here = Running(cfg, port, tmp_path / "none.log")
        assert here.ended(json.loads(rv.stdout)["call"]["id"])["end_reason"] == "local-hangup"

        # TwiML that speaks before its <Gather>: keys pressed at once would be lost, so the
        # caller waits (--press-after). The Voice URL changes while it runs (README.md).
        webapp.routes["/greeting-first"] = twiml(
            "<Response><Say>Welcome.</Say>"
            '<Gather action="/gathered" timeout="8"/><Hangup/></Response>'
        )
        path = "/2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers"
        number = here.rest("GET", path + ".json")["incoming_phone_numbers"][0]
        here.rest(
            "POST", f"{path}/{number['sid']}.json", {"VoiceUrl": webapp.url("/greeting-first")}
        )
        rv = appliance(
            cfg, "sim", "call", "in", "--from", PHONE, "--press", "7#", "--press-after", "4"
        )
        assert rv.returncode == 0, rv.stderr
        gathered = webapp.wait(40, path="/gathered")
        assert gathered.param("Digits") == "7"
    finally:
        assert daemon.terminate() == 0


def test_run_banner_shows_the_simulator_only_when_in_use(tmp_path):
    """`make run`'s banner: simulator commands (and its delivery delay) only with port = "sim"."""
    from appliance.cli.run import banner

    simulated = config.load(sim_config(tmp_path, 8080), environ={})
    text = banner(simulated, "AC1", "secret-token")
    assert "sim outbox" in text and "sim call in" in text and "a few seconds" in text
    assert "secret-token" in text
    hidden = banner(simulated, "AC1", None)  # stdout is not a terminal: a journal, a log
    assert "$TWILIO_AUTH_TOKEN" in hidden and "`appliance account` prints it" in hidden
    hardware = tmp_path / "hw.toml"
    hardware.write_text(
        f'[[modems]]\nname = "modem1"\nnumber = "{NUMBER}"\nport = "/dev/ttyUSB0"\n'
    )
    text = banner(config.load(hardware, environ={}), "AC1", "t")
    assert "appliance sim" not in text and "simulated" not in text
    assert ".venv/bin/appliance status" in text
    # HTTPS on its default port, with where to get the CA; not when the port is picked at start
    assert "https://127.0.0.1:8443/" in text and "http://127.0.0.1:8080/ca.crt" in text
    assert "https://" not in hidden  # sim_config's https_port = 0


# --------------------------------------------------------------------------- status


def test_status_shows_modems_queues_errors_and_urls(running):
    """`appliance status`: from the running daemon's GET /appliance/status (AuthToken only)."""
    rv = appliance(running.cfg, "status")
    assert rv.returncode == 0, rv.stderr
    out = rv.stdout
    assert f"http://127.0.0.1:{running.port}" in out
    assert re.search(r"modem1\s+\+\d+\s+ready\s+signal \d+/31\s+registration home", out), out
    assert "SMS to send" in out and "webhooks pending" in out
    assert f"http://127.0.0.1:{running.port}/welcome/voice" in out  # the number's Voice URL
    raw = run_json(running.cfg, "status", "--json")
    assert raw["modems"][0]["name"] == "modem1" and raw["modems"][0]["state"] == "ready"
    assert set(raw["queues"]) >= {"messages_queued", "webhooks_pending", "calls_queued"}
    assert set(raw["last_errors"]) == {"messages", "calls", "webhooks"}


# --------------------------------------------------------------------------- the store's commands


def test_apikey_create_list_revoke(running):
    """`appliance apikey create|list|revoke`, and the key against the running REST API."""
    cfg = running.cfg
    rv = appliance(cfg, "apikey", "create", "--name", "deploy bot")
    assert rv.returncode == 0, rv.stderr
    key = re.search(r"Sid\s+(SK\w+)", rv.stdout).group(1)  # type: ignore[union-attr]
    secret = re.search(r"Secret\s+(\S+)", rv.stdout).group(1)  # type: ignore[union-attr]
    assert "shown only now" in rv.stderr
    account = re.search(r"AccountSid (AC\w+)", appliance(cfg, "account").stdout).group(1)  # type: ignore[union-attr]

    def status_with_key() -> int:
        req = urllib.request.Request(
            f"http://127.0.0.1:{running.port}/2010-04-01/Accounts/{account}/Messages.json"
        )
        req.add_header(
            "Authorization", "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return int(resp.status)
        except urllib.error.HTTPError as e:
            return e.code

    assert status_with_key() == 200
    rv = appliance(cfg, "apikey", "list")
    assert rv.returncode == 0 and re.search(rf"{key}\s+active\s+deploy bot", rv.stdout)
    assert secret not in rv.stdout
    rv = appliance(cfg, "apikey", "revoke", key)
    assert rv.returncode == 0 and f"revoked {key}" in rv.stdout
    assert status_with_key() == 401
    assert re.search(rf"{key}\s+revoked", appliance(cfg, "apikey", "list").stdout)
    rv = appliance(cfg, "apikey", "revoke", key)
    assert rv.returncode == 2 and "no active API key" in rv.stderr


def test_config_prints_a_loadable_file(tmp_path):
    rv = appliance(None, "config")
    assert rv.returncode == 0, rv.stderr
    path = tmp_path / "all.toml"
    path.write_text(rv.stdout)
    loaded = config.load(path, environ={})
    assert loaded.http_port == 8080 and all(f"{s.name} =" in rv.stdout for s in config.SETTINGS)


def test_panel_password_from_standard_input(tmp_path):
    from werkzeug.security import check_password_hash

    from appliance.store.database import SqliteStore

    cfg = sim_config(tmp_path, 1)
    rv = appliance(cfg, "panel-password", stdin="short\n")
    assert rv.returncode == 1 and "at least 8" in rv.stderr
    rv = appliance(cfg, "panel-password", stdin="correct horse battery\n")
    assert rv.returncode == 0 and "panel password set" in rv.stdout
    store = SqliteStore(config.load(cfg, environ={}).db_path)
    try:
        assert check_password_hash(
            store.setting("panel_password_hash") or "", "correct horse battery"
        )
    finally:
        store.close()


def test_probe_names_the_modem_on_a_port(tmp_path, sim):
    port = str(sim.modems["modem1"].port_path)
    rv = appliance(None, "probe", "--port", port, "--json", "--timeout", "3")
    assert rv.returncode == 0, rv.stderr
    result = json.loads(rv.stdout)[0]
    assert result["port"] == port and result["best"]["family"] == "sim800"
    rv = appliance(None, "probe", "--port", port)
    assert rv.returncode == 0 and "profile   sim800" in rv.stdout
    rv = appliance(None, "probe", "--port", str(tmp_path / "no-such-tty"), "--timeout", "0.5")
    assert rv.returncode == 1 and "no-such-tty" in rv.stderr


def test_ussd_balance_and_a_menu_through_the_running_daemon(running):
    """`appliance ussd MODEM CODE [ANSWER ...]`: the network's answer; menus answered in turn,
    or on standard input (an empty line cancels); the simulated SIM's balance moves it."""
    cfg = running.cfg
    rv = appliance(cfg, "ussd", "modem1", "*100#")
    assert rv.returncode == 0 and rv.stdout == "Your balance is 10.00 GBP\n", rv.stderr
    rv = appliance(cfg, "ussd", "modem1", "*101#")  # UCS-2, decoded
    assert rv.returncode == 0 and "Баланс: 10,00 руб." in rv.stdout
    rv = appliance(cfg, "ussd", "modem1", "*123#", "2", "0", "1")
    assert rv.returncode == 0, rv.stderr
    assert rv.stdout.splitlines()[-1] == "Your balance is 10.00 GBP"
    assert rv.stdout.count("1 Balance") == 2 and "Data bundles" in rv.stdout
    rv = appliance(cfg, "ussd", "modem1", "*123#", stdin="2\n\n")  # then an empty line
    assert rv.returncode == 0 and rv.stdout.endswith("(session cancelled)\n"), rv.stdout
    rv = appliance(cfg, "ussd", "modem1", "*123#", "--keep-open", "--json")
    assert rv.returncode == 0 and json.loads(rv.stdout)["session_open"] is True
    rv = appliance(cfg, "ussd", "modem1", "1")  # answers the menu left open
    assert rv.stdout == "Your balance is 10.00 GBP\n"
    assert appliance(cfg, "ussd", "modem1", "--cancel").stdout == "(session cancelled)\n"
    assert run_json(cfg, "sim", "fault", "balance", "1.25")["status"]["balance"] == 1.25
    try:
        assert appliance(cfg, "ussd", "modem1", "*100#").stdout == "Your balance is 1.25 GBP\n"
    finally:
        run_json(cfg, "sim", "fault", "balance", "10")
    rv = appliance(cfg, "ussd", "modem1", "*999#")
    assert rv.returncode == 0 and rv.stdout == "(not-supported)\n"
    rv = appliance(cfg, "ussd", "modem1", '*1"#')
    assert rv.returncode == 2 and "cannot be sent" in rv.stderr
    rv = appliance(cfg, "ussd", "modem9", "*100#")
    assert rv.returncode == 2 and "no modem named 'modem9'" in rv.stderr
    rv = appliance(cfg, "ussd", "modem1")
    assert rv.returncode == 2 and "'*100#'" in rv.stderr


# Which test runs each command (the parser's leaves; test_every_command_has_a_test_that_runs_it).
COMMAND_TESTS: dict[tuple[str, ...], Callable[..., Any]] = {
    ("run",): test_run_starts_the_daemon_and_prints_how_to_try_it,
    ("status",): test_status_shows_modems_queues_errors_and_urls,
    ("send",): test_send_account_and_at_through_the_running_daemon,
    ("page",): test_page_through_the_daemon_and_a_monit_exec,
    ("account",): test_send_account_and_at_through_the_running_daemon,
    ("at",): test_at_console_straight_to_the_port_without_a_daemon,
    ("ussd",): test_ussd_balance_and_a_menu_through_the_running_daemon,
    ("sim", "sms"): test_sim_commands_play_the_network,
    ("sim", "outbox"): test_sim_commands_play_the_network,
    ("sim", "fault"): test_sim_commands_play_the_network,
    ("sim", "status"): test_sim_commands_play_the_network,
    ("sim", "call", "in"): test_sim_call_in_digits_hangup_and_status,
    ("sim", "call", "callee"): test_sim_call_callee_scripts_how_a_dialled_number_answers,
    ("sim", "call", "digits"): test_sim_call_in_digits_hangup_and_status,
    ("sim", "call", "hangup"): test_sim_call_in_digits_hangup_and_status,
    ("sim", "call", "status"): test_sim_call_in_digits_hangup_and_status,
    ("apikey", "create"): test_apikey_create_list_revoke,
    ("apikey", "list"): test_apikey_create_list_revoke,
    ("apikey", "revoke"): test_apikey_create_list_revoke,
    ("panel-password",): test_panel_password_from_standard_input,
    ("probe",): test_probe_names_the_modem_on_a_port,
    ("config",): test_config_prints_a_loadable_file,
}
