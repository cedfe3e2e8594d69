"""Tone generators: lengths, levels, frequencies, twist and <Play digits>."""

from __future__ import annotations

import numpy as np
import pytest

from appliance.voice import tones


def samples(pcm: bytes) -> np.ndarray:
    return np.frombuffer(pcm, dtype="<i2").astype(np.float64)


def peak_freqs(pcm: bytes, n: int = 2) -> list[float]:
    x = samples(pcm)
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    freqs = np.fft.rfftfreq(len(x), 1 / tones.RATE)
    picked: list[float] = []
    for i in np.argsort(spectrum)[::-1]:
        if all(abs(freqs[i] - f) > 30 for f in picked):
            picked.append(float(freqs[i]))
        if len(picked) == n:
            break
    return sorted(picked)


def test_silence_and_lengths() -> None:
    assert tones.silence(20) == bytes(320)
    assert len(tones.dtmf("5", 40)) == 640
    assert len(tones.beep()) == 8000
    with pytest.raises(ValueError):
        tones.silence(-1)


@pytest.mark.parametrize("digit", list(tones.DIGITS))
def test_every_digit_has_its_two_frequencies(digit: str) -> None:
    low, high = tones.digit_freqs(digit)
    got = peak_freqs(tones.dtmf(digit, 1000))
    assert got[0] == pytest.approx(low, abs=2)
    assert got[1] == pytest.approx(high, abs=2)


def test_frequency_offset_moves_both_tones() -> None:
    got = peak_freqs(tones.dtmf("1", 1000, freq_offset=0.035))
    assert got[0] == pytest.approx(697 * 1.035, abs=2)
    assert got[1] == pytest.approx(1209 * 1.035, abs=2)


def test_level_and_twist() -> None:
    x = samples(tones.dtmf("5", 1000, level_dbfs=-10))
    # two tones at -10 dBFS each: RMS = sqrt(2) * peak/sqrt(2) = 32767 * 10^-0.5
    assert np.sqrt(np.mean(x * x)) == pytest.approx(32767 * 10**-0.5, rel=0.01)
    for twist in (4.0, -8.0):
        pcm = tones.dtmf("5", 1000, twist_db=twist)
        x = samples(pcm)
        spec = np.abs(np.fft.rfft(x))
        f = np.fft.rfftfreq(len(x), 1 / 8000)
        low = spec[np.argmin(abs(f - 770))]
        high = spec[np.argmin(abs(f - 1336))]
        assert 20 * np.log10(high / low) == pytest.approx(twist, abs=0.1)


def test_digits_audio_with_pauses() -> None:
    pcm = tones.digits_audio("1w2")
    assert len(pcm) == 2 * (len(tones.dtmf("1")) + len(tones.silence(100))) + len(
        tones.silence(500)
    )
    assert tones.digits_audio("") == b""
    with pytest.raises(ValueError, match="not a DTMF digit: 'x'"):
        tones.digits_audio("12x")


def test_bad_digit() -> None:
    for bad in ("", "E", "12", " "):
        with pytest.raises(ValueError):
            tones.dtmf(bad)
    assert tones.digit_freqs("a") == (697.0, 1633.0)
