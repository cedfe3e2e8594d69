"""Browser calls while the PostgreSQL server is away (issue 16: "same promises as one box").

A browser's ``Device.connect()`` during an outage is turned away at once, as a GSM call
ringing in then is: its TwiML App and its row are in the store, so nothing could run it.
The SDK gets ``error`` 31480 and ``hangup`` (its Call ends; the socket stays up), nothing of
the call is left, one log line says so, and its row (``busy``, error 20503) is written once
the server is back.  A ``<Dial><Client>`` ring during an outage is turned away as busy the
same way, and the caller's TwiML goes on with the Dial's action.  The SDK's ``message`` on a
call in progress during an outage gets ``error`` 31000 and one WARNING line, and may be sent
again after.  An aiortc peer plays the browser over the real wss socket; the server is this
module's own (fsync on), stopped with ``pg_ctl stop -m fast`` and started again.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from typing import Any

import pytest
from playwright.sync_api import sync_playwright

from appliance.clients.audioport import WebRtcAudioPort
from appliance.clients.peer import Peer
from appliance.sim.party import RemoteParty, Silence
from appliance.store import apikeys
from tests.clients import browserapp
from tests.clients.browserapp import place_peer_call
from tests.clients.conftest import APP, receive, send
from tests.clients.test_legacy_reconnect import capability
from tests.clients.test_outgoing import TJS, sdk_invite
from tests.clients.test_peer import as_the_sdk_sends_it
from tests.clients.test_ringing import Browser
from tests.clients.test_signalling_browser import browser_page, events, site, state
from tests.clients.test_usermessages import kx, sdk_message
from tests.conftest import PHONE, wait_for
from tests.pg import PgServer, own_server
from tests.voice.test_database_down_calls import go_down, tracebacks
from tests.webapp import twiml

pytestmark = pytest.mark.timeout(120)
__all__ = ["site"]  # the official SDK's page (a fixture)


server = pytest.fixture(scope="module", name="server")(own_server)


def client_rows(d: Any) -> list[Any]:
    return list(d.store.read("SELECT * FROM calls WHERE modem = 'client' ORDER BY date_created"))


def test_a_browser_call_placed_during_an_outage_is_turned_away_and_recorded_after(
    phones, webapp, server: PgServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    url = server.new_database()
    p, _, token = browserapp.start(phones, webapp, "<Say>Hello.</Say>", database_url=url)
    d = p.daemon
    loop = d.media.start()
    browser = Peer(WebRtcAudioPort(loop), name="browser")
    again = Peer(WebRtcAudioPort(loop), name="browser again")
    try:
        with p.open() as ws:
            send(ws, "listen", token=token, browserinfo={}, reconnectTimeout=0)
            assert receive(ws)["type"] == "connected"
            go_down(d, server)
            try:
                offer_sdp = as_the_sdk_sends_it(d.media.submit(browser.offer()).result(10))
                sdk_invite(ws, offer_sdp, {"To": "+15551234567"})
                error = receive(ws)
                assert error["type"] == "error", error
                assert error["payload"]["callsid"] == TJS
                assert error["payload"]["error"]["code"] == 31480
                assert "database" in error["payload"]["error"]["message"]
                assert receive(ws) == {
                    "type": "hangup",
                    "version": "1.6",
                    "payload": {"callsid": TJS},
                }
                # the socket stays up and answers (keys for a call it has not: 31404)
                send(ws, "dtmf", callsid=TJS, dtmf="1")
                assert receive(ws)["payload"]["error"]["code"] == 31404
                # nothing of the call is left: no call, leg, flow, reconnect token
                line = d.client_line
                assert line.count() == 0 and not line.legs and not line.flows
                assert len(line._reconnects) == 0
                assert not d.store.available
            finally:
                server.resume()
            wait_for(lambda: d.store.available, timeout=15)
            rows = wait_for(lambda: client_rows(d), timeout=10)
            assert len(rows) == 1, rows
            row = rows[0]
            assert (row["status"], row["direction"]) == ("busy", "inbound")
            assert (row["from_number"], row["to_number"]) == ("client:alice", "+15551234567")
            assert row["error_code"] == 20503 and "database" in row["error_message"]
            assert not webapp.to("/voice")  # nothing ran it
            lines = [r for r in caplog.records if "client call turned away" in r.getMessage()]
            assert len(lines) == 1, [r.getMessage() for r in lines]
            assert "client message failed" not in caplog.text

            # The daemon was never restarted: the next call runs its App's TwiML.
            offer_sdp = as_the_sdk_sends_it(d.media.submit(again.offer()).result(10))
            sdk_invite(ws, offer_sdp, {"To": "+15551234567"})
            sid = webapp.wait(15, path="/voice").param("CallSid")
            wait_for(lambda: len(client_rows(d)) == 2)
            send(ws, "hangup", callsid=TJS)
            wait_for(
                lambda: (
                    d.store.read_one("SELECT status FROM calls WHERE sid = ?", (sid,))["status"]
                    not in ("ringing", "in-progress")
                )
            )
        assert len(client_rows(d)) == 2  # the refused call is recorded once
        assert not tracebacks(caplog), tracebacks(caplog)
    finally:
        for peer in (browser, again):
            d.media.submit(peer.close()).result(5)
        if not server.running:
            server.resume()
        d.stop()
        server.drop(url)


def test_a_dial_client_during_an_outage_is_turned_away_as_busy_and_the_call_goes_on(
    phones, sim, webapp, server: PgServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    url = server.new_database()
    down = threading.Event()
    webapp.routes["/voice"] = twiml(
        f"<Response><Redirect>{webapp.url('/held')}</Redirect></Response>"
    )

    def held(req: Any) -> Any:  # answered once the server is down: the <Dial> runs then
        assert down.wait(30)
        return twiml(
            f'<Response><Dial action="{webapp.url("/dialed")}" timeout="10">'
            "<Client>alice</Client></Dial></Response>"
        )(req)

    webapp.routes["/held"] = held
    webapp.routes["/dialed"] = twiml("<Response><Say>Nobody can take your call.</Say></Response>")
    p = browserapp.appliance(
        phones, sim, modem={"voice_url": webapp.url("/voice")}, database_url=url
    )
    d = p.daemon
    browser = Browser(p)  # registered as alice: she would ring
    try:
        caller = sim.network.incoming_call("modem1", PHONE, party=RemoteParty([Silence(30)]))
        parent = webapp.wait(15, path="/voice").param("CallSid")
        assert caller.wait_state("active", timeout=15)
        go_down(d, server)
        down.set()
        try:
            # The Dial's action is requested during the outage, with the call's parameters
            dialed = webapp.wait(25, path="/dialed").flat
            assert dialed["CallSid"] == parent and dialed["From"] == PHONE
            assert dialed["DialCallStatus"] == "busy"
            child = dialed["DialCallSid"]
            assert caller.wait_state("ended", timeout=20)
            assert caller.end_reason == "local-hangup"  # its TwiML ran to its end
            with pytest.raises(TimeoutError):  # alice was never rung
                browser.next("invite", timeout=1.0)
            assert not d.store.available
        finally:
            server.resume()
        wait_for(lambda: d.store.available, timeout=15)

        def ended() -> Any:
            row = d.store.read_one("SELECT * FROM calls WHERE sid = ?", (child,))
            return row if row is not None and row["status"] == "busy" else None

        row = wait_for(ended, timeout=10)
        assert (row["direction"], row["parent_call_sid"]) == ("outbound-dial", parent)
        assert row["to_number"] == "client:alice" and row["from_number"] == PHONE
        assert row["error_code"] == 20503
        assert wait_for(
            lambda: (
                d.store.read_one("SELECT status FROM calls WHERE sid = ?", (parent,))["status"]
                == "completed"
            )
        )
        stuck = d.store.read(
            "SELECT sid FROM calls WHERE status IN ('queued', 'ringing', 'in-progress')"
        )
        assert not stuck, stuck
        assert len(webapp.to("/dialed")) == 1
        lines = [r for r in caplog.records if "client ring turned away" in r.getMessage()]
        assert len(lines) == 1
        assert not tracebacks(caplog), tracebacks(caplog)
    finally:
        browser.close()
        if not server.running:
            server.resume()
        d.stop()
        server.drop(url)


def test_a_listen_during_an_outage_is_held_and_connects_once_the_database_is_back(
    phones, server: PgServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A Device whose socket opens during an outage: its key's secret is in the database.
    A key this daemon has read already (a listen before the outage) is checked against the
    secret it read; a capability token needs only the AuthToken (read at start); a key never
    read here, or one whose last read found it revoked, holds the listen: one ``error`` 31005,
    no ``close``, the socket stays up, and ``connected`` comes on it once the server is back."""
    caplog.set_level(logging.INFO)
    url = server.new_database()
    p = browserapp.appliance(phones, database_url=url)
    d = p.daemon
    known, known_secret = apikeys.create(d.store, "read before the outage")
    revoked, revoked_secret = apikeys.create(d.store, "revoked before the outage")
    known_token = p.token(key_sid=known.sid, secret=known_secret)
    revoked_token = p.token(key_sid=revoked.sid, secret=revoked_secret)
    stack = contextlib.ExitStack()
    try:
        with p.open() as ws:  # both keys read once: the secrets are kept
            for token in (known_token, revoked_token):
                send(ws, "listen", token=token, browserinfo={}, reconnectTimeout=0)
                assert receive(ws)["type"] == "connected"
        assert apikeys.revoke(d.store, revoked.sid)
        with p.open() as ws:  # the read that finds it revoked forgets its secret
            send(ws, "listen", token=revoked_token, browserinfo={}, reconnectTimeout=0)
            assert receive(ws)["payload"]["error"]["code"] == 31204  # 31202, as the SDK knows it
        go_down(d, server)
        try:
            with p.open() as ws:
                send(ws, "listen", token=known_token, browserinfo={}, reconnectTimeout=0)
                assert receive(ws)["type"] == "connected"
                send(ws, "register", media={"audio": True})
                assert receive(ws)["type"] == "ready"
            with p.open() as ws:
                legacy = capability(p, APP, "carol")
                send(ws, "listen", token=legacy, browserinfo={}, reconnectTimeout=0)
                assert receive(ws)["type"] == "connected"
            held = [stack.enter_context(p.open()) for _ in range(2)]
            for ws, token in zip(held, (p.token(), revoked_token), strict=True):
                send(ws, "listen", token=token, browserinfo={}, reconnectTimeout=0)
                error = receive(ws)
                assert error["type"] == "error", error
                assert error["payload"]["error"]["code"] == 31005
                assert "database" in error["payload"]["error"]["message"]
            with pytest.raises(TimeoutError):  # no close: the socket stays up, silent
                receive(held[0], timeout=2.5)
            send(held[0], "register", media={"audio": True})  # as before any listen
            assert receive(held[0])["payload"]["error"]["code"] == 31204
            assert not d.store.available
        finally:
            server.resume()
        # the same sockets: the unknown key's listen connects, the revoked one is refused
        connected = receive(held[0])
        assert connected["type"] == "connected", connected
        assert connected["payload"]["token"]["identity"] == "alice"
        send(held[0], "register", media={"audio": True})
        assert receive(held[0])["type"] == "ready"
        refused = receive(held[1])
        assert refused["payload"]["error"]["code"] == 31204, refused
        assert receive(held[1])["type"] == "close"
        assert [r.levelname for r in caplog.records if "listen held" in r.getMessage()] == [
            "WARNING",
            "WARNING",
        ]
        assert "client message failed" not in caplog.text
        assert not tracebacks(caplog), tracebacks(caplog)
    finally:
        stack.close()
        if not server.running:
            server.resume()
        d.stop()
        server.drop(url)


def test_the_official_sdk_registers_once_the_database_is_back_without_a_reload(
    phones, site, server: PgServer, caplog: pytest.LogCaptureFixture
) -> None:
    """The official SDK in Chromium: a Device registered before the outage whose socket drops
    during it reconnects and registers again (its key was read); a new Device whose key was
    never read gets one ConnectionError 31005, its register() waits, and it registers on
    the same socket once the server is back: no reload, no reconnect storm."""
    caplog.set_level(logging.INFO)
    url = server.new_database()
    p = browserapp.appliance(phones, database_url=url)
    d = p.daemon
    hub = d.server.hub
    known, known_secret = apikeys.create(d.store, "read before the outage")
    chunderw = f"127.0.0.1:{d.server.https_port}"
    try:
        with sync_playwright() as pw:
            page = browser_page(pw, d.server.https_port)
            page.goto(site)
            laptop = page.evaluate(
                "([t, c]) => makeDevice(t, c)",
                [p.token(identity="bob", key_sid=known.sid, secret=known_secret), chunderw],
            )
            assert page.evaluate(f"register({laptop})") == "ok"
            go_down(d, server)
            try:
                for c in hub.devices("bob"):  # a dropped socket during the outage
                    c.link.sock.shutdown(socket.SHUT_RDWR)
                wait_for(lambda: f"{laptop}:unregistered" in events(page), timeout=15)
                wait_for(lambda: events(page).count(f"{laptop}:registered") == 2, timeout=30)
                desk = page.evaluate("([t, c]) => makeDevice(t, c)", [p.token(), chunderw])
                page.evaluate(
                    "n => { window.result = null; register(n).then(r => window.result = r); }",
                    desk,
                )
                errors = wait_for(
                    lambda: [e for e in events(page) if e.startswith(f"{desk}:error:")]
                )
                _, _, sdk_code, original, message = errors[0].split(":", 4)
                assert (sdk_code, original) == ("31005", "31005"), errors
                assert "database" in message
                time.sleep(3)  # it waits on its socket: no retries, no close
                assert page.evaluate("window.result") is None
                assert state(page, desk) == "registering" and "alice" not in hub.identities()
                assert not d.store.available
            finally:
                server.resume()
            wait_for(lambda: page.evaluate("window.result") == "ok", timeout=30)
            assert state(page, desk) == "registered"
            assert hub.identities() == {"alice": 1, "bob": 1}
            assert len([e for e in events(page) if e.startswith(f"{desk}:error:")]) == 1
            page.close()
        held = [r for r in caplog.records if "listen held" in r.getMessage()]
        assert [r.levelname for r in held] == ["WARNING"]  # one socket, one line
        assert "client message failed" not in caplog.text
        assert not tracebacks(caplog), tracebacks(caplog)
    finally:
        if not server.running:
            server.resume()
        d.stop()
        server.drop(url)


def test_a_browser_message_during_an_outage_gets_31000_and_may_come_again(
    phones, webapp, server: PgServer, caplog: pytest.LogCaptureFixture
) -> None:
    """The SDK's ``message`` on a call in progress while the server is away: ``error`` 31000
    with its voiceeventsid (the SDK's Call raises it), one WARNING line without a traceback,
    and the socket and the call go on; sent again once the server is back, it is acked and
    posted once."""
    caplog.set_level(logging.INFO)
    url = server.new_database()
    p, api, token = browserapp.start(
        phones, webapp, '<Say>Hi.</Say><Pause length="60"/>', database_url=url
    )
    d = p.daemon
    browser = Peer(WebRtcAudioPort(d.media.start()), name="browser")
    try:
        with p.open() as ws:
            sid = place_peer_call(p, ws, token, browser)["callsid"]
            wait_for(lambda: api.calls(sid).fetch().status == "in-progress")
            api.calls(sid).user_defined_message_subscriptions.create(callback=webapp.url("/m"))
            go_down(d, server)
            try:
                sdk_message(ws, sid, {"n": 1}, kx(1))
                error = receive(ws)
                assert error["type"] == "error", error
                assert error["payload"]["voiceeventsid"] == kx(1)
                assert error["payload"]["error"]["code"] == 31000
                assert "database" in error["payload"]["error"]["message"]
                send(ws, "dtmf", callsid=sid, dtmf="1")  # the socket and the call go on
                with pytest.raises(TimeoutError):
                    receive(ws, timeout=0.5)
                assert d.client_line.count() == 1
            finally:
                server.resume()
            wait_for(lambda: d.store.available, timeout=15)
            sdk_message(ws, sid, {"n": 1}, kx(1))
            assert receive(ws)["type"] == "ack"
            posted = webapp.wait(15, path="/m").flat
            assert (posted["Sid"], posted["Content"]) == (kx(1), '{"n":1}')
            send(ws, "hangup", callsid=sid)
        refused = [r for r in caplog.records if "user message refused" in r.getMessage()]
        assert [r.levelname for r in refused] == ["WARNING"]
        assert "database" in refused[0].getMessage()
        assert not tracebacks(caplog), tracebacks(caplog)
        clients = [r for r in caplog.records if r.name.startswith("appliance.clients")]
        assert not [r.getMessage() for r in clients if r.levelno >= logging.ERROR]
    finally:
        d.media.submit(browser.close()).result(10)
        if not server.running:
            server.resume()
        d.stop()
        server.drop(url)
