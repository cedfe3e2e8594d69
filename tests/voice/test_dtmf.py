"""In-band DTMF detector against the figures in the issue, and the URC/in-band merger."""

from __future__ import annotations

import numpy as np
import pytest

from appliance.voice import tones, tts
from appliance.voice.dtmf import DigitMerger, DtmfDetector

ALL = tones.DIGITS


def detect(pcm: bytes, chunk: int = 320) -> str:
    det = DtmfDetector()
    out: list[str] = []
    for i in range(0, len(pcm), chunk):
        out += det.feed(pcm[i : i + chunk])
    return "".join(out)


def dial(digits: str, on_ms: float = 40, off_ms: float = 40, **kw: float) -> bytes:
    return b"".join(tones.dtmf(d, on_ms, **kw) + tones.silence(off_ms) for d in digits)


@pytest.mark.parametrize("lead_in_samples", [0, 13, 26, 51, 77, 101])
def test_all_16_digits_at_40ms_tone_40ms_gap(lead_in_samples: int) -> None:
    pcm = tones.silence(lead_in_samples / 8) + dial(ALL)
    assert detect(pcm) == ALL


@pytest.mark.parametrize("offset", [0.015, -0.015])
@pytest.mark.parametrize("twist", [0.0, 4.0, -8.0])
def test_accepted_frequency_offsets_and_twist(offset: float, twist: float) -> None:
    assert detect(dial(ALL, 40, 40, freq_offset=offset, twist_db=twist)) == ALL


@pytest.mark.parametrize("offset", [0.035, -0.035, 0.05, -0.05])
def test_rejected_frequency_offsets(offset: float) -> None:
    assert detect(dial(ALL, 60, 60, freq_offset=offset)) == ""


@pytest.mark.parametrize("twist", [4.0, -8.0])
def test_accepted_twist(twist: float) -> None:
    assert detect(dial(ALL, 40, 40, twist_db=twist)) == ALL


@pytest.mark.parametrize("twist", [11.0, -12.0])
def test_excessive_twist_rejected(twist: float) -> None:
    assert detect(dial(ALL, 60, 60, twist_db=twist)) == ""


def test_15db_snr_white_noise_fixed_seed() -> None:
    rng = np.random.default_rng(20240915)
    digits = "".join(rng.choice(list(ALL), 300))
    clean = dial(digits) + tones.silence(100)
    # noise RMS 15 dB under each tone's level (-10 dBFS per tone)
    noisy = tones.add_noise(clean, -10.0 - 15.0, rng)
    assert detect(noisy) == digits


def test_short_tones_and_dropouts() -> None:
    assert detect(dial(ALL, 18, 60)) == ""  # under 20 ms: never a digit
    assert detect(dial(ALL, 30, 60)) == ALL
    # a dropout under 20 ms inside one key press does not split it
    split = tones.dtmf("5", 60) + tones.silence(15) + tones.dtmf("5", 60) + tones.silence(60)
    assert detect(split) == "5"
    # the same key pressed twice at 40/40 is two digits
    assert detect(dial("55")) == "55"


def test_long_press_is_one_digit_and_levels() -> None:
    assert detect(tones.dtmf("7", 2000) + tones.silence(50)) == "7"
    assert detect(dial("159", 50, 50, level_dbfs=-35.0)) == "159"
    assert detect(dial("159", 50, 50, level_dbfs=-50.0)) == ""
    assert detect(dial("159", 50, 50, level_dbfs=0.0)) == "159"


def test_feeding_in_any_chunking_gives_the_same_digits() -> None:
    pcm = tones.silence(33) + dial("0123456789") + tones.silence(50)
    assert detect(pcm, 1) == "0123456789"
    assert detect(pcm, 333) == "0123456789"
    assert detect(pcm, len(pcm)) == "0123456789"


def test_single_tones_noise_and_garbage_give_nothing() -> None:
    rng = np.random.default_rng(7)
    assert detect(tones.beep(2000, 697) + tones.beep(2000, 1336)) == ""
    assert detect(tones.to_pcm(tones.white_noise(5000, -10.0, rng))) == ""
    assert detect(bytes(range(256)) * 100) == ""
    assert DtmfDetector().feed(b"") == []
    assert DtmfDetector().feed(b"\x01") == []


def test_a_minute_of_espeak_speech_gives_no_false_digit() -> None:
    text = open("/usr/share/common-licenses/GPL-3", encoding="utf-8").read().split()
    pcm = bytearray()
    voices = [("man", "en-US"), ("woman", "en-GB"), ("man", "de-DE"), ("woman", "fr-FR")]
    i = 0
    while len(pcm) < 60 * 16000:
        voice, lang = voices[(i // 120) % len(voices)]
        pcm += tts.say(" ".join(text[i : i + 120]), voice, lang)
        i += 120
    assert detect(bytes(pcm)) == ""


def test_digits_in_speech_are_found() -> None:
    speech = tts.say("Please enter your account number after the tone.")
    pcm = speech[:16000] + dial("42") + speech[16000:]
    assert detect(pcm) == "42"


def test_merger_counts_each_key_once() -> None:
    m = DigitMerger(window=0.1)
    assert m.add("5", "inband", at=10.00)
    assert not m.add("5", "modem", at=10.05)  # the same press, reported by the modem
    assert m.add("5", "inband", at=10.16)  # pressed again
    assert not m.add("5", "modem", at=10.21)
    assert m.add("6", "modem", at=11.0)  # modem first, in-band later
    assert not m.add("6", "inband", at=11.08)
    assert m.add("7", "modem", at=12.0)
    assert m.add("7", "inband", at=12.5)  # too far apart: two presses
    assert m.add("8", "inband", at=13.0)
    assert m.add("8", "inband", at=13.05)  # one source repeating itself is never merged
    with pytest.raises(ValueError, match="unknown DTMF source"):
        m.add("1", "radio", at=14.0)


def test_merger_defaults_to_now() -> None:
    m = DigitMerger()
    assert m.add("9", "inband")
    assert not m.add("9", "modem")
