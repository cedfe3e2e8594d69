"""Client to client (issue 13, test (d)): a browser's call whose TwiML App answers
``<Dial><Client>bob</Client></Dial>`` rings another registered browser, on a real daemon.  Both
browsers are aiortc peers over the real wss signalling socket, as the Voice SDK would speak it
(offers and answers without candidates).  Checked: bob's ``invite`` (From ``client:alice``),
bob's accept and its confirmation (with a reconnect token), audio both ways through the
appliance's bridge (Goertzel: alice's 1 kHz at bob, bob's 600 Hz at alice), no modem dialled,
bob's hang-up ending the ``<Dial>`` (the action's ``completed``) and then alice's call, the child
row and its status callbacks."""

from __future__ import annotations

import threading

import pytest

from appliance.clients.audioport import WebRtcAudioPort
from appliance.clients.peer import Peer
from tests.clients import browserapp
from tests.clients.browserapp import heard_tone
from tests.clients.conftest import receive, send
from tests.clients.test_outgoing import record, sdk_invite
from tests.clients.test_peer import as_the_sdk_sends_it
from tests.clients.test_peer import talk as talk_1khz
from tests.clients.test_ringing import Browser, talk
from tests.conftest import wait_for
from tests.webapp import twiml

pytestmark = pytest.mark.timeout(90)

ALICE_HZ, BOB_HZ = 1000, 600  # each browser's tone (the ringback, 440 + 480 Hz, has neither)


def test_a_browser_calls_another_browser_and_they_hear_each_other(phones, sim, webapp):
    webapp.routes["/dialed"] = twiml("<Response><Hangup/></Response>")
    p, api, token = browserapp.start(
        phones,
        webapp,
        f'<Dial action="{webapp.url("/dialed")}" timeout="15">'
        f'<Client statusCallback="{webapp.url("/leg")}"'
        ' statusCallbackEvent="initiated ringing answered completed">bob</Client></Dial>',
        name="Desk",
    )
    d = p.daemon
    bob = Browser(p, "bob")
    loop = d.media.start()
    alice = Peer(WebRtcAudioPort(loop), name="alice")
    stop = threading.Event()
    at_alice: list[bytes] = []
    at_bob: list[bytes] = []
    threads: list[threading.Thread] = []
    try:
        with p.open() as ws:
            send(ws, "listen", token=token)
            assert receive(ws)["type"] == "connected"
            offer = d.media.submit(alice.offer()).result(10)
            sdk_invite(ws, as_the_sdk_sends_it(offer), {"To": "client:bob"})
            # <Dial> (without answerOnBridge) answers alice's call, which hears the ringback
            answer = receive(ws)
            assert answer["type"] == "answer" and answer["payload"]["reconnect"]
            sid = answer["payload"]["callsid"]
            d.media.submit(alice.accept(answer["payload"]["sdp"])).result(10)
            threads = [record(alice.port, stop, at_alice), talk_1khz(alice.port, stop)]

            invite = bob.next("invite")
            child = invite["callsid"]
            assert child.startswith("CA") and child != sid
            parameters = invite["parameters"]
            assert (parameters["From"], parameters["To"]) == ("client:alice", "client:bob")
            assert parameters["CallSid"] == child and parameters["AccountSid"] == d.account.sid
            bob.answer(invite)
            confirmed = bob.next("answer")
            assert confirmed["callsid"] == child and confirmed["reconnect"]
            assert confirmed["reconnect"] != answer["payload"]["reconnect"]
            assert bob.peer is not None
            threads.append(record(bob.peer.port, stop, at_bob))
            talk(bob.peer.port, BOB_HZ, stop)

            # each browser hears the other through the bridge
            wait_for(
                lambda: heard_tone(b"".join(at_bob), ALICE_HZ, BOB_HZ), timeout=15, interval=0.2
            )
            wait_for(
                lambda: heard_tone(b"".join(at_alice)[-16000:], BOB_HZ, ALICE_HZ),
                timeout=15,
                interval=0.2,
            )
            assert api.calls(sid).fetch().status == "in-progress"
            assert api.calls(child).fetch().status == "in-progress"
            assert sim.network.calls == []  # no modem was needed, none was dialled

            # bob hangs up: the <Dial> ends, its action's <Hangup/> ends alice's call
            send(bob.ws, "hangup", callsid=child)
            dialed = webapp.wait(15, path="/dialed").flat
            assert dialed["DialCallStatus"] == "completed" and dialed["DialCallSid"] == child
            assert int(dialed["DialCallDuration"]) >= 1
            msg = receive(ws)
            assert msg == {"type": "hangup", "version": "1.6", "payload": {"callsid": sid}}
        wait_for(lambda: api.calls(sid).fetch().status == "completed")
        row = api.calls(child).fetch()
        assert (row.direction, row._from, row.to, row.status, row.parent_call_sid) == (
            "outbound-dial",
            "client:alice",
            "client:bob",
            "completed",
            sid,
        )
        legs = wait_for(lambda: len(webapp.to("/leg")) >= 4 and webapp.to("/leg"))
        assert [r.flat["StatusCallbackEvent"] for r in legs] == [
            "initiated",
            "ringing",
            "answered",
            "completed",
        ]
        wait_for(lambda: d.client_line.flows == {} and d.client_line.calls == {})
    finally:
        stop.set()
        d.media.submit(alice.close()).result(10)
        bob.close()
        for t in threads:
            t.join(5)
