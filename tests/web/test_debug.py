"""Debug like the Console: the request inspector, replay, test webhooks and the call timeline.

A real daemon on the simulated modem, its panel through Flask's test client and in Debian's
Chromium (the test button, replay, a Gather-then-Dial call's timeline at 1280 and 390 px), and
a real HTTP app on 127.0.0.1 (tests/webapp.py) that records what reaches it; signatures are
checked with the official twilio library's RequestValidator.
"""

from __future__ import annotations

import html as htmllib
import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import Browser, expect
from twilio.request_validator import RequestValidator

from appliance.daemon import Daemon
from appliance.sim.host import SimulatorHost
from appliance.sim.voice import Digits, RemoteParty, Silence, WaitHeard
from tests.conftest import NUMBER, PHONE, wait_for
from tests.web.test_browser import (  # noqa: F401 - the fixture
    assert_no_sideways_scroll,
    browser,
    shot,
    signed_in,
)
from tests.web.test_panel import PASSWORD, Panel
from tests.webapp import Request, WebApp, twiml
from web.auth import set_password

pytestmark = pytest.mark.timeout(120)

SECRET_BODY = "hello <b>inspector</b> & co"


@pytest.fixture
def debug_panel(make_daemon: Callable[..., Daemon], webapp: WebApp, sim: SimulatorHost) -> Panel:
    """A signed-in panel on a daemon whose number sends its SMS, calls and call statuses to
    ``webapp``."""
    d = make_daemon(
        modem={
            "sms_url": webapp.url("/sms"),
            "voice_url": webapp.url("/voice"),
            "status_callback": webapp.url("/status"),
            "audio_port": str(sim.modems["modem1"].audio_path),
        }
    )
    set_password(d.store, PASSWORD)
    p = Panel(d)
    assert p.login().status_code == 302
    return p


def signed_with(token: str, req: Request) -> bool:
    validator = RequestValidator(token)
    return bool(validator.validate(req.url, req.flat, req.headers.get("X-Twilio-Signature", "")))


def page(panel: Panel, path: str) -> str:
    rv = panel.client.get(path)
    assert rv.status_code == 200, (path, rv.status_code)
    return str(rv.get_data(as_text=True))


def table(html: str, table_id: str) -> dict[str, str]:
    """A two-column table of the page as {first cell: second cell}, unescaped."""
    m = re.search(rf'<table id="{table_id}">(.*?)</table>', html, re.S)
    assert m, f"no table {table_id}"
    rows = re.findall(r"<tr><td><code>(.*?)</code></td><td[^>]*>(.*?)</td></tr>", m.group(1), re.S)
    return {htmllib.unescape(k): htmllib.unescape(v) for k, v in rows}


def inbound_sms(sim: SimulatorHost, webapp: WebApp, d: Daemon, body: str) -> Any:
    """Deliver an SMS through the simulated network; the log row of its webhook."""
    sim.network.deliver_sms(sim.modems["modem1"], PHONE, body)
    webapp.wait(20, path="/sms")
    return wait_for(
        lambda: d.store.read_one(
            "SELECT * FROM webhook_log WHERE message_sid IS NOT NULL AND url LIKE '%/sms'"
            " ORDER BY id LIMIT 1"
        ),
        timeout=15,
    )


def timeline(panel: Panel, sid: str) -> tuple[list[tuple[str, str]], str]:
    """A call page's timeline as (kind, text) steps, and its HTML."""
    html = page(panel, f"/calls/{sid}")
    m = re.search(r'<ol class="timeline" id="timeline">(.*?)</ol>', html, re.S)
    assert m, html[:1000]
    items = re.findall(r'<li class="step[^"]*" data-kind="([^"]+)">(.*?)</li>', m.group(1), re.S)
    steps = [
        (kind, " ".join(htmllib.unescape(re.sub(r"<[^>]+>", " ", body)).split()))
        for kind, body in items
    ]
    return steps, m.group(1)


def step(steps: list[tuple[str, str]], kind: str, text: str) -> int:
    """The index of the first step of ``kind`` whose text has ``text``."""
    found = [i for i, (k, t) in enumerate(steps) if k == kind and text in t]
    assert found, f"no {kind} step with {text!r} in {steps}"
    return found[0]


def test_request_page_shows_params_response_headers_body_and_duration(
    debug_panel: Panel, sim: SimulatorHost, webapp: WebApp
) -> None:
    d = debug_panel.d
    # An answer that tries to inject markup and is longer than what the log keeps.
    answer = ("<Response><!-- <script>alert(1)</script> " + "x" * 9000 + " --></Response>").encode()
    webapp.routes["/sms"] = lambda req: (200, "text/xml", answer, {"X-App-Trace": "trace-42"})
    row = inbound_sms(sim, webapp, d, SECRET_BODY)

    html = page(debug_panel, f"/webhooks/{row['id']}")
    params = table(html, "params")
    assert params["Body"] == SECRET_BODY and params["From"] == PHONE and params["To"] == NUMBER
    assert params["MessageSid"] == row["message_sid"] and params["AccountSid"] == d.account.sid
    assert "<b>inspector</b>" not in html  # the parameters are escaped
    headers = table(html, "response-headers")
    assert headers["X-App-Trace"] == "trace-42" and headers["Content-Type"] == "text/xml"
    assert re.search(r'<dd id="response-status">200</dd>', html)
    ms = int(re.search(r'<dd id="duration">(\d+) ms</dd>', html).group(1))
    assert 0 <= ms < 15000 and abs(ms - row["duration"] * 1000) <= 1
    # The body is untrusted: escaped, and cut to the first 4096 bytes.
    body = re.search(r'<pre class="raw" id="response-body">(.*?)</pre>', html, re.S).group(1)
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert len(htmllib.unescape(body)) == 4096 and "Only the first 4096 bytes are kept" in html
    assert row["body_truncated"] == 1 and json.loads(row["response_headers"])["X-App-Trace"]


def test_replay_is_signed_afresh_and_logged_as_a_new_entry(
    debug_panel: Panel, sim: SimulatorHost, webapp: WebApp
) -> None:
    d = debug_panel.d
    webapp.routes["/sms"] = twiml("<Response><Message>Thanks!</Message></Response>")
    original = inbound_sms(sim, webapp, d, "replay me")
    first = webapp.to("/sms")[0]
    wait_for(
        lambda: d.store.read_one("SELECT sid FROM messages WHERE direction = 'outbound-reply'")
    )
    old_token = d.account.auth_token
    d.account.auth_token = "0123456789abcdef0123456789abcdef"  # rotated since the request

    html = page(debug_panel, f"/webhooks/{original['id']}")
    assert 'id="replay"' in html
    rv = debug_panel.post(f"/webhooks/{original['id']}/replay", {}, same=False)
    assert rv.status_code == 302
    new_id = int(rv.headers["Location"].rstrip("/").rsplit("/", 1)[1])
    assert new_id != original["id"]

    replayed = webapp.to("/sms")[-1]
    assert len(webapp.to("/sms")) == 2 and replayed is not first
    assert signed_with(d.account.auth_token, replayed)  # signed for the URL and today's token
    assert not signed_with(old_token, replayed)
    assert replayed.flat == first.flat  # the same parameters
    assert (
        replayed.headers["I-Twilio-Idempotency-Token"]
        != first.headers["I-Twilio-Idempotency-Token"]
    )
    row = d.store.read_one("SELECT * FROM webhook_log WHERE id = ?", (new_id,))
    assert row["replay_of"] == original["id"] and row["source"] == "replay"
    assert row["message_sid"] == original["message_sid"] and row["status"] == 200
    # The answer is logged, not run: no second reply is sent.
    replies = d.store.read("SELECT sid FROM messages WHERE direction = 'outbound-reply'")
    assert len(replies) == 1

    html = page(debug_panel, f"/webhooks/{new_id}")
    assert f'href="/webhooks/{original["id"]}"' in html and "Replay of" in html
    assert "Thanks!" in html
    html = page(debug_panel, f"/webhooks/{original['id']}")
    assert f'href="/webhooks/{new_id}"' in html and "Replayed as" in html

    # The app now fails: the replay shows the failure.
    webapp.routes["/sms"] = lambda req: (500, "text/plain", b"database down")
    rv = debug_panel.post(f"/webhooks/{original['id']}/replay", {}, same=False)
    failed_id = int(rv.headers["Location"].rstrip("/").rsplit("/", 1)[1])
    html = page(debug_panel, f"/webhooks/{failed_id}")
    assert "11200" in html and re.search(r'<dd id="response-status">500</dd>', html)
    assert "database down" in html


def test_send_a_test_webhook_from_a_number_page(debug_panel: Panel, webapp: WebApp) -> None:
    d = debug_panel.d
    number = d.store.read_one("SELECT * FROM numbers")
    html = page(debug_panel, f"/numbers/{number['sid']}")
    assert 'id="test-sms"' in html and 'id="test-voice"' in html
    webapp.routes["/sms"] = twiml("<Response><Message>Pong</Message></Response>")
    webapp.routes["/voice"] = twiml("<Response><Say>Hello tester</Say></Response>")

    rv = debug_panel.post(f"/webhooks/test/{number['sid']}", {"kind": "sms"}, same=False)
    assert rv.status_code == 302
    sms = webapp.to("/sms")[-1]
    assert signed_with(d.account.auth_token, sms)
    assert sms.param("To") == NUMBER and sms.param("From") == "+15005550006"
    assert (sms.param("MessageSid") or "").startswith("SM") and sms.param("SmsStatus") == "received"
    assert sms.param("AccountSid") == d.account.sid and sms.param("Body")
    html = page(debug_panel, rv.headers["Location"])
    assert re.search(r'<dd id="response-status">200</dd>', html) and "Pong" in html
    assert "<small>test</small>" in html
    assert table(html, "params")["MessageSid"] == sms.param("MessageSid")

    rv = debug_panel.post(f"/webhooks/test/{number['sid']}", {"kind": "voice"}, same=False)
    voice = webapp.to("/voice")[-1]
    assert signed_with(d.account.auth_token, voice)
    assert (voice.param("CallSid") or "").startswith("CA")
    assert voice.param("CallStatus") == "ringing" and voice.param("Direction") == "inbound"
    assert voice.param("To") == NUMBER and voice.param("Called") == NUMBER
    html = page(debug_panel, rv.headers["Location"])
    assert "Hello tester" in html and 'id="duration"' in html
    listed = page(debug_panel, "/webhooks/?all=1")
    assert listed.count("<small>test</small>") == 2 and re.search(r"<td>\d+ ms</td>", listed)
    # Nothing was sent or called: the answers were only shown.
    assert d.store.read_one("SELECT COUNT(*) FROM messages")[0] == 0
    assert d.store.read_one("SELECT COUNT(*) FROM calls")[0] == 0

    # A URL that fails shows the failure; a number without that URL says so.
    webapp.routes["/sms"] = lambda req: (404, "text/html", b"<h1>Not Found</h1>")
    rv = debug_panel.post(f"/webhooks/test/{number['sid']}", {"kind": "sms"}, same=False)
    html = page(debug_panel, rv.headers["Location"])
    assert "11200" in html and "&lt;h1&gt;Not Found&lt;/h1&gt;" in html
    d.store.write(lambda conn: conn.execute("UPDATE numbers SET voice_url = ''"))
    rv = debug_panel.post(f"/webhooks/test/{number['sid']}", {"kind": "voice"}, same=False)
    assert rv.headers["Location"].endswith(f"/numbers/{number['sid']}")
    assert "has no VOICE URL" in page(debug_panel, rv.headers["Location"])


def test_replay_and_test_need_an_admin_and_the_csrf_token(
    debug_panel: Panel, sim: SimulatorHost, webapp: WebApp
) -> None:
    d = debug_panel.d
    original = inbound_sms(sim, webapp, d, "guarded")
    number = d.store.read_one("SELECT sid FROM numbers")["sid"]
    targets = [
        (f"/webhooks/{original['id']}/replay", {}),
        (f"/webhooks/test/{number}", {"kind": "sms"}),
    ]
    rows = d.store.read_one("SELECT COUNT(*) FROM webhook_log")[0]
    requests = len(webapp.requests)

    anonymous = Panel(d)
    for path, data in targets:
        # A valid token (the sign-in page's), but nobody signed in.
        rv = anonymous.client.post(path, data={**data, "csrf_token": anonymous.token()})
        assert rv.status_code == 302 and "/login" in rv.headers["Location"], path
        # Signed in, but the form has no token: refused before anything is sent.
        rv = debug_panel.client.post(path, data=data)
        assert rv.status_code == 400, path
    viewer = Panel(d)
    assert viewer.login().status_code == 302
    with viewer.client.session_transaction() as s:
        s["user"] = "viewer"  # a signed-in user who is not the admin
    html = page(viewer, f"/webhooks/{original['id']}")
    assert 'id="replay"' not in html
    for path, data in targets:
        assert viewer.post(path, data, same=False).status_code == 403, path
    assert debug_panel.client.get(targets[0][0]).status_code == 405  # never by GET

    assert d.store.read_one("SELECT COUNT(*) FROM webhook_log")[0] == rows
    assert len(webapp.requests) == requests


def test_call_timeline_shows_each_step_in_order(
    debug_panel: Panel, sim: SimulatorHost, webapp: WebApp
) -> None:
    d = debug_panel.d
    webapp.routes["/voice"] = twiml(
        '<Response><Gather numDigits="3" action="/gathered" timeout="5">'
        "<Say>Please enter your code.</Say></Gather>"
        "<Say>We did not get anything.</Say></Response>"
    )
    webapp.routes["/gathered"] = twiml("<Response><Say>Thank you, goodbye.</Say></Response>")
    party = RemoteParty(
        [WaitHeard(0.5, timeout=10), Digits("123", on_ms=80, off_ms=80), Silence(8)]
    )
    remote = sim.network.incoming_call("modem1", PHONE, party=party)
    sid = webapp.wait(20, path="/voice").param("CallSid")
    assert webapp.wait(25, path="/gathered").param("Digits") == "123"
    assert remote.wait_state("ended", timeout=25)
    webapp.wait(20, path="/status")  # the completed status callback
    wait_for(
        lambda: d.store.read_one(
            "SELECT id FROM webhook_log WHERE call_sid = ? AND job_id IS NOT NULL", (sid,)
        ),
        timeout=15,
    )
    wait_for(lambda: d.store.read_one("SELECT end_time FROM calls WHERE sid = ?", (sid,))[0])

    steps, raw = timeline(debug_panel, str(sid))

    def index(kind: str, text: str) -> int:
        return step(steps, kind, text)

    order = [
        index("webhook", "/voice"),
        index("verb", "Gather numDigits=3"),
        index("gathered", "digits 123"),
        index("webhook", "Digits 123"),
        index("verb", 'Say "Thank you, goodbye."'),
        index("status-callback", "completed"),
    ]
    assert order == sorted(order), steps
    assert index("call", "Answered") < order[1] and index("call", "Ended") > order[4]
    assert "Please enter your code" in steps[order[1]][1]  # the Gather's nested prompt
    assert not [s for s in steps if s[0] == "verb" and "We did not get anything" in s[1]]
    # The TwiML each request returned, escaped.
    assert "&lt;Say&gt;Thank you, goodbye.&lt;/Say&gt;" in raw


def test_call_timeline_of_gather_then_dial_shows_each_leg_in_a_browser(
    browser: Browser,  # noqa: F811
    debug_panel: Panel,
    sim: SimulatorHost,
    webapp: WebApp,
) -> None:
    """One modem: <Dial> holds the caller and calls each number in turn (voice.md 3.2).

    The call page is read in Chromium, on a desk and on a phone."""
    busy, on_call = "+14155550166", "+14155550177"
    sim.network.set_callee(busy, outcome="busy")
    sim.network.set_callee(
        on_call, outcome="answer", answer_after=1.0, party=RemoteParty([Silence(30)])
    )
    webapp.routes["/voice"] = twiml(
        '<Response><Gather numDigits="1" action="/menu" timeout="5">'
        "<Say>Press 1 for the engineer on call.</Say></Gather></Response>"
    )
    webapp.routes["/menu"] = twiml(
        '<Response><Dial action="/dialed" timeout="10" timeLimit="3">'
        f"<Number>{busy}</Number><Number>{on_call}</Number></Dial></Response>"
    )
    webapp.routes["/dialed"] = twiml("<Response><Say>Bye.</Say></Response>")
    party = RemoteParty([WaitHeard(0.5, timeout=10), Digits("1", on_ms=80, off_ms=80), Silence(40)])
    remote = sim.network.incoming_call("modem1", PHONE, party=party)
    sid = str(webapp.wait(20, path="/voice").param("CallSid"))
    dialed = webapp.wait(60, path="/dialed")
    assert dialed.param("DialCallStatus") == "completed"
    assert remote.wait_state("ended", timeout=25)
    d = debug_panel.d
    wait_for(lambda: d.store.read_one("SELECT end_time FROM calls WHERE sid = ?", (sid,))[0])
    wait_for(
        lambda: (
            d.store.read_one(
                "SELECT COUNT(*) FROM calls WHERE parent_call_sid = ? AND end_time IS NOT NULL",
                (sid,),
            )[0]
            == 2
        )
    )

    base = f"http://127.0.0.1:{d.server.port}"
    for width, height, name in ((1280, 900, "desk"), (390, 844, "phone")):
        context, page = signed_in(browser, base, width, height)
        page.goto(f"{base}/calls/{sid}")
        # Each step as shown: (kind, the text a reader sees), and whether it fits the page.
        shown = page.locator("#timeline > li.step").evaluate_all(
            """items => items.map(li => [li.dataset.kind, li.innerText,
                li.getBoundingClientRect().height > 0
                && li.getBoundingClientRect().right <= document.documentElement.clientWidth])"""
        )
        steps = [(kind, " ".join(text.split())) for kind, text, _ in shown]
        assert all(fits for _, _, fits in shown), shown
        order = [
            step(steps, "verb", "Gather numDigits=1"),
            step(steps, "gathered", "digits 1"),
            step(steps, "webhook", "(Digits 1) POST"),
            step(steps, "verb", f"Dial {busy}, {on_call}"),
            step(steps, "webhook", "DialCallStatus completed"),
            step(steps, "verb", 'Say "Bye."'),
        ]
        assert order == sorted(order), steps
        # Each leg and its outcome, between the <Dial> and its action (in whichever order the
        # legs were placed: one after the other here, at once where Dial rings in parallel).
        for leg in (f"Dial leg to {busy}: busy", f"Dial leg to {on_call}: completed"):
            assert order[3] < step(steps, "leg", leg) < order[4], steps
        # The TwiML the menu's request returned, one click away, still inside the page.
        menu = page.locator("#timeline > li.step").nth(order[2])
        menu.locator("summary").click()
        expect(menu.locator("pre.raw")).to_contain_text(f"<Number>{on_call}</Number>")
        assert_no_sideways_scroll(page)
        shot(page, f"call-timeline-{name}")
        context.close()


def test_test_webhook_then_replay_in_a_browser(
    browser: Browser,  # noqa: F811
    debug_panel: Panel,
    webapp: WebApp,
) -> None:
    """Debian's Chromium: a number's test button, the inspector's tables, the replay button."""
    d = debug_panel.d
    webapp.routes["/sms"] = lambda req: (
        200,
        "text/xml",
        b"<Response><Message>Pong</Message></Response>",
        {"X-App-Trace": "browser"},
    )
    base = f"http://127.0.0.1:{d.server.port}"
    number = d.store.read_one("SELECT sid FROM numbers")["sid"]
    context, page = signed_in(browser, base, 1280, 900)
    page.goto(f"{base}/numbers/{number}")
    page.click("#test-sms")
    expect(page.locator("h1")).to_contain_text("test")
    expect(page.locator("#response-status")).to_have_text("200")
    expect(page.locator("#params")).to_contain_text("+15005550006")
    expect(page.locator("#response-headers")).to_contain_text("browser")
    expect(page.locator("#response-body")).to_contain_text("<Message>Pong</Message>")
    shot(page, "webhook-inspector")
    tested = page.url
    page.click("#replay")
    expect(page.locator("h1")).to_contain_text("replay")
    assert page.url != tested
    expect(page.locator("text=Replay of")).to_be_visible()
    sent = webapp.to("/sms")
    assert len(sent) == 2 and all(signed_with(d.account.auth_token, r) for r in sent)
    assert sent[0].flat == sent[1].flat
    page.set_viewport_size({"width": 390, "height": 844})
    assert_no_sideways_scroll(page)
    shot(page, "webhook-inspector-phone")
    context.close()
