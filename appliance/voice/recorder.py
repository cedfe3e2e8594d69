"""<Record>: collect call frames until silence, a finish key or maxLength; trim and save as WAV."""

from __future__ import annotations

import logging
import os
import tempfile
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from appliance.voice import tones

LOGGER = logging.getLogger(__name__)

RATE = 8000
BYTES_PER_SECOND = RATE * 2
FRAME_BYTES = 320
SILENCE_DBFS = -40.0  # a frame whose RMS is below this (dB re a full-scale sine) is silence
# Audio cut when a finish key ends the recording: the key's own tone, which the in-band
# detector reports 40-80 ms after it starts (onset + its 60 ms analysis batch).
KEY_TAIL_MS = 100
BEEP_MS = 500
BEEP_HZ = 1000

_SILENCE_RMS = 32767.0 / np.sqrt(2.0) * 10 ** (SILENCE_DBFS / 20)


def frame_is_silent(frame: bytes, threshold_rms: float = _SILENCE_RMS) -> bool:
    """True if the frame's RMS level is under the silence threshold."""
    if len(frame) < 2:
        return True
    x = np.frombuffer(frame[: len(frame) & ~1], dtype="<i2").astype(np.float64)
    return float(np.sqrt(np.mean(x * x))) < threshold_rms


@dataclass(frozen=True)
class RecordingResult:
    """What <Record> produced.

    ``reason``: "silence" (timeout), "key" (finishOnKey), "max-length", or "hangup"
    (the call ended first: the caller calls :meth:`Recorder.hangup`).
    """

    pcm: bytes
    reason: str
    digit: str  # the finish key pressed, "" otherwise

    @property
    def duration(self) -> float:
        """Seconds of audio kept."""
        return len(self.pcm) / BYTES_PER_SECOND

    @property
    def empty(self) -> bool:
        """No sound at all was recorded (Twilio then skips the recording)."""
        return not self.pcm


class Recorder:
    """Accumulates the caller's audio for one <Record> verb (sans I/O; frames are pushed in).

    :param max_length: seconds; the recording stops when this much audio is held.
    :param silence_timeout: seconds of continuous silence that end it; 0 disables.
    :param finish_on_key: keys that end it; "" disables.
    :param trim: drop leading and trailing silence (Twilio's ``trim="trim-silence"``).
    :param play_beep: the caller should play :attr:`beep` before feeding frames.
    """

    def __init__(
        self,
        max_length: float = 3600,
        silence_timeout: float = 5,
        finish_on_key: str = "1234567890*#",
        trim: bool = True,
        play_beep: bool = True,
    ) -> None:
        if max_length <= 0:
            raise ValueError(f"max_length must be positive: {max_length}")
        if silence_timeout < 0:
            raise ValueError(f"silence_timeout must not be negative: {silence_timeout}")
        self.max_length = max_length
        self.silence_timeout = silence_timeout
        self.finish_on_key = finish_on_key
        self.trim = trim
        self.play_beep = play_beep
        self._buf = bytearray()
        self._silent_bytes = 0  # continuous silence at the end of the buffer
        self._first_sound: int | None = None  # byte offset of the first non-silent frame
        self._last_sound_end = 0  # byte offset just after the last non-silent frame
        self._reason = ""
        self._digit = ""

    @property
    def beep(self) -> bytes:
        """The beep to play first, or b"" when play_beep is off."""
        return tones.beep(BEEP_MS, BEEP_HZ) if self.play_beep else b""

    @property
    def finished(self) -> bool:
        """True once the recording has ended (further frames are ignored)."""
        return bool(self._reason)

    @property
    def reason(self) -> str:
        """Why it ended ("" while recording)."""
        return self._reason

    def feed(self, frame: bytes) -> bool:
        """Add one frame of the caller's audio; True when the recording is finished."""
        if self._reason:
            return True
        limit = int(self.max_length * BYTES_PER_SECOND)
        frame = frame[: limit - len(self._buf)]
        if frame:
            start = len(self._buf)
            self._buf += frame
            if frame_is_silent(frame):
                self._silent_bytes += len(frame)
            else:
                self._silent_bytes = 0
                if self._first_sound is None:
                    self._first_sound = start
                self._last_sound_end = len(self._buf)
        if len(self._buf) >= limit:
            self._reason = "max-length"
        elif self.silence_timeout and self._silent_bytes >= self.silence_timeout * BYTES_PER_SECOND:
            self._reason = "silence"
        return bool(self._reason)

    def on_digit(self, digit: str) -> bool:
        """A DTMF key arrived; True (finished) if it is a finish key."""
        if self._reason:
            return True
        if digit and digit in self.finish_on_key:
            self._reason = "key"
            self._digit = digit
            # The key's own tone is at the end of the buffer: cut it.
            cut = min(len(self._buf), KEY_TAIL_MS * BYTES_PER_SECOND // 1000)
            del self._buf[len(self._buf) - cut :]
            self._last_sound_end = min(self._last_sound_end, len(self._buf))
            if self._first_sound is not None and self._first_sound >= len(self._buf):
                self._first_sound = None
            return True
        return False

    def hangup(self) -> None:
        """The call ended while recording."""
        if not self._reason:
            self._reason = "hangup"

    def result(self) -> RecordingResult:
        """The recording so far (trimmed if asked); callable at any time."""
        pcm = bytes(self._buf)
        if self.trim:
            if self._first_sound is None:
                pcm = b""
            else:
                pcm = pcm[self._first_sound : self._last_sound_end]
        return RecordingResult(pcm=pcm, reason=self._reason or "recording", digit=self._digit)


def write_wav(path: str | Path, pcm: bytes, channels: int = 1) -> Path:
    """Write 8 kHz 16-bit PCM (``channels`` interleaved) as a WAV file, atomically (temp
    file + rename)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".rec-", suffix=".wav", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            with wave.open(fh, "wb") as w:
                w.setnchannels(channels)
                w.setsampwidth(2)
                w.setframerate(RATE)
                w.writeframes(pcm[: len(pcm) - len(pcm) % (2 * channels)])
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
