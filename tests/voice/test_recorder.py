"""<Record>: silence timeout, finishOnKey, maxLength, trim, WAV output."""

from __future__ import annotations

import wave
from pathlib import Path

import pytest

from appliance.voice import tones
from appliance.voice.recorder import Recorder, frame_is_silent, write_wav

SILENT = tones.silence(20)
VOICE = tones.beep(20, 440, level_dbfs=-20.0)


def feed(rec: Recorder, pcm: bytes) -> int:
    """Feed PCM frame by frame until finished; returns the frames consumed."""
    n = 0
    for i in range(0, len(pcm), 320):
        n += 1
        if rec.feed(pcm[i : i + 320]):
            break
    return n


def test_silence_detection() -> None:
    assert frame_is_silent(SILENT)
    assert frame_is_silent(tones.beep(20, 440, level_dbfs=-50.0))
    assert not frame_is_silent(VOICE)
    assert frame_is_silent(b"")


def test_silence_timeout_ends_and_trim_removes_both_ends() -> None:
    rec = Recorder(silence_timeout=2, play_beep=False)
    assert rec.beep == b""
    pcm = SILENT * 25 + VOICE * 100 + SILENT * 500  # 0.5 s quiet, 2 s sound, then quiet
    used = feed(rec, pcm)
    assert rec.finished and rec.reason == "silence"
    assert used == 25 + 100 + 100  # stopped after exactly 2 s of silence
    result = rec.result()
    assert result.reason == "silence"
    assert result.pcm == VOICE * 100
    assert result.duration == pytest.approx(2.0)


def test_without_trim_everything_is_kept() -> None:
    rec = Recorder(silence_timeout=1, trim=False)
    feed(rec, SILENT * 10 + VOICE * 10 + SILENT * 100)
    assert rec.result().pcm == SILENT * 10 + VOICE * 10 + SILENT * 50


def test_silence_timeout_zero_never_times_out() -> None:
    rec = Recorder(silence_timeout=0, max_length=3)
    used = feed(rec, SILENT * 1000)
    assert rec.reason == "max-length" and used == 150
    assert rec.result().empty  # nothing but silence: trimmed to nothing


def test_finish_on_key() -> None:
    rec = Recorder(finish_on_key="#")
    feed(rec, VOICE * 50)
    assert not rec.on_digit("5")
    assert not rec.finished
    assert rec.on_digit("#")
    assert rec.reason == "key" and rec.result().digit == "#"
    assert rec.result().duration == pytest.approx(1.0 - 0.1)  # the key's tone is cut
    assert rec.feed(VOICE)  # finished: further audio is ignored
    assert rec.result().duration == pytest.approx(0.9)


def test_empty_finish_on_key_disables_keys() -> None:
    rec = Recorder(finish_on_key="")
    assert not rec.on_digit("#") and not rec.on_digit("")


def test_max_length_is_exact() -> None:
    rec = Recorder(max_length=1.5, trim=False)
    used = feed(rec, VOICE * 200)
    assert rec.reason == "max-length" and used == 75
    assert len(rec.result().pcm) == 24000
    # a frame that crosses the limit is cut at it
    rec2 = Recorder(max_length=0.05, trim=False)
    assert rec2.feed(VOICE * 3)
    assert len(rec2.result().pcm) == 800


def test_hangup_and_bad_arguments() -> None:
    rec = Recorder()
    feed(rec, VOICE * 5)
    rec.hangup()
    assert rec.reason == "hangup" and rec.result().duration == pytest.approx(0.1)
    with pytest.raises(ValueError):
        Recorder(max_length=0)
    with pytest.raises(ValueError):
        Recorder(silence_timeout=-1)


def test_beep_is_half_a_second_of_1khz() -> None:
    assert Recorder().beep == tones.beep(500, 1000)


def test_write_wav_is_readable(tmp_path: Path) -> None:
    pcm = VOICE * 50
    path = write_wav(tmp_path / "recordings" / "RE1.wav", pcm)
    with wave.open(str(path), "rb") as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 8000)
        assert w.getnframes() == len(pcm) // 2
        assert w.readframes(w.getnframes()) == pcm
    assert [p.name for p in path.parent.iterdir()] == ["RE1.wav"]  # no temp file left
    write_wav(path, b"")
    with wave.open(str(path), "rb") as w:
        assert w.getnframes() == 0


def test_finish_key_detected_in_band_leaves_no_tone_in_the_recording() -> None:
    from appliance.voice.dtmf import DtmfDetector

    det = DtmfDetector()
    for lead_in in range(0, 40, 3):  # every alignment of the key against the frames
        det.reset()
        rec = Recorder(finish_on_key="#")
        pcm = VOICE * 50 + tones.silence(lead_in) + tones.dtmf("#", 200) + SILENT * 10
        for i in range(0, len(pcm), 320):
            frame = pcm[i : i + 320]
            rec.feed(frame)
            if any(rec.on_digit(d) for d in det.feed(frame)):
                break
        assert rec.reason == "key"
        kept = rec.result().pcm
        assert DtmfDetector().feed(kept + SILENT * 10) == []
        assert (VOICE * 50).startswith(kept)  # only speech is kept...
        assert len(kept) >= len(VOICE) * 50 - 60 * 16  # ...and at most 60 ms of it is lost
