"""G.711 μ-law, the audio of Twilio Media Streams (``audio/x-mulaw``, 8 kHz mono).  Pure.

Call audio here is 16-bit signed little-endian PCM; a Media Stream carries one byte a
sample.  Both directions are table look-ups with numpy (``audioop`` is gone from Python
3.13): :func:`encode` maps each 16-bit sample through a 65536-entry table, :func:`decode`
each byte through a 256-entry one.  The tables are the ITU-T G.711 segment coding with
the usual bias of 0x84 and clip at 32635, the coding ``audioop.lin2ulaw`` used, so a
round trip loses at most the low bits of a segment.
"""

from __future__ import annotations

import numpy as np

__all__ = ["FRAME_BYTES", "decode", "encode"]

FRAME_BYTES = 160  # one 20 ms frame at 8 kHz: one byte a sample
_BIAS = 0x84
_CLIP = 32635


def _encode_sample(sample: int) -> int:
    sign = 0x80 if sample < 0 else 0
    magnitude = min(-sample if sample < 0 else sample, _CLIP) + _BIAS
    exponent = max(magnitude.bit_length() - 8, 0)
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def _decode_byte(code: int) -> int:
    code = ~code & 0xFF
    sign, exponent, mantissa = code & 0x80, (code >> 4) & 0x07, code & 0x0F
    magnitude = (((mantissa << 3) + _BIAS) << exponent) - _BIAS
    return -magnitude if sign else magnitude


# Indexed by the 16-bit sample reinterpreted as unsigned (so -1 is 65535).
_ENCODE = np.array(
    [_encode_sample(u - 65536 if u >= 32768 else u) for u in range(65536)], dtype=np.uint8
)
_DECODE = np.array([_decode_byte(c) for c in range(256)], dtype="<i2")


def encode(pcm: bytes) -> bytes:
    """16-bit little-endian PCM to μ-law, one byte a sample (an odd last byte is dropped)."""
    samples = np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<u2")
    return bytes(_ENCODE[samples].tobytes())


def decode(ulaw: bytes) -> bytes:
    """μ-law to 16-bit little-endian PCM, two bytes a sample."""
    codes = np.frombuffer(ulaw, dtype=np.uint8)
    return bytes(_DECODE[codes].tobytes())
