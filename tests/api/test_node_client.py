"""The official Node helper library (twilio-node 5.x, pinned in tests/node/) against a running
appliance: create, list across pages, fetch, and errors as RestException with Twilio's codes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import NUMBER, PHONE, wait_for

NODE_DIR = Path(__file__).resolve().parents[1] / "node"
TWILIO_PACKAGE = NODE_DIR / "node_modules" / "twilio" / "package.json"


def run_client(d, **env: str) -> dict:
    node = shutil.which("node")
    if node is None or not TWILIO_PACKAGE.exists():
        pytest.fail("node or tests/node/node_modules missing: run `make test` (it runs `npm ci`)")
    environ = {k: v for k, v in os.environ.items() if not k.startswith("TWILIO_")}
    environ.update(
        APPLIANCE_URL=f"http://127.0.0.1:{d.server.port}",
        ACCOUNT_SID=d.account.sid,
        AUTH_TOKEN=d.account.auth_token,
        FROM=NUMBER,
        TO=PHONE,
        **env,
    )
    done = subprocess.run(
        [node, str(NODE_DIR / "client.js")],
        env=environ,
        capture_output=True,
        text=True,
        timeout=45,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def test_twilio_node_creates_lists_fetches_and_gets_errors(sim, make_daemon):
    d = make_daemon()
    out = run_client(d)
    pinned = json.loads((NODE_DIR / "package.json").read_text())["dependencies"]["twilio"]
    assert out["version"] == pinned and pinned.startswith("5.")

    created = out["created"]
    assert created["sid"].startswith("SM") and created["status"] == "queued"
    assert (created["to"], created["from"], created["body"]) == (PHONE, NUMBER, "Hello from node")
    assert created["numSegments"] == "1"
    row = d.store.read_one("SELECT * FROM messages WHERE sid = ?", (created["sid"],))
    assert row["body"] == "Hello from node" and row["to_number"] == PHONE

    # Two messages, listed newest first over two pages of one.
    assert out["listed"] == out["expectedOrder"]

    fetched = out["fetched"]
    assert fetched["sid"] == created["sid"] and fetched["body"] == "Hello from node"
    assert fetched["accountSid"] == d.account.sid
    assert fetched["uri"] == f"/2010-04-01/Accounts/{d.account.sid}/Messages/{created['sid']}.json"

    error = out["error"]
    assert error["name"] == "RestException"
    assert (error["code"], error["status"]) == (21211, 400)
    assert "not a number" in error["message"] or "To" in error["message"]
    assert error["moreInfo"].endswith("/21211")
    assert out["missing"] == {"name": "RestException", "code": 20404, "status": 404}

    # And the message really went out through the (simulated) modem.
    assert wait_for(lambda: sim.network.wait_outbox(2))
    assert sorted(m.text for m in sim.network.outbox("modem1")) == ["Hello from node", "Second"]


def test_twilio_node_with_wrong_credentials_gets_20003(sim, make_daemon):
    d = make_daemon()
    node = shutil.which("node")
    assert node is not None
    script = (
        "const c = require('twilio')(process.env.ACCOUNT_SID, 'wrong');"
        "c.api.baseUrl = process.env.APPLIANCE_URL;"
        "c.messages.list().then(() => console.log('null'),"
        " (e) => console.log(JSON.stringify({code: e.code, status: e.status})));"
    )
    done = subprocess.run(
        [node, "-e", script],
        cwd=NODE_DIR,
        env={
            "PATH": os.environ.get("PATH", ""),
            "APPLIANCE_URL": f"http://127.0.0.1:{d.server.port}",
            "ACCOUNT_SID": d.account.sid,
        },
        capture_output=True,
        text=True,
        timeout=45,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"code": 20003, "status": 401}
