"""A browser leg's audio port: :class:`voice.ports.AudioPort` over WebRTC (aiortc).

The voice engine moves 8 kHz signed 16-bit mono PCM in 20 ms frames (320 bytes) through an
``AudioPort`` under the ``Media`` clock; this port carries those frames to and from one
browser's ``RTCPeerConnection`` (:mod:`appliance.clients.peer`) on the media loop thread
(:mod:`appliance.clients.medialoop`).

* **Out (to the browser):** :meth:`WebRtcAudioPort.write` runs on the writer thread and hands
  each frame to the loop (``call_soon_threadsafe``); :class:`OutboundTrack`'s ``recv`` awaits
  it and wraps it as an ``av.AudioFrame`` (s16, mono, 8 kHz, ``pts`` += 160), so the
  writer's 20 ms clock paces the RTP.  When the writer's frame is :data:`GRACE` late (no audio
  yet, a gap) silence goes instead, every 20 ms by the loop's clock, so the RTP and its
  timestamps keep time.  At most :data:`OUT_FRAMES` frames wait: past that the oldest go (a
  late sender costs audio, not latency).
* **In (from the browser):** :meth:`WebRtcAudioPort.pump` (a loop task) awaits the remote
  track's frames, resamples the ones that are not 8 kHz mono (Opus: 48 kHz stereo), and
  appends them to a buffer of at most :data:`IN_BYTES` that drops its oldest audio;
  :meth:`WebRtcAudioPort.read` waits on it from the reader thread.

aiortc and av are imported by the functions that run on the loop, never at module import.
"""

from __future__ import annotations

import asyncio
import collections
import fractions
import threading
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aiortc.mediastreams import MediaStreamTrack

RATE = 8000
FRAME_SAMPLES = 160  # 20 ms
FRAME_BYTES = FRAME_SAMPLES * 2
FRAME_TIME = 0.02
OUT_FRAMES = 4  # 80 ms waiting to be sent, at most
IN_BYTES = RATE * 2 * 120 // 1000  # 120 ms waiting to be read, at most
GRACE = 0.04  # how late the writer's frame may be before silence goes instead
SILENCE = bytes(FRAME_BYTES)


class WebRtcAudioPort:
    """8 kHz s16 mono PCM to and from one browser (thread-safe on both sides)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._out: collections.deque[bytes] = collections.deque(maxlen=OUT_FRAMES)
        self._out_ready = asyncio.Event()  # used on the loop only
        self._due: float | None = None  # loop time the next frame is due (loop only)
        self._active = False  # the last frame sent was the writer's (loop only)
        self._pending = b""  # a partial frame from the writer (writer thread only)
        self._in = bytearray()
        self._in_cond = threading.Condition()
        self.closed = False
        self.dropped_in = 0  # bytes dropped because the reader fell behind
        self.dropped_out = 0  # frames dropped because the RTP side fell behind
        self.received = 0  # bytes received from the browser (after resampling)

    # -- the voice engine's side (AudioPort)

    def read(self, size: int, timeout: float) -> bytes:
        deadline = time.monotonic() + timeout
        with self._in_cond:
            if self.closed and not self._in:
                # nothing will come: wait as a silent port does, so a reader loop that has
                # not stopped yet does not spin (a reader waiting at close() returns at once)
                self._in_cond.wait(max(0.0, timeout))
                return b""
            while not self._in and not self.closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    return b""
                self._in_cond.wait(left)
            data = bytes(self._in[:size])
            del self._in[:size]
            return data

    def write(self, data: bytes) -> None:
        if self.closed:
            return
        data = self._pending + data
        whole = len(data) - len(data) % FRAME_BYTES
        self._pending = data[whole:]
        for i in range(0, whole, FRAME_BYTES):
            try:
                self.loop.call_soon_threadsafe(self._queue, data[i : i + FRAME_BYTES])
            except RuntimeError:  # the loop is closed: the daemon is stopping
                self.closed = True
                return

    def close(self) -> None:
        with self._in_cond:
            self.closed = True
            self._in_cond.notify_all()
        try:
            self.loop.call_soon_threadsafe(self._out_ready.set)
        except RuntimeError:
            pass

    # -- the loop's side

    def _queue(self, frame: bytes) -> None:
        if len(self._out) == self._out.maxlen:
            self.dropped_out += 1
        self._out.append(frame)
        self._out_ready.set()

    async def next_frame(self) -> bytes:
        """The next frame to send: the writer's, or silence once it is :data:`GRACE` late
        (then silence every 20 ms, the track's own clock, until the writer is back)."""
        now = self.loop.time()
        if self._due is None:
            self._due = now
        if not self._out and not self.closed:
            wait = self._due - now + (GRACE if self._active else 0.0)
            if wait > 0:
                self._out_ready.clear()
                try:
                    await asyncio.wait_for(self._out_ready.wait(), wait)
                except TimeoutError:
                    pass
        now = self.loop.time()
        self._due = max(self._due + FRAME_TIME, now - FRAME_TIME)
        if self._out:
            self._active = True
            return self._out.popleft()
        self._active = False
        return SILENCE

    def track(self) -> MediaStreamTrack:
        """The outbound track to add to the PeerConnection."""
        return OutboundTrack.make(self)

    async def pump(self, track: MediaStreamTrack) -> None:
        """Reads the browser's audio until its track ends."""
        from aiortc.mediastreams import MediaStreamError
        from av import AudioResampler

        resampler: Any = None
        while not self.closed:
            try:
                frame: Any = await track.recv()
            except MediaStreamError:
                return
            if (
                frame.sample_rate != RATE
                or frame.layout.name != "mono"
                or frame.format.name != "s16"
            ):
                if resampler is None:
                    resampler = AudioResampler(format="s16", layout="mono", rate=RATE)
                frames = resampler.resample(frame)
            else:
                frames = [frame]
            for f in frames:
                self._received(f.to_ndarray().tobytes())

    def _received(self, pcm: bytes) -> None:
        with self._in_cond:
            self._in += pcm
            self.received += len(pcm)
            extra = len(self._in) - IN_BYTES
            if extra > 0:
                extra += extra % 2  # whole samples
                del self._in[:extra]
                self.dropped_in += extra
            self._in_cond.notify_all()


class OutboundTrack:
    """The appliance's audio toward the browser: frames from a :class:`WebRtcAudioPort`.

    A factory, since the real class derives from aiortc's ``MediaStreamTrack``, which may only
    be imported once the media loop has started."""

    @staticmethod
    def make(port: WebRtcAudioPort) -> MediaStreamTrack:
        from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
        from av import AudioFrame

        time_base = fractions.Fraction(1, RATE)

        class Track(MediaStreamTrack):
            kind = "audio"

            def __init__(self) -> None:
                super().__init__()
                self.pts = 0

            async def recv(self) -> AudioFrame:
                if self.readyState != "live" or port.closed:
                    raise MediaStreamError
                pcm = await port.next_frame()
                frame = AudioFrame(format="s16", layout="mono", samples=FRAME_SAMPLES)
                frame.planes[0].update(pcm)
                frame.sample_rate, frame.time_base, frame.pts = RATE, time_base, self.pts
                self.pts += FRAME_SAMPLES
                return frame

        return Track()
