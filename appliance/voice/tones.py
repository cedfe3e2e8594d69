"""Tone generators for call audio: DTMF digits, beeps and silence as 8 kHz S16LE PCM."""

from __future__ import annotations

import logging

import numpy as np

LOGGER = logging.getLogger(__name__)

RATE = 8000  # samples per second on every voice path
FULL_SCALE = 32767.0  # 0 dBFS = a sine whose peak is full scale

ROW_FREQS = (697.0, 770.0, 852.0, 941.0)  # low group
COL_FREQS = (1209.0, 1336.0, 1477.0, 1633.0)  # high group
KEYPAD = ("123A", "456B", "789C", "*0#D")
DIGITS = "".join(KEYPAD)

PAUSE_MS = 500  # "w" in <Play digits>: half a second
PLAY_DIGIT_ON_MS = 100  # the length AT+VTS uses by default
PLAY_DIGIT_OFF_MS = 100


def digit_freqs(digit: str) -> tuple[float, float]:
    """Return (low, high) frequencies of a DTMF digit; ValueError if it is not one."""
    d = digit.upper()
    for r, row in enumerate(KEYPAD):
        c = row.find(d)
        if len(d) == 1 and c >= 0:
            return ROW_FREQS[r], COL_FREQS[c]
    raise ValueError(f"not a DTMF digit: {digit!r} (use 0-9, *, #, A-D)")


def samples_for(ms: float) -> int:
    """Number of 8 kHz samples in ``ms`` milliseconds (rounded)."""
    if ms < 0:
        raise ValueError(f"duration must not be negative: {ms}")
    return int(round(ms * RATE / 1000.0))


def to_pcm(signal: np.ndarray) -> bytes:
    """Float samples in full-scale units -> clipped S16LE bytes."""
    clipped = np.clip(np.rint(signal), -32768, 32767)
    return bytes(clipped.astype("<i2").tobytes())


def sine(hz: float, n: int, amplitude: float, phase: float = 0.0) -> np.ndarray:
    """``n`` samples of a sine at ``hz`` with peak ``amplitude`` (float64)."""
    t = np.arange(n, dtype=np.float64)
    return amplitude * np.sin(2.0 * np.pi * hz * t / RATE + phase)


def dtmf(
    digit: str,
    duration_ms: float = 100,
    level_dbfs: float = -10.0,
    *,
    freq_offset: float = 0.0,
    twist_db: float = 0.0,
) -> bytes:
    """One DTMF digit as PCM.

    :param level_dbfs: level of each of the two tones, dB relative to a full-scale sine.
    :param freq_offset: relative frequency error applied to both tones (0.015 = +1.5 %).
    :param twist_db: high-group level minus low-group level in dB (positive: high group
        louder, "reverse twist"; negative: low group louder, "normal twist").
        The louder tone stays at ``level_dbfs``.
    """
    low, high = digit_freqs(digit)
    n = samples_for(duration_ms)
    amp = FULL_SCALE * 10.0 ** (level_dbfs / 20.0)
    low_amp = amp * (10.0 ** (-twist_db / 20.0) if twist_db > 0 else 1.0)
    high_amp = amp * (10.0 ** (twist_db / 20.0) if twist_db < 0 else 1.0)
    k = 1.0 + freq_offset
    signal = sine(low * k, n, low_amp) + sine(high * k, n, high_amp)
    return to_pcm(signal)


def silence(ms: float) -> bytes:
    """``ms`` milliseconds of digital silence."""
    return b"\x00\x00" * samples_for(ms)


def beep(ms: float = 500, hz: float = 1000, level_dbfs: float = -10.0) -> bytes:
    """A plain sine beep (the <Record playBeep> tone)."""
    amp = FULL_SCALE * 10.0 ** (level_dbfs / 20.0)
    return to_pcm(sine(hz, samples_for(ms), amp))


def digits_audio(
    digits: str,
    on_ms: float = PLAY_DIGIT_ON_MS,
    off_ms: float = PLAY_DIGIT_OFF_MS,
    level_dbfs: float = -10.0,
) -> bytes:
    """Audio for ``<Play digits="...">``: each digit as a tone then a gap; ``w`` pauses 0.5 s.

    Raises ValueError naming the first character that is neither a digit nor ``w``.
    """
    parts: list[bytes] = []
    for ch in digits:
        if ch in "wW":
            parts.append(silence(PAUSE_MS))
            continue
        parts.append(dtmf(ch, on_ms, level_dbfs))
        parts.append(silence(off_ms))
    return b"".join(parts)


def white_noise(ms: float, level_dbfs: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian white noise whose RMS is ``level_dbfs`` relative to a full-scale sine (floats)."""
    sigma = FULL_SCALE / np.sqrt(2.0) * 10.0 ** (level_dbfs / 20.0)
    return rng.normal(0.0, sigma, samples_for(ms))


def add_noise(pcm: bytes, level_dbfs: float, rng: np.random.Generator) -> bytes:
    """``pcm`` plus white noise at ``level_dbfs`` (for SNR tests: tone level minus SNR)."""
    x = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    n = x.size * 1000.0 / RATE
    return to_pcm(x + white_noise(n, level_dbfs, rng)[: x.size])
