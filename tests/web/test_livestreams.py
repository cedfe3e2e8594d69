"""Live streams kept few: tabs share one stream, streams over the limit back off; the unread total.

A browser opens at most six HTTP/1.1 connections to a host and each EventSource holds one, so
the panel's tabs share one stream through a SharedWorker; the server runs the streams on
threads of their own and refuses one over the limit with 503, which the page retries later.
In headless Chromium through the real cheroot server, with SMS delivered by the simulated
network.
"""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.conftest import PHONE, client_for, wait_for
from tests.web.test_browser import PASSWORD, browser, sign_in  # noqa: F401 - the fixture
from tests.web.test_panel import Panel
from web import live
from web.auth import set_password

pytestmark = pytest.mark.timeout(180)
LIVE_WITHIN_MS = 2000


def streams(d: Any) -> live.Streams:
    return d.server.panel.extensions["live_streams"]  # type: ignore[no-any-return]


def opened(context: BrowserContext, base: str, path: str) -> Page:
    page = context.new_page()
    page.goto(base + path)
    expect(page.locator("body")).to_have_attribute("data-live-state", "on")
    return page


def test_tabs_share_one_stream_and_the_unread_total_follows(
    browser: Browser,  # noqa: F811
    make_daemon: Any,
    sim: Any,
) -> None:
    d = make_daemon()
    set_password(d.store, PASSWORD)
    base = f"http://127.0.0.1:{d.server.port}"
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    first = context.new_page()
    sign_in(first, base)
    expect(first.locator("body")).to_have_attribute("data-live-state", "on")
    assert first.locator("body").get_attribute("data-live-shared") == "1"
    tabs = [first, opened(context, base, "/messages/"), opened(context, base, "/calls/")]
    assert streams(d).open == 1, "three tabs, one stream"
    for tab in tabs:
        expect(tab.locator("#unread-total")).to_be_hidden()
        assert not tab.title().startswith("(")

    sim.network.deliver_sms("modem1", PHONE, "Are you there?")
    for tab in tabs:
        expect(tab.locator("#unread-total")).to_have_text("1", timeout=LIVE_WITHIN_MS)
        expect(tab).to_have_title(re.compile(r"^\(1\) .* · Twilio in a box$"))
    expect(tabs[1].locator("#live-conversations .unread").first).to_have_text("1")
    sim.network.deliver_sms("modem1", "+14155550111", "Me too")
    expect(first.locator("#unread-total")).to_have_text("2", timeout=LIVE_WITHIN_MS)

    # A tab opened now starts from the page as rendered (2), and stays on the same stream.
    late = opened(context, base, "/webhooks/")
    expect(late.locator("#unread-total")).to_have_text("2")
    assert streams(d).open == 1

    # Reading a thread in one tab brings the total down in the others.
    tabs[2].goto(base + "/messages/with?party=%2B14155550100")
    expect(first.locator("#unread-total")).to_have_text("1", timeout=LIVE_WITHIN_MS)
    expect(first).to_have_title("(1) Modems · Twilio in a box")

    # The tab that opened the stream goes; the others keep it (the worker lives on).
    first.close()
    sim.network.deliver_sms("modem1", "+14155550111", "Still there?")
    expect(late.locator("#unread-total")).to_have_text("2", timeout=LIVE_WITHIN_MS)
    expect(tabs[1].locator("#live-conversations .unread").first).to_have_text(
        "2", timeout=LIVE_WITHIN_MS
    )
    assert streams(d).open == 1
    tabs[2].goto(base + "/messages/with?party=%2B14155550111")  # the last unread ones
    expect(late.locator("#unread-total")).to_be_hidden(timeout=LIVE_WITHIN_MS)
    expect(late).to_have_title("Webhook failures · Twilio in a box")

    # The AT monitor asks for a feed of its own: a stream of its own, beside the shared one.
    monitor = opened(context, base, "/atmonitor/modem1")
    assert monitor.locator("body").get_attribute("data-live-shared") is None
    wait_for(lambda: streams(d).open == 2, timeout=15)
    context.close()
    # Every tab gone: the stream's thread is free again within a few heartbeats.
    wait_for(lambda: streams(d).open == 0, timeout=6 * live.HEARTBEAT_SECONDS + 3)


def test_a_stream_over_the_limit_gets_503_and_the_page_comes_back_later(
    browser: Browser,  # noqa: F811
    make_daemon: Any,
) -> None:
    d = make_daemon(http_threads=2)  # a small box: one stream at a time
    set_password(d.store, PASSWORD)
    assert streams(d).limit == 1
    base = f"http://127.0.0.1:{d.server.port}"
    # Two browsers (contexts do not share a worker): the first holds the only stream.
    one = browser.new_context(viewport={"width": 1280, "height": 900})
    a = one.new_page()
    sign_in(a, base)
    expect(a.locator("body")).to_have_attribute("data-live-state", "on")
    two = browser.new_context(viewport={"width": 1280, "height": 900})
    b = two.new_page()
    b.goto(base + "/")
    b.fill("#password", PASSWORD)
    b.click("button[type=submit]")
    expect(b.locator("h1")).to_have_text("Modems")
    expect(b.locator("body")).to_have_attribute("data-live-state", "busy", timeout=5000)
    refused = streams(d).refused
    assert refused >= 1

    # The streams have threads of their own: pages and the API answer while one is held.
    started = time.monotonic()
    b.goto(base + "/messages/")
    expect(b.locator("h1")).to_be_visible()
    client = client_for(d)
    assert client.api.v2010.accounts(d.account.sid).messages.list(limit=1) == []
    assert time.monotonic() - started < 5  # not queued behind the held stream

    # No hammering: the refused page waits (5 s, then longer) before it tries again.
    time.sleep(2)
    assert streams(d).refused - refused <= 1
    one.close()
    expect(b.locator("body")).to_have_attribute("data-live-state", "on", timeout=40000)
    assert streams(d).open == 1
    two.close()


def test_the_refusal_is_a_503_with_retry_after(make_daemon: Any) -> None:
    d = make_daemon()
    set_password(d.store, PASSWORD)
    p = Panel(d)
    assert p.login().status_code == 302
    p.app.config.update(LIVE_POLL_SECONDS=0.05, LIVE_STREAM_SECONDS=30)
    held = [p.client.get("/live/events", buffered=False) for _ in range(streams(d).limit)]
    rv = p.client.get("/live/events")
    assert rv.status_code == 503
    assert rv.headers["Retry-After"] == str(live.BUSY_RETRY_MS // 1000)
    assert "event: busy" in rv.get_data(as_text=True)
    for h in held:
        h.close()
    assert streams(d).open == 0
    # The server runs the streams on threads of their own, on top of http_threads.
    assert d.server.httpd.requests.min == d.config.http_threads + streams(d).limit


def test_the_unread_total_is_every_conversations_unread_count(make_daemon: Any) -> None:
    from tests.web.test_find import OTHER, add_message
    from web.messages import _unread

    d = make_daemon()
    set_password(d.store, PASSWORD)
    p = Panel(d)
    assert p.login().status_code == 302
    parties = (PHONE, OTHER, "+14155550123")
    for i in range(12):
        add_message(d, parties[i % 3], f"in {i}")
        add_message(d, parties[i % 3], f"out {i}", inbound=False)
    assert live.unread_total(d.store) == 12
    p.client.get("/messages/with", query_string={"party": PHONE})  # read: 4 fewer
    add_message(d, PHONE, "after reading")
    add_message(d, OTHER, "more")
    with p.app.test_request_context():
        per_party = _unread(list(parties))
    assert live.unread_total(d.store) == sum(per_party.values()) == 10
    html = p.client.get("/calls/").get_data(as_text=True)
    assert "<title>(10) Calls · Twilio in a box</title>" in html
    assert 'id="unread-total" title="unread messages">10</span>' in html
    # A read conversation costs one range of the inbound index, not a scan of its messages.
    plan = " ".join(
        str(tuple(r))
        for r in d.store.read(
            "EXPLAIN QUERY PLAN SELECT COUNT(*) FROM messages m WHERE m.direction = 'inbound'"
            " AND m.from_number = ? AND m.seq <= ?",
            (PHONE, 10),
        )
    )
    assert "messages_inbound" in plan, plan
