"""Browser phones' fixtures: a running appliance, an API key that signs Access Tokens minted by
the official twilio library, and WebSocket clients of wss://127.0.0.1:<https_port>/signal."""

from __future__ import annotations

import contextlib
import json
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from twilio.jwt.access_token import AccessToken
from twilio.jwt.access_token.grants import VoiceGrant
from websockets.sync.client import ClientConnection, connect

from appliance.daemon import Daemon
from appliance.store import apikeys

APP = "AP" + "ab" * 16
# s a wait that ends as soon as its message comes may take: generous, for a loaded 2-core
# machine (a test that expects silence passes its own short timeout)
WAIT = 30.0


@contextlib.contextmanager
def static_site(files: dict[str, tuple[bytes, str]]) -> Iterator[str]:
    """A plain HTTP site on 127.0.0.1 serving ``files`` (path -> body and content type), 404
    for anything else: the other origin a browser phone's page comes from."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body, kind = files.get(self.path, (b"not found", "text/plain"))
            self.send_response(200 if self.path in files else 404)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Phones:
    """An appliance with an API key, and how to mint tokens and open signalling sockets."""

    daemon: Daemon
    key_sid: str
    secret: str

    @property
    def url(self) -> str:
        return f"wss://127.0.0.1:{self.daemon.server.https_port}/signal"

    def token(self, identity: str | None = "alice", **kw: Any) -> str:
        grant = kw.pop("grant", VoiceGrant(incoming_allow=True, outgoing_application_sid=APP))
        token = AccessToken(
            kw.pop("account_sid", self.daemon.account.sid),
            kw.pop("key_sid", self.key_sid),
            kw.pop("secret", self.secret),
            identity=identity,
            **kw,
        )
        token.add_grant(grant)
        return str(token.to_jwt())

    def context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.daemon.config.data_dir / "tls/ca.crt"))

    def open(self, **kw: Any) -> ClientConnection:
        """A signalling socket; its TLS and WebSocket handshakes may take :data:`WAIT` on a
        loaded machine (the client's own default, 10 s, was once too short)."""
        return connect(self.url, ssl=self.context(), open_timeout=WAIT, **kw)


@pytest.fixture
def phones(make_daemon: Callable[..., Daemon]) -> Iterator[Callable[..., Phones]]:
    def make(**settings: Any) -> Phones:
        d = make_daemon(**settings)
        made, secret = apikeys.create(d.store, "browser phones")
        return Phones(d, made.sid, secret)

    yield make


def send(ws: ClientConnection, kind: str, **payload: Any) -> None:
    ws.send(json.dumps({"type": kind, "version": "1.6", "payload": payload}))


def receive(ws: ClientConnection, timeout: float = WAIT) -> dict[str, Any]:
    """The next message that is not a heartbeat, within ``timeout`` seconds in all
    (TimeoutError): the server's heartbeat comes every 5 s, so a time-out per frame would
    never run out."""
    deadline = time.monotonic() + timeout
    while True:
        text = ws.recv(timeout=max(0.0, deadline - time.monotonic()))
        if text != "\n":
            message: dict[str, Any] = json.loads(text)
            assert message["version"] == "1.6"
            return message
