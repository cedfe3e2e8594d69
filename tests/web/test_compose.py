"""Composing in the panel: saved templates, one-off scheduled sends, the segment counter.

Through a real daemon on the simulated modem: the Flask client for the forms (CSRF,
errors beside each field), the simulated network for what is sent, a restart on the
same data directory for exactly-once, and Debian's Chromium for the JavaScript counter,
checked against the server's own codec (appliance/sms/codec.py).
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from appliance.campaigns.templates import Template
from appliance.sms import codec
from tests.conftest import NUMBER, PHONE, wait_for
from tests.web.test_browser import ARGS, CHROMIUM, shot, sign_in
from tests.web.test_panel import PASSWORD, Panel
from web.auth import set_password

OTHER = "+14155550199"
PARIS = ZoneInfo("Europe/Paris")


@pytest.fixture
def panel(make_daemon: Any) -> Panel:
    d = make_daemon()
    set_password(d.store, PASSWORD)
    p = Panel(d)
    assert p.login().status_code == 302
    return p


def local(ahead: timedelta, tz: ZoneInfo = PARIS) -> str:
    """The form's value for a time ``ahead`` of now in ``tz`` (datetime-local, to the minute)."""
    return (datetime.now(tz) + ahead).strftime("%Y-%m-%dT%H:%M")


def html(rv: Any) -> str:
    return str(rv.get_data(as_text=True))


def error(rv: Any, field: str) -> str:
    m = re.search(rf'id="error-{field}">([^<]*)<', html(rv))
    assert m, f"no error beside {field}: {html(rv)[:2000]}"
    return m.group(1)


def schedule(p: Panel, **form: str) -> Any:
    values = {"to": PHONE, "modem": "modem1", "body": "Later", "timezone": "Europe/Paris"}
    values["send_at"] = local(timedelta(hours=1))
    values.update(form)
    return p.post("/scheduled/", values, same=False)


def scheduled_sid(p: Panel, body: str) -> str:
    row = p.d.store.read_one("SELECT sid FROM messages WHERE body = ?", (body,))
    assert row is not None
    return str(row["sid"])


def make_due(store: Any, sid: str) -> None:
    """The time passes: ``sid``'s SendAt moves into the past (as tests/api does for SendAt)."""
    store.write(
        lambda c: c.execute("UPDATE messages SET send_at = ? WHERE sid = ?", (time.time() - 1, sid))
    )


# -- templates --------------------------------------------------------------------------------


def test_templates_crud_with_csrf_and_field_errors(panel):
    anonymous = panel.app.test_client()
    for path in ("/compose/templates", "/scheduled/new"):
        assert anonymous.get(path).headers["Location"].startswith("/login"), path
    c = panel.client
    rv = c.post("/compose/templates", data={"name": "Hours", "body": "Open 9-5"})
    assert rv.status_code == 400  # no CSRF token: refused, nothing saved
    assert panel.d.store.read_one("SELECT COUNT(*) FROM message_templates")[0] == 0

    rv = panel.post("/compose/templates", {"name": "Hours", "body": "Open 9-5 {Mon~Fri} €"})
    assert rv.status_code == 302
    page = html(c.get("/compose/templates"))
    # The size comes from the server's codec: 20 characters, 26 septets, one GSM-7 SMS.
    assert "Hours" in page and "1 segment, GSM-7" in page

    for form, field, words in (
        ({"name": "Empty", "body": ""}, "body", "Write the template"),
        ({"name": "Blank", "body": "  \n "}, "body", "Write the template"),
        ({"name": "", "body": "x"}, "name", "name"),
        ({"name": "hOURS", "body": "x"}, "name", "already a template named"),
        ({"name": "Long", "body": "a" * 1601}, "body", "1600"),
        ({"name": "n" * 81, "body": "x"}, "name", "at most 80"),
    ):
        rv = panel.post("/compose/templates", form)
        assert rv.status_code == 400, form
        assert words in error(rv, field), form
        assert 'value="' + form["name"][:20] in html(rv)  # what was typed is kept
    assert panel.d.store.read_one("SELECT COUNT(*) FROM message_templates")[0] == 1

    tid = panel.d.store.read_one("SELECT id FROM message_templates")[0]
    panel.post("/compose/templates", {"name": "Thanks", "body": "Thank you ✓"})
    rv = panel.post(f"/compose/templates/{tid}/edit", {"name": "thanks", "body": "x"})
    assert rv.status_code == 400 and "already" in error(rv, "name")
    rv = panel.post(f"/compose/templates/{tid}/edit", {"name": "Opening hours", "body": "9-5"})
    assert rv.status_code == 302
    rows = panel.d.store.read("SELECT name, body FROM message_templates ORDER BY id")
    assert [tuple(r) for r in rows] == [("Opening hours", "9-5"), ("Thanks", "Thank you ✓")]
    assert "1 segment, UCS-2" in html(c.get("/compose/templates"))

    # Every SMS body offers the templates (escaped into data-body) and carries the counter.
    party = f"/messages/with?party={PHONE.replace('+', '%2B')}"
    for path in ("/messages/", party, "/scheduled/new", "/broadcasts/new"):
        page = html(c.get(path))
        assert 'data-body="Thank you ✓"' in page and ">Opening hours</option>" in page, path
        assert "data-segments-for=" in page and "segments.js" in page, path

    assert c.post(f"/compose/templates/{tid}/delete").status_code == 400  # CSRF again
    assert panel.post(f"/compose/templates/{tid}/delete", {}).status_code == 302
    assert panel.post(f"/compose/templates/{tid}/delete", {}).status_code == 404
    assert (
        panel.post(f"/compose/templates/{tid}/edit", {"name": "a", "body": "b"}).status_code == 404
    )
    assert [r["name"] for r in panel.d.panel.templates.all()] == ["Thanks"]


# -- one-off scheduled sends ---------------------------------------------------------------------


def test_bad_schedule_forms_say_what_is_wrong_and_store_nothing(panel):
    gap = "2027-03-28T02:30"  # Paris skips 02:00-03:00 that night
    for form, field, words in (
        ({"body": ""}, "body", "Write a message"),
        ({"send_at": local(-timedelta(minutes=5))}, "send_at", "passed"),
        ({"send_at": local(timedelta(minutes=5))}, "send_at", "15 minutes and 35 days"),
        ({"send_at": local(timedelta(days=36))}, "send_at", "35114"),
        ({"send_at": ""}, "send_at", "Choose the date"),
        ({"send_at": "next tuesday"}, "send_at", "not a date and time"),
        ({"send_at": gap}, "send_at", "clocks skip"),
        ({"timezone": "Mars/Olympus"}, "timezone", "Unknown time zone"),
        ({"modem": "modem9"}, "modem", "Choose one of this appliance"),
        ({"to": "12345"}, "to", "12345"),
        ({"body": "a" * 1601}, "body", "1600 character limit (error 21617)"),
    ):
        rv = schedule(panel, **form)
        assert rv.status_code == 400, form
        assert words in error(rv, field), (form, error(rv, field))
    assert panel.d.store.read_one("SELECT COUNT(*) FROM messages")[0] == 0


def test_scheduled_send_waits_fires_once_and_cancel_stops_it(panel, sim):
    d = panel.d
    ahead = timedelta(hours=2)
    send_at = local(ahead)
    rv = schedule(panel, body="See you at 8 ✓", send_at=send_at)
    assert rv.status_code == 302 and rv.headers["Location"].endswith("/broadcasts/#scheduled")
    assert schedule(panel, body="Never", to=OTHER).status_code == 302
    a, b = scheduled_sid(panel, "See you at 8 ✓"), scheduled_sid(panel, "Never")
    row = d.store.read_one("SELECT * FROM messages WHERE sid = ?", (a,))
    expected = datetime.strptime(send_at, "%Y-%m-%dT%H:%M").replace(tzinfo=PARIS).timestamp()
    assert (row["status"], row["from_number"], row["to_number"]) == ("scheduled", NUMBER, PHONE)
    assert row["send_at"] == expected  # the local time, in its zone
    page = html(panel.client.get("/broadcasts/"))
    utc = datetime.fromtimestamp(expected, UTC).strftime("%Y-%m-%d %H:%M")
    assert f'id="scheduled-{a}"' in page and f'id="scheduled-{b}"' in page and utc in page

    assert panel.post(f"/scheduled/{b}/cancel", {}, same=False).status_code == 302
    assert d.store.read_one("SELECT status FROM messages WHERE sid = ?", (b,))[0] == "canceled"
    rv = panel.post(f"/scheduled/{b}/cancel", {}, same=False, follow_redirects=True)
    assert "Not canceled" in html(rv) and "it is canceled (error 30409)" in html(rv)
    assert f'id="scheduled-{b}"' not in html(panel.client.get("/broadcasts/"))

    time.sleep(0.5)
    assert sim.network.outbox() == []  # not before its time
    make_due(d.store, a)
    make_due(d.store, b)  # a canceled message stays unsent even once its time comes
    d.outbox.wake("modem1")
    wait_for(lambda: [m.text for m in sim.network.outbox()] == ["See you at 8 ✓"])
    wait_for(
        lambda: (
            d.store.read_one("SELECT status FROM messages WHERE sid = ?", (a,))[0] == "delivered"
        )
    )
    time.sleep(0.5)
    assert [m.destination for m in sim.network.outbox()] == [PHONE]
    rv = panel.post(f"/scheduled/{a}/cancel", {}, same=False, follow_redirects=True)
    assert "it is delivered (error 30409)" in html(rv)
    assert "No message is scheduled." in html(panel.client.get("/broadcasts/"))


def test_a_restart_neither_loses_nor_repeats_a_scheduled_send(make_daemon, sim):
    d = make_daemon()
    set_password(d.store, PASSWORD)
    p = Panel(d)
    p.login()
    assert schedule(p, body="First").status_code == 302
    assert schedule(p, body="Second").status_code == 302
    first, second = scheduled_sid(p, "First"), scheduled_sid(p, "Second")
    make_due(d.store, first)
    d.outbox.wake("modem1")
    wait_for(
        lambda: (
            d.store.read_one("SELECT status FROM messages WHERE sid = ?", (first,))[0]
            == "delivered"
        )
    )
    db = Path(d.store.path)
    d.stop()

    # The second one comes due while the appliance is off.
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE messages SET send_at = ? WHERE sid = ?", (time.time() - 60, second))
    d2 = make_daemon()
    wait_for(lambda: len(sim.network.outbox()) >= 2)
    wait_for(
        lambda: [r[0] for r in d2.store.read("SELECT status FROM messages")] == ["delivered"] * 2
    )
    time.sleep(1.0)  # time for a wrong second copy of either to go out
    assert sorted(m.text for m in sim.network.outbox()) == ["First", "Second"]


# -- the segment counter in Chromium ---------------------------------------------------------------

TRICKY = (
    "",
    "Hello",
    "a" * 160,
    "a" * 161,
    "a" * 306,
    "a" * 307,
    "€" * 80,  # 160 septets: one SMS
    "€" * 81,
    "a" * 152 + "€" + "a" * 152,  # 306 septets, yet 3 parts: the escape pair is not split
    "{[~]}\\|^€ and \f",
    "Ç ñ ß É ΔΦΓΛΩΠΨΣΘΞ @£$¥",
    "ç is not Ç",
    "Done ✓",
    "✓" * 70,
    "✓" * 71,
    "😀" * 35,
    "😀" * 36,
    "a" * 66 + "😀" + "a" * 10,  # the pair moves whole to the second part
    "👨‍👩‍👧 family",
    "non\u00a0breaking",
    "back`tick",
    "line one\nline two",
    "a" * 1600,
    "a" * 1601,
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert Path(CHROMIUM).exists(), "Debian's chromium is needed: `make test` installs it"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


def counter_of(page: Page, area: str) -> dict[str, Any]:
    return dict(
        page.evaluate(
            """id => {
              const out = document.querySelector(`[data-segments-for="${id}"]`);
              return {value: document.getElementById(id).value, text: out.textContent,
                      segments: Number(out.dataset.segments), encoding: out.dataset.encoding,
                      units: Number(out.dataset.units), over: out.classList.contains("over"),
                      hidden: out.hidden};
            }""",
            area,
        )
    )


def assert_agrees(seen: dict[str, Any]) -> None:
    body = seen["value"]
    assert seen["segments"] == codec.count_segments(body), (body[:40], seen)
    assert seen["encoding"] == codec.encoding_for(body).value, (body[:40], seen)
    assert seen["over"] == (len(body) > codec.MAX_BODY_CHARS)


@pytest.mark.timeout(180)
def test_segment_counter_agrees_with_the_codec_in_chromium(browser, make_daemon, sim):
    d = make_daemon()
    set_password(d.store, PASSWORD)
    d.panel.templates.create(Template("Tick", "Done ✓"))
    base = f"http://127.0.0.1:{d.server.port}"
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    sign_in(page, base)
    page.goto(base + "/messages/")
    page.locator("details").evaluate("d => { d.open = true }")

    # Typed key by key, then filled: each body, the page's count against the codec's.
    page.locator("#f-body").press_sequentially("Done ✓")
    seen = counter_of(page, "f-body")
    assert seen["value"] == "Done ✓" and "1 segment (UCS-2 because of ✓)" in seen["text"]
    for body in TRICKY:
        page.fill("#f-body", body)
        seen = counter_of(page, "f-body")
        assert seen["value"] == body
        assert_agrees(seen)
    page.fill("#f-body", "✓" * 71)
    assert "2 segments (UCS-2 because of ✓)" in counter_of(page, "f-body")["text"]
    page.fill("#f-body", "non\u00a0breaking")
    assert "because of U+00A0" in counter_of(page, "f-body")["text"]
    page.fill("#f-body", "{x}")
    assert "1 segment (GSM-7; 2 characters count 2)" in counter_of(page, "f-body")["text"]

    # Every character of both GSM tables, and some that are not: the same class and cost.
    alphabet = [*codec._BASIC_ENCODE, *codec._EXTENSION_ENCODE, "ç", "`", "✓", "😀", "\u00a0", "á"]
    units = page.evaluate(
        "cs => cs.map(c => [SmsSegments.analyse(c).encoding, SmsSegments.analyse(c).units])",
        alphabet,
    )
    for ch, (encoding, cost) in zip(alphabet, units, strict=True):
        assert encoding == codec.encoding_for(ch).value, repr(ch)
        want = codec.septet_length(ch) if codec.is_gsm7(ch) else len(ch.encode("utf-16-le")) // 2
        assert cost == want, repr(ch)

    # The template picker fills the body; the counter follows; the message goes out.
    page.select_option("#pick-f-body", label="Tick")
    seen = counter_of(page, "f-body")
    assert seen["value"] == "Done ✓" and seen["encoding"] == "UCS-2"
    page.fill("#f-to", PHONE)
    page.click("form >> button:has-text('Send')")
    wait_for(lambda: [m.text for m in sim.network.outbox()] == ["Done ✓"])

    # The reply form of a conversation and a broadcast's text carry the counter too; a
    # broadcast's counter shows only for text content (a URL or the weather is not the SMS).
    expect(page.locator('[data-segments-for="f-body"]')).to_contain_text("1 segment")
    page.goto(base + "/broadcasts/new")
    page.select_option("#f-kind", "text")
    page.fill("#f-content", "Sale: 20% off ✓")
    assert_agrees(counter_of(page, "f-content"))
    page.select_option("#f-kind", "weather")
    assert counter_of(page, "f-content")["hidden"]

    # Schedule through the page: the browser's zone is filled in; the list cancels it.
    page.goto(base + "/scheduled/new")
    zone = page.input_value("#f-timezone")
    assert zone  # the browser's own zone name
    when = datetime.now(ZoneInfo(zone)) + timedelta(hours=3)
    page.fill("#f-to", OTHER)
    page.select_option("#pick-f-body", label="Tick")
    page.fill("#f-send_at", when.strftime("%Y-%m-%dT%H:%M"))
    shot(page, "compose-schedule")
    page.click("form >> button:has-text('Schedule')")
    expect(page.locator("#scheduled-messages")).to_contain_text(OTHER)
    shot(page, "compose-scheduled-list")
    row = d.store.read_one("SELECT * FROM messages WHERE to_number = ?", (OTHER,))
    assert row["status"] == "scheduled" and row["body"] == "Done ✓"
    assert abs(row["send_at"] - when.replace(second=0, microsecond=0).timestamp()) < 1
    page.click(f"#scheduled-{row['sid']} >> button:has-text('Cancel')")
    expect(page.locator(".flash")).to_contain_text("Canceled")
    expect(page.locator("#scheduled-messages")).not_to_contain_text(OTHER)
    # At 390 px the composing pages do not scroll sideways.
    page.set_viewport_size({"width": 390, "height": 844})
    for path in ("/scheduled/new", "/compose/templates", "/broadcasts/"):
        page.goto(base + path)
        shot(page, "compose-390" + path.replace("/", "-").rstrip("-"))
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, path
    assert errors == []
    context.close()
