"""User-defined messages (issue 13, signalling's ``message``) on a real daemon: an aiortc peer
plays the browser over the real wss signalling socket and places a call; the app is a real HTTP
server on 127.0.0.1 driving the REST API through the official twilio library.  Checked: the
SDK's ``message`` is acked and posted, signed and once, to every subscription of the call
(POST and GET, in order, with Twilio's parameters); a message sent again is not posted twice;
a deleted subscription gets nothing; the REST create reaches the browser as ``message`` and an
IdempotencyKey sends once; bad messages get the SDK's codes and the socket goes on; an ended
call refuses both resources; a browser rung by ``<Dial><Client>`` talks on its own (child)
leg, the GSM caller's has none; on a fleet, the node that takes the app's request forwards it
to the node holding the browser.  The official SDK in Chromium: test_usermessages_browser.py."""

from __future__ import annotations

import json
import time
import urllib.parse

import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator

from appliance.clients.audioport import WebRtcAudioPort
from appliance.clients.peer import Peer
from appliance.sim.party import RemoteParty, Silence
from tests.clients import browserapp
from tests.clients.browserapp import place_peer_call as place
from tests.clients.conftest import receive, send
from tests.clients.test_ringing import Browser, phones_with_modem
from tests.conftest import PHONE, client_for, wait_for
from tests.webapp import WebApp, twiml

pytestmark = pytest.mark.timeout(120)

WAIT = '<Say>Hi.</Say><Pause length="60"/>'


def kx(n: int) -> str:
    return f"KX{n:032x}"


def sdk_message(ws, callsid: str, content, sid: str, **changes) -> None:
    """``message`` as pstream.ts sendMessage publishes it for call.sendMessage()."""
    payload = {
        "callsid": callsid,
        "content": content,
        "contenttype": "application/json",
        "messagetype": "user-defined-message",
        "voiceeventsid": sid,
        **changes,
    }
    send(ws, "message", **{k: v for k, v in payload.items() if v is not ...})


def signed(d, req) -> bool:
    params = req.flat if req.method == "POST" else {}
    return RequestValidator(d.account.auth_token).validate(
        req.url, params, req.headers["X-Twilio-Signature"]
    )


def test_messages_go_both_ways_on_a_browser_call(phones, webapp: WebApp):
    p, api, token = browserapp.start(phones, webapp, WAIT)
    d = p.daemon
    browser = Peer(WebRtcAudioPort(d.media.start()), name="browser")
    try:
        with p.open() as ws:
            sid = place(p, ws, token, browser)["callsid"]
            wait_for(lambda: api.calls(sid).fetch().status == "in-progress")
            call = api.calls(sid)

            # two subscriptions (POST, the default, and GET); a repeated IdempotencyKey
            posted = call.user_defined_message_subscriptions.create(
                callback=webapp.url("/posted"), idempotency_key="sub-1"
            )
            again = call.user_defined_message_subscriptions.create(
                callback=webapp.url("/elsewhere"), idempotency_key="sub-1"
            )
            got = call.user_defined_message_subscriptions.create(
                callback=webapp.url("/got"), method="GET"
            )
            assert posted.sid.startswith("ZY") and len(posted.sid) == 34
            assert again.sid == posted.sid and got.sid != posted.sid
            assert (posted.account_sid, posted.call_sid) == (d.account.sid, sid)
            assert posted.uri == (
                f"/2010-04-01/Accounts/{d.account.sid}/Calls/{sid}"
                f"/UserDefinedMessageSubscriptions/{posted.sid}.json"
            )
            assert posted.date_created is not None

            # the browser's message: ack, then each subscription once, signed
            sdk_message(ws, sid, {"hello": "world", "n": 1}, kx(1))
            assert receive(ws) == {
                "type": "ack",
                "version": "1.6",
                "payload": {"acktype": "message", "callsid": sid, "voiceeventsid": kx(1)},
            }
            first = webapp.wait(path="/posted")
            assert first.method == "POST" and signed(d, first)
            form = first.flat
            assert {k: form[k] for k in ("AccountSid", "CallSid", "Sid", "SequenceNumber")} == {
                "AccountSid": d.account.sid,
                "CallSid": sid,
                "Sid": kx(1),
                "SequenceNumber": "1",
            }
            assert form["ContentType"] == "application/json"
            assert form["Content"] == '{"hello":"world","n":1}'  # the page's JSON.stringify
            assert form["Timestamp"].endswith("+0000")
            fetched = wait_for(lambda: webapp.to("/got"))[0]
            assert fetched.method == "GET" and signed(d, fetched)
            assert urllib.parse.parse_qs(urllib.parse.urlsplit(fetched.url).query)["Sid"] == [kx(1)]

            # sent again (the SDK's queue after a dropped socket): acked, not posted again;
            # the next message is number 2, in order after the first
            sdk_message(ws, sid, {"hello": "world", "n": 1}, kx(1))
            assert receive(ws)["type"] == "ack"
            sdk_message(ws, sid, ["second"], kx(2))
            assert receive(ws)["payload"]["voiceeventsid"] == kx(2)
            second = webapp.wait(path="/posted")
            assert (second.flat["Sid"], second.flat["SequenceNumber"]) == (kx(2), "2")
            assert second.flat["Content"] == '["second"]'
            wait_for(lambda: len(webapp.to("/got")) == 2)

            # a deleted subscription gets nothing more; deleting it again is a 404
            assert call.user_defined_message_subscriptions(got.sid).delete() is True
            with pytest.raises(TwilioRestException) as gone:
                call.user_defined_message_subscriptions(got.sid).delete()
            assert gone.value.status == 404
            sdk_message(ws, sid, {"third": True}, kx(3))
            assert receive(ws)["type"] == "ack"
            assert webapp.wait(path="/posted").flat["Sid"] == kx(3)

            # the app's message reaches the browser; an IdempotencyKey sends it once
            sent = call.user_defined_messages.create(
                content=json.dumps({"ahoy": "world", "list": [1, 2]}), idempotency_key="m-1"
            )
            assert sent.sid.startswith("KX") and len(sent.sid) == 34
            assert (sent.account_sid, sent.call_sid) == (d.account.sid, sid)
            assert sent.date_created is not None
            assert receive(ws) == {
                "type": "message",
                "version": "1.6",
                "payload": {
                    "callsid": sid,
                    "content": {"ahoy": "world", "list": [1, 2]},
                    "contenttype": "application/json",
                    "messagetype": "user-defined-message",
                    "voiceeventsid": sent.sid,
                },
            }
            repeat = call.user_defined_messages.create(content='"other"', idempotency_key="m-1")
            assert repeat.sid == sent.sid
            other = call.user_defined_messages.create(content='"plain"')
            msg = receive(ws)
            assert msg["payload"]["voiceeventsid"] == other.sid  # not the repeat
            assert msg["payload"]["content"] == "plain"

            # Content that is not JSON: Twilio's error shape, nothing sent
            with pytest.raises(TwilioRestException) as bad:
                call.user_defined_messages.create(content="not json")
            assert bad.value.status == 400 and "JSON" in bad.value.msg
            send(ws, "hangup", callsid=sid)
            wait_for(lambda: api.calls(sid).fetch().status == "completed")

        # exactly once each, after all that
        time.sleep(0.5)
        assert [r.flat["Sid"] for r in webapp.to("/posted")] == [kx(1), kx(2), kx(3)]
        assert len(webapp.to("/got")) == 2 and webapp.to("/elsewhere") == []
        # an ended call: both resources say so (21220)
        for create in (
            lambda: call.user_defined_messages.create(content="{}"),
            lambda: call.user_defined_message_subscriptions.create(callback=webapp.url("/x")),
        ):
            with pytest.raises(TwilioRestException) as ended:
                create()
            assert (ended.value.status, ended.value.code) == (400, 21220)
            assert "completed" in ended.value.msg
    finally:
        d.media.submit(browser.close()).result(10)


def test_bad_messages_get_the_sdks_codes_and_the_socket_goes_on(phones, webapp: WebApp):
    p, api, token = browserapp.start(phones, webapp, WAIT)
    d = p.daemon
    browser = Peer(WebRtcAudioPort(d.media.start()), name="browser")
    try:
        with p.open() as ws, p.open() as other:
            sid = place(p, ws, token, browser)["callsid"]
            api.calls(sid).user_defined_message_subscriptions.create(
                callback=webapp.url("/messages")
            )

            def refused(sock, content, sid_: str, callsid: str = sid, **changes) -> dict:
                sdk_message(sock, callsid, content, sid_, **changes)
                msg = receive(sock)
                assert msg["type"] == "error", msg
                return msg["payload"]

            error = refused(ws, {"a": 1}, kx(10), messagetype="not-a-valid-message-type")
            assert error["error"]["code"] == 31210 and error["voiceeventsid"] == kx(10)
            assert error["callsid"] == sid
            assert refused(ws, {"a": 1}, kx(11), contenttype="text/plain")["error"]["code"] == 31100
            assert refused(ws, None, kx(12))["error"]["code"] == 31100
            big = refused(ws, "x" * 20_000, kx(13))
            assert big["error"]["code"] == 31212 and "10240" in big["error"]["message"]
            # no voiceeventsid to name: the Device raises it
            bad_sid = refused(ws, {"a": 1}, "KX-not-hex")
            assert bad_sid["error"]["code"] == 31100 and "voiceeventsid" not in bad_sid
            # a call that is not this socket's: 31404, on another socket too
            unknown = refused(ws, {"a": 1}, kx(14), callsid="CA" + "0" * 32)
            assert unknown["error"]["code"] == 31404 and unknown["voiceeventsid"] == kx(14)
            send(other, "listen", token=p.token(identity="mallory"))
            assert receive(other)["type"] == "connected"
            assert refused(other, {"a": 1}, kx(15))["error"]["code"] == 31404
            # NaN is not JSON: a refusal, not a traceback
            ws.send(
                '{"type":"message","version":"1.6","payload":{"callsid":"' + sid + '",'
                '"content":NaN,"messagetype":"user-defined-message",'
                f'"voiceeventsid":"{kx(16)}"}}}}'
            )
            assert receive(ws)["payload"]["error"]["code"] == 31100
            # the socket and the call go on: a good message is acked and posted
            sdk_message(ws, sid, {"ok": True}, kx(17))
            assert receive(ws)["type"] == "ack"
            assert webapp.wait(path="/messages").flat["Sid"] == kx(17)
            send(ws, "hangup", callsid=sid)
        time.sleep(0.5)
        assert [r.flat["Sid"] for r in webapp.to("/messages")] == [kx(17)]
    finally:
        d.media.submit(browser.close()).result(10)


def test_a_rung_browser_talks_on_its_own_leg_not_the_gsm_callers(phones, sim, webapp: WebApp):
    """``<Dial><Client>``: the browser's Call has the child call's CallSid; the GSM parent
    has no Voice SDK leg (21220)."""
    p = phones_with_modem(phones, sim, webapp)
    d = p.daemon
    api = client_for(d)
    webapp.routes["/voice"] = twiml(
        '<Response><Dial timeout="20"><Client>alice</Client></Dial></Response>'
    )
    desk = Browser(p)
    try:
        caller = sim.network.incoming_call("modem1", PHONE, party=RemoteParty([Silence(30)]))
        parent = webapp.wait(15, path="/voice").flat["CallSid"]
        invite = desk.next("invite")
        child = invite["callsid"]
        desk.answer(invite)
        assert desk.next("answer")["callsid"] == child
        wait_for(lambda: api.calls(child).fetch().status == "in-progress")
        e = refused_rest(lambda: api.calls(parent).user_defined_messages.create(content="{}"))
        assert (e.status, e.code) == (400, 21220) and "Voice SDK" in e.msg
        api.calls(child).user_defined_message_subscriptions.create(callback=webapp.url("/m"))
        sdk_message(desk.ws, child, {"from": "desk"}, kx(20))
        assert desk.next("ack")["voiceeventsid"] == kx(20)
        form = webapp.wait(path="/m").flat
        assert (form["CallSid"], form["Content"]) == (child, '{"from":"desk"}')
        made = api.calls(child).user_defined_messages.create(content='{"to": "desk"}')
        got = desk.next("message")
        assert (got["callsid"], got["content"], got["voiceeventsid"]) == (
            child,
            {"to": "desk"},
            made.sid,
        )
        send(desk.ws, "hangup", callsid=child)
        assert caller.wait_state("ended", timeout=10)
    finally:
        desk.close()


def refused_rest(fn) -> TwilioRestException:
    with pytest.raises(TwilioRestException) as info:
        fn()
    return info.value


@pytest.mark.timeout(150)
def test_a_fleet_node_forwards_a_message_to_the_node_holding_the_browser(
    phones, make_daemon, pg_durable, webapp: WebApp, tmp_path
):
    """Two nodes on one PostgreSQL database: the browser's call is on A; the app's requests go
    to B.  B's subscription (a row) is A's too; B forwards the message to A, signed."""
    url = pg_durable.new_database()
    p, _, token = browserapp.start(
        phones, webapp, WAIT, database_url=url, node_name="a", data_dir=str(tmp_path / "a")
    )
    a = p.daemon
    b = make_daemon(
        database_url=url,
        node_name="b",
        data_dir=str(tmp_path / "b"),
        modem={"name": "b1", "port": "sim", "number": "+15005550022"},
    )
    api = client_for(b)
    browser = Peer(WebRtcAudioPort(a.media.start()), name="browser")
    try:
        with p.open() as ws:
            sid = place(p, ws, token, browser)["callsid"]
            wait_for(lambda: api.calls(sid).fetch().status == "in-progress")
            api.calls(sid).user_defined_message_subscriptions.create(callback=webapp.url("/m"))
            sdk_message(ws, sid, {"n": 1}, kx(30))
            assert receive(ws)["type"] == "ack"
            assert webapp.wait(path="/m").flat["Sid"] == kx(30)
            made = api.calls(sid).user_defined_messages.create(content='{"via": "b"}')
            got = receive(ws)
            assert got["type"] == "message" and got["payload"]["voiceeventsid"] == made.sid
            assert got["payload"]["content"] == {"via": "b"}
            send(ws, "hangup", callsid=sid)
    finally:
        a.media.submit(browser.close()).result(10)
