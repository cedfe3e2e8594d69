"""The browser phone's sounds, made here rather than fetched from Twilio's CDN.

Twilio's Voice JavaScript SDK plays an incoming ring, an outgoing ringback, a disconnect tone
and a tone per keypad key, from ``https://sdk.twilio.com/js/client/sounds/releases/1.0.0/``
unless the page passes its ``sounds`` option (``Device.SoundName`` → URL).  A LAN may have no
internet, so the panel serves a full set (:mod:`web.sdk`) as 8 kHz mono 16-bit WAV, which
every browser decodes; each file is made once, from the same tone code as calls use.

Names are the SDK's file names (``dtmf-0`` … ``dtmf-9``, ``dtmf-star``, ``dtmf-hash``,
``incoming``, ``outgoing``, ``disconnect``); :data:`OPTION_NAMES` maps the SDK's option keys
(``dtmf0``, ``dtmfs``, ``dtmfh``, …) to them.  Pure: no I/O.
"""

from __future__ import annotations

import functools
import io
import wave

import numpy as np

from appliance.voice import ringtones, tones

DTMF_MS = 200  # each key's tone (the SDK cuts a key's sound at 1 s)
FADE_MS = 5  # ramps at each burst's ends: no clicks
LEVEL_DBFS = -12.0
_KEYS = {**{d: d for d in "0123456789"}, "star": "*", "hash": "#"}
_OPTION_KEYS = {**{d: d for d in "0123456789"}, "star": "s", "hash": "h"}

# The SDK's `sounds` option keys (Device.SoundName) and the file name of each.
OPTION_NAMES: dict[str, str] = {
    "incoming": "incoming",
    "outgoing": "outgoing",
    "disconnect": "disconnect",
    **{f"dtmf{_OPTION_KEYS[k]}": f"dtmf-{k}" for k in _KEYS},
}
NAMES = tuple(OPTION_NAMES.values())

# Seconds of each sound: what a test decodes and the docs promise.
INCOMING_S = 4.0  # looped by the SDK: two trills and a pause, like a desk phone
OUTGOING_S = 3.0  # the SDK stops it after 3 s: the start of the US ringback (440 + 480 Hz)
DISCONNECT_S = 1.25  # three pips of the busy tone (480 + 620 Hz, 0.25 s on, 0.25 s off)
DURATIONS: dict[str, float] = {
    "incoming": INCOMING_S,
    "outgoing": OUTGOING_S,
    "disconnect": DISCONNECT_S,
    **{f"dtmf-{k}": DTMF_MS / 1000 for k in _KEYS},
}


def _amplitude(level_dbfs: float) -> float:
    return float(tones.FULL_SCALE * 10.0 ** (level_dbfs / 20.0))


def _faded(signal: np.ndarray) -> np.ndarray:
    n = min(tones.samples_for(FADE_MS), signal.size // 2)
    if n:
        ramp = np.linspace(0.0, 1.0, n)
        signal[:n] *= ramp
        signal[-n:] *= ramp[::-1]
    return signal


def _burst(freqs: tuple[float, ...], ms: float, level_dbfs: float = LEVEL_DBFS) -> np.ndarray:
    n = tones.samples_for(ms)
    signal = np.zeros(n, dtype=np.float64)
    for hz in freqs:
        signal += tones.sine(hz, n, _amplitude(level_dbfs))
    return _faded(signal)


def _gap(ms: float) -> np.ndarray:
    return np.zeros(tones.samples_for(ms), dtype=np.float64)


def _trill(ms: float) -> np.ndarray:
    """An electronic ringer: 1 kHz and 1.33 kHz alternating 16 times a second."""
    n = tones.samples_for(ms)
    t = np.arange(n, dtype=np.float64) / tones.RATE
    high = (np.floor(t * 32.0) % 2).astype(bool)
    hz = np.where(high, 1333.0, 1000.0)
    phase = 2.0 * np.pi * np.cumsum(hz) / tones.RATE  # continuous phase across the switches
    return _faded(_amplitude(LEVEL_DBFS) * np.sin(phase))


def _pcm(name: str) -> np.ndarray:
    if name.startswith("dtmf-"):
        low, high = tones.digit_freqs(_KEYS[name[5:]])
        return _burst((low, high), DTMF_MS)
    if name == "incoming":
        return np.concatenate([_trill(800), _gap(400), _trill(800), _gap(2000)])
    if name == "outgoing":
        us = ringtones.TONES["us"]
        on, _off = us.cadence[0]
        ring = _burst(us.freqs, on, ringtones.LEVEL_DBFS)
        return np.concatenate([ring, _gap(OUTGOING_S * 1000 - on)])
    pips = [part for _ in range(3) for part in (_burst((480.0, 620.0), 250), _gap(250))]
    return np.concatenate(pips[:-1])


@functools.cache
def wav(name: str) -> bytes:
    """Sound ``name`` as a WAV file (8 kHz, mono, 16-bit); KeyError if it is not one."""
    if name not in DURATIONS:
        raise KeyError(name)
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(tones.RATE)
        w.writeframes(tones.to_pcm(_pcm(name)))
    return out.getvalue()
