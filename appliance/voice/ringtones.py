"""Ringback tones by country (mostly data): what a caller hears while ``<Dial>`` rings.

Twilio's ``ringTone`` takes a country code (``twiml.dial.RING_TONES``); each entry
here is that country's ringing tone as ITU-T E.180 (Supplement 2) and the common PBX
indication tables list it: frequencies summed, then a cadence of (on, off) pairs in
milliseconds that repeats.  Amplitude-modulated tones (India, Japan, South Africa)
are written as the two side frequencies of the modulation.  Without ``ringTone``
Twilio plays the callee's country's tone; :func:`tone_for_country` maps an ISO region
to a table entry (``us`` when the country has none).  Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from appliance.voice import tones

FRAME_MS = 20
LEVEL_DBFS = -16.0  # each tone's level: a ringback is quieter than speech


@dataclass(frozen=True)
class RingTone:
    """One country's ringback: ``freqs`` summed, played in ``cadence`` (on, off) ms pairs."""

    freqs: tuple[float, ...]
    cadence: tuple[tuple[int, int], ...]


def _t(freqs: tuple[float, ...], *cadence: tuple[int, int]) -> RingTone:
    return RingTone(freqs, cadence)


_DOUBLE = ((400, 200), (400, 2000))  # the British double ring
TONES: dict[str, RingTone] = {
    "at": _t((420.0,), (1000, 5000)),
    "au": _t((400.0, 450.0), *_DOUBLE),
    "be": _t((425.0,), (1000, 3000)),
    "bg": _t((425.0,), (1000, 4000)),
    "br": _t((425.0,), (1000, 4000)),
    "ch": _t((425.0,), (1000, 4000)),
    "cl": _t((400.0,), (1000, 3000)),
    "cn": _t((450.0,), (1000, 4000)),
    "cz": _t((425.0,), (1000, 4000)),
    "de": _t((425.0,), (1000, 4000)),
    "dk": _t((425.0,), (1000, 4000)),
    "ee": _t((425.0,), (1000, 4000)),
    "es": _t((425.0,), (1500, 3000)),
    "fi": _t((425.0,), (1000, 4000)),
    "fr": _t((440.0,), (1500, 3500)),
    "gr": _t((425.0,), (1000, 4000)),
    "hu": _t((425.0,), (1250, 3750)),
    "il": _t((414.0,), (1000, 3000)),
    "in": _t((375.0, 425.0), *_DOUBLE),
    "it": _t((425.0,), (1000, 4000)),
    "jp": _t((384.0, 416.0), (1000, 2000)),
    "lt": _t((425.0,), (1000, 4000)),
    "mx": _t((425.0,), (1000, 4000)),
    "my": _t((425.0,), *_DOUBLE),
    "nl": _t((425.0,), (1000, 4000)),
    "no": _t((425.0,), (1000, 4000)),
    "nz": _t((400.0, 450.0), *_DOUBLE),
    "ph": _t((425.0, 480.0), (1000, 4000)),
    "pl": _t((425.0,), (1000, 4000)),
    "pt": _t((425.0,), (1000, 5000)),
    "ru": _t((425.0,), (800, 3200)),
    "se": _t((425.0,), (1000, 5000)),
    "sg": _t((425.0,), *_DOUBLE),
    "th": _t((420.0,), (1000, 5000)),
    "tw": _t((440.0, 480.0), (1000, 2000)),
    "uk": _t((400.0, 450.0), *_DOUBLE),
    "us": _t((440.0, 480.0), (2000, 4000)),
    "us-old": _t((380.0, 460.0), (2000, 4000)),
    "ve": _t((425.0,), (1000, 4000)),
    "za": _t((367.0, 433.0), *_DOUBLE),
}
DEFAULT = "us"
_REGION_ALIASES = {"gb": "uk"}  # ISO 3166 GB is Twilio's "uk"


def tone_for_country(region: str) -> str:
    """The table entry for an ISO region ("US", "GB", ...); ``us`` when there is none."""
    code = region.strip().lower()
    code = _REGION_ALIASES.get(code, code)
    return code if code in TONES else DEFAULT


def cycle_pcm(name: str) -> bytes:
    """One period of ``name``'s ringback as 8 kHz S16LE PCM (KeyError if unknown)."""
    tone = TONES[name]
    amp = tones.FULL_SCALE * 10.0 ** (LEVEL_DBFS / 20.0)
    parts: list[bytes] = []
    for on, off in tone.cadence:
        n = tones.samples_for(on)
        signal = np.zeros(n, dtype=np.float64)
        for hz in tone.freqs:
            signal += tones.sine(hz, n, amp)
        parts.append(tones.to_pcm(signal))
        parts.append(tones.silence(off))
    return b"".join(parts)


def frames(name: str) -> Iterator[bytes]:
    """``name``'s ringback as endless 20 ms frames (the caller stops taking them)."""
    period = cycle_pcm(name)
    size = tones.samples_for(FRAME_MS) * 2
    pos = 0
    while True:
        end = pos + size
        if end <= len(period):
            yield period[pos:end]
            pos = end % len(period)
        else:
            yield period[pos:] + period[: end - len(period)]
            pos = end - len(period)
