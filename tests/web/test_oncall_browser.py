"""The On call page in a real headless Chromium: a person, a schedule and an override added
with the forms (CSRF token and all), the calendar showing them; it fits a phone's width."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from tests.web.test_browser import PASSWORD, browser, shot, sign_in  # noqa: F401 - a fixture
from web.auth import set_password

pytestmark = pytest.mark.timeout(180)


def test_oncall_page_in_a_browser(browser: Browser, make_daemon: Any) -> None:  # noqa: F811
    d = make_daemon()
    set_password(d.store, PASSWORD)
    base = f"http://127.0.0.1:{d.server.port}"
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    sign_in(page, base)
    page.click("nav >> text=On call")
    expect(page.locator("h1")).to_have_text("On call")
    for name, phone in (("Alice", "+14155550111"), ("Bob", "+14155550122")):
        page.fill("#f-pname", name)
        page.fill("#f-phone", phone)
        page.click("text=Add person")
        expect(page.locator(".flash")).to_contain_text("Person added.")
    page.fill("#f-s-name", "ops")
    page.fill("#f-s-timezone", "UTC")
    page.fill("#f-s-rotation", "weekly")
    page.fill("#f-s-handover_time", "00:00")
    page.fill("#f-s-start", datetime.now(UTC).date().isoformat())
    page.fill("#f-s-people", "1 2")
    page.click("text=Add schedule")
    expect(page.locator("#oncall-now")).to_contain_text("Alice")
    expect(page.locator("#oncall-next")).to_contain_text("Bob")
    # Bob takes over now for two hours: the override form's datetime-local inputs.
    now = datetime.now(UTC)
    page.select_option("#f-person", label="Bob")
    page.fill("#f-starts", (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"))
    page.fill("#f-ends", (now + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"))
    page.click("text=Add override")
    expect(page.locator("#oncall-now")).to_contain_text("Bob")
    expect(page.locator("#oncall-calendar")).to_contain_text("Alice")
    expect(page.locator("#overrides")).to_contain_text("Bob")
    # The escalation policy's form: the ring time of each support-line step, saved.
    page.fill("#f-p-ring_timeout", "25")
    page.select_option("#f-p-default_person", label="Alice")
    page.click("text=Save policy")
    expect(page.locator(".flash")).to_contain_text("Escalation policy saved.")
    expect(page.locator("#oncall-policy-summary")).to_contain_text("Rings 25 s a step")
    assert d.oncall.directory.policy()["default_person"] == 1
    shot(page, "13-oncall")
    context.close()
    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    mobile = phone.new_page()
    sign_in(mobile, base)
    mobile.goto(base + "/oncall/")
    width = mobile.evaluate("document.documentElement.scrollWidth")
    shot(mobile, "13b-oncall-phone")
    wide = mobile.evaluate(
        "[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > 390 || e.scrollWidth > e.clientWidth + 1)"
        ".slice(0, 5).map(e => e.tagName + '#' + e.id + '.' + e.className)"
    )
    assert width <= 390 + 1, f"the On call page scrolls sideways on a phone ({width}px): {wide}"
    phone.close()
