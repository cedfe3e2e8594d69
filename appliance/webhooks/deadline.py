"""Deadline-aware sockets: a total wall-clock budget for a whole HTTP request.

Connect and read timeouts bound each socket operation; they do not stop a server
that trickles its headers or body one byte at a time.  The connection pools of
:data:`POOL_CLASSES` (urllib3's, per scheme; :mod:`appliance.webhooks.transport` uses
them) make sockets that check the deadline in :data:`DEADLINE` on every ``recv()``
(no threads, no signals) and raise :class:`TotalTimeout` once it has passed.
"""

from __future__ import annotations

import contextvars
import io
import socket
import time
from typing import Any, cast

import urllib3.connection
import urllib3.connectionpool

__all__ = ["DEADLINE", "POOL_CLASSES", "TotalTimeout"]

#: Monotonic deadline of the request running in this context (None: no total limit).
DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "appliance_webhook_deadline", default=None
)


class TotalTimeout(TimeoutError):
    """The total time budget of a webhook request ran out."""


class _DeadlineReader(io.RawIOBase):
    """Raw reader over a socket whose every ``recv`` is cut short by the deadline.

    Wraps the socket's own ``SocketIO`` so that the socket's reference counting of
    open files keeps working (http.client closes the socket while the response is
    still reading it when the server said ``Connection: close``).
    """

    def __init__(self, owner: _DeadlineSocket, raw: io.RawIOBase) -> None:
        super().__init__()
        self._owner = owner
        self._raw = raw

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int | None:
        deadline = DEADLINE.get()
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TotalTimeout("total timeout exceeded")
            base = self._owner.base_timeout
            self._owner.wrapped.settimeout(remaining if base is None else min(base, remaining))
        return self._raw.readinto(buffer)

    def close(self) -> None:
        if not self.closed:
            self._raw.close()
        super().close()


class _DeadlineSocket:
    """Proxy around a connected (possibly TLS) socket; only ``makefile('rb')`` differs."""

    def __init__(self, sock: socket.socket) -> None:
        self.wrapped = sock
        self.base_timeout: float | None = sock.gettimeout()

    def settimeout(self, value: float | None) -> None:
        self.base_timeout = value
        self.wrapped.settimeout(value)

    def gettimeout(self) -> float | None:
        return self.base_timeout

    def makefile(self, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if mode != "rb":
            return self.wrapped.makefile(mode, *args, **kwargs)  # type: ignore[call-overload]
        raw = self.wrapped.makefile("rb", buffering=0)
        return io.BufferedReader(_DeadlineReader(self, raw))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.wrapped, name)


class _DeadlineHTTPConnection(urllib3.connection.HTTPConnection):
    def connect(self) -> None:
        super().connect()
        self.sock = cast(socket.socket, _DeadlineSocket(self.sock))


class _DeadlineHTTPSConnection(urllib3.connection.HTTPSConnection):
    def connect(self) -> None:
        super().connect()
        self.sock = cast(socket.socket, _DeadlineSocket(self.sock))


class _DeadlineHTTPPool(urllib3.connectionpool.HTTPConnectionPool):
    ConnectionCls = _DeadlineHTTPConnection


class _DeadlineHTTPSPool(urllib3.connectionpool.HTTPSConnectionPool):
    ConnectionCls = _DeadlineHTTPSConnection


#: urllib3's ``pool_classes_by_scheme`` for a ``PoolManager`` or ``ProxyManager``.
POOL_CLASSES: dict[str, type[urllib3.connectionpool.HTTPConnectionPool]] = {
    "http": _DeadlineHTTPPool,
    "https": _DeadlineHTTPSPool,
}
