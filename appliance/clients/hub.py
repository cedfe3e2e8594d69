"""The hub of browser phones: live signalling sockets and who is registered as whom.

The HTTPS server's gateway hands each ``GET /signal`` upgrade to :meth:`Hub.serve`, which
serves it in that worker thread: a :class:`~appliance.clients.connection.Connection` (the
socket) and a :class:`~appliance.clients.session.Session` (the protocol state).  The hub
admits ``client_connections`` sockets at once (each holds a worker thread; the HTTPS server
has that many threads on top of ``http_threads``), refuses more, checks tokens, and keeps the
registration table, identity → live sessions: an incoming call will
:meth:`~appliance.clients.session.Session.push` its ``invite`` to every one of
:meth:`Hub.devices`.
"""

from __future__ import annotations

import itertools
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from websockets.frames import CloseCode

from appliance import logs
from appliance.clients import pstream
from appliance.clients.connection import Connection
from appliance.clients.session import Session

if TYPE_CHECKING:
    from appliance.clients.calls import ClientCalls
    from appliance.clients.tokens import Tokens
    from appliance.store.account import Account
    from appliance.store.database import Store

LOGGER = logging.getLogger(__name__)


class Hub:
    """The live signalling connections and the registration table."""

    def __init__(
        self,
        store: Store,
        account: Account,
        limit: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.store, self.account = store, account
        self.limit, self.clock, self.wall = max(1, limit), clock, wall
        self._tokens: Tokens | None = None
        self._lock = threading.Lock()
        self._live: dict[Connection, Session] = {}
        self._registrations = pstream.Registrations()
        self._ids = itertools.count(1)
        self._stopping = False
        # calls from browsers (the daemon wires them: appliance.clients.calls); None: refused
        self.calls: ClientCalls | None = None

    @property
    def tokens(self) -> Tokens:
        """The token checker, made at the first ``listen``: PyJWT loads cryptography (~9 MB),
        which an appliance without browser phones never needs."""
        if self._tokens is None:
            from appliance.clients.tokens import Tokens

            self._tokens = Tokens(self.store, self.account)
        return self._tokens

    # -- sockets

    def serve(
        self, sock: ssl.SSLSocket | socket.socket, request: bytes, buffered: bytes, remote: str
    ) -> None:
        """Serve one upgrade request (its raw bytes) on ``sock`` until the socket closes."""
        conn = Connection(sock, remote, next(self._ids), self.clock)
        session = Session(self, conn)
        conn.session = session
        try:
            if not conn.handshake(request):
                return
            with self._lock:
                admitted = not self._stopping and len(self._live) < self.limit
                if admitted:
                    self._live[conn] = session
            if not admitted:
                conn.refuse(self.limit)
                return
            conn.run(buffered)
        finally:
            with self._lock:
                self._live.pop(conn, None)
                identity = self._registrations.unregister(session)
            if self.calls is not None:  # its answered calls wait for a reconnect, if any
                self.calls.dropped(session, closing=self._stopping)
            conn.dispose()
            if identity is not None:
                logs.event(
                    LOGGER,
                    logging.INFO,
                    "client unregistered",
                    identity=identity,
                    connection=conn.number,
                    why="socket closed",
                )

    def stop(self) -> None:
        """Close every socket (the daemon is stopping); their threads return."""
        with self._lock:
            self._stopping = True
            live = tuple(self._live)
        for conn in live:
            conn.shut(CloseCode.GOING_AWAY, "the appliance is stopping")

    @property
    def live(self) -> int:
        with self._lock:
            return len(self._live)

    # -- the registration table (the Session's Registry)

    def register(self, identity: str, session: Session) -> None:
        with self._lock:
            self._registrations.register(identity, session)

    def unregister(self, session: Session) -> str | None:
        with self._lock:
            return self._registrations.unregister(session)

    def registered_as(self, session: Session) -> str | None:
        with self._lock:
            return self._registrations.identity(session)

    def count(self, identity: str) -> int:
        with self._lock:
            return len(self._registrations.devices(identity))

    def devices(self, identity: str) -> tuple[Session, ...]:
        """Every live session registered under ``identity`` (what an incoming call rings)."""
        with self._lock:
            return tuple(s for s in self._registrations.devices(identity) if isinstance(s, Session))

    def identities(self) -> dict[str, int]:
        """Registered identities and how many devices each has."""
        with self._lock:
            return {i: len(self._registrations.devices(i)) for i in self._registrations}
