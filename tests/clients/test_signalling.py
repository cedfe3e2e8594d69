"""Browser phones' signalling on wss://127.0.0.1:<https_port>/signal, spoken by the websockets
client: registration, refreshed tokens, several devices, refused tokens and bad input.  The
official SDK in Chromium speaks it in test_signalling_browser.py."""

from __future__ import annotations

import time

import pytest
import requests
from twilio.jwt.access_token.grants import VoiceGrant
from websockets.exceptions import ConnectionClosed

from appliance import sids
from appliance.clients import connection, pstream
from tests.clients.conftest import WAIT, receive, send
from tests.conftest import wait_for

pytestmark = pytest.mark.timeout(120)


def closed_code(ws) -> int | None:
    """The close code, once the server has closed ``ws`` (heartbeats may come first)."""
    deadline = time.monotonic() + WAIT
    with pytest.raises(ConnectionClosed):
        while True:
            ws.recv(timeout=max(0.0, deadline - time.monotonic()))
    return ws.close_code


def test_register_refresh_and_unregister_several_devices(phones, monkeypatch):
    monkeypatch.setattr(connection, "HEARTBEAT_INTERVAL", 0.3)
    p = phones()
    hub = p.daemon.server.hub
    with p.open() as laptop, p.open() as desk:
        send(laptop, "listen", token=p.token(ttl=600), browserinfo={}, reconnectTimeout=0)
        msg = receive(laptop)
        assert msg["type"] == "connected"
        assert msg["payload"]["token"]["identity"] == "alice"
        assert 590 <= msg["payload"]["token"]["ttl"] <= 600
        send(laptop, "register", media={"audio": True})
        assert receive(laptop)["type"] == "ready"
        assert [c.number for c in hub.devices("alice")] and hub.identities() == {"alice": 1}
        # a second device under the same identity: both are rung later
        send(desk, "listen", token=p.token())
        assert receive(desk)["type"] == "connected"
        send(desk, "register", media={"audio": True})
        assert receive(desk)["type"] == "ready"
        assert hub.identities() == {"alice": 2}
        # heartbeats come, and the browser echoes them
        assert laptop.recv(timeout=WAIT) == "\n"
        laptop.send("\n")
        # receive()'s time-out is for the message, not each heartbeat (0.3 s apart here)
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            receive(laptop, timeout=1.0)
        assert time.monotonic() - started < 5
        # updateToken: a new listen keeps the registration
        send(laptop, "listen", token=p.token(ttl=3600))
        msg = receive(laptop)
        assert msg["type"] == "connected" and msg["payload"]["token"]["ttl"] > 3500
        assert hub.identities() == {"alice": 2}
        # unregister
        send(laptop, "register", media={"audio": False})
        assert receive(laptop)["type"] == "offline"
        assert hub.identities() == {"alice": 1}
    # closed sockets are no longer registered
    wait_for(lambda: hub.identities() == {} and hub.live == 0)


def test_other_threads_reach_a_device_at_once_and_stopping_closes_it(phones):
    p = phones()
    hub = p.daemon.server.hub
    with p.open() as ws:
        send(ws, "listen", token=p.token())
        assert receive(ws)["type"] == "connected"
        send(ws, "register", media={"audio": True})
        assert receive(ws)["type"] == "ready"
        # how an incoming call will ring every device of an identity: from another thread,
        # woken at once (not at the next 5 s heartbeat)
        (device,) = hub.devices("alice")
        started = time.monotonic()
        device.push(pstream.encode("invite", {"callsid": "CA1", "sdp": "v=0"}))
        assert receive(ws)["payload"]["callsid"] == "CA1"
        assert time.monotonic() - started < 2  # the heartbeat is 5 s from the socket's open
        hub.stop()
        assert closed_code(ws) == 1001
    wait_for(lambda: hub.live == 0)


@pytest.mark.parametrize(
    ("case", "code", "words"),
    [
        ("expired", 31205, "expired"),
        ("signature", 31204, "signature"),
        ("account", 31204, "account"),
        ("identity with spaces", 31105, "space"),
        ("not a jwt", 31204, "not a JWT"),
    ],
)
def test_refused_tokens_get_the_sdk_codes_then_close(phones, caplog, case, code, words):
    caplog.set_level("DEBUG")
    p = phones()
    token = {
        "expired": lambda: p.token(nbf=int(time.time()) - 7200, valid_until=int(time.time()) - 5),
        "signature": lambda: p.token(secret="x" * 32),
        "account": lambda: p.token(account_sid=sids.new("AC")),
        "identity with spaces": lambda: p.token(identity="alice smith"),
        "not a jwt": lambda: "not-a-token",
    }[case]()
    with p.open() as ws:
        send(ws, "listen", token=token)
        msg = receive(ws)
        assert msg["type"] == "error", msg
        assert msg["payload"]["error"]["code"] == code
        assert words in msg["payload"]["error"]["message"]
        assert token not in msg["payload"]["error"]["message"]
        assert receive(ws)["type"] == "close"  # the SDK stops reconnecting with this token
        assert closed_code(ws) == 1008
    assert p.daemon.server.hub.identities() == {}
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("appliance"))
    assert "client token refused" in ours and token not in ours  # the client's own log has it


def test_a_token_without_incoming_grant_cannot_register(phones):
    p = phones()
    with p.open() as ws:
        send(
            ws, "listen", token=p.token(grant=VoiceGrant(outgoing_application_sid="AP" + "0" * 32))
        )
        assert receive(ws)["type"] == "connected"
        send(ws, "register", media={"audio": True})
        msg = receive(ws)
        assert msg["type"] == "error" and msg["payload"]["error"]["code"] == 31201
        assert "incoming" in msg["payload"]["error"]["message"]
        assert receive(ws)["type"] == "offline"
    assert p.daemon.server.hub.identities() == {}


def test_a_token_that_runs_out_unregisters(phones):
    p = phones()
    with p.open() as ws:
        send(ws, "listen", token=p.token(ttl=2))
        assert receive(ws)["type"] == "connected"
        send(ws, "register", media={"audio": True})
        assert receive(ws)["type"] == "ready"
        msg = receive(ws)
        assert msg["payload"]["error"]["code"] == 31205 and "updateToken" in str(msg)
        assert receive(ws)["type"] == "close"
    assert p.daemon.server.hub.identities() == {}


def test_bad_input_gets_clear_errors_and_spares_other_connections(phones):
    p = phones()
    hub = p.daemon.server.hub
    with p.open() as bystander, p.open(max_size=None) as ws:
        send(bystander, "listen", token=p.token(identity="bob"))
        assert receive(bystander)["type"] == "connected"
        send(bystander, "register", media={"audio": True})
        assert receive(bystander)["type"] == "ready"

        def error(raw: str | bytes) -> dict:
            ws.send(raw)
            msg = receive(ws)
            assert msg["type"] == "error", msg
            return msg["payload"]["error"]

        assert error("{not json") == {"code": 31100, "message": "The message is not JSON"}
        assert "Unknown message type 'subscribe'" in error('{"type":"subscribe"}')["message"]
        assert "binary" in error(b"\x00\x01")["message"]
        assert "not a JSON object" in error('{"type":"register","payload":[]}')["message"]
        # register before a valid listen: the SDK's comment calls this a 31204
        send(ws, "register", media={"audio": True})
        assert receive(ws)["payload"]["error"]["code"] == 31204
        big = error('{"type":"listen","payload":{"token":"' + "a" * 70_000 + '"}}')
        assert big["code"] == 31100 and "at most 65536" in big["message"]
        # the socket still works
        send(ws, "listen", token=p.token(identity="carol"))
        assert receive(ws)["type"] == "connected"
        # a flood of register messages
        codes = []
        for _ in range(12):
            send(ws, "register", media={"audio": True})
            msg = receive(ws)
            codes.append(msg["payload"]["error"]["code"] if msg["type"] == "error" else "ready")
        assert codes[:5] == ["ready"] * 5 and set(codes[5:]) == {31206}
        # a call to an Application that does not exist: an error, then a hang-up (31001)
        send(ws, "invite", callsid="TJ123", sdp="v=0\r\n", twilio={"params": "To=%2B15551234"})
        msg = receive(ws)
        assert msg["type"] == "error" and msg["payload"]["callsid"] == "TJ123"
        assert msg["payload"]["error"]["code"] == 31001
        assert receive(ws)["payload"] == {"callsid": "TJ123"}
        send(ws, "dtmf", callsid="CA1", dtmf="12#")
        msg = receive(ws)
        assert msg["payload"]["error"]["code"] == 31404 and msg["payload"]["callsid"] == "CA1"
        send(ws, "dtmf", callsid="CA1", dtmf="<script>")
        assert receive(ws)["payload"]["error"]["code"] == 31100
        # a frame far over the cap closes the socket with 1009, unread
        try:
            ws.send("x" * (connection.MAX_FRAME + 1))
        except (ConnectionClosed, OSError):
            pass  # the server may close before the client has written it all
        assert closed_code(ws) == 1009
        # the other phone is untouched
        send(bystander, "register", media={"audio": True})
        assert receive(bystander)["type"] == "ready"
        wait_for(lambda: hub.identities() == {"bob": 1})
        assert p.daemon.server.httpd  # the daemon is still serving
    wait_for(lambda: hub.live == 0)


def test_sockets_beyond_client_connections_are_refused(phones):
    p = phones(client_connections=1)
    with p.open() as first:
        send(first, "listen", token=p.token())
        assert receive(first)["type"] == "connected"
        with p.open() as second:
            msg = receive(second)
            assert msg["payload"]["error"]["code"] == 31005
            assert "client_connections" in msg["payload"]["error"]["message"]
            assert closed_code(second) == 1013
        # the API still answers on the HTTPS port meanwhile
        ca = str(p.daemon.config.data_dir / "tls/ca.crt")
        rv = requests.get(
            f"https://127.0.0.1:{p.daemon.server.https_port}/health", verify=ca, timeout=10
        )
        assert "modems" in rv.json()


def test_a_bad_upgrade_is_answered_in_http_and_the_port_keeps_serving(phones):
    p = phones()
    base = f"https://127.0.0.1:{p.daemon.server.https_port}"
    ca = str(p.daemon.config.data_dir / "tls/ca.crt")
    # an upgrade without the WebSocket handshake's headers: websockets' own 400 answer
    rv = requests.get(
        base + "/signal",
        headers={"Upgrade": "websocket", "Connection": "Upgrade"},
        verify=ca,
        timeout=10,
    )
    assert rv.status_code == 400 and "Sec-WebSocket-Key" in rv.text
    # /signal without an upgrade is not the socket; the API still answers on the same port
    rv = requests.get(base + "/signal", verify=ca, timeout=10, allow_redirects=False)
    assert rv.status_code in (302, 404) and "Sec-WebSocket-Accept" not in rv.headers
    assert "modems" in requests.get(base + "/health", verify=ca, timeout=10).json()
    assert p.daemon.server.hub.live == 0


def test_a_message_the_database_cannot_take_is_refused_clearly_and_the_socket_goes_on(
    phones, monkeypatch, caplog
):
    from appliance.clients.session import Session
    from appliance.errors import StoreUnavailable

    p = phones()

    def away(self, message):
        raise StoreUnavailable("database unreachable: connection refused")

    with p.open() as ws:
        send(ws, "listen", token=p.token())
        assert receive(ws)["type"] == "connected"
        with monkeypatch.context() as m:
            m.setattr(Session, "_on_register", away)
            send(ws, "register", media={"audio": True})
            refused = receive(ws)
        assert refused["type"] == "error"
        assert refused["payload"]["error"]["code"] == pstream.GENERIC
        assert "database is unreachable" in refused["payload"]["error"]["message"]
        send(ws, "register", media={"audio": True})  # the same socket, once it is back
        assert receive(ws)["type"] == "ready"
    lines = [r for r in caplog.records if "database unreachable" in r.getMessage()]
    assert [r.levelname for r in lines] == ["WARNING"] and not lines[0].exc_info
    assert not [r for r in caplog.records if "client message failed" in r.getMessage()]
