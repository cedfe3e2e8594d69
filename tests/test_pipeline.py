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
    assert params["From"] == PHONE and params["To"] == NUMBER and params["Body"] == "Hello appliance"
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
    assert not validator.validate(req.url, dict(params, Body="tampered"), req.headers["X-Twilio-Signature"])

    assert sim.network.wait_outbox(1, timeout=10)
    [out] = sim.network.outbox("modem1")
    assert out.destination == PHONE and out.text == "Got it: thanks!"
    rows = d.store.read("SELECT direction, status FROM messages ORDER BY seq")
    assert [r["direction"] for r in rows] == ["inbound", "outbound-reply"]
    wait_for(lambda: d.store.read_one("SELECT status FROM messages WHERE direction='outbound-reply'")["status"] == "delivered")
    # The modem's storage is empty: the message was deleted after it was stored.
    assert sim.modems["modem1"].receive_memory().used == 0
