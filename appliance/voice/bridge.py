"""An audio bridge: 20 ms frames copied both ways between two calls' media (a two-modem Dial)."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from appliance.voice.audio import Media

BRIDGE_DEPTH = 4  # frames (80 ms) buffered per direction before the oldest is dropped
SILENCE = b"\x00" * 320


class Bridge:
    """Copies frames both ways between two calls' media, on their own clocks."""

    def __init__(self, a: Media | None, b: Media) -> None:
        self._stop = threading.Event()
        self._a, self._b = a, b
        self._to_a: queue.Queue[bytes] = queue.Queue(BRIDGE_DEPTH)
        self._to_b: queue.Queue[bytes] = queue.Queue(BRIDGE_DEPTH)
        if a is not None:
            a.add_listener(self._from_a)
            a.play(self._drain(self._to_a))
        b.add_listener(self._from_b)
        b.play(self._drain(self._to_b))

    @staticmethod
    def _put(q: queue.Queue[bytes], frame: bytes) -> None:
        try:
            q.put_nowait(frame)
        except queue.Full:  # clock drift: drop the oldest frame
            try:
                q.get_nowait()
            except queue.Empty:
                pass
            q.put_nowait(frame)

    def _from_a(self, frame: bytes) -> None:
        self._put(self._to_b, frame)

    def _from_b(self, frame: bytes) -> None:
        self._put(self._to_a, frame)

    def _drain(self, q: queue.Queue[bytes]) -> Iterator[bytes]:
        while not self._stop.is_set():
            try:
                yield q.get_nowait()
            except queue.Empty:
                yield SILENCE

    def stop(self) -> None:
        self._stop.set()
        if self._a is not None:
            self._a.remove_listener(self._from_a)
            self._a.flush()
        self._b.remove_listener(self._from_b)
