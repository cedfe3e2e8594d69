"""Search, filters, CSV export and backup in headless Chromium, on a desk and on a phone.

tests/web/test_find.py checks the same features through Flask's test client; here a user's
browser (Debian's Chromium, driven by Playwright) fills each filter's form controls (a select,
a date picker, a search box), submits the form, reads the rows shown, downloads the CSV of the
current filter and the backup, and the backup is restored into a fresh data_dir under a new
daemon whose panel and REST API show the data again.  The rows are seeded straight into the
store (test_find.py's helpers): the pages read nothing else.
"""

from __future__ import annotations

import csv
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from appliance.daemon import Daemon
from tests.conftest import NUMBER, PHONE, client_for
from tests.web.test_browser import (  # noqa: F401 - the fixture
    PASSWORD,
    assert_no_sideways_scroll,
    browser,
    shot,
    signed_in,
)
from tests.web.test_find import DAY, OTHER, T0, add_call, add_hook, add_message
from web.auth import set_password

pytestmark = pytest.mark.timeout(120)
SIZES = ((1280, 900, "desk"), (390, 844, "phone"))
CALL = {n: "CA" + str(n) * 32 for n in range(1, 5)}
# The filter form's controls (id f-<name>) and their values.
FORM_VALUES = """form => Object.fromEntries(Array.from(form.elements)
    .filter(e => e.id.startsWith("f-")).map(e => [e.name, e.value]))"""


def filter_by(page: Page, **fields: str) -> None:
    """Set the filter form's controls as a user would (the others emptied), press Filter."""
    form = page.locator("form.filters")
    current = form.evaluate(FORM_VALUES)
    wanted = {name: fields.get(name, "") for name in current}
    assert set(fields) <= set(wanted), f"{page.url} has no filter {set(fields) - set(wanted)}"
    for name, value in current.items():
        if value == wanted[name]:
            continue
        control = form.locator(f"#f-{name}")
        if control.evaluate("e => e.tagName") == "SELECT":
            control.select_option(value=wanted[name])
        else:
            control.fill(wanted[name])  # type=date takes YYYY-MM-DD, as its picker sets it
    with page.expect_navigation():
        form.get_by_role("button", name="Filter").click()
    assert page.locator("form.filters").evaluate(FORM_VALUES) == wanted  # the filter applied


def shown(page: Page, selector: str) -> list[str]:
    """The text of each ``selector`` in the page's live list (the rows shown)."""
    return [" ".join(t.split()) for t in page.locator(selector).all_inner_texts()]


def call_sids(page: Page) -> list[str]:
    hrefs = page.locator("#live-calls td:first-child a").evaluate_all(
        "links => links.map(a => a.getAttribute('href'))"
    )
    return [h.rsplit("/", 1)[1] for h in hrefs]


def export(page: Page, tmp_path: Path, name: str) -> list[dict[str, str]]:
    """Click the page's CSV link; the download, parsed."""
    with page.expect_download() as info:
        page.locator("form.filters").get_by_role("link", name="CSV").click()
    download = info.value
    assert download.failure() is None
    target = tmp_path / f"{name}-{download.suggested_filename}"
    download.save_as(target)
    with target.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.fixture
def seeded(make_daemon: Callable[..., Daemon]) -> tuple[Daemon, dict[str, str]]:
    """A daemon whose store holds four messages, four calls and four webhook requests."""
    d = make_daemon()
    set_password(d.store, PASSWORD)
    sms = {
        "table": add_message(d, PHONE, "Table for four at eight", at=T0),
        "late": add_message(d, PHONE, "Running late", inbound=False, at=T0 + DAY),
        "sure": add_message(d, OTHER, "100% sure_thing", at=T0 + 2 * DAY),
        "lost": add_message(
            d,
            OTHER,
            "never arrived",
            inbound=False,
            status="undelivered",
            error=30003,
            at=T0 + 3 * DAY,
        ),
    }
    add_call(d, CALL[1], PHONE, "completed", T0, name="Ada Lovelace")
    add_call(d, CALL[2], OTHER, "no-answer", T0 + DAY)
    add_call(d, CALL[3], OTHER, "failed", T0 + 2 * DAY, inbound=False, error=31005)
    add_call(d, CALL[4], PHONE, "busy", T0 + 3 * DAY, inbound=False)
    add_hook(d, "http://example.com/fails", 11200, at=T0)
    add_hook(d, "http://example.com/works", None, at=T0 + DAY)
    add_hook(d, "http://example.com/down", 11205, at=T0 + 2 * DAY, status=502)
    add_hook(d, "http://example.net/bad-twiml", 12100, at=T0 + 3 * DAY, status=200)
    return d, sms


def test_search_filters_and_csv_exports_in_a_browser(
    browser: Browser,  # noqa: F811
    seeded: tuple[Daemon, dict[str, str]],
    tmp_path: Path,
) -> None:
    d, sms = seeded
    base = f"http://127.0.0.1:{d.server.port}"
    bodies = "#live-messages td.text"
    urls = "#live-webhooks td.url"
    name = "desk"
    context, page = signed_in(browser, base, 1280, 900)

    # On a desk, each filter alone, then two at once.  Messages, newest first:
    page.goto(base + "/messages/list")
    filter_by(page, q="TABLE")
    assert shown(page, bodies) == ["Table for four at eight"]
    filter_by(page, number="(415) 555-0199")
    assert shown(page, bodies) == ["never arrived", "100% sure_thing"]
    filter_by(page, direction="outbound")
    assert shown(page, bodies) == ["never arrived", "Running late"]
    filter_by(page, status="received")
    assert shown(page, bodies) == ["100% sure_thing", "Table for four at eight"]
    filter_by(page, error_code="30003")
    assert shown(page, bodies) == ["never arrived"]
    filter_by(page, since="2026-11-21", until="2026-11-22")
    assert shown(page, bodies) == ["100% sure_thing", "Running late"]
    filter_by(page, error_code="thirty")
    expect(page.locator(".filters .invalid .error")).to_contain_text("is a number")
    assert shown(page, bodies) == []
    expect(page.locator("#live-messages")).to_contain_text("No message matches.")
    filter_by(page, direction="inbound", number="4155550100")
    assert shown(page, bodies) == ["Table for four at eight"]
    assert_no_sideways_scroll(page)
    shot(page, f"30-messages-filtered-{name}")
    rows = export(page, tmp_path, name)
    assert [r["sid"] for r in rows] == [sms["table"]]
    assert rows[0]["direction"] == "inbound" and rows[0]["from_number"] == PHONE
    # Conversations: the parties with a matching message.
    page.goto(base + "/messages/")
    filter_by(page, q="sure")
    expect(page.locator("#live-conversations")).to_contain_text(OTHER)
    expect(page.locator("#live-conversations")).not_to_contain_text(PHONE)
    page.get_by_role("link", name="Clear").click()
    expect(page.locator("#live-conversations")).to_contain_text(PHONE)

    # Calls.
    page.goto(base + "/calls/")
    filter_by(page, q="lovelace")
    assert call_sids(page) == [CALL[1]]
    filter_by(page, number="+1 415 555 0199")
    assert call_sids(page) == [CALL[3], CALL[2]]
    filter_by(page, direction="outbound")
    assert call_sids(page) == [CALL[4], CALL[3]]
    filter_by(page, status="no-answer")
    assert call_sids(page) == [CALL[2]]
    filter_by(page, error_code="31005")
    assert call_sids(page) == [CALL[3]]
    filter_by(page, since="2026-11-20", until="2026-11-21")
    assert call_sids(page) == [CALL[2], CALL[1]]
    filter_by(page, direction="inbound", since="2026-11-21")
    assert call_sids(page) == [CALL[2]]
    assert_no_sideways_scroll(page)
    shot(page, f"31-calls-filtered-{name}")
    rows = export(page, tmp_path, name)
    assert [(r["sid"], r["status"], r["from_number"]) for r in rows] == [
        (CALL[2], "no-answer", OTHER)
    ]

    # The webhook log: failures only by default, every request a link away.
    page.goto(base + "/webhooks/")
    filter_by(page, q="example.com")
    assert shown(page, urls) == [
        "POST http://example.com/down",
        "POST http://example.com/fails",
    ]
    with page.expect_navigation():
        page.get_by_role("link", name="Every request").click()
    expect(page.locator("h1")).to_have_text("Webhook requests")
    filter_by(page, q="/works")
    assert shown(page, urls) == ["POST http://example.com/works"]
    filter_by(page, status="200")
    assert shown(page, urls) == [
        "POST http://example.net/bad-twiml",
        "POST http://example.com/works",
    ]
    filter_by(page, error_code="11205")
    assert shown(page, urls) == ["POST http://example.com/down"]
    filter_by(page, since="2026-11-21", until="2026-11-22")
    assert shown(page, urls) == [
        "POST http://example.com/down",
        "POST http://example.com/works",
    ]
    assert_no_sideways_scroll(page)
    shot(page, f"32-webhooks-filtered-{name}")
    rows = export(page, tmp_path, name)
    assert [(r["url"], r["status"]) for r in rows] == [
        ("http://example.com/down", "502"),
        ("http://example.com/works", "200"),
    ]
    # Clearing the filter keeps to every request.
    with page.expect_navigation():
        page.get_by_role("link", name="Clear").click()
    expect(page.locator("h1")).to_have_text("Webhook requests")
    assert len(shown(page, urls)) == 4
    context.close()

    # On a phone, every control of each form at once: each can be reached and filled at
    # 390 px (Playwright acts only on a visible, enabled control that receives the click).
    context, page = signed_in(browser, base, 390, 844)
    page.goto(base + "/messages/list")
    dates = {"since": "2026-11-22", "until": "2026-11-23"}
    filter_by(
        page,
        q="NEVER",
        number="0199",
        direction="outbound",
        status="undelivered",
        error_code="30003",
        **dates,
    )
    assert shown(page, bodies) == ["never arrived"]
    assert_no_sideways_scroll(page)
    shot(page, "30-messages-filtered-phone")
    assert [r["sid"] for r in export(page, tmp_path, "phone")] == [sms["lost"]]
    page.goto(base + "/calls/")
    filter_by(
        page,
        q="ca333",
        number="0199",
        direction="outbound",
        status="failed",
        error_code="31005",
        **dates,
    )
    assert call_sids(page) == [CALL[3]]
    assert_no_sideways_scroll(page)
    shot(page, "31-calls-filtered-phone")
    assert [r["sid"] for r in export(page, tmp_path, "phone")] == [CALL[3]]
    page.goto(base + "/webhooks/?all=1")
    filter_by(page, q="example.com/", status="502", error_code="11205", **dates)
    assert shown(page, urls) == ["POST http://example.com/down"]
    assert_no_sideways_scroll(page)
    shot(page, "32-webhooks-filtered-phone")
    assert [r["url"] for r in export(page, tmp_path, "phone")] == ["http://example.com/down"]
    context.close()


def test_backup_download_restores_into_a_fresh_data_dir_and_starts(
    browser: Browser,  # noqa: F811
    make_daemon: Callable[..., Daemon],
    tmp_path: Path,
) -> None:
    d = make_daemon()
    set_password(d.store, PASSWORD)
    sid = add_message(d, PHONE, "keep me")
    add_call(d, CALL[1], OTHER, "completed", T0, name="Grace Hopper")
    (d.config.data_dir / "recordings").mkdir(parents=True, exist_ok=True)
    (d.config.data_dir / "recordings" / "RE1.wav").write_bytes(b"RIFF....WAVE")
    account = (d.account.sid, d.account.auth_token)
    base = f"http://127.0.0.1:{d.server.port}"
    archives = []
    for width, height, name in SIZES:
        context, page = signed_in(browser, base, width, height)
        page.goto(base + "/backup/")
        assert_no_sideways_scroll(page)
        with page.expect_download() as info:
            page.click("#backup")
        download = info.value
        assert download.failure() is None
        assert download.suggested_filename.startswith("appliance-backup-")
        assert download.suggested_filename.endswith(".tar.gz")
        archives.append(tmp_path / f"{name}.tar.gz")
        download.save_as(archives[-1])
        context.close()
    assert not list(d.config.data_dir.glob(".backup-*"))  # each work directory is gone

    fresh = tmp_path / "restored"
    fresh.mkdir()
    with tarfile.open(archives[-1], "r:gz") as tar:
        assert set(tar.getnames()) >= {d.config.db_path.name, "recordings/RE1.wav"}
        tar.extractall(fresh, filter="data")
    # Restored onto the same box: it keeps its node id (data_dir/node_id), as a restart does.
    # A new node would wait out the lease this start wrote into the snapshot (on SQLite a node
    # writes its lease only at start, for 30 s), which a box up for a minute no longer holds.
    (fresh / "node_id").write_bytes((d.config.data_dir / "node_id").read_bytes())
    d.stop()  # the modem's port is free for the restored appliance
    restored = make_daemon(data_dir=str(fresh))
    assert restored.config.db_path.parent == fresh
    assert (restored.account.sid, restored.account.auth_token) == account
    assert client_for(restored).messages(sid).fetch().body == "keep me"
    assert (fresh / "recordings" / "RE1.wav").read_bytes() == b"RIFF....WAVE"

    base = f"http://127.0.0.1:{restored.server.port}"
    context, page = signed_in(browser, base, 390, 844)  # the password came back too
    page.goto(base + "/messages/list")
    filter_by(page, q="keep")
    assert shown(page, "#live-messages td.text") == ["keep me"]
    page.goto(base + "/calls/")
    expect(page.locator("#live-calls")).to_contain_text("Grace Hopper")
    expect(page.locator("#live-calls")).to_contain_text(NUMBER)
    context.close()
