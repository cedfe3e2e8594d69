"""One Media Stream: the appliance as the WebSocket client of a bot, in Twilio's format.

A :class:`StreamClient` opens the socket (``ws://`` or ``wss://``, TLS verified against
the system CAs, the upgrade signed with ``X-Twilio-Signature`` over the URL alone),
sends ``connected`` and ``start``, then:

* the caller's audio (the *inbound* track, each 20 ms frame the call's reader hands its
  listeners) and what the appliance plays (the *outbound* track, each frame the call's
  writer writes) go to the bot as ``media`` messages, μ-law, from a sender thread;
* on a bidirectional stream (``<Connect><Stream>``) the receiver thread plays the bot's
  ``media`` into the call through the call's paced writer, answers each ``mark`` once the
  audio queued before it has played (or was cleared), and ``clear`` cancels the queued
  audio, so the next 20 ms frame is silence;
* :meth:`StreamClient.stop` sends ``stop`` and closes the socket.

A connection that fails is recorded on the call with Twilio's Stream error codes
(:data:`CONNECT_ERRORS`) and the call goes on.  A bot that breaks the protocol gets the
warning once per stream and the stream goes on; a frame over 64 KiB closes the socket
(1009) with 31924.  Nothing a bot sends can stop the call or the daemon.
"""

from __future__ import annotations

import logging
import queue
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from websockets.exceptions import (
    ConnectionClosed,
    InvalidHandshake,
    InvalidStatus,
    InvalidURI,
)
from websockets.sync.client import ClientConnection, connect

from appliance import logs, sids
from appliance.voice import mulaw, streamproto
from appliance.voice.audio import FRAME_BYTES, Media, Playback

LOGGER = logging.getLogger(__name__)

OPEN_TIMEOUT = 10.0  # seconds for TCP + TLS + the HTTP upgrade (then 31901)
CLOSE_TIMEOUT = 2.0  # seconds to wait for the bot's close frame after ours
POLL = 0.02  # the receiver's wake-up period: a mark is answered within one 20 ms frame
MAX_QUEUED_TO_BOT = 500  # messages (10 s of one track) waiting for the socket; then 31930
MAX_BUFFERED_SECONDS = 60.0  # the bot's audio queued ahead of real time; beyond, dropped
MAX_PENDING_MARKS = 256  # marks waiting for their audio; beyond, refused with a warning

TIMEOUT, REFUSED, TLS_ERROR, HANDSHAKE_ERROR = 31901, 31902, 31910, 31920
BUFFER_OVERFLOW = 31930  # "Stream - Media - Buffer Overflow" (the socket to the bot is slow)
CONNECT_ERRORS = {
    TIMEOUT: "Stream - WebSocket - Connection Timeout",
    REFUSED: "Stream - WebSocket - Connection Refused",
    TLS_ERROR: "Stream - WebSocket - SSL Protocol Error",
    HANDSHAKE_ERROR: "Stream - WebSocket - Handshake Error",
}

EventSink = Callable[[str, int | None, str], None]  # Documents.event(kind, code, detail)
StatusSink = Callable[[str, str | None], None]  # (stream-started|stopped|error, error text)

_ACTIVE: dict[str, dict[str, StreamClient]] = {}  # call SID -> stream SID -> client
_ACTIVE_LOCK = threading.Lock()


@dataclass(frozen=True)
class StreamState:
    """A stream as the REST API's Stream resource shows it."""

    sid: str
    call_sid: str
    name: str | None
    status: str  # "in-progress" or "stopped"
    updated: float  # wall clock: when it started, or when it stopped


def streams_of(call_sid: str) -> list[StreamClient]:
    """The streams of a call that are open now."""
    with _ACTIVE_LOCK:
        return list(_ACTIVE.get(call_sid, {}).values())


def find(call_sid: str, key: str, *, one_way: bool = False) -> StreamClient | None:
    """The open stream of a call whose SID, else whose name, is ``key`` (``one_way``: only
    ``<Start>`` and REST streams, as Twilio's Stream resource stops only those)."""
    streams = [c for c in streams_of(call_sid) if not (one_way and c.bidirectional)]
    for client in streams:
        if client.sid == key:
            return client
    for client in streams:
        if client.name is not None and client.name == key:
            return client
    return None


def connect_error(exc: BaseException) -> tuple[int, str]:
    """Twilio's Stream error code and a message for a failed connection."""
    if isinstance(exc, InvalidStatus):
        status = exc.response.status_code
        return HANDSHAKE_ERROR, f"the server answered HTTP {status} to the upgrade, not 101"
    if isinstance(exc, InvalidURI | InvalidHandshake):
        return HANDSHAKE_ERROR, f"WebSocket handshake failed: {exc}"
    if isinstance(exc, ssl.SSLError):
        return TLS_ERROR, f"TLS failed: {exc}"
    if isinstance(exc, TimeoutError):
        return TIMEOUT, f"no answer within {OPEN_TIMEOUT:g} s"
    if isinstance(exc, ConnectionRefusedError):
        return REFUSED, "connection refused"
    return REFUSED, f"cannot connect: {exc}"


class StreamClient:
    """One stream of one call; see the module docstring."""

    def __init__(
        self,
        *,
        url: str,
        name: str | None,
        track: str,
        bidirectional: bool,
        parameters: dict[str, str],
        call_sid: str,
        account_sid: str,
        auth_token: str,
        media: Media | None,
        event: EventSink,
        status: StatusSink | None = None,
    ) -> None:
        self.sid = sids.new("MZ")
        self.url = url
        self.name = name
        self.track = track
        self.bidirectional = bidirectional
        self.parameters = parameters
        self.call_sid = call_sid
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.media = media
        self._event = event
        self._status = status
        self.closed = threading.Event()  # the socket is closed (by either side)
        self._ws: ClientConnection | None = None
        self._out: queue.Queue[tuple[Any, ...] | None] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Lock()
        self._stopped = False
        self._t0 = time.monotonic()
        self.updated = time.time()  # wall clock of the last change (created, stopped)
        self._opened = False  # connected and registered (until stop)
        self._warned: set[str] = set()
        # Bidirectional: the bot's audio and marks (receiver thread only, but for stop()).
        self._lock = threading.Lock()
        self._partial = bytearray()
        self._playing: deque[tuple[Playback, int]] = deque()
        self._marks: deque[tuple[str, Playback | None]] = deque()

    # -- opening -----------------------------------------------------------------------

    def open(self) -> bool:
        """Connect and start streaming; False (the error recorded) if the bot is unreachable."""
        from appliance.webhooks.signature import signature

        headers = {"X-Twilio-Signature": signature(self.auth_token, self.url, {})}
        try:
            self._ws = connect(
                self.url,
                additional_headers=headers,
                open_timeout=OPEN_TIMEOUT,
                close_timeout=CLOSE_TIMEOUT,
                max_size=streamproto.MAX_FRAME_BYTES,
                compression=None,
                proxy=None,
                user_agent_header="sim-appliance media-streams",
                legacy=True,  # a connection that outlives this call (closed by stop())
            )
        except Exception as exc:  # noqa: BLE001 - every failure is a Stream error on the call
            code, message = connect_error(exc)
            self.updated = time.time()
            self._event("error", code, f"<Stream> {self.url}: {message}")
            self._send_status("stream-error", message)
            return False
        logs.event(LOGGER, logging.INFO, "stream started", sid=self.call_sid, stream=self.sid)
        tracks = []
        if self.track in ("inbound_track", "both_tracks"):
            tracks.append("inbound")
        if self.track in ("outbound_track", "both_tracks"):
            tracks.append("outbound")
        self._out.put(("raw", streamproto.connected()))
        self._out.put(("start", tracks))
        with _ACTIVE_LOCK:
            _ACTIVE.setdefault(self.call_sid, {})[self.sid] = self
        self._opened = True
        for name, target in (("send", self._send_loop), ("recv", self._recv_loop)):
            t = threading.Thread(target=target, name=f"stream-{name}", daemon=True)
            t.start()
            self._threads.append(t)
        if self.media is not None:
            if "inbound" in tracks:
                self.media.add_listener(self._on_inbound)
            if "outbound" in tracks:
                self.media.add_write_listener(self._on_outbound)
        self._send_status("stream-started", None)
        return True

    # -- any thread --------------------------------------------------------------------

    def state(self) -> StreamState:
        live = self._opened and not self._stopped and not self.closed.is_set()
        status = "in-progress" if live else "stopped"
        return StreamState(self.sid, self.call_sid, self.name, status, self.updated)

    def send_dtmf(self, digit: str) -> None:
        if self.bidirectional and not self.closed.is_set():
            self._out.put(("dtmf", digit))

    def stop(self) -> None:
        """Send ``stop``, close the socket and stop playing the bot's audio.  Idempotent."""
        with self._stopping:
            if self._stopped:
                return
            self._stopped = True
            self.updated = time.time()
        if self.media is not None:
            self.media.remove_listener(self._on_inbound)
            self.media.remove_write_listener(self._on_outbound)
        self._clear()
        self._out.put(("stop",))
        self._out.put(None)
        for t in self._threads:
            if t is not threading.current_thread():
                t.join(timeout=CLOSE_TIMEOUT + 1)
        ws = self._ws
        if ws is not None:
            ws.close()
        self.closed.set()
        with _ACTIVE_LOCK:
            mine = _ACTIVE.get(self.call_sid, {})
            mine.pop(self.sid, None)
            if not mine:
                _ACTIVE.pop(self.call_sid, None)
        logs.event(LOGGER, logging.INFO, "stream stopped", sid=self.call_sid, stream=self.sid)
        self._send_status("stream-stopped", None)

    def _warn_once(self, key: str, code: int | None, message: str) -> None:
        if key in self._warned:
            return
        self._warned.add(key)
        self._event("warning", code, f"<Stream> {self.sid}: {message}")

    def _send_status(self, event: str, error: str | None) -> None:
        if self._status is not None:
            try:
                self._status(event, error)
            except Exception:
                LOGGER.exception("stream status callback failed")

    # -- audio to the bot (reader and writer threads: queue only) -------------------------

    def _enqueue_media(self, track: str, frame: bytes) -> None:
        if self.closed.is_set():
            return
        if self._out.qsize() >= MAX_QUEUED_TO_BOT:
            self._warn_once(
                "overflow", BUFFER_OVERFLOW, "the bot reads too slowly; call audio was dropped"
            )
            return
        ms = int((time.monotonic() - self._t0) * 1000)
        self._out.put(("media", track, frame, ms))

    def _on_inbound(self, frame: bytes) -> None:
        self._enqueue_media("inbound", frame)

    def _on_outbound(self, frame: bytes) -> None:
        self._enqueue_media("outbound", frame)

    # -- the sender thread -------------------------------------------------------------

    def _send_loop(self) -> None:
        ws = self._ws
        assert ws is not None
        seq = 0
        chunks = {"inbound": 0, "outbound": 0}
        while True:
            item = self._out.get()
            if item is None:
                break
            kind = item[0]
            if kind == "raw":
                msg = item[1]
            else:
                seq += 1
                if kind == "start":
                    msg = streamproto.start(
                        seq, self.sid, self.account_sid, self.call_sid, item[1], self.parameters
                    )
                elif kind == "media":
                    _, track, frame, ms = item
                    chunks[track] += 1
                    msg = streamproto.media(
                        seq, self.sid, track, chunks[track], ms, mulaw.encode(frame)
                    )
                elif kind == "dtmf":
                    msg = streamproto.dtmf(seq, self.sid, item[1])
                elif kind == "mark":
                    msg = streamproto.mark(seq, self.sid, item[1])
                else:  # stop
                    msg = streamproto.stop(seq, self.sid, self.account_sid, self.call_sid)
            if self.closed.is_set():
                continue  # keep draining until the sentinel
            try:
                ws.send(streamproto.dumps(msg))
            except (ConnectionClosed, OSError):
                self.closed.set()

    # -- the receiver thread -------------------------------------------------------------

    def _recv_loop(self) -> None:
        ws = self._ws
        assert ws is not None
        while not self.closed.is_set():
            try:
                frame = ws.recv(timeout=POLL)
            except TimeoutError:
                self._answer_marks()
                continue
            except ConnectionClosed as exc:
                sent = exc.sent
                if sent is not None and sent.code == 1009:
                    self._event(
                        "error",
                        streamproto.PROTOCOL_ERROR,
                        f"<Stream> {self.sid}: the bot sent a frame over "
                        f"{streamproto.MAX_FRAME_BYTES} bytes; the socket was closed",
                    )
                break
            except Exception as exc:  # noqa: BLE001 - a broken socket ends the stream only
                LOGGER.warning("stream %s: receive failed: %s", self.sid, exc)
                break
            self._handle(frame)
            self._answer_marks()
        self.closed.set()
        self._answer_marks()

    def _handle(self, frame: str | bytes) -> None:
        try:
            message = streamproto.parse(frame, self.sid)
        except streamproto.ProtocolError as e:
            self._warn_once(f"protocol {e.code}", e.code, e.message)
            return
        if not self.bidirectional:
            self._warn_once(
                "unidirectional",
                streamproto.INVALID_MESSAGE,
                "a <Start><Stream> is one way: messages from the bot are ignored",
            )
            return
        if isinstance(message, streamproto.Media):
            self._play(mulaw.decode(message.ulaw))
        elif isinstance(message, streamproto.Mark):
            self._mark(message.name)
        else:
            self._clear()

    def _buffered_bytes(self) -> int:
        return sum(size for pb, size in self._playing if not pb.done.is_set()) + len(self._partial)

    def _play(self, pcm: bytes) -> None:
        media = self.media
        if media is None:
            return
        with self._lock:
            while self._playing and self._playing[0][0].done.is_set():
                self._playing.popleft()
            if self._buffered_bytes() + len(pcm) > MAX_BUFFERED_SECONDS * 16000:
                self._warn_once(
                    "too fast",
                    None,
                    f"the bot sends audio faster than real time; beyond "
                    f"{MAX_BUFFERED_SECONDS:g} s queued it is dropped",
                )
                return
            self._partial += pcm
            whole = len(self._partial) // FRAME_BYTES * FRAME_BYTES
            if whole:
                chunk = bytes(self._partial[:whole])
                del self._partial[:whole]
                self._playing.append((media.play(chunk), len(chunk)))

    def _mark(self, name: str) -> None:
        with self._lock:
            if len(self._marks) >= MAX_PENDING_MARKS:
                self._warn_once(
                    "marks",
                    None,
                    f"more than {MAX_PENDING_MARKS} marks pending; mark {name!r} was refused",
                )
                return
            media = self.media
            if self._partial and media is not None:  # a short tail: played padded, then marked
                chunk = bytes(self._partial)
                self._partial.clear()
                self._playing.append((media.play(chunk), len(chunk)))
            last = self._playing[-1][0] if self._playing else None
            self._marks.append((name, last))
        self._answer_marks()

    def _clear(self) -> None:
        with self._lock:
            self._partial.clear()
            playing = list(self._playing)
            self._playing.clear()
        for pb, _ in playing:
            pb.cancel()
        self._answer_marks()

    def _answer_marks(self) -> None:
        with self._lock:
            while self._marks:
                name, pb = self._marks[0]
                if pb is not None and not pb.done.is_set():
                    break
                self._marks.popleft()
                if not self.closed.is_set():
                    self._out.put(("mark", name))
