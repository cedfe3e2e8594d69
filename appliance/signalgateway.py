"""The HTTPS server's WSGI gateway, which hands ``GET /signal`` WebSocket upgrades to the hub.

The Voice JavaScript SDK dials ``wss://<chunderw>/signal``, so browser phones' signalling
must share the HTTPS port with the API and the panel.  cheroot has no WebSocket support; a
gateway is where a request meets the application, so this one, for an upgrade to
``/signal``, takes the connection's TLS socket and serves it in the worker thread that
received it (:meth:`appliance.clients.hub.Hub.serve`) instead of calling the WSGI app.
Every other request goes to the app as before.  Each live socket holds one worker thread:
the HTTPS server gets ``client_connections`` threads on top of ``http_threads``, and the hub
refuses sockets beyond that, so browser phones never starve the API.
"""

from __future__ import annotations

import ssl
from typing import TYPE_CHECKING, Any

from cheroot import wsgi

if TYPE_CHECKING:
    from appliance.clients.hub import Hub

PATH = b"/signal"


def is_upgrade(path: bytes, headers: dict[bytes, bytes]) -> bool:
    """Whether a request asks to become the signalling WebSocket."""
    upgrade = headers.get(b"Upgrade", b"")
    return path == PATH and b"websocket" in upgrade.lower()


def gateway(hub: Hub) -> type[wsgi.Gateway_10]:
    """A WSGI 1.0 gateway class that serves ``/signal`` upgrades with ``hub``."""

    class SignalGateway(wsgi.Gateway_10):
        def respond(self) -> None:
            req: Any = self.req
            if not is_upgrade(req.path, req.inheaders):
                super().respond()
                return
            # cheroot writes nothing more and closes the connection once the socket is done
            req.close_connection = True
            req.sent_headers = True
            conn = req.conn
            lines = [b"GET " + req.uri + b" HTTP/1.1"]
            lines += [name + b": " + value for name, value in req.inheaders.items()]
            request = b"\r\n".join(lines) + b"\r\n\r\n"
            hub.serve(conn.socket, request, _buffered(conn), conn.remote_addr or "")

    return SignalGateway


def _buffered(conn: Any) -> bytes:
    """Bytes cheroot read past the request (a client that did not wait for the 101 answer):
    what its reader holds, without waiting for more."""
    sock = conn.socket
    sock.settimeout(0)
    try:
        data = conn.rfile.read1(65536)
    except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
        return b""
    except OSError:
        return b""
    return data or b""
