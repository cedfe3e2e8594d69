"""Three appliances on one PostgreSQL (issue 16, slices 3 and 4): all in ``nodes`` with
heartbeats, the fleet in ``/health`` and on the panel's fleet page (in Chromium, with
axe-core), a fourth node configured with a modem name a live node holds refused at start-up
with one line; a message posted to node A for node C's number goes out on C's simulated modem
at once (C hears A's NOTIFY), webhooks are counted once at the receiver, and a scheduled
broadcast is fired by one node (slice 5): each subscriber gets one text from C's modem.

Nodes A and C are ``appliance run`` in processes of their own (each with its own simulated
modem); node B runs in this process on the ``sim`` fixture's modem, so the test can open its
panel.  The server has fsync on, as the daemon requires.
"""

from __future__ import annotations

import collections
import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, expect
from twilio.rest import Client

from appliance.campaigns.spec import Spec
from appliance.campaigns.subscribers import Subscriber
from appliance.daemon import Daemon
from appliance.store import fleet, fleetview
from tests.conftest import PHONE, wait_for
from tests.daemonproc import ROOT, DaemonProcess, free_port
from tests.pg import PgServer
from tests.web.test_accessibility import (
    SHOT_QUALITY,
    SHOTS,
    SIZES,
    axe,
    check_desktop,
    check_phone,
    signed_in,
)
from tests.web.test_browser import PASSWORD, browser  # noqa: F401 - the fixture
from tests.web.test_panel import Panel
from tests.webapp import WebApp, twiml
from web.auth import set_password

pytestmark = pytest.mark.timeout(240)
IDEMPOTENCY = "I-Twilio-Idempotency-Token"
NUMBER_A = "+15005550011"
NUMBER_C = "+15005550013"
NUMBER_D = "+15005550014"


def node_config(
    directory: Path, port: int, url: str, name: str, modem: str, number: str, **extra: str
) -> Path:
    """An appliance.toml for a node of the fleet: ``database_url`` and one simulated modem
    (``sweep_interval`` stays 60 s: only a wake-up sends another node's message at once)."""
    directory.mkdir(parents=True, exist_ok=True)
    cfg = directory / "appliance.toml"
    cfg.write_text(
        "\n".join(
            [
                f'data_dir = "{directory / "data"}"',
                f'database_url = "{url}"',
                f'node_name = "{name}"',
                f"http_port = {port}",
                "https_port = 0",
                "sim_latency = 0.01",
                "sim_report_delay = 0.2",
                "[[modems]]",
                f'name = "{modem}"',
                f'number = "{number}"',
                'port = "sim"',
                *(f'{key} = "{value}"' for key, value in extra.items()),
            ]
        )
        + "\n"
    )
    return cfg


def appliance(cfg: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "appliance", "--config", str(cfg), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def sim_outbox(cfg: Path) -> list[str]:
    """The texts node's simulated network received from it."""
    rv = appliance(cfg, "sim", "outbox")
    assert rv.returncode == 0, rv.stderr
    return [m["text"] for m in json.loads(rv.stdout)["messages"]]


def get_json(url: str) -> Any:
    try:
        with urllib.request.urlopen(url, timeout=5) as rv:
            return json.loads(rv.read())
    except urllib.error.HTTPError as e:  # 503 while a modem is degraded: the same body
        return json.loads(e.read())


def test_three_nodes_share_one_database(
    tmp_path: Path,
    pg_durable: PgServer,
    make_daemon: Callable[..., Daemon],
    webapp: WebApp,
    browser: Browser,  # noqa: F811
) -> None:
    url = pg_durable.new_database()
    procs: dict[str, DaemonProcess] = {}
    b: Daemon | None = None
    webapp.routes["/sms"] = twiml("<Response><Message>Got it</Message></Response>")
    webapp.routes["/status"] = lambda req: (200, "text/plain", b"ok")
    try:
        ports = {name: free_port() for name in ("a", "c")}
        cfgs = {
            "a": node_config(tmp_path / "a", ports["a"], url, "shop-a", "a1", NUMBER_A),
            "c": node_config(
                tmp_path / "c", ports["c"], url, "shop-c", "c1", NUMBER_C,
                sms_url=webapp.url("/sms"),
            ),
        }  # fmt: skip
        for name in ("a", "c"):
            procs[name] = DaemonProcess(cfgs[name], ports[name], log=tmp_path / f"{name}.log")
            procs[name].start()
        for proc in procs.values():
            proc.wait_ready(60)
        b = make_daemon(database_url=url, node_name="shop-b", modem={"name": "b1"})
        assert b.store.dialect.name == "postgresql"

        # All three are in `nodes`, up, each holding its modem; each heartbeat moves on (10 s).
        seen = fleetview.view(b.store, b.fleet.id)
        assert [n.name for n in seen.nodes] == ["shop-a", "shop-b", "shop-c"] and seen.up == 3
        node_a = seen.nodes[0]
        assert node_a.url == f"http://127.0.0.1:{ports['a']}" and not node_a.this
        assert [[m.modem for m in n.modems] for n in seen.nodes] == [["a1"], ["b1"], ["c1"]]
        first = {n.id: n.heartbeat for n in seen.nodes}
        wait_for(
            lambda: all(
                n.heartbeat > first[n.id] + 5 and n.state == "up"
                for n in fleetview.view(b.store).nodes
            ),
            timeout=fleet.HEARTBEAT + 8,
            interval=0.5,
        )

        # /health of any node names it and counts the fleet.
        health = get_json(f"http://127.0.0.1:{ports['a']}/health")
        assert health["node"]["name"] == "shop-a" and health["fleet"]["up"] == 3
        assert {n["name"]: n["modems"] for n in health["fleet"]["nodes"]} == {
            "shop-a": ["a1"],
            "shop-b": ["b1"],
            "shop-c": ["c1"],
        }

        # A fourth node configured with a1, which shop-a holds, is refused: one line, exit 1,
        # and nothing of it written (its node row, its number; shop-a's number untouched).
        cfg_d = node_config(tmp_path / "d", free_port(), url, "shop-d", "a1", NUMBER_D)
        started = time.monotonic()
        refused = appliance(cfg_d, "run")
        assert refused.returncode == 1, refused.stderr
        last = refused.stderr.strip().splitlines()[-1]
        assert last.startswith("appliance: modem a1 is held by another node, node shop-a"), (
            refused.stderr
        )
        assert f"http://127.0.0.1:{ports['a']}" in last and "Traceback" not in refused.stderr
        assert time.monotonic() - started < 30
        assert b.store.read_one("SELECT * FROM nodes WHERE name = 'shop-d'") is None
        assert b.store.read_one("SELECT * FROM numbers WHERE phone_number = ?", (NUMBER_D,)) is None
        number_a = b.store.read_one("SELECT phone_number FROM numbers WHERE modem = 'a1'")
        assert number_a is not None and number_a[0] == NUMBER_A

        # Posted to A, from C's number: C's simulated modem sends them, at once (A's NOTIFY;
        # C would otherwise look at its queue only after sweep_interval, 60 s).
        client = Client(b.account.sid, b.account.auth_token)
        client.api.base_url = f"http://127.0.0.1:{ports['a']}"
        posted = time.monotonic()
        sids = [
            client.messages.create(
                to=PHONE, from_=NUMBER_C, body=f"via a {i}", status_callback=webapp.url("/status")
            ).sid
            for i in range(5)
        ]
        wait_for(
            lambda: sum(t.startswith("via a") for t in sim_outbox(cfgs["c"])) == 5,
            timeout=20,
            interval=0.3,
        )
        assert time.monotonic() - posted < 15
        assert not [t for t in sim_outbox(cfgs["a"]) if t.startswith("via a")]
        # An SMS into C's modem: its webhook once, its reply out of C's modem.
        rv = appliance(cfgs["c"], "sim", "sms", "--from", PHONE, "--body", "Hello fleet")
        assert rv.returncode == 0, rv.stderr
        wait_for(lambda: "Got it" in sim_outbox(cfgs["c"]), timeout=20, interval=0.3)
        wait_for(
            lambda: all(client.messages(sid).fetch().status == "delivered" for sid in sids),
            timeout=20,
            interval=0.3,
        )
        wait_for(
            lambda: sum(r.flat["SmsStatus"] == "delivered" for r in webapp.to("/status")) >= 5,
            timeout=20,
        )
        time.sleep(1.0)  # a second delivery of any of them would have come by now
        for path in ("/status", "/sms"):
            tokens = collections.Counter(r.headers.get(IDEMPOTENCY) for r in webapp.to(path))
            assert set(tokens.values()) == {1}, (path, tokens.most_common(3))
        assert len(webapp.to("/sms")) == 1
        pairs = collections.Counter(
            (r.flat["SmsSid"], r.flat["SmsStatus"]) for r in webapp.to("/status")
        )
        assert set(pairs.values()) == {1} and {sid for sid, _ in pairs} == set(sids)
        assert all((sid, "delivered") in pairs and (sid, "sent") in pairs for sid in sids)
        assert sim_outbox(cfgs["c"]).count("Got it") == 1

        # A scheduled broadcast from C's number, due in a second: every node's poll sees it
        # due, one fires it (slice 5), and C's simulated modem sends each subscriber one text.
        subs = b.panel.subscribers
        list_id = subs.create_list("Fleet news", "c1", "", "")
        names = ("Ann", "Ben", "Cat")
        for i, name in enumerate(names):
            subs.add(list_id, Subscriber(f"+44770090030{i}", name))
        spec = Spec("News", list_id, "c1", "text", "News for {first_name}", "0 0 1 1 *", "UTC")
        bid = b.panel.broadcasts.create(spec)
        b.store.write(
            lambda c: c.execute(
                "UPDATE broadcasts SET next_run = ? WHERE id = ?", (time.time() + 1.0, bid)
            )
        )
        news = lambda: [t for t in sim_outbox(cfgs["c"]) if t.startswith("News for")]  # noqa: E731
        wait_for(lambda: len(news()) >= 3, timeout=20, interval=0.3)
        time.sleep(2.5)  # every node has looked twice more since
        assert sorted(news()) == [f"News for {name}" for name in names]
        fired = b.store.read("SELECT reason, state, node_id FROM broadcast_runs")
        assert [(r["reason"], r["state"]) for r in fired] == [("schedule", "done")]
        assert b.panel.scheduler.next_run(bid).year > time.gmtime().tm_year  # type: ignore[union-attr]

        # The panel's fleet page lists the nodes and their modems, and is in the menu.
        set_password(b.store, PASSWORD)
        panel = Panel(b)
        assert panel.login().status_code == 302
        html = panel.client.get("/fleet/").get_data(as_text=True)
        assert "3 of 3 nodes up" in html
        for text in ("shop-a", "shop-b", "shop-c", "(this node)", "a1", "b1", "c1"):
            assert text in html, text
        assert 'href="/fleet/"' in panel.client.get("/").get_data(as_text=True)

        # In Chromium: no serious axe-core violation, it fits a phone, the menu marks it.
        assert b.server is not None
        base = f"http://127.0.0.1:{b.server.port}"
        SHOTS.mkdir(parents=True, exist_ok=True)
        problems: list[str] = []
        for size, (w, h) in SIZES.items():
            context = browser.new_context(
                viewport={"width": w, "height": h}, is_mobile=w < 500, bypass_csp=True
            )
            page = signed_in(context, base)
            page.goto(base + "/fleet/")
            expect(page.locator("h1")).to_have_text("Fleet")
            expect(page.locator("#nodes tr")).to_have_count(4)
            found = axe(page)
            found += check_phone(page, "fleet") if size == "phone" else check_desktop(page, "fleet")
            problems += [f"{size}: {p}" for p in found]
            page.screenshot(
                path=str(SHOTS / f"fleet-{size}.jpg"), type="jpeg", quality=SHOT_QUALITY
            )
            context.close()
        assert not problems, "\n".join(problems)

        # A clean stop: shop-a says stopped and a1 is free at once.
        assert procs.pop("a").terminate() == 0
        seen = fleetview.view(b.store, b.fleet.id)
        assert [(n.name, n.state) for n in seen.nodes] == [
            ("shop-a", "stopped"),
            ("shop-b", "up"),
            ("shop-c", "up"),
        ]
        assert b.store.read_one("SELECT * FROM modem_owners WHERE modem = 'a1'") is None
    finally:
        for proc in procs.values():
            proc.kill()
        if b is not None:
            b.stop()  # before the database goes
        pg_durable.drop(url)
