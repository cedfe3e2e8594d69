"""The UserDefinedMessage and UserDefinedMessageSubscription resources over real HTTP with the
official twilio library (and raw requests where the library checks first): the subscription's
JSON, its defaults and idempotency, its delete, the refusals with Twilio's error shape, the
credentials both need, and the rows going with a deleted call.  Messages reaching a real
browser socket: tests/clients/test_usermessages.py."""

from __future__ import annotations

import time

import pytest
import requests
from twilio.base.exceptions import TwilioRestException

from appliance import sids
from appliance.store import apikeys
from tests.api.test_calls import insert_call, raw
from tests.api.test_node_client import run_client
from tests.conftest import client_for


def browser_call(d, status: str = "in-progress") -> str:
    """A browser call's row (``calls.modem`` = ``client``) with no browser behind it."""
    sid = sids.new("CA")
    now = time.time()
    d.store.write(
        lambda c: c.execute(
            "INSERT INTO calls (sid, modem, direction, from_number, to_number, status,"
            " date_created, date_updated) VALUES (?, 'client', 'inbound', 'client:alice', '',"
            " ?, ?, ?)",
            (sid, status, now, now),
        )
    )
    return sid


def refused(fn) -> TwilioRestException:
    with pytest.raises(TwilioRestException) as info:
        fn()
    return info.value


def test_subscriptions_are_created_and_deleted(sim, make_daemon):
    d = make_daemon()
    api = client_for(d)
    sid = browser_call(d, "ringing")  # an app subscribes from its Voice URL, as the call rings
    subs = api.calls(sid).user_defined_message_subscriptions
    made = subs.create(callback="https://app.example/messages")
    assert made.sid.startswith("ZY") and len(made.sid) == 34
    assert (made.account_sid, made.call_sid) == (d.account.sid, sid)
    assert made.uri == (
        f"/2010-04-01/Accounts/{d.account.sid}/Calls/{sid}"
        f"/UserDefinedMessageSubscriptions/{made.sid}.json"
    )
    row = d.store.read_one("SELECT * FROM user_message_subscriptions WHERE sid = ?", (made.sid,))
    assert (row["callback"], row["method"], row["idempotency_key"]) == (
        "https://app.example/messages",
        "POST",  # the default Method
        None,
    )
    rv = raw(
        d,
        "POST",
        f"/Calls/{sid}/UserDefinedMessageSubscriptions.json",
        data={"Callback": "http://10.0.0.5:8080/m", "Method": "get", "IdempotencyKey": "k"},
    )
    assert rv.status_code == 201
    body = rv.json()
    assert set(body) == {"account_sid", "call_sid", "sid", "date_created", "uri"}
    assert body["date_created"].endswith("+0000")
    again = subs.create(callback="https://elsewhere.example/", idempotency_key="k")
    assert again.sid == body["sid"]
    stored = d.store.read_one(
        "SELECT method FROM user_message_subscriptions WHERE sid = ?", (body["sid"],)
    )
    assert stored["method"] == "GET"
    # delete: 204, then 404; another call's subscription is not this call's
    other = browser_call(d)
    e = refused(lambda: api.calls(other).user_defined_message_subscriptions(made.sid).delete())
    assert e.status == 404
    assert subs(made.sid).delete() is True
    assert refused(lambda: subs(made.sid).delete()).status == 404
    # a deleted call takes its subscriptions with it
    d.store.write(
        lambda c: c.execute("UPDATE calls SET status = 'completed' WHERE sid = ?", (sid,))
    )
    api.calls(sid).delete()
    assert d.store.read("SELECT * FROM user_message_subscriptions WHERE call_sid = ?", (sid,)) == []


def test_bad_requests_get_twilios_errors(sim, make_daemon):
    d = make_daemon()
    api = client_for(d)
    sid = browser_call(d)
    path = f"/Calls/{sid}/UserDefinedMessageSubscriptions.json"
    for form, code, words in [
        ({}, 20001, "Missing required parameter Callback"),
        ({"Callback": "not a url"}, 21205, "not a valid URL"),
        ({"Callback": "ftp://app.example/"}, 21205, "not a valid URL"),
        ({"Callback": "https://app.example/", "Method": "PUT"}, 21209, "GET or POST"),
        ({"Callback": "https://app.example/", "IdempotencyKey": "k" * 300}, 20001, "at most 256"),
    ]:
        rv = raw(d, "POST", path, data=form)
        assert rv.status_code == 400, (form, rv.text)
        assert rv.json() == {
            "code": code,
            "message": rv.json()["message"],
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": 400,
        }
        assert words in rv.json()["message"], (form, rv.json())
    messages = f"/Calls/{sid}/UserDefinedMessages.json"
    for form, words in [
        ({}, "Missing required parameter Content"),
        ({"Content": "hello"}, "not valid JSON"),
        ({"Content": '{"a": NaN}'}, "not valid JSON"),
        ({"Content": '"' + "x" * 11_000 + '"'}, "at most 10240"),
        ({"Content": "{}", "IdempotencyKey": "k" * 300}, "at most 256"),
    ]:
        rv = raw(d, "POST", messages, data=form)
        assert (rv.status_code, rv.json()["code"]) == (400, 20001), (form, rv.text)
        assert words in rv.json()["message"]
    # a browser call's row with no browser on this appliance (the socket went with a restart)
    e = refused(lambda: api.calls(sid).user_defined_messages.create(content="{}"))
    assert (e.status, e.code) == (400, 21220)
    # a call with no Voice SDK leg: a GSM call
    gsm = insert_call(d, status="in-progress")
    for create in (
        lambda: api.calls(gsm).user_defined_messages.create(content="{}"),
        lambda: api.calls(gsm).user_defined_message_subscriptions.create(callback="https://a.b/"),
    ):
        e = refused(create)
        assert (e.status, e.code) == (400, 21220) and "Voice SDK" in e.msg
    # ended or not yet ringing
    for status in ("queued", "completed", "failed"):
        ended = browser_call(d, status)
        e = refused(
            lambda s=ended: api.calls(s).user_defined_message_subscriptions.create(
                callback="https://a.b/"
            )
        )
        assert (e.status, e.code) == (400, 21220) and status in e.msg
    ringing = browser_call(d, "ringing")
    e = refused(lambda: api.calls(ringing).user_defined_messages.create(content="{}"))
    assert e.code == 21220 and "ringing" in e.msg
    # an unknown call: 404 for all three
    unknown = sids.new("CA")
    for fn in (
        lambda: api.calls(unknown).user_defined_messages.create(content="{}"),
        lambda: api.calls(unknown).user_defined_message_subscriptions.create(
            callback="https://a.b/"
        ),
        lambda: api.calls(unknown).user_defined_message_subscriptions(sids.new("ZY")).delete(),
    ):
        assert refused(fn).status == 404
    # at most ten subscriptions per call
    subs = api.calls(sid).user_defined_message_subscriptions
    for n in range(10):
        subs.create(callback=f"https://app.example/{n}")
    e = refused(lambda: subs.create(callback="https://app.example/11"))
    assert (e.status, e.code) == (400, 20001) and "10 subscriptions" in e.msg
    assert not d.client_line.calls  # nothing here was ever sent to a browser


def test_both_resources_need_credentials(sim, make_daemon):
    d = make_daemon()
    sid = browser_call(d)
    base = f"http://127.0.0.1:{d.server.port}/2010-04-01/Accounts/{d.account.sid}/Calls/{sid}"
    urls = [
        ("POST", f"{base}/UserDefinedMessages.json", {"Content": "{}"}),
        ("POST", f"{base}/UserDefinedMessageSubscriptions.json", {"Callback": "https://a.b/"}),
        ("DELETE", f"{base}/UserDefinedMessageSubscriptions/{sids.new('ZY')}.json", None),
    ]
    for method, url, data in urls:
        for auth in (None, (d.account.sid, "wrong")):
            rv = requests.request(method, url, data=data, auth=auth, timeout=10)
            assert (rv.status_code, rv.json()["code"]) == (401, 20003), (method, url)
    assert d.store.read("SELECT * FROM user_message_subscriptions") == []
    # an API key may use them, as the other REST resources
    key, secret = apikeys.create(d.store, "app")
    rv = requests.post(urls[1][1], data=urls[1][2], auth=(key.sid, secret), timeout=10)
    assert rv.status_code == 201, rv.text


def test_twilio_node_subscribes_and_unsubscribes(sim, make_daemon):
    """The official Node helper library (tests/node/client.js): the subscription's JSON as
    its instance reads it, its delete, and the refusal of a message to a call with no browser
    here as a RestException."""
    d = make_daemon()
    sid = browser_call(d)
    out = run_client(d, BROWSER_CALL_SID=sid)
    sub = out["subscription"]
    assert sub["sid"].startswith("ZY") and (sub["accountSid"], sub["callSid"]) == (
        d.account.sid,
        sid,
    )
    assert sub["uri"].endswith(f"/Calls/{sid}/UserDefinedMessageSubscriptions/{sub['sid']}.json")
    assert out["removed"] is True
    assert d.store.read("SELECT * FROM user_message_subscriptions") == []
    assert out["sendError"] == {"name": "RestException", "code": 21220, "status": 400}
