"""SIGKILL the daemon at random moments while messages flow both ways.

The simulated modem and the web app live in this test process, so they
outlive every kill, like the hardware and the phone network do.  In the end:
every inbound SMS was stored exactly once and answered exactly once, and no
outbound message reached the network twice.
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from base64 import b64encode
from collections import Counter

import pytest

from tests.conftest import NUMBER, wait_for
from tests.daemonproc import DaemonProcess, free_port
from tests.webapp import Request, WebApp


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_sigkill_loses_nothing_and_sends_nothing_twice(tmp_path, sim):
    rng = random.Random(os.environ.get("CRASH_SEED", "7"))
    modem = sim.modems["modem1"]
    modem.set_latency(0.03)
    app = WebApp()

    def reply(req: Request):
        body = req.flat.get("Body", "")
        return (200, "text/xml", f"<Response><Message>ack:{body}</Message></Response>".encode())

    app.routes["/sms"] = reply
    port = free_port()
    data = tmp_path / "data"
    cfg = tmp_path / "appliance.toml"
    cfg.write_text(
        f'data_dir = "{data}"\nhttp_port = {port}\nhttps_port = 0\noutbound_rate = 0.0\nsweep_interval = 1.0\n'
        f'webhook_backoff = 0.2\nreconnect_delay = 0.2\ncommand_timeout = 3.0\nlog_level = "INFO"\n'
        f'[[modems]]\nname = "modem1"\nnumber = "{NUMBER}"\nport = "{modem.port_path}"\n'
        f'profile = "sim800"\nsms_url = "{app.url("/sms")}"\n'
    )
    daemon = DaemonProcess(cfg, port, tmp_path / "daemon.log")
    inbound: list[str] = []
    accepted: dict[str, str] = {}  # sid -> body, for every 201 we got
    kills = 0
    n_out = 0

    def credentials() -> str:
        conn = sqlite3.connect(data / "appliance.sqlite3")
        rows = dict(conn.execute("SELECT key, value FROM settings").fetchall())
        conn.close()
        return b64encode(f"{rows['account_sid']}:{rows['auth_token']}".encode()).decode(), rows[
            "account_sid"
        ]

    try:
        for _round in range(6):
            daemon.start()
            wait_for(daemon.ready, timeout=30, interval=0.1)
            auth, account = credentials()
            stop = threading.Event()

            def post_messages(stop: threading.Event, account: str, auth: str) -> None:
                nonlocal n_out
                while not stop.is_set():
                    n_out += 1
                    body = f"out {n_out}"
                    req = urllib.request.Request(
                        f"http://127.0.0.1:{port}/2010-04-01/Accounts/{account}/Messages.json",
                        data=urllib.parse.urlencode(
                            {"To": "+14155550100", "From": NUMBER, "Body": body}
                        ).encode(),
                        headers={"Authorization": "Basic " + auth},
                    )
                    try:
                        with urllib.request.urlopen(req, timeout=5) as rv:
                            accepted[json.loads(rv.read())["sid"]] = body
                    except (urllib.error.URLError, ConnectionError, OSError):
                        return  # the daemon died under us: only 201s count
                    time.sleep(rng.uniform(0.0, 0.05))

            poster = threading.Thread(target=post_messages, args=(stop, account, auth))
            poster.start()
            deadline = time.monotonic() + rng.uniform(0.3, 1.5)
            while time.monotonic() < deadline:
                body = f"in {len(inbound)}"
                inbound.append(body)
                sim.network.deliver_sms(modem, f"+1415555{len(inbound) % 7:04d}", body)
                time.sleep(rng.uniform(0.0, 0.1))
            daemon.kill()
            kills += 1
            stop.set()
            poster.join(10)
            # Traffic keeps arriving while the daemon is dead.
            body = f"in {len(inbound)}"
            inbound.append(body)
            sim.network.deliver_sms(modem, "+14155550999", body)

        daemon.start()
        wait_for(daemon.ready, timeout=30, interval=0.1)

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
                    "SELECT COUNT(*) FROM webhook_jobs WHERE state IN ('pending', 'running') AND kind = 'sms'"
                ).fetchone()[0]
            finally:
                conn.close()
            return (
                got >= len(inbound) and busy == 0 and jobs == 0 and modem.receive_memory().used == 0
            )

        wait_for(settled, timeout=90, interval=0.2)
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
    # Inbound: every SMS stored exactly once.
    assert sorted(stored) == sorted(inbound), "lost or invented inbound messages"
    assert all(n == 1 for n in stored.values()), [b for b, n in stored.items() if n > 1]
    # Each was posted to the app under one MessageSid (re-posts after a crash keep the SID).
    sids_per_body: dict[str, set[str]] = {}
    for req in app.to("/sms"):
        sids_per_body.setdefault(req.flat["Body"], set()).add(req.flat["MessageSid"])
    assert set(sids_per_body) == set(inbound)
    assert all(len(s) == 1 for s in sids_per_body.values())
    # Outbound: nothing reached the network twice.
    sent = Counter(m.text for m in sim.network.outbox("modem1"))
    assert all(n == 1 for n in sent.values()), [t for t, n in sent.items() if n > 1]
    # Every reply was queued once, and went out once unless a kill cut its send (below).
    replies = {
        r["body"]: r
        for r in conn.execute("SELECT * FROM messages WHERE direction = 'outbound-reply'")
    }
    assert sorted(replies) == sorted(f"ack:{body}" for body in inbound)
    cut_replies = [b for b, r in replies.items() if r["status"] == "failed"]
    for body, row in replies.items():
        if body not in cut_replies:
            assert sent[body] == 1, (body, row["status"])
    # Every accepted message was sent, or failed visibly because a kill cut its send: one
    # send at most per kill, replies and API messages together.
    rows = {
        r["sid"]: r for r in conn.execute("SELECT * FROM messages WHERE direction = 'outbound-api'")
    }
    assert set(accepted) <= set(rows), "an accepted message was lost"
    interrupted = [sid for sid in accepted if rows[sid]["status"] == "failed"]
    for row in [*(rows[sid] for sid in interrupted), *(replies[b] for b in cut_replies)]:
        assert row["error_code"] == 30008 and "interrupted" in row["error_message"]
    assert len(interrupted) + len(cut_replies) <= kills
    for sid, body in accepted.items():
        if sid not in interrupted:
            assert sent[body] == 1, (sid, body, rows[sid]["status"])
    print(
        f"kills={kills} inbound={len(inbound)} accepted={len(accepted)}"
        f" interrupted={len(interrupted)} cut replies={len(cut_replies)}"
    )
    assert len(accepted) > 0 and len(inbound) > 10
