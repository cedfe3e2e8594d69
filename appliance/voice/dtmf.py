"""In-band DTMF detection on 8 kHz PCM, and merging with the modem's DTMF URCs.

Theory of operation
-------------------
The detector follows spandsp/Asterisk (voice.md 2.2) with additions against
off-frequency tones, short tones and talk-off (speech and music mistaken for digits):

* Analysis windows of ``BLOCK`` = 102 samples (12.75 ms) every ``HOP`` = 51 samples.
  For each window the eight DTMF frequencies are measured with a rectangular-window
  DFT (what Goertzel computes), done for many windows at once as a matrix product.
* A window *decodes* to a digit when: the strongest row and column tones are above
  ``MIN_TONE_DBFS``; twist is within ``NORMAL_TWIST_DB`` (low group louder) and
  ``REVERSE_TWIST_DB`` (high group louder: the +4 dB that must pass measures at most
  about 6.2 dB, even 1.5 % off in 15 dB SNR, while high voices' formants reach 7-9 dB);
  each peak is ``RELATIVE_PEAK_DB`` above the other tones of its group (the high group
  measured through a Hann window, so a loud low-group tone's leakage does not fail it);
  the two tones carry at least ``ENERGY_SHARE`` of the window's energy, and at least
  ``TONE_SHARE`` of it measured through the Hann window.  The Hann share is the stricter
  test: its scalloping loss at +-1.5 % is small, so a real digit scores about 0.9 or
  more, while voiced speech and music keep energy in other harmonics.  Last, the high
  tone's second harmonic (2418-3266 Hz, clear of every DTMF tone) must be ``HARMONIC_DB``
  below it: a musical note has one, a DTMF generator does not (Asterisk's old check; the
  low tones' second harmonics lie next to the high tones, unmeasurable in 102 samples).
* Frequency check: for two consecutive windows (51 samples apart) that decode to the
  same digit, the phase advance of each tone (Hann-windowed DFT) gives its true
  frequency; both must be within ``MAX_FREQ_DEV`` of nominal.  That pair is a *hit*.
  This is what rejects the +-3.5 % tones that a 102-sample window alone cannot, and it
  needs two steady, exactly placed tones, which speech rarely has.  The bound (2 %) also
  rejects a musical note with its own octave harmonic: every DTMF pair is at least 4.2 %
  away from a 2:1 ratio (1477/770 = 1.918), more than two tones 2 % off can bridge.
* Debounce: a digit begins after ``ONSET_HITS`` consecutive hits of it (four windows,
  about 32 ms of tone) and is reported then, once; it ends after ``END_MISSES``
  consecutive pairs that are not hits of it (a gap of about 30 ms), so a dropout under
  20 ms never splits a digit while 40 ms tone / 40 ms gap dialling is followed.  ITU-T
  Q.24: tones of 40 ms or more are accepted (four whole windows always fit in 320
  samples), tones of 25 ms or less rejected (200 samples hold two whole windows at most,
  and a window a quarter off the tone is not steady with them: under 0.6 of the power).
* Cost: input is analysed in batches of ``BATCH`` samples (so a digit is reported up to
  60 ms after its onset), and a cheap screen (the energy-share test on the rectangular
  spectrum, each sample transformed once) stops speech and silence before the full tests.
* Post-filter (chan_dongle style, tuned to the 40/40 ms requirement): a new digit needs
  ``MIN_GAP_MS`` of no tone since the previous digit ended, and the same digit again
  needs ``SAME_DIGIT_INTERVAL_MS`` onset to onset.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from appliance.voice.tones import COL_FREQS, KEYPAD, RATE, ROW_FREQS

LOGGER = logging.getLogger(__name__)

BLOCK = 102  # samples per analysis window (spandsp/Asterisk DTMF_GSIZE)
HOP = 51  # samples between windows (half a window)
MIN_TONE_DBFS = -42.0  # weakest accepted tone, dB relative to a full-scale sine
NORMAL_TWIST_DB = 10.0  # low group may be this much louder than the high group
REVERSE_TWIST_DB = 7.0  # high group may be this much louder (+4 dB must pass)
RELATIVE_PEAK_DB = 8.0  # each peak over the other tones of its group
ENERGY_SHARE = 0.7  # fraction of the window's energy in the two tones (rectangular window)
TONE_SHARE = 0.85  # the same fraction through the Hann window (talk-off: speech, music)
HARMONIC_DB = 12.0  # the high tone over its own second harmonic (talk-off: music)
STEADY_DB = 2.0  # the tones' power may change this much between the two windows of a pair
MAX_FREQ_DEV = 0.02  # accept +-1.5 %, reject +-3.5 %; under 2.1 % (half the 2:1 gap)
ONSET_HITS = 3  # consecutive hits to begin a digit (spans 4 windows = 31.9 ms)
END_MISSES = 7  # consecutive non-hits to end a digit
MIN_GAP_MS = 20.0  # post-filter: no tone for this long before a new digit
SAME_DIGIT_INTERVAL_MS = 60.0  # post-filter: onset to onset for a repeated digit
BATCH = 480  # samples gathered before analysing (60 ms): fewer, larger numpy calls

FREQS = np.array(ROW_FREQS + COL_FREQS)
_N = np.arange(BLOCK)
# Rectangular-window DFT rows (Goertzel equivalent) and Hann-windowed rows for phase.
_RECT = np.exp(-2j * np.pi * np.outer(FREQS, _N) / RATE)
_WINDOW = np.hanning(BLOCK + 2)[1:-1]
_HANN = _RECT * _WINDOW
_HANN_GAIN = (BLOCK / _WINDOW.sum()) ** 2  # scales Hann power to rectangular power
_WINDOW_SQ = _WINDOW**2
# A sine's Hann |DFT|^2 times this is its energy in the Hann-windowed frame.
_HANN_ENERGY = 2 * _WINDOW_SQ.sum() / _WINDOW.sum() ** 2
# Hann-windowed DFT rows at the high tones' second harmonics.
_SECOND = np.exp(-4j * np.pi * np.outer(COL_FREQS, _N) / RATE) * _WINDOW
_HARMONIC = 10 ** (HARMONIC_DB / 10)
# Phase a tone at exactly the nominal frequency advances over one hop.
_HOP_ROT = np.exp(-2j * np.pi * FREQS * HOP / RATE)
# |DFT|^2 of a sine with peak amplitude A over BLOCK samples is (A*BLOCK/2)^2.
_MIN_POWER = (32767.0 * 10 ** (MIN_TONE_DBFS / 20) * BLOCK / 2) ** 2
_NORMAL_TWIST = 10 ** (NORMAL_TWIST_DB / 10)
_REVERSE_TWIST = 10 ** (REVERSE_TWIST_DB / 10)
_REL_PEAK = 10 ** (RELATIVE_PEAK_DB / 10)
_STEADY = 10 ** (STEADY_DB / 10)
_MAX_PHASE = 2 * np.pi * MAX_FREQ_DEV * FREQS * HOP / RATE  # per tone, radians per hop
# Half-window (one hop) cosine and sine rows: a window's rectangular DFT is the sum of its
# two halves' DFTs (the second rotated by _HOP_ROT), so each sample is transformed once.
_HALF = 2 * np.pi * np.outer(FREQS, np.arange(HOP)) / RATE
_HALF_CS = np.vstack((np.cos(_HALF), np.sin(_HALF))).T  # (HOP, 16), real
_SCREEN_SHARE = 0.98 * ENERGY_SHARE  # a little looser than the exact test, never stricter


def _screen(segs: np.ndarray) -> np.ndarray:
    """Indices of the windows (pairs of consecutive segments) that may hold a digit.

    A cheap necessary condition of :func:`_decode_windows`: the strongest row and column
    tones carry the required share of the window's energy.  Speech and silence stop here.
    """
    cs = segs @ _HALF_CS
    half = cs[:, :8] - 1j * cs[:, 8:]
    spec = half[:-1] + half[1:] * _HOP_ROT
    power = spec.real**2 + spec.imag**2
    energy = np.einsum("ij,ij->i", segs, segs)
    total = energy[:-1] + energy[1:]
    best = power[:, :4].max(axis=1) + power[:, 4:].max(axis=1)
    maybe = (best * (2.0 / BLOCK) >= _SCREEN_SHARE * total) & (best >= _MIN_POWER)
    return np.flatnonzero(maybe)


def _decode_windows(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per window: digit code (row*4+col, -1 = none), tone power, and the Hann DFT at the 8 tones."""
    spec = frames @ _RECT.T  # (W, 8)
    power = spec.real**2 + spec.imag**2
    total = np.einsum("ij,ij->i", frames, frames)
    rows = power[:, :4]
    cols = power[:, 4:]
    r = rows.argmax(axis=1)
    c = cols.argmax(axis=1)
    idx = np.arange(len(frames))
    rp = rows[idx, r]
    cp = cols[idx, c]
    hann = frames @ _HANN.T
    hpower = hann.real**2 + hann.imag**2
    # The high group is measured with a Hann window too: a strong low-group tone leaks
    # into the rectangular high-group bins (normal twist), hardly at all into the Hann ones.
    hcols = hpower[:, 4:] * _HANN_GAIN
    rows_other = rows.copy()
    rows_other[idx, r] = 0.0
    cols_other = hcols.copy()
    cols_other[idx, c] = 0.0
    hcp = hcols[idx, c]
    ok = (rp >= _MIN_POWER) & (hcp >= _MIN_POWER)
    ok &= (rp <= hcp * _NORMAL_TWIST) & (hcp <= rp * _REVERSE_TWIST)
    ok &= rows_other.max(axis=1) * _REL_PEAK <= rp
    ok &= cols_other.max(axis=1) * _REL_PEAK <= hcp
    # (rp + cp) * 2 / BLOCK is the tones' energy in the window; compare with the total.
    ok &= (rp + cp) * (2.0 / BLOCK) >= ENERGY_SHARE * total
    windowed = (frames * frames) @ _WINDOW_SQ  # the Hann-windowed frame's energy
    ok &= (hpower[idx, r] + hpower[idx, c + 4]) * _HANN_ENERGY >= TONE_SHARE * windowed
    second = frames @ _SECOND.T
    ok &= (second.real**2 + second.imag**2)[idx, c] * _HARMONIC <= hpower[idx, c + 4]
    code = np.where(ok, r * 4 + c, -1)
    return code, rp + cp, hann


def _hits(code: np.ndarray, power: np.ndarray, hann: np.ndarray) -> np.ndarray:
    """Per consecutive window pair: digit code if both decode alike, steadily and on frequency."""
    if len(code) < 2:
        return np.empty(0, dtype=np.int64)
    if code.max() < 0:
        return np.full(len(code) - 1, -1)
    a, b = code[:-1], code[1:]
    p0, p1 = power[:-1], power[1:]
    same = (a == b) & (a >= 0) & (p0 <= p1 * _STEADY) & (p1 <= p0 * _STEADY)
    r = np.where(same, a // 4, 0)
    c = np.where(same, a % 4 + 4, 4)
    idx = np.arange(len(a))
    h0, h1 = hann[:-1], hann[1:]
    dr = np.angle(h1[idx, r] * np.conj(h0[idx, r]) * _HOP_ROT[r])
    dc = np.angle(h1[idx, c] * np.conj(h0[idx, c]) * _HOP_ROT[c])
    good = same & (np.abs(dr) <= _MAX_PHASE[r]) & (np.abs(dc) <= _MAX_PHASE[c])
    return np.where(good, a, -1)


@dataclass
class _State:
    current: int = -1  # code of the digit in progress, -1 = none
    run_code: int = -1  # code being counted towards onset
    run: int = 0  # consecutive hits of run_code
    misses: int = 0  # consecutive pairs that are not hits of current
    pos: int = 0  # pair index (hop units) of the next pair
    ended_at: int = -(10**9)  # pair index at which the last digit ended
    last_onset: dict[int, int] = field(default_factory=dict)  # code -> pair index


class DtmfDetector:
    """Streaming in-band DTMF detector: ``feed(pcm)`` returns the digits that began."""

    def __init__(self) -> None:
        self._pending = np.empty(0, dtype=np.float64)  # samples not yet analysed
        self._prev: tuple[int, float, np.ndarray] | None = None  # last window of the previous feed
        self._state = _State()
        self._odd = b""  # a trailing odd byte between feeds

    def reset(self) -> None:
        """Forget everything (a new call)."""
        self._pending = np.empty(0, dtype=np.float64)
        self._prev = None
        self._state = _State()
        self._odd = b""

    def feed(self, pcm: bytes) -> list[str]:
        """Add S16LE samples; return digits whose onset was seen in them, in order."""
        data = self._odd + pcm
        if len(data) % 2:
            self._odd, data = data[-1:], data[:-1]
        else:
            self._odd = b""
        if not data:
            return []
        samples = np.frombuffer(data, dtype="<i2").astype(np.float64)
        buf = np.concatenate((self._pending, samples)) if len(self._pending) else samples
        if len(buf) < max(BLOCK, BATCH):
            self._pending = buf
            return []
        count = (len(buf) - BLOCK) // HOP + 1
        code = np.full(count, -1)
        power = np.zeros(count)
        hann = np.zeros((count, len(FREQS)), dtype=np.complex128)
        maybe = _screen(buf[: (count + 1) * HOP].reshape(count + 1, HOP))
        if len(maybe):
            frames = np.lib.stride_tricks.sliding_window_view(buf, BLOCK)[::HOP][maybe]
            code[maybe], power[maybe], hann[maybe] = _decode_windows(frames)
        self._pending = buf[count * HOP :]
        if self._prev is not None:
            code = np.concatenate(([self._prev[0]], code))
            power = np.concatenate(([self._prev[1]], power))
            hann = np.concatenate((self._prev[2][None, :], hann))
        self._prev = (int(code[-1]), float(power[-1]), hann[-1].copy())
        return self._debounce(_hits(code, power, hann))

    def _debounce(self, hits: np.ndarray) -> list[str]:
        st = self._state
        out: list[str] = []
        gap_pairs = MIN_GAP_MS * RATE / 1000 / HOP
        interval_pairs = SAME_DIGIT_INTERVAL_MS * RATE / 1000 / HOP
        if st.current < 0 and st.run == 0 and (len(hits) == 0 or hits.max() < 0):
            st.pos += len(hits)  # nothing going on: the common case
            return out
        for h in hits.tolist():
            pos = st.pos
            st.pos += 1
            if st.current >= 0:
                if h == st.current:
                    st.misses = 0
                    continue
                st.misses += 1
                if st.misses < END_MISSES:
                    continue
                st.current = -1
                st.ended_at = pos - END_MISSES + 1
                st.run, st.run_code = 0, -1
            if h < 0:
                st.run, st.run_code = 0, -1
                continue
            if h == st.run_code:
                st.run += 1
            else:
                st.run_code, st.run = h, 1
            if st.run < ONSET_HITS:
                continue
            onset = pos - ONSET_HITS + 1
            st.current, st.misses, st.run, st.run_code = h, 0, 0, -1
            if onset - st.ended_at < gap_pairs:
                continue  # post-filter: gap too short, treat as a continuation
            if onset - st.last_onset.get(h, -(10**9)) < interval_pairs:
                continue  # post-filter: same digit again too soon
            st.last_onset[h] = onset
            out.append(KEYPAD[h // 4][h % 4])
        return out


class DigitMerger:
    """Merge in-band and modem-reported digits so each key press counts once.

    ``modem`` (a URC) and ``signal`` (a browser's ``dtmf`` message) are out-of-band sources.

    A digit from one source is a duplicate when the other source reported the same
    digit within ``window`` seconds and that report has not been matched yet.
    """

    def __init__(self, window: float = 0.1) -> None:
        self.window = window
        self._recent: deque[tuple[str, str, float, list[bool]]] = deque()

    def add(self, digit: str, source: str = "inband", at: float | None = None) -> bool:
        """Record a digit; True if it is a new key press, False if the other source had it.

        ``at`` is the monotonic time the digit was seen (default: now).
        """
        if source not in ("inband", "modem", "signal"):
            raise ValueError(f"unknown DTMF source {source!r} (inband, modem or signal)")
        if at is None:
            at = time.monotonic()
        horizon = at - 10 * self.window
        while self._recent and self._recent[0][2] < horizon:
            self._recent.popleft()
        for d, src, t, matched in self._recent:
            if d == digit and src != source and not matched[0] and abs(at - t) <= self.window:
                matched[0] = True
                return False
        self._recent.append((digit, source, at, [False]))
        return True
