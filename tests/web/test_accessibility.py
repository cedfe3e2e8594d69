"""Every panel page in headless Chromium: axe-core, screenshots for docs/panel.md, geometry.

axe-core (npm, pinned in tests/node/package-lock.json, installed by the Makefile's NODE_STAMP)
is injected by Playwright into each page of the panel, filled with real data (messages through
the simulated network and the outbox, a call, webhook requests to a real app, a list, a
broadcast and its run, a template, a scheduled send, a contact), at 1280×900 and 390×844, and in
dark mode for contrast.  No page may have a serious or critical violation.

The same pass saves each page's screenshot at both sizes (JPEG, the viewport: a few tens of kB
each) into var/screenshots/panel/, or into docs/panel/, which docs/panel.md shows, under
`make screenshots`; a test checks that it shows one for every
page.  On the phone no page may scroll sideways and the menu is folded; on the desk the menu
marks the current page; a thread's bubbles are as tall and wide as their text; chart labels stay
readable at 390 px.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from appliance.daemon import Daemon
from appliance.sim.host import SimulatorHost
from appliance.sim.voice import RemoteParty, Silence, WaitHeard
from tests.conftest import PHONE, wait_for
from tests.web.test_browser import PASSWORD, browser  # noqa: F401 - the fixture
from tests.web.test_panel import Panel
from tests.webapp import WebApp, twiml
from web.auth import set_password

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "tests" / "node" / "node_modules" / "axe-core" / "axe.min.js"
DOCS = ROOT / "docs" / "panel.md"
DOCS_SHOTS = ROOT / "docs" / "panel"
# A test run must not rewrite tracked files: the shots go to var/ (git-ignored) unless
# `make screenshots` asks for docs/panel/.
SHOTS = (
    DOCS_SHOTS
    if os.environ.get("UPDATE_SCREENSHOTS") == "1"
    else ROOT / "var" / "screenshots" / "panel"
)
SIZES = {"desktop": (1280, 900), "phone": (390, 844)}
BLOCKING = ("serious", "critical")  # axe's impacts that fail the test
SHOT_QUALITY = 60  # JPEG quality of the docs' screenshots: readable, about 20-80 kB each
MIN_LABEL_PX = 10.0  # a chart's axis label at 390 px is at least this tall on screen
pytestmark = pytest.mark.timeout(600)

# Each page: (name, path).  {…} are filled from the data the test makes.
PAGES: tuple[tuple[str, str], ...] = (
    ("setup", "/setup"),
    ("login", "/login"),
    ("dashboard", "/"),
    ("radio", "/modems/modem1/radio"),
    ("numbers", "/numbers/"),
    ("number-edit", "/numbers/{number_sid}"),
    ("conversations", "/messages/"),
    ("thread", "/messages/with?party={party}"),
    ("messages", "/messages/list"),
    ("message", "/messages/{message_sid}"),
    ("contacts", "/contacts/"),
    ("calls", "/calls/"),
    ("call", "/calls/{call_sid}"),
    ("webhooks", "/webhooks/?all=1"),
    ("webhook", "/webhooks/{log_id}"),
    ("subscribers", "/subscribers/"),
    ("members", "/subscribers/{list_id}"),
    ("import", "/subscribers/{list_id}/import"),
    ("optouts", "/subscribers/optouts"),
    ("broadcasts", "/broadcasts/"),
    ("broadcast-form", "/broadcasts/new"),
    ("broadcast", "/broadcasts/{broadcast_id}"),
    ("broadcast-preview", "/broadcasts/{broadcast_id}/preview"),
    ("broadcast-run", "/broadcasts/runs/{run_id}"),
    ("templates", "/compose/templates"),
    ("schedule", "/scheduled/new"),
    ("oncall", "/oncall/"),
    ("ussd", "/ussd/"),
    ("atmonitor", "/atmonitor/"),
    ("backup", "/backup/"),
    ("not-found", "/nowhere"),
)
PUBLIC = ("setup", "login")
# Pages whose menu entry is not their own blueprint's (none marked is wrong too).
UNMARKED = ("not-found",)


def shot_path(name: str, size: str) -> Path:
    return SHOTS / f"{name}-{size}.jpg"


def seed(d: Daemon, sim: SimulatorHost, webapp: WebApp) -> dict[str, str]:
    """Real data for every page: through the simulated network, the outbox and the panel's forms."""
    p = Panel(d)
    assert p.login().status_code == 302
    sim.network.deliver_sms("modem1", PHONE, "Open tonight?")
    webapp.wait(20, path="/sms")
    d.outbox.enqueue(modem="modem1", from_number=d.config.modems[0].number, to=PHONE, body="Yes!")
    wait_for(
        lambda: d.store.read_one("SELECT COUNT(*) FROM messages WHERE status = 'delivered'")[0]
    )
    party = RemoteParty([WaitHeard(0.3, timeout=10), Silence(1)])
    remote = sim.network.incoming_call("modem1", PHONE, party=party)
    call_sid = webapp.wait(20, path="/voice").param("CallSid")
    assert remote.wait_state("ended", timeout=25)
    wait_for(lambda: d.store.read_one("SELECT end_time FROM calls WHERE sid = ?", (call_sid,))[0])
    assert p.post("/contacts/", {"phone_number": PHONE, "name": "Ann Lee"}).status_code == 302

    assert p.post("/subscribers/", {"name": "Weather", "modem": "modem1", "join_keyword": "WEATHER",
                                    "leave_keyword": "WEATHER OFF"}).status_code == 302  # fmt: skip
    list_id = str(d.store.read_one("SELECT id FROM subscriber_lists")[0])
    member = {"phone_number": "+447700900001", "name": "Ann", "town": "Leeds"}
    assert p.post(f"/subscribers/{list_id}", member).status_code == 302
    broadcast = {"name": "Opening hours", "list_id": list_id, "modem": "modem1", "kind": "text",
                 "content": "Hello {first_name}, we open at 9.", "schedule": "0 7 * * *",
                 "timezone": "Europe/London", "enabled": "1"}  # fmt: skip
    assert p.post("/broadcasts/new", broadcast).status_code == 302
    broadcast_id = str(d.store.read_one("SELECT id FROM broadcasts")[0])
    assert p.post(f"/broadcasts/{broadcast_id}/run", {}, same=False).status_code == 302
    run_id = wait_for(lambda: d.store.read_one("SELECT id FROM broadcast_runs"), timeout=20)[0]
    template = {"name": "Opening hours", "body": "We open at 9 ✓"}
    assert p.post("/compose/templates", template).status_code == 302
    return {
        "number_sid": str(d.store.read_one("SELECT sid FROM numbers")[0]),
        "party": quote(PHONE),
        "message_sid": str(d.store.read_one("SELECT sid FROM messages ORDER BY seq")[0]),
        "call_sid": str(call_sid),
        "log_id": str(d.store.read_one("SELECT id FROM webhook_log ORDER BY id")[0]),
        "list_id": list_id,
        "broadcast_id": broadcast_id,
        "run_id": str(run_id),
    }


def axe(page: Page, rules: list[str] | None = None) -> list[str]:
    """The serious and critical axe-core violations of ``page``, one line each."""
    page.add_script_tag(path=str(AXE))
    options: dict[str, Any] = {"resultTypes": ["violations"]}
    if rules:
        options["runOnly"] = {"type": "rule", "values": rules}
    violations = page.evaluate("options => axe.run(document, options)", options)["violations"]
    return [
        f"{v['impact']} {v['id']} ({v['help']}): "
        + "; ".join(" ".join(map(str, n["target"])) for n in v["nodes"][:4])
        for v in violations
        if v["impact"] in BLOCKING
    ]


# The pairs of a chart's visible labels on one line whose boxes overlap.
OVERLAPPING_LABELS = """
[...document.querySelectorAll('svg.chart')].flatMap(svg => {
  const boxes = [...svg.querySelectorAll('text')]
    .map(t => [t.textContent, t.getBoundingClientRect()]).filter(([, r]) => r.width > 0);
  return boxes.flatMap(([a, r], i) => boxes.slice(i + 1)
    .filter(([, q]) => Math.abs(q.top - r.top) < 2 && q.left < r.right && r.left < q.right)
    .map(([b]) => a + ' / ' + b));
})
"""


# What sticks out on the right of the page (outside the boxes that scroll on their own).
TOO_WIDE = """
[...document.querySelectorAll('body *')]
  .filter(e => !e.parentElement.closest('.scroll') && e.getBoundingClientRect().right
               > document.documentElement.clientWidth + 0.5)
  .slice(-3).map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '')
                      + (e.className && e.className.baseVal === undefined ? '.' + e.className : ''))
"""


def check_phone(page: Page, name: str) -> list[str]:
    problems = []
    scroll, client = page.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    if scroll > client:
        wide = page.evaluate(TOO_WIDE)
        problems.append(f"scrolls sideways ({scroll} > {client} px): {wide}")
    if name not in PUBLIC and page.locator("nav#menu").is_visible():
        problems.append("the menu is not folded")
    labels = page.evaluate(
        "[...document.querySelectorAll('svg.chart text')]"
        ".map(t => t.getBoundingClientRect().height).filter(h => h > 0)"
    )
    if labels and min(labels) < MIN_LABEL_PX:
        problems.append(f"chart labels {min(labels):.1f} px tall (< {MIN_LABEL_PX})")
    overlaps = page.evaluate(OVERLAPPING_LABELS)
    if overlaps:
        problems.append(f"chart labels run into each other: {overlaps[:3]}")
    return problems


def check_bubbles(page: Page) -> list[str]:
    """A one-line message is a one-line bubble on its own side, narrower than the thread.

    On a phone the date and status line under the text sets a short bubble's width (about
    220 px), so the bound is a share of the thread rather than half of it.
    """
    thread = page.locator(".thread").bounding_box()
    assert thread is not None
    share = 0.5 if thread["width"] > 600 else 0.7
    problems = []
    for side in ("in", "out"):
        bubble = page.locator(f".bubble.{side}").first
        box, body = bubble.bounding_box(), bubble.locator(".body").bounding_box()
        assert box is not None and body is not None
        line = float(bubble.evaluate("b => parseFloat(getComputedStyle(b).lineHeight)"))
        if body["height"] >= 1.5 * line or box["height"] >= 60:
            problems.append(f"a one-line {side} bubble is {box['height']:.0f} px tall")
        if box["width"] >= share * thread["width"]:
            problems.append(f"a short {side} bubble is {box['width']:.0f} px wide")
        gap = box["x"] - thread["x"] if side == "in" else (
            thread["x"] + thread["width"] - box["x"] - box["width"])  # fmt: skip
        if gap >= 2:
            problems.append(f"the {side} bubble is {gap:.0f} px off its side")
    return problems


def check_desktop(page: Page, name: str) -> list[str]:
    if name in PUBLIC:
        return []
    marked = page.locator("nav#menu a[aria-current=page]").count()
    expected = 0 if name in UNMARKED else 1
    return [] if marked == expected else [f"{marked} menu entries marked as the current page"]


def signed_in(context: BrowserContext, base: str) -> Page:
    page = context.new_page()
    page.goto(base + "/login")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Modems")
    return page


def visit(context: BrowserContext, base: str, pages: list[tuple[str, str]], size: str,
          dark: bool = False) -> list[str]:  # fmt: skip
    problems: list[str] = []
    page = context.new_page()
    for name, path in pages:
        rv = page.goto(base + path)
        assert rv is not None
        expected = 404 if name == "not-found" else 200
        if rv.status != expected:
            problems.append(f"{size} {name} {path}: HTTP {rv.status}")
            continue
        expect(page.locator("h1").first).to_be_visible()
        if name == "not-found":  # a page in the panel's layout, not the server's bare 404
            expect(page.locator("header .brand")).to_be_visible()
            expect(page.locator(".error-page .error-code")).to_have_text("404")
        found = axe(page, ["color-contrast"] if dark else None)
        if not dark:
            found += check_phone(page, name) if size == "phone" else check_desktop(page, name)
            page.screenshot(path=str(shot_path(name, size)), type="jpeg", quality=SHOT_QUALITY)
            if name == "thread":
                found += check_bubbles(page)
        problems += [f"{'dark' if dark else size} {name} {path}: {p}" for p in found]
    page.close()
    return problems


def test_every_page_is_accessible_and_fits_desk_and_phone(
    browser: Browser,  # noqa: F811
    make_daemon: Callable[..., Daemon],
    sim: SimulatorHost,
    webapp: WebApp,
) -> None:
    assert AXE.exists(), "axe-core is needed: `make test` installs tests/node (npm ci)"
    webapp.routes["/voice"] = twiml("<Response><Say>Thanks for calling.</Say><Hangup/></Response>")
    d = make_daemon(
        modem={
            "sms_url": webapp.url("/sms"),
            "voice_url": webapp.url("/voice"),
            "audio_port": str(sim.modems["modem1"].audio_path),
        }
    )
    base = f"http://127.0.0.1:{d.server.port}"
    SHOTS.mkdir(parents=True, exist_ok=True)
    # bypass_csp: axe-core is injected as an inline script, which the panel's CSP forbids.
    contexts = {
        size: browser.new_context(
            viewport={"width": w, "height": h}, is_mobile=w < 500, bypass_csp=True
        )
        for size, (w, h) in SIZES.items()
    }
    problems: list[str] = []
    # First run: only /setup is open (it asks for the AuthToken before taking a password).
    setup = [(n, p) for n, p in PAGES if n == "setup"]
    for size, context in contexts.items():
        problems += visit(context, base, setup, size)
    set_password(d.store, PASSWORD)
    data = seed(d, sim, webapp)
    pages = [(n, p.format(**data)) for n, p in PAGES if n != "setup"]
    for size, context in contexts.items():
        problems += visit(context, base, pages[:1], size)  # the sign-in page, signed out
        page = signed_in(context, base)
        icon = page.locator("link[rel=icon]").get_attribute("href")
        reply = page.request.get(base + str(icon))
        assert reply.ok and "svg" in reply.headers["content-type"], "the favicon is served"
        page.close()
        problems += visit(context, base, pages[1:], size)
    dark = browser.new_context(
        viewport={"width": 1280, "height": 900}, color_scheme="dark", bypass_csp=True
    )
    signed_in(dark, base).close()
    problems += visit(dark, base, pages, "desktop", dark=True)
    for context in (*contexts.values(), dark):
        context.close()
    assert not problems, "\n".join(problems)


def test_docs_show_every_page_at_both_sizes() -> None:
    """docs/panel.md shows a screenshot of every page at both sizes, and each file exists."""
    text = DOCS.read_text(encoding="utf-8")
    shown = set(re.findall(r"\]\((panel/[a-z0-9-]+-(?:desktop|phone)\.jpg)\)", text))
    for name, _ in PAGES:
        for size in SIZES:
            rel = f"panel/{name}-{size}.jpg"
            assert rel in shown, f"docs/panel.md shows no {rel}"
            assert (DOCS.parent / rel).exists(), f"{rel} is missing: run `make screenshots`"
