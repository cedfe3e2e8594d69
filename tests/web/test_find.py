"""The panel kept open all day: search and filters, CSV export, backup, live events, error pages."""

from __future__ import annotations

import csv
import io
import json
import re
import tarfile
import time
from html import unescape
from pathlib import Path
from typing import Any

import pytest

from appliance import sids
from appliance.store.database import SqliteStore
from tests.conftest import NUMBER, PHONE
from tests.web.test_panel import PASSWORD, Panel
from web import live
from web.auth import set_password

OTHER = "+14155550199"
DAY = 86400.0
T0 = time.mktime((2026, 11, 20, 12, 0, 0, 0, 0, 0)) - time.timezone  # 2026-11-20 12:00 UTC


@pytest.fixture
def panel(make_daemon: Any) -> Panel:
    d = make_daemon()
    set_password(d.store, PASSWORD)
    p = Panel(d)
    assert p.login().status_code == 302
    return p


def add_message(
    d: Any,
    party: str,
    body: str,
    *,
    inbound: bool = True,
    status: str | None = None,
    at: float = T0,
    error: int | None = None,
) -> str:
    sid = sids.new("SM")
    d.store.write(
        lambda conn: conn.execute(
            "INSERT INTO messages (sid, account_sid, direction, modem, from_number, to_number,"
            " body, status, num_segments, error_code, date_created, date_updated)"
            " VALUES (?,?,?,?,?,?,?,?,1,?,?,?)",
            (
                sid,
                d.account.sid,
                "inbound" if inbound else "outbound-api",
                "modem1",
                party if inbound else NUMBER,
                NUMBER if inbound else party,
                body,
                status or ("received" if inbound else "delivered"),
                error,
                at,
                at,
            ),
        )
    )
    return sid


def add_call(
    d: Any,
    sid: str,
    party: str,
    status: str,
    at: float,
    name: str = "",
    *,
    inbound: bool = True,
    error: int | None = None,
) -> None:
    d.store.write(
        lambda conn: conn.execute(
            "INSERT INTO calls (sid, modem, direction, from_number, to_number, status,"
            " date_created, date_updated, caller_name, error_code) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (
                sid,
                "modem1",
                "inbound" if inbound else "outbound-api",
                party if inbound else NUMBER,
                NUMBER if inbound else party,
                status,
                at,
                at,
                name,
                error,
            ),
        )
    )


def add_hook(
    d: Any, url: str, error: int | None, at: float = T0, status: int | None = None
) -> None:
    """A webhook_log row; its HTTP status 500 for a failure, 200 otherwise, unless given."""
    http = status if status is not None else (500 if error else 200)
    d.store.write(
        lambda conn: conn.execute(
            "INSERT INTO webhook_log (url, method, request, status, error_code, error_message, at)"
            " VALUES (?, 'POST', 'To=%2B1', ?, ?, ?, ?)",
            (url, http, error, "boom" if error else None, at),
        )
    )


def text(rv: Any) -> str:
    return str(rv.get_data(as_text=True))


def test_search_and_filters_on_messages_calls_and_webhooks(panel: Panel) -> None:
    d = panel.d
    add_message(d, PHONE, "Table for four at eight", at=T0)
    add_message(d, PHONE, "Running late", inbound=False, at=T0 + DAY)
    add_message(d, OTHER, "100% sure_thing", at=T0 + 2 * DAY)
    add_message(d, OTHER, "never arrived", inbound=False, status="undelivered", error=30003)
    c = panel.client

    html = text(c.get("/messages/list?q=table"))
    assert "Table for four" in html and "Running late" not in html
    # LIKE's wildcards are taken literally: "%" and "_" match only themselves.
    assert "sure_thing" in text(c.get("/messages/list?q=0%25 sure_"))
    assert "No message matches" in text(c.get("/messages/list?q=%25x%25"))
    html = text(c.get("/messages/list?direction=outbound"))
    assert "Running late" in html and "never arrived" in html and "Table for" not in html
    html = text(c.get("/messages/list?error_code=30003"))
    assert "never arrived" in html and "Running late" not in html
    html = text(c.get("/messages/list?status=undelivered&number=415555 0199"))
    assert "never arrived" in html and "Table" not in html
    html = text(c.get("/messages/list?since=2026-11-21&until=2026-11-21"))
    assert "Running late" in html and "Table" not in html and "sure_thing" not in html
    rv = c.get("/messages/list?since=yesterday&error_code=abc")
    assert rv.status_code == 200 and "YYYY-MM-DD" in text(rv) and "is a number" in text(rv)
    # Conversations: only those with a matching message, pages keep the filter.
    html = text(c.get("/messages/?q=sure"))
    assert OTHER in html and f">{PHONE}<" not in html

    # SQL-looking input is data: no error, no match, the table is intact.
    for evil in ("' OR 1=1 --", "x'); DROP TABLE messages; --", '" OR ""="', "\\", "%' --"):
        for path in ("/messages/list", "/messages/", "/calls/", "/webhooks/"):
            for field in ("q", "number", "status", "error_code"):
                rv = c.get(path, query_string={field: evil, "all": "1"})
                assert rv.status_code == 200, (path, field, evil)
                assert "Table for four" not in text(rv)
    assert d.store.read_one("SELECT COUNT(*) FROM messages")[0] == 4

    add_call(d, "CA" + "1" * 32, PHONE, "completed", T0, name="Ada <b>")
    add_call(d, "CA" + "2" * 32, OTHER, "no-answer", T0 + DAY)
    html = text(c.get("/calls/?status=no-answer"))
    assert OTHER in html and PHONE not in html
    html = text(c.get("/calls/?q=ada"))
    assert "Ada &lt;b&gt;" in html and OTHER not in html

    add_hook(d, "http://example.com/fails", 11200)
    add_hook(d, "http://example.com/works", None)
    assert "/works" not in text(c.get("/webhooks/"))
    html = text(c.get("/webhooks/?all=1&q=works"))
    assert "/works" in html and "/fails" not in html
    html = text(c.get("/webhooks/?all=1&error_code=11200"))
    assert "/fails" in html and "/works" not in html
    # The pager keeps the filter.
    for i in range(55):
        add_message(d, PHONE, f"bulk {i}", at=T0 + i)
    html = text(c.get("/messages/list?q=bulk"))
    assert 'href="?q=bulk&amp;page=1"' in html


def read_csv(rv: Any) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(rv.get_data(as_text=True))))


def test_csv_exports_stream_the_current_filter(panel: Panel) -> None:
    d = panel.d
    add_message(d, PHONE, '=HYPERLINK("http://evil")')
    add_message(d, OTHER, 'quotes "and", commas\nand a newline', inbound=False)
    for i in range(2500):  # more than one batch
        add_message(d, OTHER, f"bulk {i}", at=T0 + i)
    c = panel.client

    rv = c.get("/messages/export.csv?number=4155550100")
    assert rv.status_code == 200 and rv.mimetype == "text/csv"
    assert rv.is_streamed and "attachment" in rv.headers["Content-Disposition"]
    rows = read_csv(rv)
    assert len(rows) == 1 and rows[0]["from_number"] == PHONE
    assert rows[0]["body"] == '\'=HYPERLINK("http://evil")'  # no formula in a spreadsheet

    # Streamed: the body is a generator over batches, not a built string.
    rv = c.get("/messages/export.csv?q=bulk", buffered=False)
    assert rv.is_streamed and not isinstance(rv.response, list | bytes | str)
    chunks = list(rv.response)
    rv.close()
    assert len(chunks) >= 3
    body = b"".join(c if isinstance(c, bytes) else c.encode() for c in chunks).decode()
    rows = list(csv.DictReader(io.StringIO(body)))
    assert len(rows) == 2500 and rows[0]["body"] == "bulk 2499" and rows[-1]["body"] == "bulk 0"
    assert len({r["sid"] for r in rows}) == 2500

    rows = read_csv(c.get("/messages/export.csv?direction=outbound&q=commas"))
    assert rows[0]["body"] == 'quotes "and", commas\nand a newline'

    add_call(d, "CA" + "3" * 32, PHONE, "completed", T0, name="@SUM(1)")
    rows = read_csv(c.get("/calls/export.csv"))
    assert rows[0]["sid"] == "CA" + "3" * 32 and rows[0]["caller_name"] == "'@SUM(1)"
    add_hook(d, "http://example.com/fails", 11200)
    add_hook(d, "http://example.com/works", None)
    rows = read_csv(c.get("/webhooks/export.csv"))
    assert [r["error_code"] for r in rows] == ["11200"]
    assert len(read_csv(c.get("/webhooks/export.csv?all=1"))) == 2

    list_id = d.panel.subscribers.create_list("People", "modem1", "", "")
    rv = panel.post(
        f"/subscribers/{list_id}", {"phone_number": PHONE, "name": "Ann", "town": "Leeds"}
    )
    assert rv.status_code == 302
    rows = read_csv(c.get(f"/subscribers/{list_id}/export.csv"))
    assert rows == [
        {
            "phone_number": PHONE,
            "name": "Ann",
            "town": "Leeds",
            "latitude": "",
            "longitude": "",
            "timezone": "",
            "status": "active",
        }
    ]
    assert c.get("/subscribers/999/export.csv").status_code == 404
    # Signed out: no export.
    assert panel.app.test_client().get("/messages/export.csv").status_code == 302


def test_backup_restores_into_a_fresh_data_dir(panel: Panel, tmp_path: Path) -> None:
    d = panel.d
    sid = add_message(d, PHONE, "keep me")
    recordings = d.config.data_dir / "recordings"
    recordings.mkdir(parents=True, exist_ok=True)
    (recordings / "RE1.wav").write_bytes(b"RIFF....WAVE")
    assert panel.client.get("/backup/").status_code == 200
    assert panel.client.post("/backup/download").status_code == 400  # no CSRF token
    rv = panel.post("/backup/download", {})
    assert rv.status_code == 200 and rv.mimetype == "application/gzip"
    assert rv.headers["Content-Disposition"].startswith('attachment; filename="appliance-backup-')
    data = rv.get_data()
    rv.close()
    assert not list(d.config.data_dir.glob(".backup-*"))  # the work directory is gone

    fresh = tmp_path / "restored"
    fresh.mkdir()
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        names = tar.getnames()
        tar.extractall(fresh, filter="data")
    assert "appliance.sqlite3" in names and "recordings/RE1.wav" in names
    assert (fresh / "recordings" / "RE1.wav").read_bytes() == b"RIFF....WAVE"
    store = SqliteStore(fresh / "appliance.sqlite3")
    try:
        assert store.read_one("SELECT body FROM messages WHERE sid = ?", (sid,))[0] == "keep me"
        assert store.setting("panel_password_hash") is not None
        assert store.read_one("PRAGMA integrity_check")[0] == "ok"
    finally:
        store.close()


def events_until(chunks: Any, name: str, limit: int = 200) -> dict[str, Any]:
    """Read SSE chunks until an event called ``name``; its data."""
    for _ in range(limit):
        chunk = next(chunks)
        chunk = chunk.decode() if isinstance(chunk, bytes) else chunk
        for block in chunk.split("\n\n"):
            lines = dict(
                line.split(": ", 1)
                for line in block.splitlines()
                if ": " in line and line[0] != ":"
            )
            if lines.get("event") == name:
                return json.loads(lines["data"])  # type: ignore[no-any-return]
    raise AssertionError(f"no {name} event")


def test_live_events_tell_of_a_new_message_and_unread_counts(panel: Panel, sim: Any) -> None:
    d = panel.d
    panel.app.config.update(LIVE_POLL_SECONDS=0.05, LIVE_STREAM_SECONDS=20)
    rv = panel.client.get("/live/events", buffered=False)
    assert rv.status_code == 200 and rv.mimetype == "text/event-stream"
    chunks = iter(rv.response)
    hello = events_until(chunks, "hello")
    assert set(hello) == {"messages", "calls", "webhooks", "health"}
    sim.network.deliver_sms("modem1", PHONE, "Are you open?")
    data = events_until(chunks, "messages")
    assert data["seq"] > hello["messages"]["seq"] and data["inbound"] == 1
    rv.close()  # the stream's place is given back
    assert panel.app.extensions["live_streams"].open == 0

    # A change between rendering a page and opening its stream is sent at once: the page
    # hands its stream the versions it was rendered from.
    html = text(panel.client.get("/messages/"))
    m = re.search(r'data-live-versions="([^"]+)"', html)
    assert m
    rendered = unescape(m.group(1))
    add_message(d, PHONE, "in between")
    rv = panel.client.get("/live/events", query_string={"v": rendered}, buffered=False)
    assert events_until(iter(rv.response), "messages")["inbound"] == 1
    rv.close()
    for junk in ("[1]", "{", '{"messages": 5}', '{"messages": {"seq": "x"}}', "x" * 3000):
        rv = panel.client.get("/live/events", query_string={"v": junk}, buffered=False)
        assert "messages" in events_until(iter(rv.response), "hello")
        rv.close()

    # Unread: counted per conversation until the thread is opened.
    add_message(d, PHONE, "Hello?")
    html = text(panel.client.get("/messages/"))
    assert '<span class="unread" title="unread">3</span>' in html
    assert "Are you open?" in text(
        panel.client.get("/messages/with", query_string={"party": PHONE})
    )
    assert 'class="unread"' not in text(panel.client.get("/messages/"))
    add_message(d, PHONE, "Hello again")
    assert '<span class="unread" title="unread">1</span>' in text(panel.client.get("/messages/"))


def test_live_streams_are_bounded_and_end(panel: Panel) -> None:
    app = panel.app
    app.config.update(LIVE_POLL_SECONDS=0.01, LIVE_STREAM_SECONDS=0.1)
    streams = app.extensions["live_streams"]
    held = []
    for _ in range(streams.limit):
        rv = panel.client.get("/live/events", buffered=False)
        held.append(rv)
    assert streams.open == streams.limit
    busy = panel.client.get("/live/events")
    assert "event: busy" in text(busy) and f"retry: {live.BUSY_RETRY_MS}" in text(busy)
    for rv in held:
        rv.close()  # closed without ever being read: the place is still given back
    assert streams.open == 0
    rv = panel.client.get("/live/events")  # runs to its end (0.1 s) and says bye
    assert "event: bye" in text(rv)
    rv.close()  # as a WSGI server does once the body is sent
    assert streams.open == 0


def test_error_pages_and_the_menu(panel: Panel, monkeypatch: pytest.MonkeyPatch) -> None:
    rv = panel.client.get("/no/such/page")
    assert (
        rv.status_code == 404 and "Not Found" in text(rv) and 'class="card error-page"' in text(rv)
    )
    assert 'rel="icon"' in text(rv)

    def boom(*args: Any, **kwargs: Any) -> str:
        raise RuntimeError("secret detail")

    monkeypatch.setattr("web.numbers.render_template", boom)
    monkeypatch.setitem(panel.app.config, "PROPAGATE_EXCEPTIONS", False)
    rv = panel.client.get("/numbers/")
    assert rv.status_code == 500 and "Something went wrong" in text(rv)
    assert "secret detail" not in text(rv)
    html = text(panel.client.get("/calls/"))
    assert '<a href="/calls/" aria-current="page">Calls</a>' in html
    assert 'aria-current="page">Modems' not in html
    assert panel.client.get("/static/favicon.svg").status_code == 200
