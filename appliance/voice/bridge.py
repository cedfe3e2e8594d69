"""An audio bridge: 20 ms frames copied both ways between two calls' media (a two-modem Dial),
and the keys that cannot cross it as audio (:class:`KeyRelay`)."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from appliance.voice.audio import Media

LOGGER = logging.getLogger(__name__)

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
            a.play_live(self._puller(self._to_a))
        b.add_listener(self._from_b)
        b.play_live(self._puller(self._to_b))

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

    def _puller(self, q: queue.Queue[bytes]) -> Callable[[], bytes | None]:
        """Each tick's frame for the other side's writer: the oldest frame queued (at most
        :data:`BRIDGE_DEPTH`), silence when none came, None once stopped.  Live, so the
        bridge adds no more than its own queue (it used to be a buffered source: a second)."""

        def pull() -> bytes | None:
            if self._stop.is_set():
                return None
            try:
                return q.get_nowait()
            except queue.Empty:
                return SILENCE

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
