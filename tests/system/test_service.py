"""systemd integration: sd_notify on a real AF_UNIX socket, the watchdog, a clean stop on SIGTERM."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from base64 import b64encode
from collections import Counter
from pathlib import Path

import pytest

from appliance.system import service
from appliance.system.service import Service
from tests.conftest import NUMBER, wait_for
from tests.daemonproc import DaemonProcess, free_port
from tests.webapp import WebApp


class NotifySocket:
    """A bound AF_UNIX datagram socket standing in for systemd; records what arrives."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.1)
        self.messages: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            self.messages.append((time.monotonic(), data.decode()))

    def lines(self) -> list[str]:
        return [line for _, m in list(self.messages) for line in m.splitlines()]

    def count(self, line: str) -> int:
        return self.lines().count(line)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


@pytest.fixture
def notify_socket(tmp_path: Path):
    ns = NotifySocket(tmp_path / "notify.sock")
    yield ns
    ns.close()


def test_notify_sends_one_datagram_to_a_path_or_abstract_socket(notify_socket, tmp_path):
    assert service.notify("READY=1\nSTATUS=hi", {"NOTIFY_SOCKET": str(notify_socket.path)})
    wait_for(lambda: notify_socket.messages)
    assert notify_socket.messages[0][1] == "READY=1\nSTATUS=hi"

    abstract = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    name = f"appliance-test-{os.getpid()}"
    abstract.bind("\0" + name)
    abstract.settimeout(2)
    try:
        assert service.notify("WATCHDOG=1", {"NOTIFY_SOCKET": "@" + name})
        assert abstract.recv(100) == b"WATCHDOG=1"
    finally:
        abstract.close()
    # Not under systemd, or systemd gone: no error, just False.
    assert not service.notify("READY=1", {})
    assert not service.notify("READY=1", {"NOTIFY_SOCKET": str(tmp_path / "absent.sock")})


def test_watchdog_interval_is_half_the_timeout_and_only_for_this_pid():
    assert service.watchdog_interval({}) is None
    assert service.watchdog_interval({"WATCHDOG_USEC": "30000000"}) == 15.0
    pid = str(os.getpid())
    assert service.watchdog_interval({"WATCHDOG_USEC": "1000000", "WATCHDOG_PID": pid}) == 0.5
    assert service.watchdog_interval({"WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1"}) is None
    assert service.watchdog_interval({"WATCHDOG_USEC": "soon"}) is None


def test_watchdog_pings_only_while_modem_loop_and_store_writer_answer(
    make_daemon, sim, notify_socket
):
    daemon = make_daemon(watchdog_grace=1.5)
    env = {"NOTIFY_SOCKET": str(notify_socket.path), "WATCHDOG_USEC": "400000"}
    svc = Service(daemon.modems, daemon.store, grace=daemon.config.watchdog_grace, environ=env)
    svc.start()
    try:
        wait_for(lambda: notify_socket.count("READY=1") == 1)
        # "modem1 ready", or with the radio once polled: "modem1 ready (home, <operator>)".
        assert any(x.startswith("STATUS=modem1 ready") for x in notify_socket.lines())
        wait_for(lambda: notify_socket.count("WATCHDOG=1") >= 3)

        def withheld_then_resumed(hang: threading.Event, what: str, start: int) -> None:
            def reported() -> bool:
                lines = notify_socket.lines()[start:]
                return any(x.startswith("STATUS=unhealthy") and what in x for x in lines)

            wait_for(reported, timeout=10)
            before = notify_socket.count("WATCHDOG=1")
            time.sleep(1.0)  # five ping intervals
            assert notify_socket.count("WATCHDOG=1") == before, "pinged while hung"
            hang.set()
            wait_for(lambda: notify_socket.count("WATCHDOG=1") > before + 1, timeout=5)

        # The modem loop hangs (a job that never returns): no pings until it answers again.
        modem = daemon.modems["modem1"]
        gate = threading.Event()
        threading.Thread(
            target=lambda: modem.submit(lambda _d: gate.wait(20), timeout=25), daemon=True
        ).start()
        withheld_then_resumed(gate, "modem modem1", len(notify_socket.lines()))

        # The store writer hangs: same.
        gate2 = threading.Event()
        start = len(notify_socket.lines())
        daemon.store.submit(lambda _conn: gate2.wait(20))
        withheld_then_resumed(gate2, "store", start)
        assert daemon.store.setting(service.HEARTBEAT_KEY) is not None

        # An unplugged modem is not a hang: its loop keeps answering between reconnect attempts.
        sim.fault(sim.modems["modem1"], "unplug")
        wait_for(lambda: not modem.connected.is_set(), timeout=5)
        before = notify_socket.count("WATCHDOG=1")
        time.sleep(1.5)
        assert notify_socket.count("WATCHDOG=1") >= before + 4
        assert any("modem1 " in line and "ready" not in line for line in notify_socket.lines())
        sim.fault(sim.modems["modem1"], "replug")
        assert modem.connected.wait(15)
    finally:
        svc.stopping()
    # STOPPING=1 is the last word: no watchdog ping races past it.
    wait_for(
        lambda: (
            notify_socket.lines()[-2:]
            == ["STOPPING=1", "STATUS=stopping: finishing the work in flight"]
        ),
        timeout=5,
    )
    time.sleep(1.0)  # 2.5 ping intervals: nothing more may come
    assert notify_socket.lines()[-2:] == [
        "STOPPING=1",
        "STATUS=stopping: finishing the work in flight",
    ]


def _credentials(db: Path) -> tuple[str, str]:
    conn = sqlite3.connect(db)
    rows = dict(conn.execute("SELECT key, value FROM settings").fetchall())
    conn.close()
    sid = rows["account_sid"]
    return sid, b64encode(f"{sid}:{rows['auth_token']}".encode()).decode()


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_sigterm_stops_cleanly_and_a_restart_loses_and_repeats_nothing(
    tmp_path, sim, notify_socket, monkeypatch
):
    modem = sim.modems["modem1"]
    modem.set_latency(0.05)
    app = WebApp()
    app.routes["/sms"] = lambda req: (
        200,
        "text/xml",
        f"<Response><Message>ack:{req.flat.get('Body', '')}</Message></Response>".encode(),
    )
    port = free_port()
    data = tmp_path / "data"
    cfg = tmp_path / "appliance.toml"
    cfg.write_text(
        f'data_dir = "{data}"\nhttp_port = {port}\nhttps_port = 0\noutbound_rate = 0.0\nsweep_interval = 2.0\n'
        f"webhook_backoff = 0.2\nreconnect_delay = 0.2\ncommand_timeout = 3.0\n"
        f"watchdog_grace = 5.0\n"
        f'[[modems]]\nname = "modem1"\nnumber = "{NUMBER}"\nport = "{modem.port_path}"\n'
        f'profile = "sim800"\nsms_url = "{app.url("/sms")}"\n'
    )
    monkeypatch.setenv("NOTIFY_SOCKET", str(notify_socket.path))
    monkeypatch.setenv("WATCHDOG_USEC", "1000000")
    daemon = DaemonProcess(cfg, port, tmp_path / "daemon.log")
    inbound: list[str] = []
    accepted: dict[str, str] = {}
    long_body = "half-received " + "x" * 170  # two parts; only the first arrives before SIGTERM
    try:
        daemon.start()
        wait_for(lambda: notify_socket.count("READY=1") == 1, timeout=30)
        daemon.wait_ready()
        wait_for(lambda: notify_socket.count("WATCHDOG=1") >= 2, timeout=10)
        account, auth = _credentials(data / "appliance.sqlite3")
        stop = threading.Event()

        def post_messages() -> None:
            n = 0
            while not stop.is_set():
                n += 1
                body = f"out {n}"
                req = urllib.request.Request(
                    f"http://127.0.0.1:{port}/2010-04-01/Accounts/{account}/Messages.json",
                    data=urllib.parse.urlencode(
                        {"To": "+14155550100", "From": NUMBER, "Body": body}
                    ).encode(),
                    headers={"Authorization": "Basic " + auth},
                )
                try:
                    with urllib.request.urlopen(req, timeout=10) as rv:
                        accepted[json.loads(rv.read())["sid"]] = body
                except (urllib.error.URLError, ConnectionError, OSError):
                    return  # the server stopped listening: only 201s count
                time.sleep(0.02)

        poster = threading.Thread(target=post_messages)
        poster.start()
        _ref, parts = sim.network.encode("+14155550777", long_body)
        assert len(parts) == 2
        for i in range(15):
            body = f"in {i}"
            inbound.append(body)
            sim.network.deliver_sms(modem, f"+1415555{i:04d}", body)
            if i == 10:
                sim.network.deliver_pdu(modem, parts[0])
            time.sleep(0.05)
        # Stop while messages are moving both ways.
        assert daemon.terminate() == 0, (tmp_path / "daemon.log").read_text()[-3000:]
        stop.set()
        poster.join(15)
        lines = notify_socket.lines()
        assert "STOPPING=1" in lines and lines.index("STOPPING=1") > lines.index("READY=1")
        log = (tmp_path / "daemon.log").read_text()
        assert "appliance stopped" in log and "pings withheld" not in log

        # While it is down, the second half of the long message and one more text arrive.
        sim.network.deliver_pdu(modem, parts[1])
        inbound.append("while down")
        sim.network.deliver_sms(modem, "+14155550999", "while down")
        daemon.start()
        daemon.wait_ready()

        def settled() -> bool:
            conn = sqlite3.connect(data / "appliance.sqlite3")
            try:
                got = conn.execute(
                    "SELECT COUNT(*) FROM messages WHERE direction = 'inbound'"
                ).fetchone()[0]
                busy = conn.execute(
                    "SELECT COUNT(*) FROM messages WHERE status IN ('queued', 'sending')"
                ).fetchone()[0]
                jobs = conn.execute(
                    "SELECT COUNT(*) FROM webhook_jobs WHERE state IN ('pending', 'running')"
                ).fetchone()[0]
            finally:
                conn.close()
            return got >= len(inbound) + 1 and busy == 0 and jobs == 0

        wait_for(settled, timeout=60, interval=0.2)
        assert daemon.terminate() == 0
    finally:
        if daemon.proc and daemon.proc.poll() is None:
            daemon.proc.kill()
        app.close()

    conn = sqlite3.connect(data / "appliance.sqlite3")
    conn.row_factory = sqlite3.Row
    stored = Counter(
        r["body"] for r in conn.execute("SELECT body FROM messages WHERE direction = 'inbound'")
    )
    assert stored == Counter([*inbound, long_body]), "lost, doubled or invented inbound messages"
    posted = Counter(req.flat["Body"] for req in app.to("/sms"))
    assert set(posted) == {*inbound, long_body}
    sent = Counter(m.text for m in sim.network.outbox("modem1"))
    assert all(n == 1 for n in sent.values()), [t for t, n in sent.items() if n > 1]
    for body in [*inbound, long_body]:
        assert sent[f"ack:{body}"] == 1, body
    # A clean stop finishes the part in flight: unlike SIGKILL, nothing is cut mid-send.
    rows = {
        r["sid"]: r for r in conn.execute("SELECT * FROM messages WHERE direction = 'outbound-api'")
    }
    assert accepted and set(accepted) <= set(rows)
    for sid, body in accepted.items():
        assert rows[sid]["status"] in ("sent", "delivered"), dict(rows[sid])
        assert sent[body] == 1, body
    conn.close()
    print(f"inbound={len(inbound)} accepted={len(accepted)}")
