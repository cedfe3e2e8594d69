"""Call audio: the per-call 20 ms media clock, its playback queue and its framing reader.

Theory of operation
-------------------
Every voice path here is 8 kHz signed 16-bit little-endian mono in 20 ms frames of
320 bytes, through an :class:`appliance.voice.ports.AudioPort`.  One :class:`Media`
runs per active call with two threads:

* the *writer* wakes on a monotonic deadline every 20 ms and writes exactly one frame:
  the next 320 bytes of the playback at the head of the queue, else silence.  It never
  writes ahead of real time, so what sits in the modem's buffer is one frame, and a
  barge-in (:meth:`Media.flush`) is heard from the very next frame.  A late tick (the
  machine was busy) is caught up at once if the lag is under ``MAX_LAG`` and otherwise
  dropped, so the long-run rate stays exact without bursts.
* the *reader* blocks on the port, re-frames whatever arrives (short reads included)
  into 320-byte frames and hands each frame to every listener (DTMF detector,
  recorder, bridge) on its own thread.

Playback sources are bytes or iterables of bytes (a TTS stream).  An iterable is pulled
by its own feeder thread into a buffer bounded by ``max_buffer_ms``, so a slow source
never stalls the clock and an endless one (a loop) never grows memory.  Live audio (the
other side of a bridge) is not a source to buffer ahead: :meth:`Media.play_live` takes a
function the writer calls at each tick for that tick's frame, so what is heard is at most
what the bridge itself holds (a buffered source that is never empty, silence included,
would sit ``max_buffer_ms`` behind for the whole call).

What the clocks report (the writer's frame intervals and jitter, underruns per audio port for
the metrics) is :mod:`appliance.voice.audiostats`'.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator

from appliance.voice import audiostats
from appliance.voice.ports import RATE, AudioPort

LOGGER = logging.getLogger(__name__)

FRAME_BYTES = 320  # 160 samples = 20 ms
FRAME_SECONDS = 0.020
SILENCE = bytes(FRAME_BYTES)
MAX_LAG = 0.1  # a writer this far behind its clock skips ticks instead of catching up
READ_TIMEOUT = 0.1  # reader wake-up period (for stop)
STATS_FRAMES = 6000  # intervals kept for stats: the last two minutes
REALTIME_PRIORITY = 10  # SCHED_FIFO priority of the writer thread when permitted; 0 = never
GIL_SWITCH_INTERVAL = 0.001  # a waking writer waits at most this long for another thread's GIL


class Playback:
    """One queued piece of audio; ``done`` is set once it has been played, cancelled or failed."""

    def __init__(
        self, media: Media, source: bytes | Iterable[bytes] | Callable[[], bytes | None]
    ) -> None:
        self._media = media
        self.done = threading.Event()
        self.started_at: float | None = None
        self.finished_at: float | None = None
        self.cancelled = False
        self.error: BaseException | None = None
        self.frames = 0
        self._buf = bytearray()
        self._exhausted = False
        self._source: Iterable[bytes] | None = None
        self._live: Callable[[], bytes | None] | None = None
        if callable(source):  # live: the writer asks it for each tick's frame (play_live)
            self._live = source
        elif isinstance(source, bytes | bytearray | memoryview):
            self._buf += source
            self._exhausted = True
        else:
            self._source = source

    def wait(self, timeout: float | None = None) -> bool:
        """True once the playback is over (played out, cancelled or failed)."""
        return self.done.wait(timeout)

    def cancel(self) -> None:
        """Stop this playback; the next frame is the next playback's or silence."""
        self._media._cancel(self)

    def _feed(self, cond: threading.Condition, cap: int) -> None:
        """Feeder thread body: pull the iterable into the bounded buffer."""
        assert self._source is not None
        it: Iterator[bytes] = iter(self._source)
        try:
            for chunk in it:
                with cond:
                    while len(self._buf) >= cap and not self.cancelled:
                        cond.wait(0.5)
                    if self.cancelled:
                        break
                    self._buf += chunk
        except Exception as exc:  # a failing source (TTS crash, decoder) ends this playback only
            LOGGER.warning("audio source failed: %s", exc)
            self.error = exc
        finally:
            close = getattr(it, "close", None)
            if close is not None:
                try:
                    close()  # e.g. kill a TTS pipeline on barge-in
                except Exception as exc:
                    LOGGER.warning("closing an audio source failed: %s", exc)
            with cond:
                self._exhausted = True


def _raise_priority() -> None:
    """Give the calling (writer) thread real-time priority where allowed, as Asterisk does.

    Without CAP_SYS_NICE this quietly does nothing: the clock still works, with more jitter
    on a busy machine.
    """
    if not REALTIME_PRIORITY or not hasattr(os, "sched_setscheduler"):
        return
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(REALTIME_PRIORITY))
    except (PermissionError, OSError) as exc:
        LOGGER.debug("audio writer stays at normal priority: %s", exc)


class Media:
    """The audio of one call: a paced writer, a framing reader and the playback queue."""

    def __init__(
        self,
        port: AudioPort,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_buffer_ms: int = 1000,
    ) -> None:
        self.port = port
        self.port_name = audiostats.port_name(port)
        self.clock = clock
        self._cap = max(FRAME_BYTES, max_buffer_ms * RATE * 2 // 1000)
        self._cond = threading.Condition()
        self._queue: deque[Playback] = deque()
        self._listeners: tuple[Callable[[bytes], None], ...] = ()
        self._write_listeners: tuple[Callable[[bytes], None], ...] = ()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._intervals: deque[float] = deque(maxlen=STATS_FRAMES)
        self._counts = dict.fromkeys(
            (
                "frames_written",
                "silence_frames",
                "underruns",
                "slips",
                "write_errors",
                "frames_read",
                "short_reads",
                "read_errors",
            ),
            0,
        )
        self.port_error: BaseException | None = None

    # -- lifecycle -------------------------------------------------------------------
    def start(self) -> None:
        """Start the writer and reader threads."""
        if self._threads:
            return
        # Python hands the GIL to a waiting thread only every switch interval (5 ms by
        # default): too coarse for a 20 ms clock that other threads share.
        if sys.getswitchinterval() > GIL_SWITCH_INTERVAL:
            sys.setswitchinterval(GIL_SWITCH_INTERVAL)
        for name, target in (("writer", self._write_loop), ("reader", self._read_loop)):
            t = threading.Thread(target=target, name=f"media-{name}", daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        """Stop the threads and end every playback; the port stays open (its owner closes it)."""
        self._stop.set()
        self.flush()
        for t in self._threads:
            if t is not threading.current_thread():  # stop() may come from a listener
                t.join(timeout=2)
        self._threads = []

    # -- playing -----------------------------------------------------------------------
    def play(self, source: bytes | Iterable[bytes]) -> Playback:
        """Queue audio after whatever is playing; returns its Playback."""
        pb = Playback(self, source)
        with self._cond:
            if self._stop.is_set():
                pb.cancelled = True
                pb.done.set()
                return pb
            self._queue.append(pb)
        if pb._source is not None:
            threading.Thread(
                target=pb._feed, args=(self._cond, self._cap), name="media-feed", daemon=True
            ).start()
        return pb

    def play_live(self, pull: Callable[[], bytes | None]) -> Playback:
        """Queue live audio after whatever is playing: at each tick the writer calls
        ``pull()`` for that tick's 320-byte frame (None ends the playback).  Nothing is
        buffered ahead, so the audio is as late as ``pull``'s own queue and no later.
        ``pull`` runs on the writer thread under the media's lock: it must not block."""
        pb = Playback(self, pull)
        with self._cond:
            if self._stop.is_set():
                pb.cancelled = True
                pb.done.set()
                return pb
            self._queue.append(pb)
        return pb

    def flush(self) -> None:
        """Barge-in: drop everything queued; the next frame written is silence."""
        with self._cond:
            queued = list(self._queue)
            self._queue.clear()
            for pb in queued:
                self._end(pb, cancelled=True)
            self._cond.notify_all()

    @property
    def busy(self) -> bool:
        """True while anything is queued or playing."""
        with self._cond:
            return bool(self._queue)

    def _cancel(self, pb: Playback) -> None:
        with self._cond:
            if pb in self._queue:
                self._queue.remove(pb)
            self._end(pb, cancelled=True)
            self._cond.notify_all()

    def _end(self, pb: Playback, *, cancelled: bool = False) -> None:
        # caller holds self._cond
        if pb.done.is_set():
            return
        pb.cancelled = pb.cancelled or cancelled
        pb.finished_at = self.clock()
        pb._buf.clear()
        pb.done.set()

    # -- listeners ---------------------------------------------------------------------
    def add_listener(self, fn: Callable[[bytes], None]) -> None:
        """Call ``fn(frame)`` for every 320-byte frame read, on the reader thread."""
        with self._cond:
            self._listeners = (*self._listeners, fn)

    def remove_listener(self, fn: Callable[[bytes], None]) -> None:
        """Stop calling ``fn``; unknown listeners are ignored."""
        with self._cond:
            self._listeners = tuple(f for f in self._listeners if f != fn)

    def add_write_listener(self, fn: Callable[[bytes], None]) -> None:
        """Call ``fn(frame)`` with every frame written (played into the call), on the
        writer thread: ``fn`` must only queue it (a Media Stream's outbound track)."""
        with self._cond:
            self._write_listeners = (*self._write_listeners, fn)

    def remove_write_listener(self, fn: Callable[[bytes], None]) -> None:
        with self._cond:
            self._write_listeners = tuple(f for f in self._write_listeners if f != fn)

    # -- stats -----------------------------------------------------------------------------
    def stats(self) -> dict[str, float]:
        """Counters and frame-interval figures (milliseconds) of the writer."""
        with self._cond:
            counts = dict(self._counts)
            intervals = list(self._intervals)
            queued = sum(len(pb._buf) for pb in self._queue)
        return audiostats.figures(counts, intervals, FRAME_SECONDS, queued / (RATE * 2))

    # -- threads -----------------------------------------------------------------------------
    def _next_frame(self) -> tuple[bytes, Playback | None, bool]:
        """The frame for this tick, the playback it belongs to, and whether it is its last."""
        with self._cond:
            while self._queue:
                pb = self._queue[0]
                if pb._live is not None:
                    frame = pb._live()
                    if frame is None:  # the live source has ended
                        self._queue.popleft()
                        self._end(pb)
                        continue
                    return frame, pb, False
                buf = pb._buf
                if len(buf) >= FRAME_BYTES:
                    frame = bytes(buf[:FRAME_BYTES])
                    del buf[:FRAME_BYTES]
                    self._cond.notify_all()  # room for the feeder
                    last = pb._exhausted and not buf
                    if last:
                        self._queue.popleft()
                    return frame, pb, last
                if pb._exhausted:
                    self._queue.popleft()
                    if buf:  # a short tail: pad it to a frame
                        frame = bytes(buf) + bytes(FRAME_BYTES - len(buf))
                        buf.clear()
                        return frame, pb, True
                    self._end(pb)
                    continue
                if pb.started_at is not None:
                    self._counts["underruns"] += 1
                    audiostats.count_underrun(self.port_name)
                break
            self._counts["silence_frames"] += 1
            return SILENCE, None, False

    def _write_loop(self) -> None:
        _raise_priority()
        next_t = self.clock()
        last_write: float | None = None
        while not self._stop.is_set():
            delay = next_t - self.clock()
            if delay > 0:
                self._stop.wait(delay)
                continue
            frame, pb, last = self._next_frame()
            at = self.clock()
            try:
                self.port.write(frame)
            except OSError as exc:
                self._counts["write_errors"] += 1
                if self.port_error is None:
                    LOGGER.warning("audio write failed: %s", exc)
                self.port_error = exc
            for fn in self._write_listeners:
                try:
                    fn(frame)
                except Exception:
                    LOGGER.exception("audio write listener %r failed", fn)
            if last_write is not None:
                self._intervals.append(at - last_write)
            last_write = at
            with self._cond:
                self._counts["frames_written"] += 1
                if pb is not None:
                    pb.frames += 1
                    if pb.started_at is None:
                        pb.started_at = at
                    if last:
                        self._end(pb)
            next_t += FRAME_SECONDS
            if self.clock() - next_t > MAX_LAG:
                self._counts["slips"] += 1
                next_t = self.clock()

    def _read_loop(self) -> None:
        pending = bytearray()
        while not self._stop.is_set():
            try:
                data = self.port.read(FRAME_BYTES * 4, READ_TIMEOUT)
            except OSError as exc:
                self._counts["read_errors"] += 1
                if self.port_error is None:
                    LOGGER.warning("audio read failed: %s", exc)
                self.port_error = exc
                self._stop.wait(READ_TIMEOUT)
                continue
            if not data:
                continue
            if len(data) % FRAME_BYTES or pending:
                self._counts["short_reads"] += 1
            pending += data
            while len(pending) >= FRAME_BYTES:
                frame = bytes(pending[:FRAME_BYTES])
                del pending[:FRAME_BYTES]
                self._counts["frames_read"] += 1
                for fn in self._listeners:
                    try:
                        fn(frame)
                    except Exception:
                        LOGGER.exception("audio listener %r failed", fn)
