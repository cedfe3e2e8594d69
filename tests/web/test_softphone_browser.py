"""The panel's softphone in headless Chromium, over the appliance's HTTPS with the official SDK.

The administrator signs in on ``https://127.0.0.1:<https_port>``, opens Softphone: the page
passes axe (desk and phone sizes, light and dark), the SDK registers under
``panel_phone_identity``, and every request stays on the appliance (the SDK, its sounds, the
signalling).  Then a call from the dial pad: the panel's App is pointed over REST at a local
test server answering ``<Say>`` and ``<Gather>``; the page's keys reach the Gather, Mute
toggles the SDK's mute and Hang up ends the call (``completed``).  The panel's own CSP is
enforced in the calling page (only axe's page bypasses it, to inject axe).
"""

from __future__ import annotations

import re
import shutil
import ssl
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from tests.clients.test_outgoing import verb_started
from tests.clients.test_signalling_browser import spki_pin
from tests.conftest import client_for, wait_for
from tests.web.test_accessibility import (
    AXE,
    SHOT_QUALITY,
    SHOTS,
    SIZES,
    axe,
    check_desktop,
    check_phone,
    shot_path,
)
from tests.web.test_panel import PASSWORD
from tests.webapp import twiml
from web import panelphone
from web.auth import set_password

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = (
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--allow-loopback-in-peer-connection",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
)
pytestmark = pytest.mark.timeout(180)


def launch(pw, https_port: int) -> Browser:
    pin = spki_pin(ssl.get_server_certificate(("127.0.0.1", https_port)).encode())
    return pw.chromium.launch(
        executable_path=CHROMIUM,
        headless=True,
        args=[
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--autoplay-policy=no-user-gesture-required",
            f"--ignore-certificate-errors-spki-list={pin}",
            *FLAGS,
        ],
    )


def sign_in(context: BrowserContext, base: str) -> Page:
    page = context.new_page()
    page.goto(base + "/login")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Modems")
    return page


def status(page: Page) -> str:
    return page.locator("#phone-status").inner_text()


def test_the_softphone_page_is_accessible_at_desk_and_phone_sizes(make_daemon):
    assert AXE.exists(), "axe-core is needed: `make test` installs tests/node (npm ci)"
    d = make_daemon(webrtc_addresses="127.0.0.1")
    set_password(d.store, PASSWORD)
    base = f"https://127.0.0.1:{d.server.https_port}"
    problems: list[str] = []
    with sync_playwright() as pw:
        browser = launch(pw, d.server.https_port)
        for size, (w, h) in SIZES.items():
            for dark in (False, True):
                context = browser.new_context(
                    viewport={"width": w, "height": h},
                    is_mobile=w < 500,
                    bypass_csp=True,  # axe-core is injected as an inline script
                    color_scheme="dark" if dark else "light",
                )
                sign_in(context, base).close()
                page = context.new_page()
                page.goto(base + "/softphone/")
                wait_for(lambda: status(page).startswith("Ready"), timeout=20)  # noqa: B023
                found = axe(page)
                if not dark:
                    SHOTS.mkdir(parents=True, exist_ok=True)  # docs/panel/ under `make screenshots`
                    page.screenshot(
                        path=str(shot_path("softphone", size)), type="jpeg", quality=SHOT_QUALITY
                    )
                    found += check_phone(page, "softphone") if size == "phone" else (
                        check_desktop(page, "softphone"))  # fmt: skip
                problems += [f"{size}{' dark' if dark else ''}: {p}" for p in found]
                context.close()
        browser.close()
    assert not problems, "\n".join(problems)


def test_a_call_from_the_dial_pad_sends_keys_mutes_and_hangs_up(make_daemon, webapp):
    d = make_daemon(webrtc_addresses="127.0.0.1")
    set_password(d.store, PASSWORD)
    api = client_for(d)
    webapp.routes["/voice"] = twiml(
        "<Response><Say>Hello.</Say>"
        f'<Gather numDigits="2" timeout="20" action="{webapp.url("/gathered")}">'
        "<Say>Press two keys.</Say></Gather></Response>"
    )
    webapp.routes["/gathered"] = twiml('<Response><Pause length="60"/></Response>')
    base = f"https://127.0.0.1:{d.server.https_port}"
    hosts: set[str] = set()
    paths: list[str] = []
    console: list[str] = []
    with sync_playwright() as pw:
        browser = launch(pw, d.server.https_port)
        context = browser.new_context()
        page = sign_in(context, base)
        page.on("request", lambda r: hosts.add(urlsplit(r.url).netloc))
        page.on("request", lambda r: paths.append(urlsplit(r.url).path))
        page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
        page.goto(base + "/softphone/")
        wait_for(lambda: status(page).startswith("Ready"), timeout=20)
        assert status(page) == "Ready: calls to panel ring here."
        assert d.server.hub.identities() == {"panel": 1}
        # the panel's App, made at the first token, now runs the test server's TwiML
        app_sid = d.store.setting(panelphone.APP_SETTING)
        assert api.applications(app_sid).fetch().voice_url == "/twimlets/softphone"
        api.applications(app_sid).update(voice_url=webapp.url("/voice"))

        page.fill("#phone-to", "+1555123")
        for key in "4567":
            page.click(f"button.key[data-key='{key}']")
        assert page.input_value("#phone-to") == "+15551234567"
        expect(page.locator("#phone-mute")).to_be_disabled()
        page.click("#phone-call")
        form = webapp.wait(path="/voice", timeout=20).flat
        assert form["From"] == "client:panel" and form["To"] == "+15551234567"
        assert form["ApplicationSid"] == app_sid
        sid = form["CallSid"]
        wait_for(lambda: status(page) == "In a call with +15551234567.", timeout=20)
        assert page.evaluate("window.softphone.call.parameters.CallSid") == sid

        # mute and unmute: the SDK's state and the button's
        page.click("#phone-mute")
        expect(page.locator("#phone-mute")).to_have_attribute("aria-pressed", "true")
        assert page.evaluate("window.softphone.call.isMuted()") is True
        assert status(page).startswith("Muted")
        page.click("#phone-mute")
        expect(page.locator("#phone-mute")).to_have_attribute("aria-pressed", "false")
        assert page.evaluate("window.softphone.call.isMuted()") is False

        # the dial pad's keys reach the <Gather>
        wait_for(lambda: verb_started(d, sid, "Gather"), timeout=20)
        page.click("button.key[data-key='4']")
        page.click("button.key[data-key='2']")
        expect(page.locator("#phone-digits")).to_have_text("42")
        gathered = webapp.wait(path="/gathered", timeout=20).flat
        assert gathered["Digits"] == "42"

        page.click("#phone-hangup")
        wait_for(lambda: status(page) == "Call ended. Ready.", timeout=20)
        expect(page.locator("#phone-hangup")).to_be_disabled()
        expect(page.locator("#phone-call")).to_be_enabled()
        wait_for(lambda: api.calls(sid).fetch().status == "completed", timeout=20)
        browser.close()
    assert hosts == {f"127.0.0.1:{d.server.https_port}"}, hosts  # nothing from twilio.com
    assert "/sdk/twilio.min.js" in paths and "/sdk/sounds/outgoing.wav" in paths, paths
    assert not [c for c in console if "Content Security Policy" in c], console


def test_the_panels_app_asks_the_signed_twimlet_which_dials_with_the_sims_number(make_daemon):
    """Untouched, the panel's App runs /twimlets/softphone: the call engine's signed request
    gets the <Dial> with the SIM's number as callerId (what happens to that <Dial> on a
    browser's call is slices 5 and 6's: the page ends the call itself if it is still up)."""
    d = make_daemon(webrtc_addresses="127.0.0.1")
    set_password(d.store, PASSWORD)
    base = f"https://127.0.0.1:{d.server.https_port}"
    with sync_playwright() as pw:
        browser = launch(pw, d.server.https_port)
        page = sign_in(browser.new_context(), base)
        page.goto(base + "/softphone/")
        wait_for(lambda: status(page).startswith("Ready"), timeout=20)
        page.fill("#phone-to", "+1 555 123 4567")
        page.click("#phone-call")

        def asked() -> dict | None:
            return d.store.read_one(
                "SELECT * FROM webhook_log WHERE url LIKE '%/twimlets/softphone' AND status = 200"
            )

        row = wait_for(asked, timeout=20)
        number = d.config.modems[0].number
        assert (
            f'<Dial callerId="{number}"><Number>+15551234567</Number></Dial>' in row["response"]
        ), row["response"]
        page.evaluate("window.softphone.call && window.softphone.call.disconnect()")
        wait_for(lambda: status(page).endswith("Ready."), timeout=30)
        browser.close()


def test_a_refused_call_says_why_when_it_ends(make_daemon):
    """The panel's App deleted after the token was minted: the appliance refuses the invite
    (31001) and the status line keeps the reason the SDK raised when the call ends."""
    d = make_daemon(webrtc_addresses="127.0.0.1")
    set_password(d.store, PASSWORD)
    base = f"https://127.0.0.1:{d.server.https_port}"
    with sync_playwright() as pw:
        browser = launch(pw, d.server.https_port)
        page = sign_in(browser.new_context(), base)
        page.goto(base + "/softphone/")
        wait_for(lambda: status(page).startswith("Ready"), timeout=20)
        client_for(d).applications(d.store.setting(panelphone.APP_SETTING)).delete()
        page.fill("#phone-to", "+15551234567")
        page.click("#phone-call")
        # the 2.x Device reports the appliance's 31001 as ConnectionError (53000) unless
        # enableImprovedSignalingErrorPrecision: the page shows whichever code it raised
        wait_for(lambda: re.match(r"Call ended by an error: \d{5} ", status(page)), timeout=20)
        assert status(page).endswith(". Ready.")
        expect(page.locator("#phone-call")).to_be_enabled()
        expect(page.locator("#phone-hangup")).to_be_disabled()
        browser.close()
    assert d.store.read_one("SELECT COUNT(*) FROM calls")[0] == 0
