"""Outbound SMS through the REST API with the official twilio library, over real HTTP."""

from __future__ import annotations

import time

import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from appliance.sms import codec as sms
from tests.conftest import NUMBER, PHONE, client_for, wait_for


def test_create_sends_and_status_callbacks_are_signed(sim, webapp, make_daemon):
    d = make_daemon()
    client = client_for(d)
    msg = client.messages.create(
        to=PHONE, from_=NUMBER, body="Server web1 is down", status_callback=webapp.url("/status")
    )
    assert msg.sid.startswith("SM") and msg.status == "queued" and msg.num_segments == "1"
    assert sim.network.wait_outbox(1)
    [out] = sim.network.outbox("modem1")
    assert (out.destination, out.text, out.from_number) == (PHONE, "Server web1 is down", NUMBER)
    wait_for(lambda: client.messages(msg.sid).fetch().status == "delivered")
    statuses = []
    validator = RequestValidator(d.account.auth_token)
    wait_for(lambda: len(webapp.to("/status")) >= 3)
    for req in webapp.to("/status"):
        assert validator.validate(req.url, req.flat, req.headers["X-Twilio-Signature"])
        assert (
            req.flat["MessageSid"] == msg.sid and req.flat["SmsStatus"] == req.flat["MessageStatus"]
        )
        statuses.append(req.flat["MessageStatus"])
    assert statuses == ["sending", "sent", "delivered"]


def test_emoji_and_ucs2_multipart(sim, make_daemon):
    d = make_daemon()
    body = "Forecast 🌧️ for Zürich: umbrella needed! " * 4
    msg = client_for(d).messages.create(to=PHONE, from_=NUMBER, body=body)
    assert int(msg.num_segments) == len(sms.split(body)) > 1
    assert sim.network.wait_outbox(1)
    [out] = sim.network.outbox("modem1")
    assert out.text == body and out.segments == int(msg.num_segments)
    assert all(
        s.encoding == "UCS-2" or str(s.encoding).endswith("UCS2")
        for s in sim.network.outbox_segments()
    )


def test_fifo_order_and_rate_limit(sim, make_daemon):
    d = make_daemon(outbound_rate=10.0)
    client = client_for(d)
    for i in range(6):
        client.messages.create(to=PHONE, from_=NUMBER, body=f"message {i}")
    assert sim.network.wait_outbox(6, timeout=15)
    segs = sim.network.outbox_segments("modem1")
    assert [s.text for s in segs] == [f"message {i}" for i in range(6)]
    gaps = [b.time - a.time for a, b in zip(segs, segs[1:], strict=False)]
    assert min(gaps) >= 0.08, (
        gaps
    )  # 10 segments/s: never faster than one per 100 ms (clock slack 20%)


def test_body_cannot_inject_at_commands(sim, make_daemon):
    d = make_daemon()
    modem = sim.modems["modem1"]
    modem.network.deliver_sms(
        modem, PHONE, "keep me"
    )  # something in storage that AT+CMGD=1,4 would delete
    nasty = 'x\x1a\x1bAT+CMGD=1,4\r\nATD+19005550000;\r"\x1a'
    client_for(d).messages.create(to=PHONE, from_=NUMBER, body=nasty)
    assert sim.network.wait_outbox(1)
    assert sim.network.outbox("modem1")[0].text == nasty
    assert all(c.get("number") != "+19005550000" for c in getattr(modem, "calls", []) or [])
    # The inbound message was ingested normally (not deleted by an injected command).
    wait_for(lambda: d.store.read_one("SELECT body FROM messages WHERE direction = 'inbound'"))
    assert (
        d.store.read_one("SELECT body FROM messages WHERE direction = 'inbound'")["body"]
        == "keep me"
    )


@pytest.mark.parametrize(
    ("to", "body", "code"),
    [
        ("+1415555;ATD1", "hi", 21211),
        ("+1415CALLNOW", "hi", 21211),
        ("0415 555 0100", "hi", 21211),
        ("", "hi", 21604),
        (PHONE, "", 21602),
        (PHONE, "x" * 1601, 21617),
    ],
)
def test_bad_requests_get_twilio_errors(sim, make_daemon, to, body, code):
    d = make_daemon()
    with pytest.raises(TwilioRestException) as e:
        client_for(d).messages.create(to=to, from_=NUMBER, body=body)
    assert e.value.code == code and e.value.status == 400
    assert d.store.read_one("SELECT COUNT(*) FROM messages")[0] == 0


def test_spaces_in_a_number_are_accepted(sim, make_daemon):
    d = make_daemon()
    msg = client_for(d).messages.create(to="+1 (415) 555-0100", from_=NUMBER, body="ok")
    assert msg.to == PHONE


def test_from_must_be_our_number_and_auth_is_required(sim, make_daemon):
    d = make_daemon()
    with pytest.raises(TwilioRestException) as e:
        client_for(d).messages.create(to=PHONE, from_="+15005550001", body="hi")
    assert e.value.code == 21606
    bad = Client(d.account.sid, "0" * 32)
    bad.api.base_url = f"http://127.0.0.1:{d.server.port}"
    with pytest.raises(TwilioRestException) as e:
        bad.messages.create(to=PHONE, from_=NUMBER, body="hi")
    assert e.value.status == 401 and e.value.code == 20003


def test_list_pages_and_fetch(sim, make_daemon):
    d = make_daemon()
    client = client_for(d)
    sids = [client.messages.create(to=PHONE, from_=NUMBER, body=f"n{i}").sid for i in range(5)]
    listed = [m.sid for m in client.messages.list(page_size=2)]
    assert listed == list(reversed(sids))
    assert client.messages(sids[0]).fetch().body == "n0"
    with pytest.raises(TwilioRestException) as e:
        client.messages("SM" + "0" * 32).fetch()
    assert e.value.status == 404 and e.value.code == 20404


def test_refused_send_is_retried_then_fails_with_mapped_code(sim, make_daemon):
    d = make_daemon(outbound_retry_limit=3)
    modem = sim.modems["modem1"]
    client = client_for(d)
    modem.cms_error(500, 1)  # transient: retried
    ok = client.messages.create(to=PHONE, from_=NUMBER, body="after a hiccup")
    wait_for(lambda: client.messages(ok.sid).fetch().status in ("sent", "delivered"), timeout=20)
    modem.cms_error(21, 1)  # "short message transfer rejected": permanent
    bad = client.messages.create(to=PHONE, from_=NUMBER, body="rejected")
    wait_for(lambda: client.messages(bad.sid).fetch().status == "failed", timeout=20)
    assert client.messages(bad.sid).fetch().error_code == 30007
    assert [m.text for m in sim.network.outbox("modem1")] == ["after a hiccup"]


def test_failed_delivery_report_marks_undelivered(sim, make_daemon):
    d = make_daemon()
    sim.network.report_status = 0x41  # permanent: incompatible destination
    client = client_for(d)
    msg = client.messages.create(to=PHONE, from_=NUMBER, body="to a switched-off phone")
    wait_for(lambda: client.messages(msg.sid).fetch().status == "undelivered")
    assert client.messages(msg.sid).fetch().error_code == 30003


def test_a_message_queued_while_idle_goes_out_at_once(sim, make_daemon):
    d = make_daemon(sweep_interval=600.0)
    time.sleep(0.5)  # the modem thread has looked at the empty queue and gone idle
    start = time.monotonic()
    d.outbox.enqueue(modem="modem1", from_number=NUMBER, to=PHONE, body="wake up")
    assert sim.network.wait_outbox(1, timeout=10)
    assert time.monotonic() - start < 5


def test_unencoded_plus_from_curl_is_understood(sim, make_daemon):
    import requests

    d = make_daemon()
    rv = requests.post(
        f"http://127.0.0.1:{d.server.port}/2010-04-01/Accounts/{d.account.sid}/Messages.json",
        data=f"To=+14155550100&From={NUMBER}&Body=curl+-d+style",  # '+' not encoded, as `curl -d` sends it
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        auth=(d.account.sid, d.account.auth_token),
        timeout=10,
    )
    assert rv.status_code == 201, rv.text
    assert (
        rv.json()["to"] == PHONE
        and rv.json()["from"] == NUMBER
        and rv.json()["body"] == "curl -d style"
    )


def test_a_scheduled_message_goes_out_when_due_without_a_wake_up(sim, make_daemon):
    d = make_daemon(sweep_interval=600.0)
    sid = d.store.write(
        lambda conn: d.outbox.insert(
            conn,
            modem="modem1",
            from_number=NUMBER,
            to=PHONE,
            body="on time",
            send_at=time.time() + 1.5,
        )
    )
    d.outbox.wake("modem1")  # the modem thread learns of it once, then must keep time itself
    time.sleep(0.5)
    assert sim.network.outbox("modem1") == []
    assert sim.network.wait_outbox(1, timeout=6)
    # The network has it as soon as +CMGS is answered; the "sent" commit follows just after.
    query = "SELECT status FROM messages WHERE sid = ?"
    wait_for(lambda: d.store.read_one(query, (sid,))["status"] in ("sent", "delivered"))
