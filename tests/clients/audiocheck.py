"""Tone checks for call audio in tests: Goertzel's power at one frequency."""

from __future__ import annotations

import math

import numpy as np


def goertzel_dbfs(pcm: bytes, hz: float, rate: int = 8000) -> float:
    """The level of the ``hz`` component of 16-bit mono ``pcm`` in dB relative to a
    full-scale sine (a -10 dBFS tone measures about -10)."""
    x = np.frombuffer(pcm[: len(pcm) - len(pcm) % 2], dtype="<i2").astype(np.float64)
    if len(x) == 0:
        return -200.0
    coeff = 2.0 * math.cos(2.0 * math.pi * hz / rate)
    s1 = s2 = 0.0
    for sample in x:  # plain Goertzel: a few thousand samples per check
        s1, s2 = sample + coeff * s1 - s2, s1
    power = s1 * s1 + s2 * s2 - coeff * s1 * s2
    amplitude = 2.0 * math.sqrt(max(power, 0.0)) / len(x)
    return 20.0 * math.log10(max(amplitude, 1e-9) / 32767.0)
