"""Radio history over 30 days: 5-minute buckets from the health poll, charted, pruned at 30 days.

Samples are counted into ``radio_history`` by the same function the modem's health poll uses
(:func:`appliance.modem.health.add_to_history`), at chosen times, in the real store of a real
daemon on the simulated modem; the daemon's own polls fill it too.  The radio page's live
figure is an ``AT+CSQ`` on the modem's thread every few seconds: in headless Chromium it
follows the simulated signal as it changes, without a reload.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from appliance.modem import health
from appliance.modem.health import Reading
from appliance.store import retention
from tests.conftest import wait_for
from tests.web.test_browser import PASSWORD, browser, shot, sign_in  # noqa: F401 - the fixture
from tests.web.test_panel import Panel
from web import dashboard
from web.auth import set_password

pytestmark = pytest.mark.timeout(180)
DAY = 86400.0


def add(d: Any, at: float, signal: int | None, registration: str | None = "home") -> None:
    d.store.write(
        lambda conn: health.add_to_history(
            conn, "modem1", at, Reading(signal, registration, "Simulated Network", "READY")
        )
    )


def buckets(d: Any) -> list[dict[str, Any]]:
    return [dict(r) for r in d.store.read("SELECT * FROM radio_history ORDER BY bucket")]


@pytest.fixture
def panel(make_daemon: Any) -> Panel:
    d = make_daemon(health_interval=3600.0)  # the test adds the samples itself
    set_password(d.store, PASSWORD)
    p = Panel(d)
    assert p.login().status_code == 302
    d.store.write(lambda conn: conn.execute("DELETE FROM radio_history"))  # the first poll's
    return p


def test_polls_are_counted_into_five_minute_buckets(panel: Panel) -> None:
    d = panel.d
    t0 = 1_800_000_000.0  # a bucket's start (divisible by 300)
    add(d, t0 + 10, 20)
    add(d, t0 + 40, 10)
    add(d, t0 + 70, 99, "searching")  # 99: not known; the poll still counts
    add(d, t0 + 299, 15, "roaming")
    add(d, t0 + 300, 30)  # the next bucket
    rows = buckets(d)
    assert len(rows) == 2
    first, second = rows
    assert first["bucket"] == t0 and second["bucket"] == t0 + 300
    assert (first["samples"], first["signal_n"], first["signal_sum"]) == (4, 3, 45)
    assert (first["signal_min"], first["signal_max"]) == (10, 20)
    assert first["registered"] == 3 and first["registration"] == "roaming"  # home+home+roaming
    assert (second["samples"], second["signal_min"], second["signal_max"]) == (1, 30, 30)


def test_the_daemons_health_poll_fills_the_history(make_daemon: Any, sim: Any) -> None:
    sim.modems["modem1"].set_signal(23)
    d = make_daemon(health_interval=0.3)
    rows = wait_for(lambda: [r for r in buckets(d) if r["samples"] >= 2], timeout=10)
    assert rows[-1]["signal_max"] == 23 and rows[-1]["registered"] == rows[-1]["samples"]
    assert rows[-1]["operator"]


def test_thirty_days_are_charted_and_older_buckets_pruned(panel: Panel) -> None:
    d = panel.d
    now = time.time()
    # One sample an hour for 40 days: a weak signal before the 30 days, a good one within,
    # and a day with the modem off (no samples) 10 days ago.
    for hour in range(40 * 24):
        at = now - hour * 3600.0
        if 10 * DAY <= now - at < 11 * DAY:
            continue
        add(d, at, 5 if now - at > 30 * DAY else 25)
    with panel.app.test_request_context():
        month = dashboard.radio_hours("modem1", now)
    assert month and all(h["mean"] == 25 for h in month)  # nothing older than 30 days
    assert 29 * 24 - 2 <= len(month) <= 29 * 24 + 2  # 30 days less the day it was off
    assert all(h["registered"] == 100.0 for h in month)

    html = panel.client.get("/").get_data(as_text=True)
    chart = re.search(r'<div class="chart-box" id="radio-modem1">(.*?)</div>', html, re.S)
    assert chart and "Signal of modem1 over 30 days" in chart.group(1)
    # The day off is a hole: the line is drawn in two runs, not across it.
    assert chart.group(1).count("<polyline") == 2, chart.group(1)[:500]

    page = panel.client.get("/modems/modem1/radio")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Signal of modem1 over 24 h" in text and "Registered on the network over 30 days" in text
    assert 'data-live-feed="signal:modem1"' in text
    assert panel.client.get("/modems/nosuch/radio").status_code == 404

    # Retention: buckets older than 30 days go, the rest stays.
    before = len(buckets(d))
    counts = retention.purge(d.store, retention.Policy(), d.config.data_dir, now=now)
    left = buckets(d)
    assert counts["radio_history"] == before - len(left) > 9 * 24
    assert min(r["bucket"] for r in left) >= now - 30 * DAY - 300
    assert all(r["signal_min"] == 25 for r in left)
    assert (
        retention.purge(d.store, retention.Policy(), d.config.data_dir, now=now)["radio_history"]
        == 0
    )
    # 0 days would keep it forever, like the other retention settings.
    assert "radio_history" not in retention.purge(
        d.store, retention.Policy(radio_history_days=0), d.config.data_dir, now=now + 90 * DAY
    )


def test_an_empty_history_reads_right(panel: Panel) -> None:
    text = panel.client.get("/modems/modem1/radio").get_data(as_text=True)
    assert 'id="radio-empty"' in text and "no data yet" in text  # the 24 h chart says so


def test_the_signal_feed_reads_the_modem(panel: Panel, sim: Any) -> None:
    sim.modems["modem1"].set_signal(17)
    rv = panel.client.get("/live/events?feed=signal:modem1", buffered=False)
    buffer = ""
    deadline = time.monotonic() + 10
    data = None
    for chunk in rv.response:
        buffer += chunk.decode() if isinstance(chunk, bytes) else chunk
        m = re.search(r"event: feed\ndata: (.*)\n\n", buffer)
        if m:
            data = json.loads(m.group(1))
            break
        assert time.monotonic() < deadline
    rv.close()
    assert data is not None and data["name"] == "signal"
    assert data["data"]["csq"] == 17 and data["data"]["label"] == "17/31 (-79 dBm)"
    assert panel.client.get("/live/events?feed=signal:nosuch").status_code == 404


def test_the_radio_page_follows_the_signal_in_a_browser(
    browser: Browser,  # noqa: F811
    make_daemon: Any,
    sim: Any,
) -> None:
    sim.modems["modem1"].set_signal(9)
    d = make_daemon()
    set_password(d.store, PASSWORD)
    base = f"http://127.0.0.1:{d.server.port}"
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    sign_in(page, base)
    page.goto(base + "/modems/modem1/radio")
    expect(page.locator("#signal-figure")).to_have_text("9/31 (-95 dBm)", timeout=8000)
    sim.modems["modem1"].set_signal(26)
    expect(page.locator("#signal-figure")).to_have_text(
        "26/31 (-61 dBm)", timeout=dashboard.SIGNAL_SECONDS * 1000 + 3000
    )
    scroll, client = page.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert scroll <= client, f"the radio page scrolls sideways on a phone ({scroll} > {client})"
    shot(page, "31-radio-phone")
    context.close()
