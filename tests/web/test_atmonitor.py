"""The AT monitor: a modem's live AT traffic for the admin, read-only unless switched, PIN masked.

Through a real daemon on a simulated SIM800 whose SIM wants a PIN, so the connect handshake
sends ``AT+CPIN="<pin>"`` over the real pty: the monitor must show the command and never the
PIN.  The page's stream carries the ``at`` feed; an SMS delivered by the simulated network
shows up in it (the PDU hidden unless the admin asks).  In headless Chromium the lines arrive
without a reload.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from appliance.daemon import Daemon
from appliance.modem.attap import BODY_MASK, AtTap, masked
from appliance.sim.host import SimulatorHost
from tests.conftest import NUMBER, PHONE, settings, wait_for
from tests.web.test_browser import PASSWORD, browser, shot, sign_in  # noqa: F401 - the fixture
from tests.web.test_panel import Panel
from web.auth import set_password

pytestmark = pytest.mark.timeout(180)
PIN = "73519"
BODY = "Meet at the north gate"


@pytest.fixture
def pinned(tmp_path: Path) -> Iterator[tuple[Daemon, SimulatorHost]]:
    """A daemon on a simulated modem whose SIM asks for a PIN (given in the configuration)."""
    host = SimulatorHost(tmp_path / "sim", report_delay=0.05)
    host.add("modem1", "sim800", NUMBER, latency=0.005, boot_delay=0.0, pin=PIN)
    host.start()
    wait_for(lambda: host.modems["modem1"].booted, timeout=15)
    d = Daemon(settings(tmp_path, host, modem={"pin": PIN}))
    d.start()
    try:
        assert d.modems["modem1"].connected.wait(15), d.modems["modem1"].last_error
        set_password(d.store, PASSWORD)
        yield d, host
    finally:
        d.stop()
        host.stop()


@pytest.fixture
def admin(pinned: tuple[Daemon, SimulatorHost]) -> Panel:
    p = Panel(pinned[0])
    assert p.login().status_code == 302
    return p


def feed_events(rv: Any, until: float) -> Iterator[dict[str, Any]]:
    """The ``feed`` events of an open stream, until ``until`` (monotonic)."""
    buffer = ""
    for chunk in rv.response:
        buffer += chunk.decode() if isinstance(chunk, bytes) else chunk
        while "\n\n" in buffer:
            block, buffer = buffer.split("\n\n", 1)
            fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
            if fields.get("event") == "feed":
                yield json.loads(fields["data"])
        if time.monotonic() > until:
            return


def atlog(html: str) -> str:
    m = re.search(r'<table class="atlog".*?</table>', html, re.S)
    assert m, html[:2000]
    return m.group(0)


def test_the_tap_masks_secrets_always_and_contents_unless_asked() -> None:
    tap = AtTap(size=50)
    tap.record("tx", 'AT+CPIN="1234"')
    tap.record("tx", 'AT+CLCK="SC",1,"8642"')
    tap.record("tx", 'AT+CPWD="SC","1111","2222"')
    tap.record("rx", "OK")
    tap.record("tx", "AT+CMGS=23")
    tap.record("rx", "> ")
    tap.record("tx", "0011000B914151555001F00000AA0BC8329BFD06DDDF723619")
    tap.record("urc", '+CMT: "",23')
    tap.record(
        "urc", "07911326040000F0040B911346610089F60000208062917314080CC8F71D14969741F977FD07"
    )
    tap.record("tx", 'AT+CUSD=1,"*123*555566667777#",15')
    tap.record("rx", '+CUSD: 0,"Your balance is 12.50",15')
    tap.record("tx", "AT+CSQ")
    tap.record("rx", "+CSQ: 18,0")
    lines = tap.since(0)
    assert [line.seq for line in lines] == list(range(1, 14))
    texts = [line.text for line in lines]
    assert texts[0] == "AT+CPIN=***" and "1234" not in " ".join(texts)
    assert texts[1] == 'AT+CLCK="SC",1,***' and "8642" not in texts[1]
    assert "1111" not in texts[2] and "2222" not in texts[2]
    shown = [masked(line) for line in lines]
    assert shown[6] == BODY_MASK and shown[8] == BODY_MASK  # the PDUs, out and in
    assert shown[7] == '+CMT: "",23'  # the header is not content
    assert shown[9] == f"AT+CUSD=1,{BODY_MASK},15" and shown[10] == f"+CUSD: 0,{BODY_MASK},15"
    assert shown[11:] == ["AT+CSQ", "+CSQ: 18,0"]  # the rest as it was
    assert texts[6].startswith("0011000B") and texts[10].endswith('12.50",15')  # kept, if asked
    # Bounded: the ring keeps the newest lines; a reader asks for what came after its last.
    for i in range(100):
        tap.record("rx", f"line {i}")
    assert len(tap.since(0)) == 50 and tap.since(0)[-1].text == "line 99"
    assert [line.text for line in tap.since(tap.last - 2)] == ["line 98", "line 99"]
    assert tap.since(tap.last) == []


def test_the_monitor_shows_traffic_with_the_pin_masked(
    admin: Panel, pinned: tuple[Daemon, SimulatorHost]
) -> None:
    d, host = pinned
    tap = d.modems["modem1"].tap
    assert any(line.text == "AT+CPIN=***" for line in tap.since(0)), "the handshake's PIN"
    html = admin.client.get("/atmonitor/modem1").get_data(as_text=True)
    table = atlog(html)
    assert "AT+CPIN=***" in table and PIN not in table and PIN not in html
    assert "read-only" in html and 'id="make-read-write"' in html and 'id="at-send"' not in html
    assert 'href="/atmonitor/"' in html  # in the menu, for the admin
    assert admin.client.get("/atmonitor/").headers["Location"].endswith("/atmonitor/modem1")
    assert admin.client.get("/atmonitor/nosuch").status_code == 404

    # Live: the page's stream carries the lines that follow, an SMS's PDU hidden.
    after = re.search(r'data-live-feed="at:modem1:(\d+)"', html)
    assert after, html
    rv = admin.client.get(
        "/live/events", query_string={"feed": f"at:modem1:{after.group(1)}"}, buffered=False
    )
    assert rv.status_code == 200
    host.network.deliver_sms("modem1", PHONE, BODY)
    seen: list[dict[str, Any]] = []
    for e in feed_events(rv, time.monotonic() + 10):
        assert e["name"] == "at"
        seen.extend(e["data"]["lines"])
        if any(line["text"].startswith("AT+CMGD") for line in seen):
            break
    rv.close()
    texts = [line["text"] for line in seen]
    assert any(t.startswith("+CMTI:") for t in texts), texts
    assert any(t.startswith("AT+CMGR=") for t in texts), texts
    assert BODY_MASK in texts and not any(re.fullmatch(r"[0-9A-F]{40,}", t) for t in texts)
    assert [line["seq"] for line in seen] == sorted(line["seq"] for line in seen)
    assert {line["dir"] for line in seen} >= {"tx", "rx", "urc"}

    # Asked for: the contents are shown (and that is logged).
    with_bodies = atlog(admin.client.get("/atmonitor/modem1?bodies=1").get_data(as_text=True))
    assert re.search(r"<code>[0-9A-F]{40,}</code>", with_bodies), with_bodies[-2000:]
    assert PIN not in with_bodies  # a PIN never


def test_non_admins_and_strangers_are_refused(
    admin: Panel, pinned: tuple[Daemon, SimulatorHost]
) -> None:
    d, _ = pinned
    stranger = d.server.panel.test_client()
    rv = stranger.get("/atmonitor/modem1")
    assert rv.status_code == 302 and "/login" in rv.headers["Location"]
    assert stranger.get("/live/events?feed=at:modem1:0").status_code == 302

    viewer = d.server.panel.test_client()
    with viewer.session_transaction() as s:
        s["user"] = "viewer"  # signed in, but not the admin
        s["csrf"] = "t"
    assert viewer.get("/atmonitor/modem1").status_code == 403
    assert viewer.get("/atmonitor/").status_code == 403
    assert viewer.get("/live/events?feed=at:modem1:0").status_code == 403
    assert (
        viewer.post(
            "/atmonitor/modem1/mode", data={"mode": "read-write", "csrf_token": "t"}
        ).status_code
        == 403
    )
    assert (
        viewer.post("/atmonitor/modem1/send", data={"command": "AT", "csrf_token": "t"}).status_code
        == 403
    )
    page = viewer.get("/").get_data(as_text=True)
    assert "/atmonitor/" not in page  # neither in the menu nor on the modem's card
    assert d.server.panel.extensions["live_streams"].open == 0  # refused before taking a place
    # An unknown feed is a 404, a bad position a 400.
    assert admin.client.get("/live/events?feed=nosuch:x").status_code == 404
    assert admin.client.get("/live/events?feed=at:modem1:x").status_code == 400


def test_commands_need_read_write_which_is_logged(
    admin: Panel, pinned: tuple[Daemon, SimulatorHost], caplog: pytest.LogCaptureFixture
) -> None:
    d, _ = pinned
    tap = d.modems["modem1"].tap
    caplog.set_level(logging.INFO)
    # Read-only: refused, nothing reaches the modem.
    before = tap.last
    rv = admin.post("/atmonitor/modem1/send", {"command": "AT+CSQ"}, same=False)
    assert rv.status_code == 403
    assert not any(line.text == "AT+CSQ" and line.direction == "tx" for line in tap.since(before))
    # Without the CSRF token the switch is refused.
    rv = admin.client.post("/atmonitor/modem1/mode", data={"mode": "read-write"})
    assert rv.status_code == 400
    assert not any("at monitor read-write" in r.getMessage() for r in caplog.records)

    rv = admin.post("/atmonitor/modem1/mode", {"mode": "read-write"}, same=False)
    assert rv.status_code == 302
    switched = [r for r in caplog.records if "at monitor read-write" in r.getMessage()]
    assert (
        switched
        and switched[0].levelno == logging.WARNING
        and "modem=modem1" in switched[0].getMessage()
    )
    html = admin.client.get("/atmonitor/modem1").get_data(as_text=True)
    assert 'id="at-send"' in html and ">read-write<" in html

    rv = admin.post(
        "/atmonitor/modem1/send", {"command": "AT+CSQ"}, same=False, follow_redirects=True
    )
    assert "Sent AT+CSQ: OK." in rv.get_data(as_text=True)
    wait_for(lambda: any(line.text.startswith("+CSQ:") for line in tap.since(before)))

    # One command per request: a newline (or Ctrl-Z, ESC) could smuggle a second one.
    for bad in ("AT\r\nAT+CFUN=0", "AT+CSQ\nAT+CFUN=0", "AT+CMGS=5\x1a", "\x1b", "   "):
        mark = tap.last
        rv = admin.post(
            "/atmonitor/modem1/send", {"command": bad}, same=False, follow_redirects=True
        )
        assert "One AT command per line" in rv.get_data(as_text=True), repr(bad)
        assert not [line for line in tap.since(mark) if line.direction == "tx"], repr(bad)

    # A PIN typed here is masked in the log, in the flash and in the monitor.
    rv = admin.post(
        "/atmonitor/modem1/send", {"command": f'AT+CPIN="{PIN}"'}, same=False, follow_redirects=True
    )
    assert PIN not in rv.get_data(as_text=True)
    assert not any(PIN in r.getMessage() for r in caplog.records)
    assert PIN not in atlog(admin.client.get("/atmonitor/modem1?bodies=1").get_data(as_text=True))

    # Back to read-only (logged), and commands are refused again.
    admin.post("/atmonitor/modem1/mode", {"mode": "read-only"}, same=False)
    assert any("at monitor read-only" in r.getMessage() for r in caplog.records)
    assert admin.post("/atmonitor/modem1/send", {"command": "AT"}, same=False).status_code == 403


def test_the_monitor_in_a_browser(browser: Browser, pinned: tuple[Daemon, SimulatorHost]) -> None:  # noqa: F811
    d, host = pinned
    d.server.panel.config["LIVE_STREAM_SECONDS"] = 1.5  # streams end and reopen meanwhile
    base = f"http://127.0.0.1:{d.server.port}"
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    sign_in(page, base)
    page.click("nav#menu >> text=AT monitor")
    expect(page).to_have_url(base + "/atmonitor/modem1")
    expect(page.locator("#live-state")).to_have_class("live-state on")
    expect(page.locator("#atlog-lines")).to_contain_text("AT+CPIN=***")
    rows = page.locator("#atlog-lines tr").count()
    host.network.deliver_sms("modem1", PHONE, BODY)
    expect(page.locator("#atlog-lines")).to_contain_text("+CMTI:", timeout=5000)
    expect(page.locator("#atlog-lines")).to_contain_text(BODY_MASK, timeout=5000)
    assert page.locator("#atlog-lines tr").count() > rows
    assert PIN not in page.content()
    # A stream that ended and reopened goes on from the last line shown: none twice.
    time.sleep(2.5)
    seqs = [
        int(s)
        for s in page.locator("#atlog-lines tr").evaluate_all(
            "rows => rows.map(r => r.getAttribute('data-seq'))"
        )
    ]
    assert seqs == sorted(set(seqs)), seqs
    shot(page, "30-at-monitor")

    # Read-write in the browser: switch, send, see the answer arrive in the table.
    page.click("#make-read-write")
    expect(page.locator("#at-mode")).to_have_text("read-write")
    page.fill("#f-command", "AT+CSQ")
    page.click("#at-send button[type=submit]")
    # (the switch's own notice may still be shown beside it when the send came quickly)
    expect(page.locator(".flash", has_text="Sent AT+CSQ: OK.")).to_be_visible()
    expect(page.locator("#atlog-lines")).to_contain_text("+CSQ:")
    context.close()
