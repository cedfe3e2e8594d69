"""Browser phones' fixtures: a running appliance, an API key that signs Access Tokens minted by
the official twilio library, and WebSocket clients of wss://127.0.0.1:<https_port>/signal."""

from __future__ import annotations

import json
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from twilio.jwt.access_token import AccessToken
from twilio.jwt.access_token.grants import VoiceGrant
from websockets.sync.client import ClientConnection, connect

from appliance.daemon import Daemon
from appliance.store import apikeys

APP = "AP" + "ab" * 16


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
        return connect(self.url, ssl=self.context(), open_timeout=10, **kw)


@pytest.fixture
def phones(make_daemon: Callable[..., Daemon]) -> Iterator[Callable[..., Phones]]:
    def make(**settings: Any) -> Phones:
        d = make_daemon(**settings)
        made, secret = apikeys.create(d.store, "browser phones")
        return Phones(d, made.sid, secret)

    yield make


def send(ws: ClientConnection, kind: str, **payload: Any) -> None:
    ws.send(json.dumps({"type": kind, "version": "1.6", "payload": payload}))


def receive(ws: ClientConnection, timeout: float = 10) -> dict[str, Any]:
    """The next message that is not a heartbeat."""
    while True:
        text = ws.recv(timeout=timeout)
        if text != "\n":
            message: dict[str, Any] = json.loads(text)
            assert message["version"] == "1.6"
            return message
