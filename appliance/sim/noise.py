"""Line noise: the random bytes the simulated modem's garbage faults write (``garbage`` at
once, ``garbage_mode`` after every response)."""

from __future__ import annotations

import random

POOL = (0xFF, 0xFE, 0x00, 0x80, 0xC3, 0x1A, 0x0D)  # single bytes: 0xff 0xfe, NUL, Ctrl-Z, CR...
FRAGMENTS = (b"+CM", b"+CMT", b"OK", b"\r", b"+CSQ: 1", b"ERR")  # pieces of real lines


def junk(rand: random.Random, n: int) -> bytes:
    """``n`` bytes of noise drawn from ``rand``: odd bytes, fragments of lines, random bytes;
    never a whole line that looks like a final result code (no ``\\n``)."""
    out = bytearray()
    while len(out) < n:
        r = rand.random()
        if r < 0.3:
            out.append(rand.choice(POOL))
        elif r < 0.4:
            out += rand.choice(FRAGMENTS)
        else:
            out.append(rand.randrange(256))
    data = bytes(out[:n])
    # never a full line that looks like a final result code
    return data.replace(b"\n", b"?")
