"""An audio bridge: 20 ms frames copied both ways between two calls' media (a two-modem Dial,
a browser and a modem), and the keys that cannot cross it as audio (:class:`KeyRelay`).

Each direction is a :class:`FrameQueue`: the reader of one side puts frames as they come, the
writer of the other takes one at each of its 20 ms ticks.  Both sides run at 50 frames a
second, so whatever depth the queue reaches (a burst from a reader that was late, a browser's
packets bunched by the network, the start of the call) would otherwise stay for the whole
call as latency: up to :data:`BRIDGE_DEPTH` frames, 80 ms.  So every :data:`TRIM_TICKS` ticks
a queue that never held fewer than ``n`` frames at a tick sheds ``n - floor`` of them: they
were to spare all that time, so no tick of that pattern goes silent for them.  They go as
quiet frames reach the head (a pause in speech, not heard), or together after another second
whatever they hold, and never below the floor.  The floor is
one frame until a tick finds the queue empty once frames have started to come (an underrun:
a frame came later than the writer's tick), then two for the rest of the call, so the queue
settles at the jitter it has actually seen and a late frame does not cost a gap again at each
trim (docs/design.md, "Browser audio in")."""

from __future__ import annotations

import logging
import queue
import threading
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from appliance.voice.audio import Media

LOGGER = logging.getLogger(__name__)

BRIDGE_DEPTH = 4  # frames (80 ms) buffered per direction before the oldest is dropped
TRIM_TICKS = 50  # every 1 s, a queue sheds the frames it had to spare at every tick
SILENCE = b"\x00" * 320
QUIET_PEAK = 1000  # a frame whose samples all stay within this (about -30 dBFS) is quiet


def quiet(frame: bytes) -> bool:
    """No sample of the 16-bit frame beyond :data:`QUIET_PEAK` either way."""
    samples = memoryview(frame[: len(frame) - len(frame) % 2]).cast("h")
    return max(samples, default=0) <= QUIET_PEAK and min(samples, default=0) >= -QUIET_PEAK


class FrameQueue:
    """One direction of a bridge: at most ``depth`` frames, trimmed to what the jitter needs
    (thread-safe: ``put`` on one side's reader, ``pull`` on the other's writer)."""

    def __init__(self, depth: int = BRIDGE_DEPTH, trim_ticks: int = TRIM_TICKS) -> None:
        self.depth, self.trim_ticks = depth, trim_ticks
        self._frames: deque[bytes] = deque()
        self._lock = threading.Lock()
        self._low = depth  # the fewest frames queued at a tick in this window (1 s)
        self._ticks = 0
        self.dropped = 0  # frames dropped because the queue was full (clock drift, a burst)
        self.trimmed = 0  # frames shed because they stood in the queue (latency)
        self.silent_ticks = 0  # ticks that found the queue empty
        self.underruns = 0  # of those, once frames had started to come
        self.floor = 1  # frames a trim leaves at the window's emptiest tick
        self._flowing = False
        self._excess = 0  # frames to shed, each at a quiet frame if one comes within a second
        self._waited = 0

    def __len__(self) -> int:
        with self._lock:
            return len(self._frames)

    def put(self, frame: bytes) -> None:
        with self._lock:
            if len(self._frames) >= self.depth:
                self._frames.popleft()
                self.dropped += 1
            self._frames.append(frame)

    def pull(self) -> bytes:
        """This tick's frame: the oldest queued, or silence when none came."""
        with self._lock:
            self._low = min(self._low, len(self._frames))
            self._ticks += 1
            if self._ticks >= self.trim_ticks:
                # frames to spare at every tick of the window: they only add latency
                if not self._excess:
                    self._waited = 0
                self._excess = max(0, self._low - self.floor)
                self._low, self._ticks = self.depth, 0
            if self._excess:
                self._shed()
            if not self._frames:
                self.silent_ticks += 1
                if self._flowing:  # a frame came late: keep one more from now on
                    self.underruns += 1
                    self.floor = 2
                return SILENCE
            self._flowing = True
            return self._frames.popleft()

    def _shed(self) -> None:
        """Drops head frames that are quiet (a pause in speech: not heard), or all the excess
        once it has waited :data:`TRIM_TICKS`; never below the floor (the lock is held)."""
        self._waited += 1
        while (
            self._excess
            and len(self._frames) > self.floor
            and (self._waited >= self.trim_ticks or quiet(self._frames[0]))
        ):
            self._frames.popleft()
            self.trimmed += 1
            self._excess -= 1


class Bridge:
    """Copies frames both ways between two calls' media, on their own clocks."""

    def __init__(self, a: Media | None, b: Media) -> None:
        self._stop = threading.Event()
        self._a, self._b = a, b
        self._to_a = FrameQueue()
        self._to_b = FrameQueue()
        if a is not None:
            a.add_listener(self._from_a)
            a.play_live(self._puller(self._to_a))
        b.add_listener(self._from_b)
        b.play_live(self._puller(self._to_b))

    def _from_a(self, frame: bytes) -> None:
        self._to_b.put(frame)

    def _from_b(self, frame: bytes) -> None:
        self._to_a.put(frame)

    def _puller(self, q: FrameQueue) -> Callable[[], bytes | None]:
        """Each tick's frame for the other side's writer (:meth:`FrameQueue.pull`), None once
        stopped.  Live, so the bridge adds no more than its own queue (it used to be a
        buffered source: a second)."""

        def pull() -> bytes | None:
            if self._stop.is_set():
                return None
            return q.pull()

        return pull

    def stop(self) -> None:
        self._stop.set()
        if self._a is not None:
            self._a.remove_listener(self._from_a)
            self._a.flush()
        self._b.remove_listener(self._from_b)


class KeyRelay:
    """Sends the keys a caller pressed out of band (a browser's signalling ``dtmf``: no tone
    crosses the bridge) to the other leg, in order, on a thread of its own that starts at
    the first key: ``send`` is the leg's ``sendDigits`` (``AT+VTS`` on a modem, so the far
    network renders the tone; tones mixed into a GSM codec's audio are not reliable)."""

    def __init__(self, send: Callable[[str], None], name: str) -> None:
        self._send = send
        self._name = name
        self._keys: queue.Queue[str | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._stopped = False

    def put(self, key: str) -> None:
        with self._lock:
            if self._stopped:
                return
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            self._keys.put(key)

    def stop(self) -> None:
        """No more keys; those queued are dropped (the bridge is over)."""
        with self._lock:
            self._stopped = True
            self._keys.put(None)

    def _run(self) -> None:
        while True:
            key = self._keys.get()
            if key is None or self._stopped:
                return
            try:
                self._send(key)
            except Exception as e:  # noqa: BLE001 - the leg ended: the keys have nowhere to go
                LOGGER.info("%s: key not relayed (%s)", self._name, e or type(e).__name__)
                return
