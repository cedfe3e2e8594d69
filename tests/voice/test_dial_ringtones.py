"""The ringback tables of <Dial ringTone> (a pure core): every Twilio code, cadence and pitch."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from appliance.twiml.dial import RING_TONES
from appliance.voice import ringtones


def test_every_twilio_ring_tone_has_a_table_entry() -> None:
    assert sorted(ringtones.TONES) == sorted(RING_TONES)


@pytest.mark.parametrize(("code", "hz"), [("fr", 440.0), ("de", 425.0), ("it", 425.0)])
def test_a_single_tone_country_rings_at_its_pitch(code: str, hz: float) -> None:
    on_ms = ringtones.TONES[code].cadence[0][0]
    pcm = ringtones.cycle_pcm(code)[: on_ms * 16]
    x = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    peak = np.fft.rfftfreq(x.size, 1 / 8000)[int(np.argmax(np.abs(np.fft.rfft(x))))]
    assert abs(peak - hz) < 2.0


def test_the_cadence_is_on_then_off_and_repeats_in_20_ms_frames() -> None:
    period = ringtones.cycle_pcm("us")  # 2 s on, 4 s off
    assert len(period) == 6 * 16000
    frames = list(itertools.islice(ringtones.frames("us"), 600))  # two periods
    assert all(len(f) == 320 for f in frames)
    loud = [bool(np.abs(np.frombuffer(f, dtype="<i2")).max() > 1000) for f in frames]
    assert loud[:100] == [True] * 100 and loud[100:300] == [False] * 200
    assert loud[300:400] == [True] * 100  # the second period starts again
    assert b"".join(frames[:300]) == period


def test_the_default_is_the_callees_country() -> None:
    assert ringtones.tone_for_country("GB") == "uk"
    assert ringtones.tone_for_country("DE") == "de"
    assert ringtones.tone_for_country("KR") == "us"  # no table: Twilio's us
    assert ringtones.tone_for_country("") == "us"
