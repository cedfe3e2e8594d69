"""One leg of a simulated call: its 27.007 state, its downlink queue and what it heard.

A :class:`SimCall` is one leg of a call as one simulated modem sees it: an index on that
modem (the ``<idx>`` of ``+CLCC``), a 27.007 state (``stat``: 0 active, 1 held, 2 dialing,
3 alerting, 4 incoming, 5 waiting, 6 released) and, on the far side, either a scripted
remote party (``party.py``) or another simulated modem's leg (``peer``: their audio is
bridged).  The leg's downlink is a queue of PCM chunks (speech, DTMF tones) plus bridged
frames; its uplink is kept as ``heard`` with each frame's arrival time.

The modem carrying a leg and the network routing it are above this module; what a leg
needs of them is spelt out by :class:`CallEndpoint` and :class:`CallNetwork`.
"""

from __future__ import annotations

import functools
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from .errors import VoiceError
from .pcm import FRAME_BYTES, FRAME_SECONDS, RATE, load_audio, mix, rms
from .profile import SimProfile
from .scheduler import Scheduler

BRIDGE_MAX_FRAMES = 5  # modem-to-modem audio: at most 100 ms queued, drop the oldest
VOICED_RMS = 100.0  # a frame louder than this (about -50 dBFS) counts as "not silence"
DTMF_KEYS = "0123456789*#ABCD"

STAT_ACTIVE, STAT_HELD, STAT_DIALING, STAT_ALERTING = 0, 1, 2, 3
STAT_INCOMING, STAT_WAITING, STAT_RELEASED = 4, 5, 6
STATE_NAMES = {
    STAT_ACTIVE: "active",
    STAT_HELD: "held",
    STAT_DIALING: "ringing",
    STAT_ALERTING: "ringing",
    STAT_INCOMING: "ringing",
    STAT_WAITING: "ringing",
    STAT_RELEASED: "ended",
}


def check_digits(digits: str) -> None:
    """Raise :class:`VoiceError` unless ``digits`` are DTMF keys (0-9, *, #, A-D)."""
    bad = [d for d in digits if d.upper() not in DTMF_KEYS]
    if bad or not digits:
        raise VoiceError(f"DTMF digits must be 0-9, *, #, A-D; got {digits!r}")


class Party(Protocol):
    """Whoever acts on the far end of a leg once it is answered (``party.RemoteParty``)."""

    def run(self, call: SimCall) -> threading.Thread: ...


class CallEndpoint(Protocol):
    """The simulated modem carrying a leg, as the leg and the network's routing use it."""

    @property
    def name(self) -> str: ...

    @property
    def number(self) -> str: ...

    @property
    def profile(self) -> SimProfile: ...

    def voice_offer(self, call: SimCall) -> str: ...

    def voice_progress(self, call: SimCall, stat: int) -> None: ...

    def voice_connected(self, call: SimCall) -> None: ...

    def voice_released(self, call: SimCall, reason: str) -> None: ...

    def voice_dtmf(self, call: SimCall, digit: str, ms: int) -> None: ...


class CallNetwork(Protocol):
    """The network routing a leg (``voicenetwork.VoiceNetwork``), as the leg uses it."""

    @property
    def scheduler(self) -> Scheduler: ...

    def new_call_id(self) -> str: ...

    def remote_release(self, call: SimCall, reason: str) -> None: ...


@dataclass
class _Chunk:
    pcm: bytes
    pos: int = 0
    on_start: Callable[[], None] | None = None


class SimCall:
    """One call leg on one simulated modem (see the module docstring)."""

    def __init__(
        self,
        network: CallNetwork,
        modem: CallEndpoint,
        direction: str,
        number: str,
        *,
        party: Party | None = None,
        withheld: bool = False,
        peer: SimCall | None = None,
    ) -> None:
        self.id = network.new_call_id()
        self.network = network
        self.modem = modem
        self.direction = direction  # "inbound" | "outbound"
        self.number = number  # the far end: the caller, or the number dialled
        self.withheld = withheld
        self.party = party
        self.peer = peer  # the other modem's leg, for modem-to-modem calls
        self.transferred_to: SimCall | None = None  # ECT: the leg this one was joined to
        self.index = 0
        self.stat = STAT_DIALING if direction == "outbound" else STAT_INCOMING
        self.mpty = False
        self.end_reason: str | None = None
        self.created_at = time.monotonic()
        self.answered_at: float | None = None
        self.ended_at: float | None = None
        self.received_digits = ""  # what the modem sent with AT+VTS / AT^DTMF
        self.answering = False  # ATA accepted, connect URC still to come
        self.rings = 0  # ring indications shown so far (ATS0 auto-answer counts them)
        self._cond = threading.Condition()
        self._down: deque[_Chunk] = deque()
        self._bridge: deque[bytes] = deque(maxlen=BRIDGE_MAX_FRAMES)
        self._heard = bytearray()
        self._times: list[float] = []
        self._voiced = 0  # non-silent frames heard
        self._party_started = False

    # ------------------------------------------------------------------ state
    @property
    def state(self) -> str:
        """``ringing`` | ``active`` | ``held`` | ``ended``."""
        return STATE_NAMES[self.stat]

    @property
    def modem_name(self) -> str:
        return self.modem.name

    def _set_stat(self, stat: int) -> None:
        with self._cond:
            self.stat = stat
            if stat == STAT_ACTIVE and self.answered_at is None:
                self.answered_at = time.monotonic()
            self._cond.notify_all()

    def _end(self, reason: str) -> None:
        with self._cond:
            if self.stat == STAT_RELEASED:
                return
            self.stat = STAT_RELEASED
            self.end_reason = reason
            self.ended_at = time.monotonic()
            self._down.clear()
            self._bridge.clear()
            self._cond.notify_all()

    def wait_state(self, state: str, timeout: float = 10.0) -> bool:
        """Wait until the call is in ``state`` (``ended`` included); False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self.state != state:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (self.stat == STAT_RELEASED and state != "ended"):
                    return self.state == state
                self._cond.wait(remaining)
        return True

    def duration(self) -> float:
        """Seconds since the answer (until the end), 0 if never answered."""
        if self.answered_at is None:
            return 0.0
        return (self.ended_at or time.monotonic()) - self.answered_at

    # ------------------------------------------------------------------ remote actions
    def hangup(self) -> None:
        """The remote party hangs up."""
        self.network.remote_release(self, "remote-hangup")

    def play(self, pcm: bytes, on_start: Callable[[], None] | None = None) -> None:
        """Queue downlink audio (8 kHz S16LE) after what is already queued; ``on_start`` is
        called on the 20 ms tick that writes its first frame to the pty (a clock for
        latency measurements)."""
        if self.stat == STAT_RELEASED:
            return
        with self._cond:
            self._down.append(_Chunk(load_audio(pcm), on_start=on_start))

    def send_digits(self, digits: str, on_ms: int = 100, off_ms: int = 100) -> None:
        """Press keys: tones in the downlink; the family's DTMF URC as each tone starts."""
        from appliance.voice import tones

        check_digits(digits)
        if self.stat == STAT_RELEASED:
            return
        with self._cond:
            for d in digits.upper():
                cb = functools.partial(self._digit_urc, d, on_ms)
                self._down.append(_Chunk(tones.dtmf(d, duration_ms=on_ms), on_start=cb))
                self._down.append(_Chunk(tones.silence(off_ms)))

    def _digit_urc(self, digit: str, ms: int) -> None:
        self.network.scheduler.call_later(0.0, lambda: self.modem.voice_dtmf(self, digit, ms))

    def wait_played(self, timeout: float | None = None) -> bool:
        """Wait until the queued downlink audio has been sent (or the call ended)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._down and self.stat != STAT_RELEASED:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._cond.wait(0.1 if remaining is None else min(0.1, remaining))
        return True

    def wait_heard(self, seconds: float = 1.0, timeout: float = 10.0) -> bool:
        """Wait for ``seconds`` of non-silent uplink audio from now on."""
        need = max(1, round(seconds / FRAME_SECONDS))
        deadline = time.monotonic() + timeout
        with self._cond:
            start = self._voiced
            while self._voiced - start < need:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.stat == STAT_RELEASED:
                    return False
                self._cond.wait(remaining)
        return True

    # ------------------------------------------------------------------ audio
    def heard(self) -> bytes:
        """Everything the modem's audio pty received while this leg was active."""
        with self._cond:
            return bytes(self._heard)

    def frame_times(self) -> list[float]:
        """Monotonic arrival time of each 320-byte uplink frame in :meth:`heard`."""
        with self._cond:
            return list(self._times)

    def _hear(self, frame: bytes, at: float) -> None:
        with self._cond:
            self._heard += frame
            self._times.append(at)
            if rms(frame) > VOICED_RMS:
                self._voiced += 1
                self._cond.notify_all()
        peer = self.peer
        if peer is not None and peer.stat == STAT_ACTIVE:
            with peer._cond:
                peer._bridge.append(frame)

    def _pull_frame(self) -> tuple[bytes, list[Callable[[], None]]]:
        """The next 20 ms of downlink audio and the callbacks of chunks that start in it."""
        out = bytearray()
        starts: list[Callable[[], None]] = []
        with self._cond:
            while len(out) < FRAME_BYTES and self._down:
                chunk = self._down[0]
                if chunk.pos == 0 and chunk.on_start is not None:
                    starts.append(chunk.on_start)
                take = chunk.pcm[chunk.pos : chunk.pos + FRAME_BYTES - len(out)]
                out += take
                chunk.pos += len(take)
                if chunk.pos >= len(chunk.pcm):
                    self._down.popleft()
            if not self._down:
                self._cond.notify_all()
            bridged = self._bridge.popleft() if self._bridge else None
        frame = bytes(out) + bytes(FRAME_BYTES - len(out))
        if bridged is not None:
            frame = mix([frame, bridged])
        return frame, starts

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "modem": self.modem.name,
            "index": self.index,
            "direction": self.direction,
            "number": self.number,
            "state": self.state,
            "stat": self.stat,
            "mpty": self.mpty,
            "end_reason": self.end_reason,
            "duration": round(self.duration(), 3),
            "heard_seconds": round(len(self._heard) / (2 * RATE), 3),
            "received_digits": self.received_digits,
            "peer": self.peer.id if self.peer is not None else None,
            "transferred_to": self.transferred_to.id if self.transferred_to else None,
        }

    def __repr__(self) -> str:
        return f"<SimCall {self.id} {self.modem.name}#{self.index} {self.direction} {self.number} {self.state}>"
