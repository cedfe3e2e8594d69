"""espeak-ng text to speech: voice mapping, streaming, clean-up."""

from __future__ import annotations

import time

import numpy as np
import pytest

from appliance.voice import tts

SENTENCE = (
    "Thank you for calling. Please listen carefully, as our menu options have changed, "
    "and press the key that best matches the reason for your call today, or stay on the line."
)


@pytest.mark.parametrize(
    ("voice", "language", "expected"),
    [
        ("man", "en-US", "en-us"),
        ("woman", "en-US", "en-us+f3"),
        ("alice", "en-GB", "en-gb+f3"),
        ("man", "fr-FR", "fr-fr"),
        ("woman", "de-DE", "de+f3"),
        ("man", "pt-BR", "pt-br"),
        ("man", "pt-PT", "pt"),
        ("Polly.Joanna", "en-US", "en-us+f3"),
        ("Polly.Matthew-Neural", "en-US", "en-us"),
        ("Google.en-US-Standard-C", "en-US", "en-us"),
        ("man", "xx-YY", "en-us"),
        ("", "", "en-us"),
        ("man", "zh-CN", "cmn"),
    ],
)
def test_espeak_voice_mapping(voice: str, language: str, expected: str) -> None:
    assert tts.espeak_voice(voice, language) == expected


def test_speak_streams_8khz_pcm_quickly() -> None:
    start = time.monotonic()
    stream = tts.speak(SENTENCE)
    first = next(stream)
    first_after = time.monotonic() - start
    rest = b"".join(stream)
    pcm = first + rest
    assert len(first) % 2 == 0 and len(pcm) % 2 == 0
    seconds = len(pcm) / 16000
    assert 5 < seconds < 20  # a 30-word sentence at espeak-ng's default rate
    x = np.frombuffer(pcm, dtype="<i2").astype(float)
    assert np.sqrt(np.mean(x * x)) > 300  # audible speech, not silence
    # energy sits in the telephone band: little above 3.4 kHz after resampling to 8 kHz
    spec = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(len(x), 1 / 8000)
    assert spec[f > 3600].sum() < 0.05 * spec.sum()
    assert first_after < 2.0  # loose: the bench measures the real figure


def test_voice_changes_the_audio() -> None:
    assert tts.say("Hello there", "man") != tts.say("Hello there", "woman")


def test_empty_and_hostile_text() -> None:
    assert tts.say("") == b""
    assert tts.say("   \x00\x07 ") == b""
    assert len(tts.say("--help -v xx <speak>")) > 1000  # read as text, never as options
    assert tts.clean_text("a\x00b\x1bc") == "a b c"


def test_closing_the_stream_early_stops_the_pipeline() -> None:
    stream = tts.speak(SENTENCE * 5)
    next(stream)
    stream.close()  # barge-in: must not hang, and must not leave children behind
    import os

    children = os.popen(f"ps --ppid {os.getpid()} -o comm=").read().split()
    assert "espeak-ng" not in children and "sox" not in children


def test_missing_tool_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tts, "ESPEAK", "espeak-ng-not-installed")
    with pytest.raises(tts.TtsError, match="espeak-ng-not-installed is not installed"):
        tts.say("hello")


def test_speak_looped() -> None:
    once = tts.say("One two three.")
    assert b"".join(tts.speak_looped("One two three.", loop=3)) == once * 3
    assert b"".join(tts.speak_looped("One two three.", loop=1)) == once
    forever = tts.speak_looped("One two three.", loop=0)
    total = b""
    while len(total) < 5 * len(once):
        total += next(forever)
    forever.close()
    assert total.startswith(once * 4)
    assert list(tts.speak_looped("", loop=0)) == []
