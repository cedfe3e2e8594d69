"""REST updates of a browser call bridged by ``<Dial>`` to a number through a modem (issue 13:
calls from clients are in the Calls resource like any call), on a real daemon with the
simulated modem on a pty and an aiortc peer as the browser.  ``Status=completed`` ends the
parent call as Twilio does: the browser gets ``hangup``, the callee's leg is hung up, both
rows end ``completed``, and the ``<Dial>``'s action is not requested.  A ``Url`` redirect
leaves the bridge (the callee is hung up, no action) and runs the new TwiML.  A browser call
still ringing (``answerOnBridge``) that is canceled ends ``canceled``, its callee too."""

from __future__ import annotations

import pytest

from appliance.clients.audioport import WebRtcAudioPort
from appliance.clients.peer import Peer
from tests.clients import browserapp
from tests.clients.browserapp import CALLEE, callee_answers, callee_call
from tests.clients.conftest import receive, send
from tests.clients.test_outgoing import sdk_invite
from tests.clients.test_peer import as_the_sdk_sends_it
from tests.conftest import wait_for
from tests.webapp import twiml

pytestmark = pytest.mark.timeout(90)


def start(phones, sim, webapp, **dial: str):
    webapp.routes["/dialed"] = twiml("<Response><Say>Goodbye.</Say></Response>")
    attributes = "".join(f' {k}="{v}"' for k, v in dial.items())
    return browserapp.start(
        phones,
        webapp,
        f'<Dial action="{webapp.url("/dialed")}" timeout="20"{attributes}>{CALLEE}</Dial>',
        sim=sim,
    )


def bridged(p, api, ws, token, browser, sim) -> tuple[str, str]:
    """The browser's call placed and bridged to the callee: (its CA, the child's CA)."""
    sid = browserapp.place_peer_call(p, ws, token, browser)["callsid"]
    callee = callee_call(sim)
    assert callee.wait_state("active", timeout=15)
    d = p.daemon
    row = wait_for(
        lambda: d.store.read_one(
            "SELECT sid, status FROM calls WHERE parent_call_sid = ? AND status = 'in-progress'",
            (sid,),
        ),
        timeout=10,
    )
    return sid, str(row["sid"])


def test_status_completed_ends_a_bridged_browser_call(phones, sim, webapp):
    p, api, token = start(phones, sim, webapp)
    d = p.daemon
    callee_answers(sim, 0.5, 200)
    browser = Peer(WebRtcAudioPort(d.media.start()), name="browser")
    try:
        with p.open() as ws:
            sid, child = bridged(p, api, ws, token, browser, sim)
            assert api.calls(sid).update(status="completed").status == "completed"
            msg = receive(ws)
            assert msg == {"type": "hangup", "version": "1.6", "payload": {"callsid": sid}}
            assert callee_call(sim).wait_state("ended", timeout=10)
            assert callee_call(sim).end_reason == "local-hangup"  # the appliance hung up
        wait_for(lambda: api.calls(sid).fetch().status == "completed")
        wait_for(lambda: api.calls(child).fetch().status == "completed")
        wait_for(lambda: d.client_line.flows == {} and d.modems["modem1"].phone.flows == {})
        assert webapp.to("/dialed") == []  # a REST completed ends the parent: no action
        assert d.store.read_one("SELECT control FROM calls WHERE sid = ?", (sid,))[0] is None
    finally:
        d.media.submit(browser.close()).result(10)


def test_a_url_redirect_takes_a_bridged_browser_call_out_of_its_dial(phones, sim, webapp):
    p, api, token = start(phones, sim, webapp)
    d = p.daemon
    webapp.routes["/moved"] = twiml("<Response><Say>Moved.</Say></Response>")
    callee_answers(sim, 0.5, 200)
    browser = Peer(WebRtcAudioPort(d.media.start()), name="browser")
    try:
        with p.open() as ws:
            sid, child = bridged(p, api, ws, token, browser, sim)
            assert api.calls(sid).update(url=webapp.url("/moved")).status == "in-progress"
            assert webapp.wait(path="/moved", timeout=10).param("CallSid") == sid
            assert callee_call(sim).wait_state("ended", timeout=10)
            # the new TwiML ran (<Say>), then the call ended: the browser is hung up
            assert receive(ws)["type"] == "hangup"
        wait_for(lambda: api.calls(sid).fetch().status == "completed")
        wait_for(lambda: api.calls(child).fetch().status == "completed")
        assert webapp.to("/dialed") == []  # a redirect leaves the <Dial>: no action
        wait_for(lambda: d.client_line.flows == {} and d.modems["modem1"].phone.flows == {})
    finally:
        d.media.submit(browser.close()).result(10)


def test_status_canceled_ends_a_ringing_browser_call(phones, sim, webapp):
    p, api, token = start(phones, sim, webapp, answerOnBridge="true")
    d = p.daemon
    sim.network.set_callee(CALLEE, answer_after=30)
    browser = Peer(WebRtcAudioPort(d.media.start()), name="browser")
    try:
        with p.open() as ws:
            send(ws, "listen", token=token)
            assert receive(ws)["type"] == "connected"
            sdk_invite(ws, as_the_sdk_sends_it(d.media.submit(browser.offer()).result(10)), {})
            sid = receive(ws)["payload"]["callsid"]
            assert callee_call(sim).wait_state("ringing", timeout=10)
            assert api.calls(sid).fetch().status == "ringing"
            assert api.calls(sid).update(status="canceled").status == "canceled"
            assert receive(ws)["type"] == "hangup"
            assert callee_call(sim).wait_state("ended", timeout=10)
        wait_for(lambda: api.calls(sid).fetch().status == "canceled")
        child = d.store.read_one("SELECT status FROM calls WHERE parent_call_sid = ?", (sid,))
        assert child["status"] == "canceled"  # the callee's leg, given up before its answer
        assert webapp.to("/dialed") == []
        wait_for(lambda: d.client_line.flows == {} and d.modems["modem1"].phone.flows == {})
    finally:
        d.media.submit(browser.close()).result(10)
