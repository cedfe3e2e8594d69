"""One Media Stream: the appliance as the WebSocket client of a bot, in Twilio's format.

A :class:`StreamClient` opens the socket (:mod:`appliance.voice.streamsocket`: ``ws://``
or ``wss://``, TLS verified against the system CAs and the ``stream_ca_file`` setting's, the
upgrade signed with ``X-Twilio-Signature`` over the URL alone), on the caller's thread
(``<Connect>``) or a thread of its own (:meth:`StreamClient.open_in_background`:
``<Start>`` and the REST API, which go on at once), sends ``connected`` and ``start``, then:

* the caller's audio (the *inbound* track, each 20 ms frame the call's reader hands its
  listeners) and what the appliance plays (the *outbound* track, each frame the call's
  writer writes) go to the bot as ``media`` messages, μ-law, from a sender thread;
* on a bidirectional stream (``<Connect><Stream>``) the receiver thread hands the bot's
  ``media``, ``mark`` and ``clear`` to :class:`appliance.voice.streamplayback.BotPlayback`,
  which plays the audio through the call's paced writer and answers the marks;
* :meth:`StreamClient.stop` (``<Stop>``, the REST API, the call's end) cancels the bot's
  queued audio, sends the marks still pending (Twilio returns them), then ``stop``, and
  closes the socket.

A connection that fails is recorded on the call with Twilio's Stream error codes
(:data:`appliance.voice.streamsocket.CONNECT_ERRORS`), sent as ``stream-error``, and the
call goes on; so is a stream that cannot have audio (:meth:`StreamClient.fail`).  A bot
that breaks the protocol gets the warning once per stream and the stream goes on; a frame over 64 KiB closes the socket
(1009) with 31924.  Nothing a bot sends can stop the call or the daemon.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection

from appliance import logs, sids
from appliance.voice import mulaw, streamproto, streamsocket
from appliance.voice.audio import Media
from appliance.voice.streamplayback import BotPlayback

LOGGER = logging.getLogger(__name__)

POLL = 0.02  # the receiver's wake-up period: a mark is answered within one 20 ms frame
MAX_QUEUED_TO_BOT = 500  # messages (10 s of one track) waiting for the socket; then 31930

BUFFER_OVERFLOW = 31930  # "Stream - Media - Buffer Overflow" (the socket to the bot is slow)

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


def _join(thread: threading.Thread) -> None:
    if thread is not threading.current_thread():
        thread.join(timeout=streamsocket.CLOSE_TIMEOUT + 1)


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
        ca_file: Path | None = None,
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
        self.ca_file = ca_file  # a private CA for wss://, besides the system's
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
        self._warned: set[str] = set()
        # Bidirectional: the bot's audio and marks (the receiver thread, and stop()).
        self._bot = BotPlayback(media, self._queue_mark, self._warn_once)

    # -- opening -----------------------------------------------------------------------

    def open(self) -> bool:
        """Connect (on this thread, up to ``OPEN_TIMEOUT``) and start streaming; False if
        it is not streaming: the bot is unreachable (the error recorded, ``stream-error``
        sent), or the stream was stopped meanwhile."""
        from appliance.webhooks.signature import signature

        self._register()
        try:
            ws = streamsocket.open_socket(
                self.url,
                signature=signature(self.auth_token, self.url, {}),
                ca_file=self.ca_file,
                open_timeout=streamsocket.OPEN_TIMEOUT,
            )
        except streamsocket.ConnectFailed as exc:
            self.fail(exc.code, exc.message)
            return False
        with self._stopping:  # stop() meanwhile (REST, the call's end) wins
            if not self._stopped:
                self._ws = ws
                self._begin()
                self._send_status("stream-started", None)
                return True
        ws.close()
        self._unregister()
        return False

    def open_in_background(self) -> None:
        """Register the stream (``in-progress``, stoppable) and connect on a thread of its
        own, as Twilio's REST create answers before the socket is up."""
        self._register()
        threading.Thread(target=self.open, name="stream-open", daemon=True).start()

    def fail(self, code: int | None, message: str) -> None:
        """The stream cannot stream: record ``message`` on the call (an error, logged),
        send ``stream-error``; the stream is stopped (a later :meth:`stop` does nothing).
        Only a log line if it was stopped already (while it connected)."""
        with self._stopping:
            was_stopped, self._stopped = self._stopped, True
            self.updated = time.time()
        self.closed.set()
        self._unregister()
        if was_stopped:  # stopped while it connected: nobody waits for it any more
            LOGGER.info("stream %s stopped before it connected: %s", self.sid, message)
            return
        self._event("error", code, f"<Stream> {self.url}: {message}")
        self._send_status("stream-error", message)

    def _register(self) -> None:
        with self._stopping:  # never after stop() (which unregisters)
            if self._stopped:
                return
            with _ACTIVE_LOCK:
                _ACTIVE.setdefault(self.call_sid, {})[self.sid] = self

    def _unregister(self) -> None:
        with _ACTIVE_LOCK:
            mine = _ACTIVE.get(self.call_sid, {})
            mine.pop(self.sid, None)
            if not mine:
                _ACTIVE.pop(self.call_sid, None)

    def _begin(self) -> None:
        """The socket is up: queue ``connected`` and ``start``, start the sender and the
        receiver, listen to the call's audio."""
        logs.event(LOGGER, logging.INFO, "stream started", sid=self.call_sid, stream=self.sid)
        tracks = []
        if self.track in ("inbound_track", "both_tracks"):
            tracks.append("inbound")
        if self.track in ("outbound_track", "both_tracks"):
            tracks.append("outbound")
        self._out.put(("raw", streamproto.connected()))
        self._out.put(("start", tracks))
        for name, target in (("send", self._send_loop), ("recv", self._recv_loop)):
            t = threading.Thread(target=target, name=f"stream-{name}", daemon=True)
            t.start()
            self._threads.append(t)
        if self.media is not None:
            if "inbound" in tracks:
                self.media.add_listener(self._on_inbound)
            if "outbound" in tracks:
                self.media.add_write_listener(self._on_outbound)

    # -- any thread --------------------------------------------------------------------

    def state(self) -> StreamState:
        """``in-progress`` from creation (connecting included) until stopped or closed."""
        live = not self._stopped and not self.closed.is_set()
        status = "in-progress" if live else "stopped"
        return StreamState(self.sid, self.call_sid, self.name, status, self.updated)

    def send_dtmf(self, digit: str) -> None:
        if self.bidirectional and not self.closed.is_set():
            self._out.put(("dtmf", digit))

    def stop(self) -> None:
        """Stop playing the bot's audio, send the marks it leaves pending, then ``stop``,
        and close the socket.  Idempotent."""
        with self._stopping:
            if self._stopped:
                return
            self._stopped = True
            self.updated = time.time()
        if self.media is not None:
            self.media.remove_listener(self._on_inbound)
            self.media.remove_write_listener(self._on_outbound)
        self._bot.clear()  # the pending marks go out before ``stop``
        self._out.put(("stop",))
        self._out.put(None)
        # The sender first (the marks and ``stop`` go out), then the close, which ends the
        # receiver's wait at once.
        threads = list(self._threads)  # [sender, receiver] once connected
        for t in threads[:1]:
            _join(t)
        ws = self._ws
        if ws is not None:
            ws.close()
        self.closed.set()
        for t in threads[1:]:
            _join(t)
        self._unregister()
        logs.event(LOGGER, logging.INFO, "stream stopped", sid=self.call_sid, stream=self.sid)
        self._send_status("stream-stopped", None)

    def _queue_mark(self, name: str) -> None:
        if not self.closed.is_set():
            self._out.put(("mark", name))

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
                self._bot.answer_marks()
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
            self._bot.answer_marks()
        self.closed.set()
        self._bot.answer_marks()

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
            self._bot.play(mulaw.decode(message.ulaw))
        elif isinstance(message, streamproto.Mark):
            self._bot.mark(message.name)
        else:
            self._bot.clear()
