"""The panel in a real headless Chromium (Debian's package, driven by Playwright).

Sign in, set a number's SMS URL, send a message and see it delivered, create a
weather broadcast against the fake forecast server, run it now and find each
subscriber's forecast in the simulated network's outbox.  Screenshots of the
main pages land in var/screenshots/.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from tests.conftest import PHONE, wait_for
from tests.fakeforecast import FakeForecast
from web.auth import set_password

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
PASSWORD = "correct horse battery"
pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert Path(CHROMIUM).exists(), "Debian's chromium is needed: `make test` installs it"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def sign_in(page: Page, base: str) -> None:
    page.goto(base + "/")
    expect(page).to_have_url(base + "/login?next=/")
    shot(page, "01-sign-in")
    page.fill("#password", "wrong password")
    page.click("button[type=submit]")
    expect(page.locator(".error")).to_contain_text("Wrong password")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Modems")


def signed_in(browser: Browser, base: str, width: int, height: int) -> tuple[BrowserContext, Page]:
    """A new context at ``width``×``height`` (a phone below 500 px), signed in to the panel."""
    context = browser.new_context(
        viewport={"width": width, "height": height}, is_mobile=width < 500, accept_downloads=True
    )
    page = context.new_page()
    page.goto(base + "/login")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Modems")
    return context, page


def assert_no_sideways_scroll(page: Page) -> None:
    scroll, client = page.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert scroll <= client, f"{page.url} scrolls sideways ({scroll} > {client} px)"


def assert_bubbles_fit_their_text(page: Page) -> None:
    """A one-line message is a short bubble, as wide as its text, on its own side.

    ``white-space: pre-wrap`` on the whole bubble once rendered the template's indentation
    (a one-line message about 150 px tall) and inbound bubbles stretched across the thread.
    """
    thread = page.locator(".thread").bounding_box()
    assert thread is not None
    for side in ("in", "out"):
        bubble = page.locator(f".bubble.{side}").first
        box, body = bubble.bounding_box(), bubble.locator(".body").bounding_box()
        assert box is not None and body is not None
        line = float(bubble.evaluate("b => parseFloat(getComputedStyle(b).lineHeight)"))
        assert body["height"] < 1.5 * line, f"a one-line {side} message is {body['height']} px"
        assert box["height"] < 60, f"a one-line {side} bubble is {box['height']} px tall"
        assert box["width"] < 0.5 * thread["width"], f"the {side} bubble spans the thread"
        if side == "in":  # inbound on the left, outbound on the right
            assert box["x"] - thread["x"] < 2
        else:
            assert thread["x"] + thread["width"] - (box["x"] + box["width"]) < 2


def test_panel_end_to_end(
    browser: Browser, make_daemon: Any, sim: Any, webapp: Any, forecast: FakeForecast
):
    d = make_daemon(
        forecast_base_url=forecast.base, geocoding_base_url=forecast.base, health_interval=1.0
    )
    set_password(d.store, PASSWORD)
    base = f"http://127.0.0.1:{d.server.port}"
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    sign_in(page, base)
    cookie = next(c for c in context.cookies() if c["name"] == "panel_session")
    assert cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Lax"
    wait_for(lambda: d.store.read_one("SELECT COUNT(*) FROM signal_samples")[0] >= 2, timeout=15)
    page.reload()
    expect(page.locator("#modem-modem1 .state")).to_have_text("ready")
    shot(page, "02-dashboard")

    # A number's SMS URL: a bad URL is refused beside the field, a good one is saved.
    page.click("nav >> text=Numbers")
    page.click("text=Edit")
    page.fill("#f-sms_url", "not a url")
    page.click("button:has-text('Save')")
    expect(page.locator("#error-sms_url")).to_contain_text("http://")
    page.fill("#f-sms_url", webapp.url("/sms"))
    page.click("button:has-text('Save')")
    expect(page.locator("table")).to_contain_text(webapp.url("/sms"))
    shot(page, "03-numbers")
    assert d.store.read_one("SELECT sms_url FROM numbers")[0] == webapp.url("/sms")

    # Send a message and see it delivered.
    page.click("nav >> text=Conversations")
    page.locator("details").evaluate("d => { d.open = true }")
    page.fill("#f-to", "555")
    page.fill("#f-body", "nope")
    page.click("button:has-text('Send')")
    expect(page.locator("#error-to")).to_contain_text("not a valid phone number")
    page.fill("#f-to", PHONE)
    page.fill("#f-body", "Your table for 4 is ready <3")
    page.click("button:has-text('Send')")
    wait_for(lambda: any(m.text == "Your table for 4 is ready <3" for m in sim.network.outbox()))
    wait_for(lambda: d.store.read_one("SELECT status FROM messages")[0] == "delivered")
    page.reload()
    expect(page.locator(".bubble.out .status")).to_have_text("delivered")

    # An inbound SMS reaches the app at the URL just set; its body is shown as text.
    sim.network.deliver_sms("modem1", PHONE, "<b>Thanks!</b>")
    webapp.wait(path="/sms")
    page.reload()
    expect(page.locator(".bubble.in .body")).to_have_text("<b>Thanks!</b>")
    shot(page, "04-conversation")
    assert_bubbles_fit_their_text(page)

    # Subscribers: a list and three people (two by town, one by coordinates).
    page.click("nav >> text=Subscribers")
    page.fill("#f-name", "Weather")
    page.fill("#f-join_keyword", "WEATHER")
    page.fill("#f-leave_keyword", "WEATHER OFF")
    page.click("button:has-text('Create list')")
    for number, name, town, lat, lon in (
        ("+447700900001", "Ann", "Leeds", "", ""),
        ("+4790000003", "Cai", "Bergen", "", ""),
        ("+34600000002", "Bea", "", "37.39", "-5.98"),
    ):
        page.fill("#f-phone_number", number)
        page.fill("#f-name", name)
        page.fill("#f-town", town)
        page.fill("#f-latitude", lat)
        page.fill("#f-longitude", lon)
        page.click("button:has-text('Add')")
        expect(page.locator("table")).to_contain_text(number)
    shot(page, "05-subscribers")

    # A weather broadcast: a bad schedule is refused beside the field; preview; run now.
    page.click("nav >> text=Broadcasts")
    page.click("text=New broadcast")
    page.fill("#f-name", "Morning weather")
    page.select_option("#f-kind", "weather")
    page.fill("#f-content", "Good morning {first_name}! {forecast}")
    page.fill("#f-schedule", "0 25 * * *")
    page.fill("#f-timezone", "Europe/London")
    page.click("button:has-text('Save')")
    expect(page.locator("#error-schedule")).to_be_visible()
    shot(page, "06-broadcast-form-error")
    page.fill("#f-schedule", "0 7 * * *")
    page.click("button:has-text('Save')")
    expect(page.locator("h1")).to_have_text("Morning weather")
    page.click("text=Preview")
    expect(page.locator(".sample").first).to_contain_text("Leeds today")
    expect(page.locator(".card").first).to_contain_text("3 recipients")
    shot(page, "07-broadcast-preview")
    page.go_back()
    page.click("#run-now")
    wait_for(
        lambda: len([m for m in sim.network.outbox() if m.text.startswith("Good morning")]) == 3,
        timeout=20,
    )
    page.reload()
    expect(page.locator(".run .run-state").first).to_have_text("done")
    shot(page, "08-broadcast-runs")
    sent = {
        m.destination: m.text for m in sim.network.outbox() if m.text.startswith("Good morning")
    }
    assert sent["+447700900001"].startswith("Good morning Ann! Leeds today: rain")
    assert "umbrella" in sent["+447700900001"]
    assert "Bergen today: overcast" in sent["+4790000003"]
    assert "clear sky" in sent["+34600000002"]
    page.click(".run a")
    expect(page.locator(".recipients")).to_contain_text("+447700900001")
    shot(page, "09-broadcast-recipients")

    # The other pages render; the dashboard also on a phone screen.
    for nav, name in (("Calls", "10-calls"), ("Webhook failures", "11-webhook-failures")):
        page.click(f"nav >> text={nav}")
        expect(page.locator("h1")).to_be_visible()
        shot(page, name)
    # USSD: a menu from the simulated network, answered in the same session.
    page.click("nav >> text=USSD")
    page.fill("#f-code", "*123#")
    page.click("button[value=send]")
    expect(page.locator("#ussd-text")).to_contain_text("1 Balance")
    page.fill("#f-code", "1")
    page.click("button[value=send]")
    expect(page.locator("#ussd-text")).to_contain_text("Your balance is 10.00 GBP")
    shot(page, "11b-ussd")
    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    mobile = phone.new_page()
    sign_in(mobile, base)
    width = mobile.evaluate("document.documentElement.scrollWidth")
    assert width <= 390 + 1, f"the dashboard scrolls sideways on a phone ({width}px)"
    shot(mobile, "12-dashboard-phone")
    phone.close()
    context.close()
