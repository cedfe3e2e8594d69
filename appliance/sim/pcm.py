"""8 kHz PCM audio for simulated calls: the frame format, speech and files, level, mixing.

All audio is 8 kHz signed 16-bit little-endian mono (voice.md section 1).
"""

from __future__ import annotations

import functools
import subprocess
import wave
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .errors import VoiceError

RATE = 8000  # samples per second
FRAME_SECONDS = 0.020  # one frame every 20 ms (chan_dongle's 50 Hz timer, voice.md 1.2)
FRAME_BYTES = 320  # 160 samples x 2 bytes
SILENT_FRAME = bytes(FRAME_BYTES)


@functools.lru_cache(maxsize=64)
def render_speech(text: str, voice: str = "en-us") -> bytes:
    """``text`` spoken by espeak-ng, as 8 kHz S16LE mono PCM (converted by sox)."""
    try:
        wav = subprocess.run(
            ["espeak-ng", "--stdout", "--stdin", "-v", voice],
            input=text.encode("utf-8"),
            capture_output=True,
            check=True,
            timeout=30,
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise VoiceError(f"espeak-ng could not speak {text[:40]!r}: {exc}") from None
    return _sox_to_pcm(wav, "wav")


def _sox_to_pcm(data: bytes, kind: str) -> bytes:
    try:
        out = subprocess.run(
            ["sox", "-t", kind, "-", "-t", "raw", "-r", str(RATE), "-e", "signed"]
            + ["-b", "16", "-c", "1", "-L", "-"],
            input=data,
            capture_output=True,
            check=True,
            timeout=60,
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise VoiceError(f"sox could not convert the audio to 8 kHz: {exc}") from None
    return out


def load_audio(source: bytes | str | Path) -> bytes:
    """8 kHz S16LE PCM from raw PCM bytes or a WAV file (resampled with sox if needed)."""
    if isinstance(source, bytes | bytearray):
        data = bytes(source)
        return data[: len(data) & ~1]
    path = Path(source)
    try:
        with wave.open(str(path), "rb") as w:
            if (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, RATE):
                return w.readframes(w.getnframes())
    except FileNotFoundError:
        raise VoiceError(f"no audio file {path}") from None
    except (wave.Error, EOFError):
        pass  # not a plain PCM WAV: let sox try
    return _sox_to_pcm(path.read_bytes(), path.suffix.lstrip(".") or "wav")


def rms(frame: bytes) -> float:
    """Root mean square of S16LE samples."""
    if len(frame) < 2:
        return 0.0
    samples = np.frombuffer(frame[: len(frame) & ~1], dtype="<i2").astype(np.float64)
    return float(np.sqrt(np.mean(samples * samples)))


def mix(frames: Sequence[bytes]) -> bytes:
    """Sum S16LE frames of equal length, clipped to 16 bits."""
    if len(frames) == 1:
        return frames[0]
    acc = np.zeros(FRAME_BYTES // 2, dtype=np.int32)
    for f in frames:
        acc += np.frombuffer(f, dtype="<i2")
    return bytes(np.clip(acc, -32768, 32767).astype("<i2").tobytes())
