"""Call audio ports: raw PCM in and out of a modem's USB serial audio port, or an ALSA device.

Every voice path here is 8 kHz signed 16-bit little-endian mono.  A port only moves
bytes; the 20 ms clock that paces them is :class:`appliance.voice.audio.Media`.
"""

from __future__ import annotations

import logging
import os
import select
import shutil
import subprocess
import termios
import time
import tty
from pathlib import Path
from typing import Protocol

LOGGER = logging.getLogger(__name__)

RATE = 8000
WRITE_TIMEOUT = 0.1  # how long a write may wait for a full port before dropping


class AudioPortError(OSError):
    """The audio port cannot be opened, or went away."""


class AudioPort(Protocol):
    """Raw PCM in and out of a modem or sound card."""

    def read(self, size: int, timeout: float) -> bytes:
        """Up to ``size`` bytes; fewer if that is what arrived; ``b""`` on timeout."""
        ...

    def write(self, data: bytes) -> None:
        """Write all of ``data`` (PCM)."""
        ...

    def close(self) -> None:
        """Release the port."""
        ...


class SerialAudioPort:
    """PCM over a USB serial port or pty (Huawei ^DDSETEX, SIM7600 CPCMREG, Quectel QPCMV)."""

    def __init__(self, path: str | Path, *, write_timeout: float = WRITE_TIMEOUT) -> None:
        self.path = str(path)
        self.write_timeout = write_timeout
        self.dropped_bytes = 0
        try:
            self._fd: int | None = os.open(self.path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        except OSError as exc:
            msg = f"cannot open audio port {self.path}: {exc.strerror}"
            raise AudioPortError(exc.errno, msg) from exc
        if os.isatty(self._fd):
            # raw: no echo, no line discipline, no CR/LF mangling of PCM bytes
            tty.setraw(self._fd, termios.TCSANOW)
            # drop audio left over from before (a previous call) in both directions
            termios.tcflush(self._fd, termios.TCIOFLUSH)

    def _fileno(self) -> int:
        if self._fd is None:
            raise AudioPortError(f"audio port {self.path} is closed")
        return self._fd

    def read(self, size: int, timeout: float) -> bytes:
        fd = self._fileno()
        ready, _, _ = select.select([fd], [], [], timeout)
        if not ready:
            return b""
        try:
            data = os.read(fd, size)
        except BlockingIOError:
            return b""
        except OSError as exc:  # EIO: the other side of the pty / the USB device is gone
            raise AudioPortError(exc.errno, f"audio port {self.path}: {exc.strerror}") from exc
        if not data:
            raise AudioPortError(f"audio port {self.path} reached end of file")
        return data

    def write(self, data: bytes) -> None:
        fd = self._fileno()
        view = memoryview(data)
        deadline = time.monotonic() + self.write_timeout
        while view:
            try:
                n = os.write(fd, view)
                view = view[n:]
                continue
            except BlockingIOError:
                pass
            except OSError as exc:
                raise AudioPortError(exc.errno, f"audio port {self.path}: {exc.strerror}") from exc
            left = deadline - time.monotonic()
            if left <= 0:
                # The far end is not consuming (e.g. uplink stall): drop rather than pile up.
                self.dropped_bytes += len(view)
                LOGGER.debug("audio port %s full: dropped %d bytes", self.path, len(view))
                return
            select.select([], [fd], [], left)

    def close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)


class AlsaAudioPort:
    """PCM through an ALSA device (SIM800 on a USB sound card, Quectel UAC).

    Runs ``arecord`` and ``aplay`` in raw S16_LE 8 kHz mono with a short buffer; ALSA's
    plug layer resamples when the card does not do 8 kHz.
    """

    def __init__(self, device: str = "default", *, buffer_us: int = 60_000) -> None:
        self.device = device or "default"
        for tool in ("arecord", "aplay"):
            if shutil.which(tool) is None:
                raise AudioPortError(f"{tool} is not installed (apt-get install alsa-utils)")
        fmt = ["-q", "-D", self.device, "-t", "raw", "-f", "S16_LE", "-r", str(RATE), "-c", "1"]
        fmt.append(f"--buffer-time={buffer_us}")
        self._rec = subprocess.Popen(
            ["arecord", *fmt], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        self._play = subprocess.Popen(
            ["aplay", *fmt], stdin=subprocess.PIPE, stderr=subprocess.PIPE
        )
        self._closed = False

    def _failure(self, proc: subprocess.Popen[bytes], what: str) -> AudioPortError:
        try:
            proc.wait(timeout=1)
            err = proc.stderr.read().decode("utf-8", "replace").strip() if proc.stderr else ""
        except subprocess.TimeoutExpired:
            err = ""
        return AudioPortError(f"ALSA {what} on {self.device!r} stopped: {err or 'no message'}")

    def read(self, size: int, timeout: float) -> bytes:
        if self._closed:
            raise AudioPortError(f"ALSA port {self.device!r} is closed")
        assert self._rec.stdout is not None
        fd = self._rec.stdout.fileno()
        ready, _, _ = select.select([fd], [], [], timeout)
        if not ready:
            return b""
        data = os.read(fd, size)
        if not data:
            raise self._failure(self._rec, "capture")
        return data

    def write(self, data: bytes) -> None:
        if self._closed:
            raise AudioPortError(f"ALSA port {self.device!r} is closed")
        assert self._play.stdin is not None
        try:
            self._play.stdin.write(data)
            self._play.stdin.flush()
        except (BrokenPipeError, ValueError) as exc:
            raise self._failure(self._play, "playback") from exc

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for proc in (self._rec, self._play):
            if proc.poll() is None:
                proc.terminate()
            try:
                proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            for stream in (proc.stdin, proc.stdout, proc.stderr):
                if stream is not None:
                    try:
                        stream.close()
                    except BrokenPipeError:
                        pass


def open_audio_port(spec: str) -> AudioPort:
    """``alsa:<device>`` -> AlsaAudioPort; anything else is a tty/pty path -> SerialAudioPort."""
    if spec.startswith("alsa:"):
        return AlsaAudioPort(spec[len("alsa:") :] or "default")
    return SerialAudioPort(spec)
