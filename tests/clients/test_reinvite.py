"""The SDK's ICE restart (``reinvite``, call.ts and rtc/peerconnection.ts ``iceRestart``) on a
real daemon: an aiortc peer plays the browser, bridged to the simulated modem's callee.

The SDK sends ``reinvite {callsid, sdp}`` with an offer carrying new ICE credentials when its
media fails (a network change), and expects ``answer {callsid, sdp}``.  Here the browser
takes new credentials for its own ICE agent (as a browser's new ICE generation does), sends
the re-offer, and checks that the appliance answers with its same DTLS fingerprint and ICE
credentials, accepts a connectivity check made with the browser's *new* credentials (before
the restart it refuses one: 401), and that the tones go on both ways.  A ``reinvite`` for no
call gets 31404 and one with a broken SDP 31100, and the call goes on."""

from __future__ import annotations

import re
import threading
from typing import Any

import pytest

from appliance.clients.audioport import WebRtcAudioPort
from appliance.clients.peer import Peer
from tests.clients import browserapp
from tests.clients.browserapp import CALLEE, CALLEE_HZ, callee_call, heard_tone
from tests.clients.conftest import receive, send
from tests.clients.test_outgoing import record
from tests.clients.test_peer import as_the_sdk_sends_it, talk
from tests.conftest import NUMBER, wait_for
from tests.webapp import twiml

pytestmark = pytest.mark.timeout(90)

UFRAG, PWD = "rst1", "restartedpassword0123456"  # the browser's new ICE generation


def ice_agent(peer: Peer) -> Any:
    """The browser peer's aioice Connection (test-side only)."""
    assert peer.pc is not None
    return peer.pc.getTransceivers()[0].receiver.transport.transport._connection


def sdp_attr(sdp: str, name: str) -> str:
    found = re.search(rf"^a={name}:(\S+)", sdp, re.M)
    assert found, name
    return found.group(1)


async def re_offer(peer: Peer) -> str:
    """The browser's ICE-restart offer: new ufrag and password, its ICE agent taking them."""
    assert peer.pc is not None
    await peer.pc.setLocalDescription(await peer.pc.createOffer())
    sdp = str(peer.pc.localDescription.sdp)
    old_ufrag, old_pwd = sdp_attr(sdp, "ice-ufrag"), sdp_attr(sdp, "ice-pwd")
    agent = ice_agent(peer)
    agent._local_username, agent._local_password = UFRAG, PWD  # read-only properties
    return sdp.replace(old_ufrag, UFRAG).replace(old_pwd, PWD)


async def consent_check(peer: Peer) -> bool:
    """One connectivity check on the browser's nominated pair, made as aioice makes its
    consent checks (with the browser's current credentials): did the appliance accept it?"""
    from aioice import stun

    agent = ice_agent(peer)
    pair = next(iter(agent._nominated.values()))
    request = agent.build_request(pair, nominate=False)
    try:
        await pair.protocol.request(
            request,
            pair.remote_addr,
            integrity_key=agent.remote_password.encode(),
            retransmissions=2,  # a refusal (an unsigned 401) is dropped: it times out
        )
    except stun.TransactionError:
        return False
    return True


def test_a_reinvite_restarts_ice_with_the_new_credentials_and_the_call_goes_on(phones, sim, webapp):
    webapp.routes["/dialed"] = twiml("<Response><Hangup/></Response>")
    p, api, token = browserapp.start(
        phones,
        webapp,
        f'<Dial action="{webapp.url("/dialed")}" callerId="{NUMBER}">{CALLEE}</Dial>',
        sim=sim,
    )
    d = p.daemon
    browserapp.callee_answers(sim, answer_after=0.5, tone_ms=40_000)
    browser = Peer(WebRtcAudioPort(d.media.start()), name="browser")
    stop, heard = threading.Event(), []
    threads: list[threading.Thread] = []
    try:
        with p.open() as ws:
            answer = browserapp.place_peer_call(p, ws, token, browser)
            sid, first_sdp = answer["callsid"], answer["sdp"]
            threads = [record(browser.port, stop, heard), talk(browser.port, stop)]
            callee = callee_call(sim)
            assert callee.wait_state("active", timeout=15)
            wait_for(lambda: heard_tone(b"".join(heard), CALLEE_HZ, 1000), timeout=15)

            # bad input first: no such call, a broken SDP; neither ends the call
            send(ws, "reinvite", callsid="CA" + "0" * 32, sdp=first_sdp)
            assert receive(ws)["payload"]["error"]["code"] == 31404
            send(ws, "reinvite", callsid=sid, sdp="v=0\r\nnot an sdp\r\n")
            refused = receive(ws)["payload"]
            assert (refused["callsid"], refused["error"]["code"]) == (sid, 31100)

            offer = d.media.submit(re_offer(browser)).result(10)
            # the browser's new credentials are not the appliance's yet: 401
            assert d.media.submit(consent_check(browser)).result(20) is False
            send(ws, "reinvite", callsid=sid, sdp=as_the_sdk_sends_it(offer))
            restarted = receive(ws)
            assert restarted["type"] == "answer" and restarted["payload"]["callsid"] == sid
            assert restarted["payload"]["reconnect"]  # the call's reconnect token, kept
            new_sdp = restarted["payload"]["sdp"]
            for name in ("fingerprint", "ice-ufrag", "ice-pwd"):  # the same media, no new DTLS
                assert sdp_attr(new_sdp, name) == sdp_attr(first_sdp, name)
            assert sdp_attr(new_sdp, "setup") in ("active", "passive")  # an answer's role
            d.media.submit(browser.accept(new_sdp)).result(10)
            assert browser.pc is not None and browser.pc.signalingState == "stable"

            # the appliance now accepts the browser's new ICE generation
            assert d.media.submit(consent_check(browser)).result(20) is True
            mark = len(heard)
            wait_for(lambda: heard_tone(b"".join(heard[mark:]), CALLEE_HZ, 1000), timeout=10)
            wait_for(lambda: heard_tone(callee.heard()[-16000:], 1000, CALLEE_HZ), timeout=10)
            assert api.calls(sid).fetch().status == "in-progress"

            send(ws, "hangup", callsid=sid)
            assert callee.wait_state("ended", timeout=10)
        wait_for(lambda: api.calls(sid).fetch().status == "completed")
    finally:
        stop.set()
        d.media.submit(browser.close()).result(10)
        for t in threads:
            t.join(5)
