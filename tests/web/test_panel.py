"""The panel through a real daemon on the simulated modem: sign-in, CSRF, pages, sending."""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from html import escape
from typing import Any

import pytest

from appliance.daemon import Daemon
from tests.conftest import NUMBER, PHONE, wait_for
from web.auth import set_password

PASSWORD = "correct horse battery"


class Panel:
    """A signed-in Flask test client with the CSRF token at hand."""

    def __init__(self, d: Daemon) -> None:
        self.d = d
        self.app = d.server.panel
        self.client = self.app.test_client()

    def token(self, path: str = "/login") -> str:
        html = self.client.get(path).get_data(as_text=True)
        m = re.search(r'name="csrf_token" value="([^"]+)"', html)
        assert m, html[:500]
        return m.group(1)

    def login(self, password: str = PASSWORD) -> Any:
        return self.client.post("/login", data={"password": password, "csrf_token": self.token()})

    def post(self, path: str, data: dict[str, Any], **kwargs: Any) -> Any:
        return self.client.post(
            path,
            data={**data, "csrf_token": self.token(path if kwargs.pop("same", True) else "/")},
            **kwargs,
        )


@pytest.fixture
def panel(make_daemon: Any) -> Panel:
    d = make_daemon()
    set_password(d.store, PASSWORD)
    p = Panel(d)
    assert p.login().status_code == 302
    return p


def test_every_page_needs_sign_in_and_first_run_sets_the_password(make_daemon):
    d = make_daemon()
    client = d.server.panel.test_client()
    for path in (
        "/",
        "/numbers/",
        "/messages/",
        "/calls/",
        "/webhooks/",
        "/subscribers/",
        "/broadcasts/",
    ):
        rv = client.get(path)
        assert rv.status_code == 302 and "/login" in rv.headers["Location"], path
    assert client.get("/login").headers["Location"].endswith("/setup")
    html = client.get("/setup").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    # Without the AuthToken, whoever reaches the page first cannot take the appliance.
    rv = client.post(
        "/setup",
        data={"password": PASSWORD, "confirm": PASSWORD, "csrf_token": token, "auth_token": "x"},
    )
    assert rv.status_code == 403 and d.store.setting("panel_password_hash") is None
    good = d.account.auth_token
    rv = client.post(
        "/setup",
        data={"password": "short", "confirm": "short", "csrf_token": token, "auth_token": good},
    )
    assert "at least 8" in rv.get_data(as_text=True)
    rv = client.post(
        "/setup",
        data={"password": PASSWORD, "confirm": PASSWORD, "csrf_token": token, "auth_token": good},
    )
    assert rv.status_code == 302
    assert client.get("/").status_code == 200
    # Once set, the setup page is closed and the hash (not the password) is stored.
    assert client.get("/setup").status_code == 302
    assert PASSWORD not in (d.store.setting("panel_password_hash") or PASSWORD)


def test_session_cookie_flags_csrf_and_throttling(make_daemon):
    d = make_daemon(panel_login_attempts=3)
    set_password(d.store, PASSWORD)
    p = Panel(d)
    rv = p.login()
    cookie = rv.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    # A form without the token is refused, even when signed in.
    rv = p.client.post("/messages/send", data={"to": PHONE, "modem": "modem1", "body": "x"})
    assert rv.status_code == 400
    assert d.store.read_one("SELECT COUNT(*) FROM messages")[0] == 0
    other = Panel(d)
    for _ in range(3):
        assert "Wrong password" in other.login("nope nope").get_data(as_text=True)
    rv = other.login()  # the right password, but too many failures from this address
    assert rv.status_code == 429 and "Too many failed" in rv.get_data(as_text=True)
    # RFC 6585 section 4: a 429 may say how long to wait; the page's own figure, in seconds.
    wait = int(rv.headers["Retry-After"])
    assert 0 < wait <= 300 and f"Try again in {wait} seconds" in rv.get_data(as_text=True)


def test_set_sms_url_with_field_errors(panel):
    row = panel.d.store.read_one("SELECT sid FROM numbers")
    path = f"/numbers/{row['sid']}"
    rv = panel.post(path, {"sms_url": "ftp://nowhere", "sms_method": "POST"})
    html = rv.get_data(as_text=True)
    assert 'id="error-sms_url"' in html and "http://" in html
    rv = panel.post(path, {"sms_url": "http://127.0.0.1:5000/sms", "sms_method": "get"})
    assert rv.status_code == 302
    n = panel.d.store.read_one("SELECT sms_url, sms_method FROM numbers")
    assert (n["sms_url"], n["sms_method"]) == ("http://127.0.0.1:5000/sms", "GET")


def test_voice_url_offers_the_twimlets_and_takes_a_relative_one(panel):
    row = panel.d.store.read_one("SELECT sid FROM numbers")
    path = f"/numbers/{row['sid']}"
    html = panel.client.get(path).get_data(as_text=True)
    assert 'data-fills="f-voice_url"' in html and "presets.js" in html
    assert escape("/twimlets/message?Message%5B0%5D=Hello") in html
    voice = "/twimlets/forward?PhoneNumber=%2B14155551212&Timeout=30"
    rv = panel.post(path, {"voice_url": voice, "voice_fallback_url": "/twimlets/voicemail"})
    assert rv.status_code == 302, rv.get_data(as_text=True)
    n = panel.d.store.read_one("SELECT voice_url, voice_fallback_url FROM numbers")
    assert (n["voice_url"], n["voice_fallback_url"]) == (voice, "/twimlets/voicemail")
    rv = panel.post(path, {"sms_url": "/twimlets/message"})  # only Voice URLs may be twimlets
    assert 'id="error-sms_url"' in rv.get_data(as_text=True)


def test_send_from_the_panel_reaches_the_network(panel, sim):
    rv = panel.post("/messages/send", {"to": "12345", "modem": "modem1", "body": "hi"}, same=False)
    assert rv.status_code == 400 and 'id="error-to"' in rv.get_data(as_text=True)
    rv = panel.post(
        "/messages/send", {"to": PHONE, "modem": "modem1", "body": "Hello <b>there</b>"}, same=False
    )
    assert rv.status_code == 302
    wait_for(lambda: any(m.text == "Hello <b>there</b>" for m in sim.network.outbox()))
    row = panel.d.store.read_one("SELECT * FROM messages")
    assert row["from_number"] == NUMBER and row["direction"] == "outbound-api"
    wait_for(lambda: panel.d.store.read_one("SELECT status FROM messages")[0] == "delivered")
    html = panel.client.get("/messages/with", query_string={"party": PHONE}).get_data(as_text=True)
    assert "Hello &lt;b&gt;there&lt;/b&gt;" in html and "delivered" in html


def test_untrusted_inbound_text_is_escaped(panel, sim):
    evil = "<script>alert(1)</script>"
    panel.d.store.write(
        lambda conn: conn.execute(
            "INSERT INTO messages (sid, account_sid, direction, modem, from_number, to_number, body,"
            " status, num_segments, date_created, date_updated) VALUES"
            " ('SMx', 'AC', 'inbound', 'modem1', ?, ?, ?, 'received', 1, 1, 1)",
            (PHONE, NUMBER, evil),
        )
    )
    for path in ("/messages/", f"/messages/with?party=%2B{PHONE[1:]}", "/messages/SMx"):
        html = panel.client.get(path).get_data(as_text=True)
        assert "<script>alert" not in html and "&lt;script&gt;" in html, path


def test_panel_and_api_share_the_one_server(panel):
    base = panel.d.config.base_url.replace(":0", f":{panel.d.server.port}")
    with urllib.request.urlopen(base + "/login") as rv:
        assert "Sign in" in rv.read().decode()
    for accept in ("application/json", "*/*", ""):  # API clients, curl, bare libraries
        req = urllib.request.Request(base + "/", headers={"Accept": accept} if accept else {})
        with urllib.request.urlopen(req) as rv:
            assert b'"openapi"' in rv.read(), accept
    browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    req = urllib.request.Request(base + "/", headers={"Accept": browser})
    with urllib.request.urlopen(req) as rv:  # redirected to the panel's sign-in
        assert rv.url.endswith("/login?next=/") and "Sign in" in rv.read().decode()
    try:
        with urllib.request.urlopen(base + "/health") as rv:
            body = rv.read()
    except urllib.error.HTTPError as e:  # 503 while a modem is not ready
        body = e.read()
    assert b'"modems"' in body


def test_cli_sets_the_panel_password(tmp_path, monkeypatch, capsys):
    import io

    from werkzeug.security import check_password_hash

    from appliance import cli
    from appliance.store.database import SqliteStore

    conf = tmp_path / "a.toml"
    conf.write_text(f'data_dir = "{tmp_path / "data"}"\n')
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert cli.main(["--config", str(conf), "panel-password"]) == 1
    assert "at least 8" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert cli.main(["--config", str(conf), "panel-password"]) == 0
    store = SqliteStore(tmp_path / "data" / "appliance.sqlite3")
    try:
        assert check_password_hash(store.setting("panel_password_hash"), PASSWORD)
    finally:
        store.close()


def test_calls_recordings_and_webhook_failures(panel, tmp_path):
    d = panel.d
    wav = d.config.data_dir / "recordings" / "RE1.wav"
    wav.parent.mkdir(parents=True, exist_ok=True)
    wav.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(28))
    outside = tmp_path / "secret.wav"
    outside.write_bytes(b"RIFF secret")

    def fn(conn):
        conn.execute(
            "INSERT INTO calls (sid, modem, direction, from_number, to_number, status,"
            " date_created, date_updated, caller_name, duration) VALUES"
            " ('CA1', 'modem1', 'inbound', ?, ?, 'completed', 1, 2, ?, 7)",
            (PHONE, NUMBER, "<img src=x onerror=alert(1)>"),
        )
        for sid, path in (("RE1", str(wav)), ("RE2", str(outside))):
            conn.execute(
                "INSERT INTO recordings (sid, call_sid, status, duration, path, date_created,"
                " date_updated) VALUES (?, 'CA1', 'completed', 7, ?, 1, 1)",
                (sid, path),
            )
        conn.execute(
            "INSERT INTO webhook_log (message_sid, url, method, request, status, response,"
            " error_code, error_message, at) VALUES ('SM1', 'http://127.0.0.1:9/sms', 'POST',"
            " 'From=%2B1&Body=%3Cscript%3E', 500, '<h1>boom</h1>', 11200, 'HTTP retrieval failure', 5)"
        )

    d.store.write(fn)
    html = panel.client.get("/calls/").get_data(as_text=True)
    assert "CA1" in html and "<img src=x" not in html and "&lt;img src=x" in html
    html = panel.client.get("/calls/CA1").get_data(as_text=True)
    assert 'src="/calls/recordings/RE1.wav"' in html
    rv = panel.client.get("/calls/recordings/RE1.wav")
    assert rv.status_code == 200 and rv.mimetype == "audio/wav" and rv.data.startswith(b"RIFF")
    assert panel.client.get("/calls/recordings/RE2.wav").status_code == 404  # outside data_dir
    anonymous = d.server.panel.test_client()
    assert anonymous.get("/calls/recordings/RE1.wav").status_code == 302
    html = panel.client.get("/webhooks/").get_data(as_text=True)
    assert "11200" in html and "HTTP retrieval failure" in html
    log_id = d.store.read_one("SELECT id FROM webhook_log")[0]
    html = panel.client.get(f"/webhooks/{log_id}").get_data(as_text=True)
    assert "Body=%3Cscript%3E" in html and "&lt;h1&gt;boom&lt;/h1&gt;" in html


def test_dashboard_shows_modem_health_and_charts(panel):
    d = panel.d
    wait_for(lambda: d.store.read_one("SELECT state FROM modem_health WHERE modem = 'modem1'"))
    d.panel.scheduler.sample_signal()
    html = panel.client.get("/").get_data(as_text=True)
    assert 'id="modem-modem1"' in html and "Simulated Network" in html
    assert html.count("<svg") >= 3 and "Messages per day" in html


def _inbound(d: Daemon, sid: str, sender: str, body: str) -> None:
    d.store.write(
        lambda conn: conn.execute(
            "INSERT INTO messages (sid, account_sid, direction, modem, from_number, to_number, body,"
            " status, num_segments, date_created, date_updated) VALUES"
            " (?, 'AC', 'inbound', 'modem1', ?, ?, ?, 'received', 1, 1, 1)",
            (sid, sender, NUMBER, body),
        )
    )


def test_conversation_links_work_for_any_sender(panel):
    """Alphanumeric senders may hold '/', '?', '#', '%' or dots: each conversation still opens."""
    senders = ["AB/CD", "A/../B", "50% OFF", "Q?&A#1", "..", PHONE]
    for i, sender in enumerate(senders):
        _inbound(panel.d, f"SM{i}", sender, f"from sender {i}")
    html = panel.client.get("/messages/").get_data(as_text=True)
    hrefs = re.findall(r'href="(/messages/with[^"]*)"', html)
    assert len(hrefs) == len(senders), hrefs
    for href in hrefs:
        rv = panel.client.get(href.replace("&amp;", "&"))
        assert rv.status_code == 200, href
        page = rv.get_data(as_text=True)
        shown = [i for i in range(len(senders)) if f"from sender {i}</p>" in page]
        assert len(shown) == 1, (href, shown)
        assert f"<h1>{escape(senders[shown[0]])}</h1>" in page
    # The old path form still works for bookmarks: redirected to the query form.
    rv = panel.client.get(f"/messages/with/{PHONE}")
    assert rv.status_code == 301 and rv.headers["Location"].endswith(
        "/messages/with?party=%2B" + PHONE[1:]
    )
    assert panel.client.get("/messages/with/AB/CD", follow_redirects=True).status_code == 200


def test_welcome_twiml_is_public_and_reads_the_keys_back(make_daemon):
    """The built-in Voice URL of docs/voice.md: no sign-in, no CSRF token, valid TwiML."""
    from appliance.twiml import voice as twiml_voice

    d = make_daemon()
    client = d.server.panel.test_client()
    url = "http://127.0.0.1:8080/welcome/voice"
    rv = client.post("/welcome/voice", data={"CallSid": "CA1", "From": PHONE})
    assert rv.status_code == 200 and rv.mimetype == "text/xml"
    doc = twiml_voice.parse(rv.data, url)
    assert not doc.warnings and [type(v).__name__ for v in doc.verbs] == ["Gather", "Say", "Hangup"]
    assert doc.verbs[0].action == url + "/keys"
    rv = client.post("/welcome/voice/keys", data={"Digits": "12<3>*"})
    doc = twiml_voice.parse(rv.data, url + "/keys")
    assert [type(v).__name__ for v in doc.verbs] == ["Say", "Hangup"]
    assert "You pressed 1 2 3 star." in rv.get_data(as_text=True)
    assert client.get("/welcome/voice").status_code == 200


def test_delivery_rate_with_one_day_of_data_is_a_dot_on_today(panel):
    """Charts read right with little data: one day is a dot at today's end of the fortnight,
    under the fortnight's first and last dates, not a dot at the left edge."""
    from web import charts

    now = time.time()
    panel.d.store.write(
        lambda conn: conn.execute(
            "INSERT INTO messages (sid, account_sid, direction, modem, from_number, to_number, body,"
            " status, num_segments, date_created, date_updated, date_sent) VALUES"
            " ('SMdot', 'AC', 'outbound-api', 'modem1', ?, ?, 'x', 'delivered', 1, ?, ?, ?)",
            (NUMBER, PHONE, now, now, now),
        )
    )
    html = panel.client.get("/").get_data(as_text=True)
    chart = html[html.index("Delivery rate") :]
    chart = chart[: chart.index("</svg>")]
    (cx,) = re.findall(r'<circle cx="([\d.]+)"', chart)
    assert float(cx) > charts.WIDTH - 5  # today: the right end
    labels = re.findall(r'class="axis">(\d\d [A-Z][a-z]{2})</text>', chart)
    assert len(labels) == 2 and labels[0] != labels[1]


def test_a_single_box_is_a_fleet_of_one(panel: Panel) -> None:
    """On SQLite the Fleet page answers (one node, this one, up, holding modem1) but is not in
    the menu, and /health names the node (issue 16, slice 3)."""
    d = panel.d
    html = panel.client.get("/fleet/").get_data(as_text=True)
    assert "1 of 1 node up" in html and "(this node)" in html and "modem1" in html
    assert d.fleet.id in html
    assert 'href="/fleet/"' not in panel.client.get("/").get_data(as_text=True)
    assert d.server is not None
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{d.server.port}/health", timeout=5) as rv:
            body = rv.read()
    except urllib.error.HTTPError as e:  # 503 while the modem is not registered yet
        body = e.read()
    health = json.loads(body)
    assert health["node"] == {"id": d.fleet.id, "name": d.fleet.name, "id_shared": None}
    assert health["fleet"]["up"] == 1
    assert [n["modems"] for n in health["fleet"]["nodes"]] == [["modem1"]]
    assert health["fleet"]["nodes"][0]["id_shared_with"] is None

    # A copy of this data_dir/node_id starts elsewhere: this node's next heartbeat tells.
    from appliance.store.fleet import Fleet

    clone = Fleet(d.store, d.fleet.id, "copy", lambda: "http://10.9.9.9:8080", [])
    clone.join()
    d.fleet.beat()
    assert d.fleet.clash is not None and "http://10.9.9.9:8080" in d.fleet.clash
    html = panel.client.get("/fleet/").get_data(as_text=True)
    assert 'id="clash"' in html
    assert "another appliance took this node id at http://10.9.9.9:8080" in html
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{d.server.port}/health", timeout=5) as rv:
            body = rv.read()
    except urllib.error.HTTPError as e:
        body = e.read()
    health = json.loads(body)
    assert health["node"]["id_shared"] == d.fleet.clash
    clone.beat()  # the copy holds the row and sees this node's clash
    assert clone.clash is not None
    html = panel.client.get("/fleet/").get_data(as_text=True)
    assert f"node id also used by {escape(d.base_url())}" in html
    clone.leave()  # the copy stops (to delete its node_id): this node takes its row back
    d.fleet.beat()
    assert d.fleet.clash is None
    assert panel.client.get("/fleet/").get_data(as_text=True).count("node id also used") == 0


def test_a_list_keyword_or_name_taken_is_a_form_error(panel: Panel) -> None:
    """The database's unique keys refuse a duplicate (migration 0027): the form says which
    field and why (400), not an unexpected error."""
    form = {"name": "Weather", "modem": "modem1", "join_keyword": "weather", "leave_keyword": ""}
    assert panel.post("/subscribers/", form).status_code == 302
    for change, field, message in (
        (
            {"name": "Rain", "join_keyword": "RAIN", "leave_keyword": "Weather"},
            "leave_keyword",
            "WEATHER is already used",
        ),
        ({"join_keyword": "RAIN"}, "name", "There is already a list named &#39;Weather&#39;"),
    ):
        rv = panel.post("/subscribers/", {**form, **change})
        html = rv.get_data(as_text=True)
        assert rv.status_code == 400 and f'id="error-{field}">{message}' in html, html[-2000:]
    lists = panel.d.store.read("SELECT name FROM subscriber_lists")
    assert [r[0] for r in lists] == ["Weather"]
