"""The live panel in headless Chromium: a message appears in an open thread, on a desk and a phone.

Through the real cheroot server (the event stream must not be buffered on the way), with the
simulated network delivering the SMS to the modem.  On a 390 px phone no page scrolls sideways
and the menu folds behind its button.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from tests.conftest import PHONE, wait_for
from tests.web.test_browser import PASSWORD, browser, shot, sign_in  # noqa: F401 - the fixture
from web.auth import set_password

pytestmark = pytest.mark.timeout(180)
LIVE_WITHIN_MS = 2000  # a new message shows in an open thread within this, without a reload


@pytest.mark.parametrize(("width", "height", "name"), [(1280, 900, "desk"), (390, 844, "phone")])
def test_a_new_message_appears_in_the_open_thread(
    browser: Browser,  # noqa: F811
    make_daemon: Any,
    sim: Any,
    width: int,
    height: int,
    name: str,
) -> None:
    d = make_daemon()
    set_password(d.store, PASSWORD)
    base = f"http://127.0.0.1:{d.server.port}"
    context = browser.new_context(
        viewport={"width": width, "height": height}, is_mobile=width < 500
    )
    page = context.new_page()
    sign_in(page, base)
    sim.network.deliver_sms("modem1", PHONE, "first")
    wait_for(lambda: d.store.read_one("SELECT COUNT(*) FROM messages")[0] == 1)
    page.goto(f"{base}/messages/with?party=%2B14155550100")
    expect(page.locator(".bubble.in .body")).to_have_text("first")
    expect(page.locator("#live-state")).to_have_class("live-state on")

    started = time.monotonic()
    sim.network.deliver_sms("modem1", PHONE, "Is the <terrace> open?")
    expect(page.locator(".bubble.in .body").last).to_have_text(
        "Is the <terrace> open?", timeout=LIVE_WITHIN_MS
    )
    elapsed = time.monotonic() - started
    assert elapsed < LIVE_WITHIN_MS / 1000, elapsed
    assert page.locator(".bubble.in").count() == 2  # swapped in, not appended twice
    shot(page, f"20-live-thread-{name}")

    # The conversation list counts unread messages live too.
    page.goto(f"{base}/messages/")
    sim.network.deliver_sms("modem1", "+14155550111", "new person")
    expect(page.locator("#live-conversations .unread").first).to_have_text("1", timeout=3000)
    shot(page, f"21-live-conversations-{name}")

    if width < 500:
        for path in (
            "/",
            "/numbers/",
            "/messages/",
            "/messages/with?party=%2B14155550100",
            "/messages/list?q=terrace",
            "/calls/",
            "/webhooks/?all=1",
            "/subscribers/",
            "/broadcasts/",
            "/backup/",
            "/nowhere",
        ):
            page.goto(base + path)
            scroll, client = page.evaluate(
                "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
            )
            assert scroll <= client, f"{path} scrolls sideways on a phone ({scroll} > {client})"
        page.goto(base + "/calls/")
        expect(page.locator("nav#menu")).to_be_hidden()
        page.click("label.menu-button")
        expect(page.locator("nav#menu")).to_be_visible()
        expect(page.locator("nav#menu a[aria-current=page]")).to_have_text("Calls")
        shot(page, "22-menu-phone")
    context.close()


def test_dark_mode(browser: Browser, make_daemon: Any) -> None:  # noqa: F811
    d = make_daemon()
    set_password(d.store, PASSWORD)
    base = f"http://127.0.0.1:{d.server.port}"
    context = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme="dark")
    page = context.new_page()
    sign_in(page, base)
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(18, 24, 32)", background
    shot(page, "23-dashboard-dark")
    context.close()
