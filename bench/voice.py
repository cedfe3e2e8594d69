"""Voice benchmarks (issue 4): Say latency, the 20 ms audio clock, DTMF quality, CPU of a call.

``bench/run.py`` calls :func:`bench_voice` and puts :func:`rows` / :func:`notes` into
docs/benchmarks.md; ``python -m bench.voice`` runs them alone and prints the figures.

* Say latency: a TwiML ``<Say>`` of 30 words is parsed, spoken by espeak-ng and queued
  on a running Media; the clock starts when the TwiML is handed over and stops when
  the far end of a real pty (the modem's side, read every 1 ms) receives the first
  non-silent byte.  It includes the wait for the next 20 ms tick.
* Audio clock and CPU: a 60 s call on a pty pair.  The far end is paced at 20 ms like a
  modem: it sends speech with DTMF digits in it and reads everything.  The appliance
  side runs Media with the DTMF detector and a Recorder as listeners, and keeps TTS
  speech queued the whole time.  Jitter = |interval between frame writes − 20 ms|.
  CPU = this process's CPU minus the far end's thread, plus the espeak-ng/sox children,
  over wall time.
* DTMF: deterministic synthetic signals (seeded), as in tests/voice/test_dtmf.py, at full size.
  Talk-off (issue 11): 30 min of espeak-ng speech in 13 languages at varied voice, speed and
  pitch (:func:`talkoff_speech`) and 10 min of synthesised music (:func:`music`).
"""

from __future__ import annotations

import json
import os
import re
import resource
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from appliance.voice import audio, tones, tts  # noqa: E402
from appliance.voice.audio import FRAME_BYTES, Media  # noqa: E402
from appliance.voice.dtmf import DtmfDetector  # noqa: E402
from appliance.voice.ports import SerialAudioPort  # noqa: E402
from appliance.voice.recorder import Recorder  # noqa: E402

SENTENCE = (
    "Thank you for calling the support line. Please listen carefully, as our menu options "
    "have changed recently, and then press the key that best matches the reason for your call."
)
SPEECH_TEXT = Path("/usr/share/common-licenses/GPL-3")
VOICES = [
    ("man", "en-US"),
    ("woman", "en-US"),
    ("man", "en-GB"),
    ("woman", "fr-FR"),
    ("man", "de-DE"),
    ("woman", "es-ES"),
    ("man", "it-IT"),
    ("woman", "pt-BR"),
]
# Talk-off corpus (issue 11): espeak-ng voices reading prose in their own language (coreutils'
# translated messages, which Debian installs), each part with its own voice variant, speed and
# pitch.  (espeak-ng voice, gettext locale of its text; "" = the GPL-3 text.)
TALKOFF_LANGUAGES = [
    ("es", "es"),
    ("es-419", "es"),
    ("pt", "pt"),
    ("pt-br", "pt_BR"),
    ("fr-fr", "fr"),
    ("de", "de"),
    ("it", "it"),
    ("nl", "nl"),
    ("pl", "pl"),
    ("ru", "ru"),
    ("tr", "tr"),
    ("sv", "sv"),
    ("en-us", ""),
]
TALKOFF_VARIANTS = (  # male, female (the high ones talk off most), Klatt, creaky
    ("", "+m1", "+m3", "+m7", "+f1", "+f2", "+f4", "+f5", "+klatt", "+croak")
    + ("+Andrea", "+Alicia", "+belinda", "+steph", "+anika", "+linda")
)
TALKOFF_SPEEDS = (110, 140, 175, 210, 260, 320)  # words per minute (espeak-ng's default: 175)
TALKOFF_PITCHES = (10, 30, 50, 70, 90, 99)  # 0-99 (default 50)
TALKOFF_WORDS = 40  # words per part: about 15 s
LOCALE_DIR = Path("/usr/share/locale")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def detect(pcm: bytes, chunk: int = FRAME_BYTES) -> str:
    det = DtmfDetector()
    out: list[str] = []
    for i in range(0, len(pcm), chunk):
        out += det.feed(pcm[i : i + chunk])
    return "".join(out)


def dial(digits: str, on_ms: float = 40, off_ms: float = 40, **kw: float) -> bytes:
    return b"".join(tones.dtmf(d, on_ms, **kw) + tones.silence(off_ms) for d in digits)


def speech(seconds: float) -> bytes:
    """At least ``seconds`` of espeak-ng speech: the GPL-3 text read by eight voices."""
    words = SPEECH_TEXT.read_text(encoding="utf-8").split()
    pcm = bytearray()
    i = 0
    while len(pcm) < seconds * 16000:
        voice, lang = VOICES[(i // 150) % len(VOICES)]
        pcm += tts.say(" ".join(words[i % len(words) : i % len(words) + 150]), voice, lang)
        i += 150
    return bytes(pcm)


def _mo_strings(path: Path) -> list[str]:
    """The translated strings of a gettext .mo catalogue (the header entry left out)."""
    data = path.read_bytes()
    order = "<" if data[:4] == b"\xde\x12\x04\x95" else ">"
    _revision, count, _originals, translations = struct.unpack(order + "4I", data[4:20])
    out = []
    for i in range(1, count):
        entry = translations + 8 * i
        length, offset = struct.unpack(order + "2I", data[entry : entry + 8])
        out.append(data[offset : offset + length].decode("utf-8", "replace"))
    return out


def native_words(locale: str) -> list[str]:
    """Prose in ``locale``: coreutils' translated messages without formats, options and paths
    (the GPL-3 text for "" or when the catalogue is missing)."""
    catalogue = LOCALE_DIR / locale / "LC_MESSAGES" / "coreutils.mo"
    if not locale or not catalogue.exists():
        return SPEECH_TEXT.read_text(encoding="utf-8").split()
    words: list[str] = []
    for entry in _mo_strings(catalogue):
        for line in entry.replace("\0", "\n").splitlines():
            line = re.sub(r"%[-+ #0-9.]*[a-zA-Z]|\S*[-_/=\\\[\]{}<>|@$]\S*", " ", line)
            letters = sum(ch.isalpha() for ch in line)
            if len(line.split()) >= 4 and letters >= 0.75 * len(line.replace(" ", "")):
                words += line.split()
    return words


def espeak(text: str, voice: str, speed: int, pitch: int) -> bytes:
    """``text`` read by espeak-ng ``voice`` at ``speed`` words/min and ``pitch``, as 8 kHz S16LE."""
    wav = subprocess.run(
        ["espeak-ng", "--stdout", "-v", voice, "-s", str(speed), "-p", str(pitch), text],
        capture_output=True,
        check=True,
    ).stdout
    raw = ["sox", "-V1", "-t", "wav", "-", "-t", "raw", "-r", "8000", "-e", "signed", "-b", "16"]
    pcm = subprocess.run([*raw, "-c", "1", "-L", "-"], input=wav, capture_output=True, check=True)
    return pcm.stdout[: len(pcm.stdout) & ~1]


def talkoff_speech(seconds: float, seed: int = 11) -> tuple[bytes, list[str]]:
    """At least ``seconds`` of speech: TALKOFF_LANGUAGES in turn, each part a random stretch of
    its text with a random variant, speed and pitch (seeded).  Returns the PCM and the parts."""
    rng = np.random.default_rng(seed)
    texts = {locale: native_words(locale) for _voice, locale in TALKOFF_LANGUAGES}
    pcm = bytearray()
    parts: list[str] = []
    while len(pcm) < seconds * 16000:
        voice, locale = TALKOFF_LANGUAGES[len(parts) % len(TALKOFF_LANGUAGES)]
        words = texts[locale]
        start = int(rng.integers(0, max(1, len(words) - TALKOFF_WORDS)))
        voice += TALKOFF_VARIANTS[int(rng.integers(len(TALKOFF_VARIANTS)))]
        speed = int(rng.choice(TALKOFF_SPEEDS))
        pitch = int(rng.choice(TALKOFF_PITCHES))
        parts.append(f"{voice} -s {speed} -p {pitch} at {len(pcm) / 16000:.1f} s")
        pcm += espeak(" ".join(words[start : start + TALKOFF_WORDS]), voice, speed, pitch)
    return bytes(pcm), parts


def music(seconds: float, seed: int = 12) -> bytes:
    """Music-like audio at -20 to -6 dBFS (seeded): chords and melodies of harmonic-rich notes
    (equal temperament, A4 = 440 Hz, two to seven harmonics, attack and decay, some vibrato)
    and glissandi of such notes.  Never two lone pure sines, which would be a real digit."""
    rng = np.random.default_rng(seed)
    rate = tones.RATE
    out: list[np.ndarray] = []
    total = 0

    def note(hz: float, n: int, harmonics: int, vibrato: float) -> np.ndarray:
        t = np.arange(n) / rate
        f = hz * (1 + vibrato * np.sin(2 * np.pi * rng.uniform(4, 7) * t))
        phase = 2 * np.pi * np.cumsum(f) / rate
        sig = np.zeros(n)
        for k in range(1, harmonics + 1):
            if hz * k < rate / 2 - 200:
                sig += np.sin(k * phase + rng.uniform(0, 2 * np.pi)) / k ** rng.uniform(0.7, 1.5)
        attack = np.minimum(1.0, t / rng.uniform(0.005, 0.08))
        return sig * attack * np.exp(-t / rng.uniform(0.2, 2.0))

    while total < seconds * rate:
        kind = rng.integers(3)
        n = int(rng.uniform(0.15, 1.5) * rate)
        sig = np.zeros(n)
        if kind == 0:  # a chord: two to four notes of a triad or seventh over a root
            root = int(rng.integers(-33, 10))  # semitones from A4
            steps = rng.choice(
                [0, 3, 4, 7, 10, 11, 12, 16], size=int(rng.integers(2, 5)), replace=False
            )
            for step in steps:
                hz = 440 * 2 ** ((root + step) / 12)
                sig += note(hz, n, int(rng.integers(2, 8)), rng.uniform(0, 0.006))
        elif kind == 1:  # a melody note over a bass note
            hz = 440 * 2 ** (int(rng.integers(-12, 22)) / 12)
            sig += note(hz, n, int(rng.integers(2, 8)), rng.uniform(0, 0.01))
            sig += 0.6 * note(hz / 2 ** int(rng.integers(1, 3)), n, int(rng.integers(3, 8)), 0)
        else:  # a glissando with harmonics, up or down, exponential in frequency
            f0, f1 = 440 * 2 ** (rng.uniform(-24, 18, size=2) / 12)
            phase = 2 * np.pi * np.cumsum(f0 * (f1 / f0) ** (np.arange(n) / n)) / rate
            for k in range(1, int(rng.integers(2, 6)) + 1):
                sig += np.sin(k * phase) / k
        level = 10 ** (rng.uniform(-20, -6) / 20) * tones.FULL_SCALE
        out.append(sig / (np.abs(sig).max() or 1.0) * level)
        out.append(np.zeros(int(rng.uniform(0, 0.1) * rate)))
        total += n + len(out[-1])
    return tones.to_pcm(np.concatenate(out))


# ----------------------------------------------------------------------------- DTMF


def bench_dtmf(
    n_snr: int = 1000, speech_seconds: float = 1800, music_seconds: float = 600
) -> dict[str, float]:
    alls = tones.DIGITS
    # all 16 digits at 40/40 ms, at every alignment of the tone against the detector's blocks
    aligned = sum(detect(tones.silence(k / 8) + dial(alls)) == alls for k in range(51))
    # ... and at 25 ms (ITU-T Q.24: reject under about 23-25 ms), every alignment
    short = sum(len(detect(tones.silence(k / 8) + dial(alls, 25, 40))) for k in range(51))
    accepted = rejected = 0
    for off in (0.015, -0.015):
        accepted += sum(
            a == b for a, b in zip(detect(dial(alls, freq_offset=off)), alls, strict=False)
        )
    for off in (0.035, -0.035):
        rejected += 16 - len(detect(dial(alls, 60, 60, freq_offset=off)))
    twist_ok = sum(
        detect(dial(alls, twist_db=tw)) == alls for tw in (4.0, -8.0)
    )  # 2 = both accepted
    rng = np.random.default_rng(15)
    digits = "".join(rng.choice(list(alls), n_snr))
    noisy = tones.add_noise(dial(digits) + tones.silence(100), -10.0 - 15.0, rng)
    got = detect(noisy)
    # count matches in order (a miss shifts the alignment, so use a longest-common-subsequence walk)
    hits = _matched(digits, got)
    talk, _parts = talkoff_speech(speech_seconds)
    tunes = music(music_seconds)
    cpu0 = time.process_time()
    false_speech = detect(talk)
    false_music = detect(tunes)
    cpu = time.process_time() - cpu0
    return {
        "aligned_ok": float(aligned),
        "aligned_total": 51.0,
        "short_total": 51.0 * 16,
        "short_detected": float(short),
        "offset_accepted": float(accepted),
        "offset_rejected": float(rejected),
        "twist_ok": float(twist_ok),
        "snr_digits": float(n_snr),
        "snr_detected": float(hits),
        "snr_extra": float(len(got) - hits),
        "speech_seconds": len(talk) / 16000,
        "speech_languages": float(len(TALKOFF_LANGUAGES)),
        "speech_false": float(len(false_speech)),
        "music_seconds": len(tunes) / 16000,
        "music_false": float(len(false_music)),
        "detector_cpu_percent": cpu / ((len(talk) + len(tunes)) / 16000) * 100,
    }


def _matched(want: str, got: str) -> int:
    prev = [0] * (len(got) + 1)
    for a in want:
        cur = [0]
        for j, b in enumerate(got):
            cur.append(prev[j] + 1 if a == b else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


# ----------------------------------------------------------------------------- far end


class FarEnd:
    """The modem side of the audio pty, paced at 20 ms: sends ``downlink``, reads everything."""

    def __init__(self, master: int, downlink: bytes = b"", poll: float = 0.02) -> None:
        self.master = master
        self.downlink = downlink
        self.poll = poll
        self.received = 0
        self.first_sound_at: float | None = None
        self.cpu = 0.0
        self._stop = threading.Event()
        os.set_blocking(master, False)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def reset(self) -> None:
        self.first_sound_at = None

    def _run(self) -> None:
        t_cpu = time.thread_time()
        next_t = time.monotonic()
        pos = 0
        frame_t = next_t
        while not self._stop.is_set():
            now = time.monotonic()
            if self.downlink and now >= frame_t:
                frame = self.downlink[pos : pos + FRAME_BYTES]  # then silence
                pos += FRAME_BYTES
                os.write(self.master, frame.ljust(FRAME_BYTES, b"\0"))
                frame_t += 0.02
            while True:
                try:
                    data = os.read(self.master, 65536)
                except (BlockingIOError, OSError):
                    break
                if not data:
                    break
                self.received += len(data)
                if self.first_sound_at is None and any(data):
                    self.first_sound_at = time.monotonic()
            next_t += self.poll
            self._stop.wait(max(0.0, next_t - time.monotonic()))
        self.cpu = time.thread_time() - t_cpu

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)


def bench_say_latency(runs: int = 20) -> dict[str, float]:
    try:
        from appliance.twiml.voice import parse
    except Exception:  # the lead's parser is optional for this figure
        parse = None
    twiml = f'<?xml version="1.0"?><Response><Say voice="woman">{SENTENCE}</Say></Response>'
    master, slave = os.openpty()
    port = SerialAudioPort(os.ttyname(slave))
    far = FarEnd(master, poll=0.001)
    media = Media(port)
    media.start()
    latencies: list[float] = []
    try:
        tts.say("warm up")  # load espeak-ng's data into the page cache once
        for _ in range(runs):
            time.sleep(0.2)
            far.reset()
            t0 = time.monotonic()
            text, voice, lang = SENTENCE, "woman", "en-US"
            if parse is not None:
                say = parse(twiml, "http://127.0.0.1/voice").verbs[0]
                text, voice, lang = say.text, say.voice, say.language  # type: ignore[union-attr]
            pb = media.play(tts.speak(text, voice, lang))
            end = time.monotonic() + 3
            while far.first_sound_at is None and time.monotonic() < end:
                time.sleep(0.001)
            if far.first_sound_at is not None:
                latencies.append((far.first_sound_at - t0) * 1000)
            pb.cancel()
            pb.wait(1)
    finally:
        media.stop()
        far.close()
        port.close()
        os.close(slave)
        os.close(master)
    return {
        "runs": float(runs),
        "words": float(len(SENTENCE.split())),
        "p50_ms": percentile(latencies, 50),
        "p99_ms": max(latencies),
        "parsed": 1.0 if parse is not None else 0.0,
    }


def bench_call(seconds: float = 60.0) -> dict[str, float]:
    """One 60 s call: paced writer with speech queued, reader feeding DTMF + recorder."""
    rng = np.random.default_rng(4)
    talk = speech(20)
    digits = "".join(rng.choice(list(tones.DIGITS), 20))
    downlink = bytearray()
    for i, d in enumerate(digits):
        downlink += talk[i * 8000 : (i + 1) * 8000] + tones.silence(100)
        downlink += tones.dtmf(d, 80) + tones.silence(200)
    master, slave = os.openpty()
    port = SerialAudioPort(os.ttyname(slave))
    far = FarEnd(master, bytes(downlink))
    media = Media(port)
    det = DtmfDetector()
    heard: list[str] = []
    rec = Recorder(max_length=3600, silence_timeout=0, finish_on_key="")

    def on_frame(frame: bytes) -> None:
        heard.extend(det.feed(frame))
        rec.feed(frame)

    media.add_listener(on_frame)
    words = SPEECH_TEXT.read_text(encoding="utf-8").split()
    children0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu0 = time.process_time()
    wall0 = time.monotonic()
    media.start()
    i = 0
    try:
        while time.monotonic() - wall0 < seconds:
            # keep speech queued: the next sentence waits behind the one playing
            with media._cond:
                queued = len(media._queue)
            if queued <= 1:
                media.play(tts.speak(" ".join(words[i : i + 40]), "man", "en-US"))
                i = (i + 40) % (len(words) - 40)
            time.sleep(0.05)
        wall = time.monotonic() - wall0
        stats = media.stats()
    finally:
        media.stop()
        far.close()
        port.close()
        os.close(slave)
        os.close(master)
    cpu = time.process_time() - cpu0 - far.cpu
    children1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    child_cpu = (children1.ru_utime - children0.ru_utime) + (
        children1.ru_stime - children0.ru_stime
    )
    heard_ok = _matched(digits, "".join(heard))
    return {
        "seconds": wall,
        "frames_written": stats["frames_written"],
        "jitter_p50_ms": stats["jitter_p50_ms"],
        "jitter_p99_ms": stats["jitter_p99_ms"],
        "jitter_max_ms": stats["jitter_max_ms"],
        "underruns": stats["underruns"],
        "slips": stats["slips"],
        "silence_frames": stats["silence_frames"],
        "frames_read": stats["frames_read"],
        "cpu_percent": (cpu + child_cpu) / wall * 100,
        "cpu_process_percent": cpu / wall * 100,
        "cpu_tts_percent": child_cpu / wall * 100,
        "digits_sent": float(len(digits)),
        "digits_heard": float(heard_ok),
        "recorded_seconds": rec.result().duration,
    }


def bench_voice() -> dict[str, float]:
    out: dict[str, float] = {}
    for prefix, fn in (
        ("say", bench_say_latency),
        ("call", bench_call),
        ("dtmf", bench_dtmf),
    ):
        print(f"  voice: {prefix} ...", flush=True)
        for key, value in fn().items():  # type: ignore[operator]
            out[f"{prefix}_{key}"] = value
    # The same call without the writer's real-time priority (a daemon lacking CAP_SYS_NICE).
    print("  voice: call at normal priority ...", flush=True)
    saved, audio.REALTIME_PRIORITY = audio.REALTIME_PRIORITY, 0
    try:
        plain = bench_call(30.0)
    finally:
        audio.REALTIME_PRIORITY = saved
    out["plain_jitter_p99_ms"] = plain["jitter_p99_ms"]
    out["plain_seconds"] = plain["seconds"]
    out["plain_underruns"] = plain["underruns"]
    return out


def rows(v: dict[str, float]) -> list[tuple[str, str, str, str]]:
    def ok(flag: bool) -> str:
        return "meets" if flag else "**misses**"

    n = v["dtmf_snr_digits"]
    return [
        (
            "Say, 30 words: TwiML → first audio frame at the modem",
            "≤ 150 ms",
            f"{v['say_p99_ms']:.0f} ms (max of {v['say_runs']:.0f}; p50 {v['say_p50_ms']:.0f} ms)",
            ok(v["say_p99_ms"] <= 150),
        ),
        (
            "Audio clock, 60 s call: frame interval jitter p99",
            "≤ 5 ms",
            f"{v['call_jitter_p99_ms']:.2f} ms",
            ok(v["call_jitter_p99_ms"] <= 5),
        ),
        (
            "Audio clock: underruns while speech is queued",
            "0",
            f"{v['call_underruns']:.0f}",
            ok(v["call_underruns"] == 0),
        ),
        (
            "DTMF: 16 digits at 40 ms tone / 40 ms gap",
            "all",
            f"{v['dtmf_aligned_ok']:.0f}/{v['dtmf_aligned_total']:.0f} alignments all 16",
            ok(v["dtmf_aligned_ok"] == v["dtmf_aligned_total"]),
        ),
        (
            "DTMF: 25 ms tones rejected (16 digits, every alignment)",
            "all",
            f"{v['dtmf_short_total'] - v['dtmf_short_detected']:.0f}/{v['dtmf_short_total']:.0f}"
            " rejected",
            ok(v["dtmf_short_detected"] == 0),
        ),
        (
            "DTMF: ±1.5 % accepted / ±3.5 % rejected",
            "32/32, 32/32",
            f"{v['dtmf_offset_accepted']:.0f}/32, {v['dtmf_offset_rejected']:.0f}/32",
            ok(v["dtmf_offset_accepted"] == 32 and v["dtmf_offset_rejected"] == 32),
        ),
        (
            "DTMF: twist +4 dB and −8 dB accepted",
            "both",
            f"{v['dtmf_twist_ok']:.0f}/2",
            ok(v["dtmf_twist_ok"] == 2),
        ),
        (
            "DTMF: digits detected at 15 dB SNR, white noise",
            "≥ 99.9 %",
            f"{v['dtmf_snr_detected'] / n * 100:.1f} % ({v['dtmf_snr_detected']:.0f}/{n:.0f}, "
            f"{v['dtmf_snr_extra']:.0f} extra)",
            ok(v["dtmf_snr_detected"] / n >= 0.999 and v["dtmf_snr_extra"] == 0),
        ),
        (
            f"DTMF: false digits in {v['dtmf_speech_seconds'] / 60:.1f} min of speech in"
            f" {v['dtmf_speech_languages']:.0f} languages and {v['dtmf_music_seconds'] / 60:.1f} min of music",
            "0",
            f"{v['dtmf_speech_false']:.0f} in speech, {v['dtmf_music_false']:.0f} in music",
            ok(
                v["dtmf_speech_false"] == 0
                and v["dtmf_music_false"] == 0
                and v["dtmf_speech_seconds"] >= 600
                and v["dtmf_speech_languages"] >= 8
            ),
        ),
        (
            "CPU for one active call",
            "≤ 5 % of a core",
            f"{v['call_cpu_percent']:.2f} %",
            ok(v["call_cpu_percent"] <= 5),
        ),
    ]


def notes(v: dict[str, float]) -> list[str]:
    parsed = "parsed by appliance.twiml.voice, " if v["say_parsed"] else ""
    return [
        f"- Say (issue 4): {v['say_runs']:.0f} runs; a `<Say>` of {v['say_words']:.0f} words is {parsed}spoken by",
        "  espeak-ng | sox (streamed) and queued on a running Media; the clock stops when the far end of a",
        "  real pty, polled every 1 ms, reads the first non-silent byte (includes the wait for the 20 ms tick).",
        f"- Audio clock and CPU: a {v['call_seconds']:.0f} s call on a pty pair; the far end, paced at 20 ms, sends speech",
        f"  with {v['call_digits_sent']:.0f} DTMF digits ({v['call_digits_heard']:.0f} detected) and reads everything; the",
        "  appliance runs Media with the DTMF detector and a Recorder on every frame and keeps TTS speech",
        f"  queued. {v['call_frames_written']:.0f} frames written, jitter p50 {v['call_jitter_p50_ms']:.2f} ms,"
        f" max {v['call_jitter_max_ms']:.1f} ms, {v['call_slips']:.0f} slips.",
        f"  CPU = process CPU less the far end's thread ({v['call_cpu_process_percent']:.2f} %) plus the",
        f"  espeak-ng/sox children ({v['call_cpu_tts_percent']:.2f} %), over wall time. The writer thread runs",
        "  SCHED_FIFO when the daemon may (root or CAP_SYS_NICE); without it, a"
        f" {v['plain_seconds']:.0f} s call measured jitter p99 {v['plain_jitter_p99_ms']:.2f} ms,"
        f" {v['plain_underruns']:.0f} underruns.",
        "- DTMF: seeded synthetic signals at −10 dBFS per tone. 40/40 ms: every lead-in of 0–50 samples;",
        "  offsets: all 16 digits at +1.5 % and −1.5 % (40/40 ms) and at ±3.5 % (60/60 ms); twist =",
        "  high-group level minus low-group level. SNR: each tone's level over the white noise's RMS",
        "  (the stricter reading; over both tones' power it would be 3 dB more). 25 ms: all 16 digits",
        "  with 40 ms gaps at every lead-in of 0–50 samples. Talk-off (issue 11): espeak-ng reading",
        "  prose in its own language (coreutils' translations; es, es-419, pt, pt-br, fr, de, it, nl, pl,",
        "  ru, tr, sv, en-us), each 40-word part with a random voice variant (male, female, Klatt, creaky),",
        "  speed (110–320 words/min) and pitch (10–99), seeded; music: chords, melodies and glissandi of",
        "  notes with 2–7 harmonics at −20 to −6 dBFS (numpy, seeded). The detector took",
        f"  {v['dtmf_detector_cpu_percent']:.2f} % of a core on them.",
    ]


if __name__ == "__main__":
    print(json.dumps(bench_voice(), indent=1))
