"""The audio pty of a simulated modem: the USB audio tty of the real thing.

Every modem has one (``<name>.audio``).  While the modem has an active call, one thread
per port runs a 20 ms monotonic clock: each tick it takes one 320-byte frame from the
modem's downlink (the mix of its active legs: remote party speech, DTMF tones, bridged
audio; else silence) and, when the family's audio is enabled (``AT^DDSETEX=2``,
``AT+CPCMREG=1``, ``AT+QPCMV=1,0`` or nothing), writes the frame.  What the daemon
writes is read as it comes and handed to the modem's uplink; with no call (or audio not
enabled) it is read and dropped, and nothing is written.
"""

from __future__ import annotations

import errno
import os
import select
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from .pcm import FRAME_BYTES, FRAME_SECONDS
from .pseudoterminal import open_pty

RESYNC_AFTER = 0.2  # a tick later than this (host stalled): restart the clock, don't burst


class CallAudio(Protocol):
    """The modem's side of its audio port (``voiceline.VoiceLine``)."""

    @property
    def name(self) -> str: ...

    def voice_ticking(self) -> bool: ...

    def audio_streaming(self) -> bool: ...

    def voice_downlink(self) -> tuple[bytes | None, list[Callable[[], None]]]: ...

    def voice_uplink(self, frame: bytes, at: float) -> None: ...


class AudioPort:
    """The audio pseudo-terminal of one modem, paced at one 320-byte frame per 20 ms."""

    def __init__(self, modem: CallAudio, path: Path) -> None:
        self.modem = modem
        self.path = path
        self.frames_written = 0
        self.frames_dropped = 0  # nobody read the pty: the frame was lost, as on a USB tty
        self.frames_read = 0
        self._master: int | None = None
        self._slave: int | None = None
        self._wake_r: int | None = None
        self._wake_w: int | None = None
        self._thread: threading.Thread | None = None
        self._closing = False
        self._lock = threading.Lock()

    @property
    def is_open(self) -> bool:
        return self._master is not None

    def open(self) -> None:
        with self._lock:
            if self._master is not None:
                return
            master, slave = open_pty(self.path)
            self._master, self._slave = master, slave
            self._wake_r, self._wake_w = os.pipe()
            self._closing = False
            self._thread = threading.Thread(
                target=self._loop,
                args=(master, self._wake_r),
                name=f"sim-{self.modem.name}-audio",
                daemon=True,
            )
            self._thread.start()

    def close(self, remove_link: bool = True) -> None:
        with self._lock:
            thread = self._thread
            self._closing = True
            if self._wake_w is not None:
                os.write(self._wake_w, b"x")
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)
        with self._lock:
            for fd in (self._master, self._slave, self._wake_r, self._wake_w):
                if fd is not None:
                    try:
                        os.close(fd)
                    except OSError:
                        pass
            self._master = self._slave = self._wake_r = self._wake_w = None
            self._thread = None
            if remove_link:
                try:
                    self.path.unlink()
                except FileNotFoundError:
                    pass

    def wake(self) -> None:
        """A call changed state: re-evaluate whether the clock runs."""
        with self._lock:
            if self._wake_w is not None:
                try:
                    os.write(self._wake_w, b"w")
                except OSError:
                    pass

    def _loop(self, master: int, wake_r: int) -> None:
        pending = bytearray()
        next_tick: float | None = None
        leftover = b""
        while True:
            if self.modem.voice_ticking():
                if next_tick is None:
                    next_tick = time.monotonic()
            else:
                next_tick = None
                leftover = b""
            timeout = None if next_tick is None else max(0.0, next_tick - time.monotonic())
            try:
                ready, _, _ = select.select([master, wake_r], [], [], timeout)
            except (OSError, ValueError):
                return
            if wake_r in ready:
                try:
                    os.read(wake_r, 64)
                except OSError:
                    return
                if self._closing:
                    return
            if master in ready:
                try:
                    data = os.read(master, 65536)
                except BlockingIOError:
                    data = b""
                except OSError as exc:
                    if exc.errno != errno.EIO:
                        return
                    data = b""
                if data:
                    self._uplink(data, pending)
            if next_tick is not None and time.monotonic() >= next_tick:
                leftover = self._tick(master, leftover)
                next_tick += FRAME_SECONDS
                now = time.monotonic()
                if now - next_tick > RESYNC_AFTER:
                    next_tick = now

    def _uplink(self, data: bytes, pending: bytearray) -> None:
        if not self.modem.audio_streaming():
            pending.clear()  # no call or audio not enabled: read and drop
            return
        now = time.monotonic()
        pending += data
        while len(pending) >= FRAME_BYTES:
            frame = bytes(pending[:FRAME_BYTES])
            del pending[:FRAME_BYTES]
            self.frames_read += 1
            self.modem.voice_uplink(frame, now)

    def _tick(self, master: int, leftover: bytes) -> bytes:
        frame, starts = self.modem.voice_downlink()
        for cb in starts:
            cb()
        if frame is None or not self.modem.audio_streaming():
            return b""
        out = leftover + frame if leftover else frame
        try:
            n = os.write(master, out)
        except BlockingIOError:
            self.frames_dropped += 1
            return leftover
        except OSError:
            return b""
        self.frames_written += 1
        # a partial write keeps the rest (at most one frame) so framing stays aligned
        return out[n:][-FRAME_BYTES:] if n < len(out) else b""
