"""One browser phone's signalling socket: a WebSocket over the HTTPS server's TLS socket.

A :class:`Connection` drives the ``websockets`` library's sans-I/O ``ServerProtocol`` over
the socket of one ``GET /signal`` upgrade, in the HTTPS worker thread that received it (see
:mod:`appliance.signalgateway`).  Only that thread touches the socket (an OpenSSL connection
must not be read and written from two threads at once): other threads :meth:`~Connection.push`
messages onto its outbox and wake it through a socket pair.  It sends the SDK's heartbeat,
drops a browser that has gone quiet, reassembles fragmented messages, refuses binary frames
and caps frames (websockets closes with 1009 past :data:`MAX_FRAME`, unread); each text
message goes to its :class:`Handler` (the :class:`~appliance.clients.session.Session`).
"""

from __future__ import annotations

import collections
import logging
import selectors
import socket
import ssl
import time
from collections.abc import Callable
from typing import Protocol

from websockets.exceptions import InvalidState
from websockets.exceptions import ProtocolError as WsProtocolError
from websockets.frames import CloseCode, Frame, Opcode
from websockets.http11 import Request
from websockets.protocol import State
from websockets.server import ServerProtocol

from appliance import logs
from appliance.clients import pstream

LOGGER = logging.getLogger(__name__)
# the websockets library's own log: at DEBUG it shows frames, tokens included; never here
FRAMES = logging.getLogger(__name__ + ".frames")
FRAMES.setLevel(logging.WARNING)

HEARTBEAT_INTERVAL = 5.0  # s between the server's "\n" heartbeats (the SDK gives up after 15 s)
IDLE_TIMEOUT = 45.0  # s without a frame from the browser (it echoes heartbeats): the peer is gone
WRITE_TIMEOUT = 10.0  # s to write to a browser that reads nothing before the socket is dropped
CLOSE_TIMEOUT = 5.0  # s to wait for the browser's answer to our close frame
MAX_FRAME = 4 * pstream.MAX_MESSAGE  # bytes: beyond this websockets closes with 1009 unread
READ_SIZE = 65536
LINGER = 2.0  # s to read what a browser still sends after the server closed
LINGER_READ = 0.5  # s to wait for each read then
CONNECTION_ERROR = 31005  # sent to a socket refused for lack of room


class Handler(Protocol):
    """What reads a connection's messages (a Session)."""

    expires_at: float | None
    held: pstream.Message | None  # a listen the database outage keeps, checked each second

    def receive(self, text: str) -> None: ...

    def refuse(self, e: pstream.ProtocolError) -> None: ...

    def tick(self, now: float) -> None: ...


class Connection:
    """One browser's signalling socket, served by the thread that calls :meth:`run`."""

    session: Handler  # set by the hub before run()

    def __init__(
        self,
        sock: ssl.SSLSocket | socket.socket,
        remote: str,
        number: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sock, self.remote, self.number, self.clock = sock, remote, number, clock
        self.protocol = ServerProtocol(max_size=MAX_FRAME, logger=FRAMES)
        self._outbox: collections.deque[str] = collections.deque()
        self._shut: tuple[int, str] | None = None
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._fragments: list[bytes] = []  # a fragmented message's frames so far
        self._fragmented = Opcode.TEXT  # and its opcode
        self._heard = clock()  # when the browser last sent a frame
        self._closing_since: float | None = None
        self._eof = False  # the browser closed its side

    # -- other threads

    def push(self, text: str) -> None:
        """Queue a message for the browser (any thread)."""
        self._outbox.append(text)
        self._wake()

    def shut(self, code: int, reason: str) -> None:
        """Close the socket with ``code`` after what is queued (any thread)."""
        self._shut = (code, reason)
        self._wake()

    def _wake(self) -> None:
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass  # already awake (the pair's buffer is full) or disposed

    def silent(self) -> float:
        """Seconds since the browser last sent a frame (any thread): it echoes every heartbeat,
        so a live browser is never silent for much more than :data:`HEARTBEAT_INTERVAL`."""
        return self.clock() - self._heard

    def dispose(self) -> None:
        """After :meth:`run`: let the browser read our close, then free the wake pair."""
        self.linger()
        for s in (self._wake_r, self._wake_w):
            s.close()

    # -- the serving thread

    def handshake(self, request: bytes) -> bool:
        """Answer the upgrade request (its raw bytes); True when the WebSocket is open."""
        self.protocol.receive_data(request)
        events = self.protocol.events_received()
        if not events or not isinstance(events[0], Request):
            self._write()
            return False
        response = self.protocol.accept(events[0])
        self.protocol.send_response(response)
        return self._write() and response.status_code == 101

    def refuse(self, limit: int) -> None:
        """No room for this socket: say why in the SDK's format, then close (1013)."""
        logs.event(
            LOGGER,
            logging.WARNING,
            "client refused",
            connection=self.number,
            remote=self.remote,
            why="client_connections reached",
            limit=limit,
        )
        self._send(
            pstream.error(
                CONNECTION_ERROR,
                f"This appliance serves at most {limit} browser phones at once"
                " (the client_connections setting): try again later",
            )
        )
        self._close(CloseCode.TRY_AGAIN_LATER, "too many browser phones")
        self._write()

    def run(self, buffered: bytes) -> None:
        """Frames until either side closes (``buffered``: bytes read past the request)."""
        logs.event(
            LOGGER, logging.DEBUG, "client connected", connection=self.number, remote=self.remote
        )
        if buffered:
            self._received(buffered)
        self._loop()

    def _loop(self) -> None:
        self.sock.settimeout(0)
        selector = selectors.DefaultSelector()
        selector.register(self.sock, selectors.EVENT_READ)
        selector.register(self._wake_r, selectors.EVENT_READ)
        clock = self.clock
        beat = clock() + HEARTBEAT_INTERVAL
        try:
            while self.protocol.state is not State.CLOSED:
                self._flush()
                if not self._write():
                    break
                now = clock()
                wait = beat - now
                if self.session.expires_at is not None:
                    wait = min(wait, self.session.expires_at - now)
                if self.session.held is not None:
                    wait = min(wait, 1.0)
                if self.protocol.state is State.CLOSING:
                    wait = min(wait, 0.5)
                pending = isinstance(self.sock, ssl.SSLSocket) and self.sock.pending() > 0
                ready = [] if pending else selector.select(max(0.0, wait))
                if pending or any(key.fileobj is self.sock for key, _ in ready):
                    if not self._read():
                        break
                if any(key.fileobj is self._wake_r for key, _ in ready):
                    self._drain_wake()
                now = clock()
                if now >= beat:
                    self._send(pstream.HEARTBEAT)
                    beat = now + HEARTBEAT_INTERVAL
                self.session.tick(now)
                if now - self._heard > IDLE_TIMEOUT:
                    self._close(CloseCode.GOING_AWAY, "no heartbeat from the browser")
                if self.protocol.state is State.CLOSING:
                    if self._closing_since is None:
                        self._closing_since = now
                    elif now - self._closing_since > CLOSE_TIMEOUT:
                        break  # the browser does not answer our close frame
        finally:
            selector.close()
            logs.event(LOGGER, logging.DEBUG, "client disconnected", connection=self.number)

    def linger(self) -> None:
        """Before the socket is closed: send FIN and read what the browser still sends (a
        frame we refused unread, say) until it closes too.  Closing with unread data would
        send a reset, which can make the browser lose our close frame and its reason."""
        if self._eof:
            return
        try:
            self.sock.shutdown(socket.SHUT_WR)
            self.sock.settimeout(LINGER_READ)
            end = self.clock() + LINGER
            while self.clock() < end and self.sock.recv(READ_SIZE):
                pass
        except (OSError, ValueError):
            pass

    def _read(self) -> bool:
        """Read what the socket has; False once it is closed."""
        try:
            data = self.sock.recv(READ_SIZE)
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
            return True  # a partial TLS record: the rest comes later
        except OSError:
            return False
        if not data:
            self._eof = True
            self.protocol.receive_eof()
            self._write()
            return False
        self._received(data)
        return True

    def _received(self, data: bytes) -> None:
        self._heard = self.clock()
        self.protocol.receive_data(data)
        for event in self.protocol.events_received():
            if not isinstance(event, Frame):
                continue
            data = bytes(event.data)
            if event.opcode is Opcode.TEXT or event.opcode is Opcode.BINARY:
                if not event.fin:  # the first frame of a fragmented message
                    self._fragmented, self._fragments = event.opcode, [data]
                    continue
                self._frame(event.opcode, data)
            elif event.opcode is Opcode.CONT:
                self._fragments.append(data)
                if event.fin:
                    self._frame(self._fragmented, b"".join(self._fragments))
                    self._fragments = []
        if self.protocol.close_code == CloseCode.MESSAGE_TOO_BIG:
            logs.event(
                LOGGER,
                logging.WARNING,
                "client message refused",
                connection=self.number,
                why="frame over the cap",
                cap=MAX_FRAME,
            )

    def _frame(self, opcode: Opcode, data: bytes) -> None:
        if opcode is Opcode.BINARY:
            self.session.refuse(
                pstream.ProtocolError("Signalling messages are JSON text frames, not binary frames")
            )
            return
        try:
            text = data.decode()
        except UnicodeDecodeError:
            self.session.refuse(pstream.ProtocolError("The message is not UTF-8"))
            return
        if text != pstream.HEARTBEAT:  # else the browser's echo of a heartbeat
            self.session.receive(text)

    # -- the socket

    def _send(self, text: str) -> None:
        if self.protocol.state is State.OPEN:
            self.protocol.send_text(text.encode())

    def _close(self, code: int, reason: str) -> None:
        if self.protocol.state is State.OPEN:
            self.protocol.send_close(code, reason)

    def _flush(self) -> None:
        while self._outbox:
            self._send(self._outbox.popleft())
        if self._shut is not None:
            self._close(*self._shut)
            self._shut = None

    def _drain_wake(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except OSError:
            pass

    def _write(self) -> bool:
        """Write what the protocol has to send; False when the socket is gone."""
        chunks = self.protocol.data_to_send()
        try:
            data = b"".join(c for c in chunks if c)
            if data:
                self.sock.settimeout(WRITE_TIMEOUT)
                self.sock.sendall(data)
                self.sock.settimeout(0)
        except (OSError, InvalidState, WsProtocolError):
            return False
        return not (chunks and chunks[-1] == b"")  # b"": the protocol wants the socket closed
