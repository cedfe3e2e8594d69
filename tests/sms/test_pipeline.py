"""End to end: SMS in through the simulated modem, webhook to a real app, TwiML reply out."""

from __future__ import annotations

from twilio.request_validator import RequestValidator

from tests.conftest import NUMBER, PHONE, wait_for
from tests.webapp import twiml


def test_inbound_sms_posts_twilio_webhook_and_reply_goes_out(sim, webapp, make_daemon):
    webapp.routes["/sms"] = twiml("<Response><Message>Got it: thanks!</Message></Response>")
    d = make_daemon(modem={"sms_url": webapp.url("/sms")})
    sim.network.deliver_sms(sim.modems["modem1"], PHONE, "Hello appliance")

    req = webapp.wait(path="/sms")
    assert req.method == "POST"
    params = req.flat
    assert (
        params["From"] == PHONE and params["To"] == NUMBER and params["Body"] == "Hello appliance"
    )
    assert params["MessageSid"].startswith("SM") and len(params["MessageSid"]) == 34
    assert params["SmsSid"] == params["MessageSid"] == params["SmsMessageSid"]
    assert params["AccountSid"] == d.account.sid
    assert params["NumSegments"] == "1" and params["NumMedia"] == "0"
    assert params["SmsStatus"] == "received" and params["ApiVersion"] == "2010-04-01"
    assert params["FromCountry"] == "US"
    assert req.headers["Content-Type"].startswith("application/x-www-form-urlencoded")
    assert req.headers["I-Twilio-Idempotency-Token"]
    validator = RequestValidator(d.account.auth_token)
    assert validator.validate(req.url, params, req.headers["X-Twilio-Signature"])
    assert not validator.validate(
        req.url, dict(params, Body="tampered"), req.headers["X-Twilio-Signature"]
    )

    assert sim.network.wait_outbox(1, timeout=10)
    [out] = sim.network.outbox("modem1")
    assert out.destination == PHONE and out.text == "Got it: thanks!"
    rows = d.store.read("SELECT direction, status FROM messages ORDER BY seq")
    assert [r["direction"] for r in rows] == ["inbound", "outbound-reply"]
    wait_for(
        lambda: (
            d.store.read_one("SELECT status FROM messages WHERE direction='outbound-reply'")[
                "status"
            ]
            == "delivered"
        )
    )
    # The modem's storage is empty: the message was deleted after it was stored.
    wait_for(lambda: sim.modems["modem1"].receive_memory().used == 0)


def test_multipart_out_of_order_and_interleaved_is_reassembled(sim, webapp, make_daemon):
    make_daemon(modem={"sms_url": webapp.url("/sms")})
    long_a = "A weather report that needs several parts. " * 8
    long_b = "Ünïcødé 😀 from another sender, also long enough to split. " * 3
    sim.network.deliver_sms(
        sim.modems["modem1"],
        PHONE,
        long_a,
        shuffle=True,
        interleave_with=[("+14155550199", long_b)],
    )
    first, second = webapp.wait(path="/sms"), webapp.wait(path="/sms")
    got = {r.flat["From"]: r.flat for r in (first, second)}
    assert got[PHONE]["Body"] == long_a
    assert got[PHONE]["NumSegments"] == str(
        len(__import__("appliance.sms.codec").sms.codec.split(long_a))
    )
    assert got["+14155550199"]["Body"] == long_b


def test_missing_part_is_delivered_after_timeout_with_30009(sim, webapp, make_daemon):
    d = make_daemon(modem={"sms_url": webapp.url("/sms")}, reassembly_timeout=0.5)
    text = "x" * 400  # three parts
    sim.network.deliver_sms(sim.modems["modem1"], PHONE, text, drop_parts=[2])
    req = webapp.wait(path="/sms", timeout=10)
    assert req.flat["Body"] == "x" * 153 + "x" * (400 - 306)
    row = d.store.read_one(
        "SELECT error_code, num_segments FROM messages WHERE direction = 'inbound'"
    )
    assert row["error_code"] == 30009 and row["num_segments"] == 2


def test_get_webhook_signs_the_full_url(sim, webapp, make_daemon):
    d = make_daemon(modem={"sms_url": webapp.url("/sms?tenant=7"), "sms_method": "GET"})
    sim.network.deliver_sms(sim.modems["modem1"], PHONE, "via GET & co")
    req = webapp.wait(path="/sms")
    assert (
        req.method == "GET"
        and req.query["Body"] == ["via GET & co"]
        and req.query["tenant"] == ["7"]
    )
    assert RequestValidator(d.account.auth_token).validate(
        req.url, {}, req.headers["X-Twilio-Signature"]
    )


def test_cookies_are_kept_per_conversation(sim, webapp, make_daemon):
    counter = {"n": 0}

    def app(req):
        counter["n"] += 1
        return (200, "text/xml", b"<Response/>", {"Set-Cookie": f"visits={counter['n']}; Path=/"})

    webapp.routes["/sms"] = app
    make_daemon(modem={"sms_url": webapp.url("/sms")})
    modem = sim.modems["modem1"]
    sim.network.deliver_sms(modem, PHONE, "one")
    assert "Cookie" not in webapp.wait(path="/sms").headers
    sim.network.deliver_sms(modem, PHONE, "two")
    assert webapp.wait(path="/sms").headers.get("Cookie") == "visits=1"
    sim.network.deliver_sms(modem, "+14155550123", "someone else")
    assert "Cookie" not in webapp.wait(path="/sms").headers


def test_failure_goes_to_fallback_then_retries(sim, webapp, make_daemon):
    calls = {"primary": 0}

    def primary(req):
        calls["primary"] += 1
        return (
            (500, "text/plain", b"boom")
            if calls["primary"] < 3
            else (200, "text/xml", b"<Response/>")
        )

    webapp.routes["/sms"] = primary
    webapp.routes["/fallback"] = lambda req: (503, "text/plain", b"also down")
    d = make_daemon(
        modem={"sms_url": webapp.url("/sms"), "sms_fallback_url": webapp.url("/fallback")}
    )
    sim.network.deliver_sms(sim.modems["modem1"], PHONE, "retry me")
    wait_for(lambda: calls["primary"] >= 3, timeout=15)
    fallback = webapp.to("/fallback")[0].flat
    assert fallback["ErrorCode"] == "11200" and fallback["ErrorUrl"] == webapp.url("/sms")
    assert fallback["Body"] == "retry me"
    wait_for(lambda: d.store.read_one("SELECT state FROM webhook_jobs")["state"] == "done")
    codes = [
        r["error_code"] for r in d.store.read("SELECT error_code FROM webhook_log ORDER BY id")
    ]
    assert (
        codes.count(11200) == 4 and codes[-1] is None
    )  # 2 rounds x (primary + fallback), then success
    bodies = {r.flat["MessageSid"] for r in webapp.to("/sms")}
    assert len(bodies) == 1  # the same message each time


def test_twiml_errors_are_recorded_with_twilio_codes(sim, webapp, make_daemon):
    webapp.routes["/bad-xml"] = lambda req: (200, "text/xml", b"<Response><Message>oops</Response>")
    webapp.routes["/json"] = lambda req: (200, "application/json", b'{"reply": "no"}')
    d = make_daemon(
        modem={"sms_url": webapp.url("/bad-xml"), "sms_fallback_url": webapp.url("/json")}
    )
    sim.network.deliver_sms(sim.modems["modem1"], PHONE, "hi")
    wait_for(lambda: d.store.read_one("SELECT state FROM webhook_jobs WHERE state = 'failed'"))
    codes = {r["error_code"] for r in d.store.read("SELECT error_code FROM webhook_log")}
    assert {12100, 12300} <= codes
    assert sim.network.outbox("modem1") == []


def test_redirect_reposts_original_params_and_messages_run_in_order(sim, webapp, make_daemon):
    webapp.routes["/sms"] = twiml(
        "<Response><Message>first</Message><Redirect>/next</Redirect><Message>never</Message></Response>"
    )
    webapp.routes["/next"] = twiml(
        '<Response><Message to="+14155550111">second</Message><Message><Body>third</Body>'
        "<Media>https://example.com/cat.jpg</Media></Message><Unknown/></Response>"
    )
    d = make_daemon(modem={"sms_url": webapp.url("/sms")})
    # Not "start": that is an opt-in keyword, answered by the appliance itself.
    sim.network.deliver_sms(sim.modems["modem1"], PHONE, "begin")
    redirected = webapp.wait(path="/next")
    assert (
        redirected.method == "POST"
        and redirected.flat["Body"] == "begin"
        and redirected.flat["From"] == PHONE
    )
    assert sim.network.wait_outbox(3, timeout=10)
    out = [(m.destination, m.text) for m in sim.network.outbox("modem1")]
    assert out == [(PHONE, "first"), ("+14155550111", "second"), (PHONE, "third")]
    codes = [r["error_code"] for r in d.store.read("SELECT error_code FROM webhook_log")]
    assert codes.count(12200) >= 2  # <Media> ignored, <Unknown> skipped


def test_empty_response_sends_nothing(sim, webapp, make_daemon):
    webapp.routes["/sms"] = lambda req: (204, "", b"")
    d = make_daemon(modem={"sms_url": webapp.url("/sms")})
    sim.network.deliver_sms(sim.modems["modem1"], PHONE, "quiet please")
    webapp.wait(path="/sms")
    wait_for(lambda: d.store.read_one("SELECT state FROM webhook_jobs")["state"] == "done")
    assert d.store.read_one("SELECT COUNT(*) FROM messages WHERE direction != 'inbound'")[0] == 0
