"""Simulated calls: the remote party, the audio pty and call routing on the network.

Theory of operation
-------------------
A :class:`SimCall` is one leg of a call as one simulated modem sees it: an index on that
modem (the ``<idx>`` of ``+CLCC``), a 27.007 state (``stat``: 0 active, 1 held, 2 dialing,
3 alerting, 4 incoming, 5 waiting, 6 released) and, on the far side, either a scripted
:class:`RemoteParty` or another simulated modem's leg (``peer``: dialling another modem's
number rings it, and their audio is bridged).

* The modem (``commands.VoiceCommands``) owns the legs it carries: AT commands and the
  network change their state under the modem's lock and the modem writes the URCs of its
  family's dialect.  The network (:class:`VoiceNetwork`, mixed into ``Network``) routes
  calls, runs the timers (ring cadence, callee answers, network ring timeout) on its one
  scheduler thread and tells the far side what the near side did.  Calls into another
  modem always go through the scheduler, so no thread ever holds two modems' locks.
* Every modem has an audio pty (:class:`AudioPort`, ``<name>.audio``), the USB audio tty
  of the real thing.  While the modem has an active call, one thread per port runs a
  20 ms monotonic clock: each tick it takes one 320-byte frame from every active leg's
  downlink (remote party speech, DTMF tones, bridged audio; else silence), mixes them
  and, when the family's audio is enabled (``AT^DDSETEX=2``, ``AT+CPCMREG=1``,
  ``AT+QPCMV=1,0`` or nothing), writes the frame.  What the daemon writes is read as it
  comes and kept as the leg's ``heard`` PCM with each frame's arrival time; with no call
  (or audio not enabled) it is read and dropped, and nothing is written.
* A remote party's DTMF digits are tones in the downlink *and*, when the tone starts to
  play, the family's DTMF URC (``+DTMF:``, ``+RXDTMF:``, ``+QTONEDET:``) if enabled.

All audio is 8 kHz signed 16-bit little-endian mono (voice.md section 1).
"""

from __future__ import annotations

import errno
import functools
import itertools
import logging
import os
import select
import subprocess
import threading
import time
import wave
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from .transport import open_pty

if TYPE_CHECKING:
    from .device import SimulatedModem
    from .network import Scheduler

LOGGER = logging.getLogger(__name__)

RATE = 8000  # samples per second
FRAME_SECONDS = 0.020  # one frame every 20 ms (chan_dongle's 50 Hz timer, voice.md 1.2)
FRAME_BYTES = 320  # 160 samples x 2 bytes
SILENT_FRAME = bytes(FRAME_BYTES)
RESYNC_AFTER = 0.2  # a tick later than this (host stalled): restart the clock, don't burst
BRIDGE_MAX_FRAMES = 5  # modem-to-modem audio: at most 100 ms queued, drop the oldest
VOICED_RMS = 100.0  # a frame louder than this (about -50 dBFS) counts as "not silence"
NETWORK_RING_TIMEOUT = 60.0  # the network gives up on an unanswered call (voice.md 4.1)
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
OUTCOMES = ("answer", "busy", "no-answer", "unreachable", "reject")


class VoiceError(ValueError):
    """A bad request to the simulated network (unknown outcome, bad digits, bad audio)."""


# ---------------------------------------------------------------------- audio helpers
@functools.lru_cache(maxsize=64)
def render_speech(text: str, voice: str = "en-us") -> bytes:
    """``text`` spoken by espeak-ng, as 8 kHz S16LE mono PCM (converted by sox)."""
    try:
        wav = subprocess.run(
            ["espeak-ng", "--stdout", "--stdin", "-v", voice],
            input=text.encode("utf-8"),
            capture_output=True,
            check=True,
            timeout=30,
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise VoiceError(f"espeak-ng could not speak {text[:40]!r}: {exc}") from None
    return _sox_to_pcm(wav, "wav")


def _sox_to_pcm(data: bytes, kind: str) -> bytes:
    try:
        out = subprocess.run(
            ["sox", "-t", kind, "-", "-t", "raw", "-r", str(RATE), "-e", "signed"]
            + ["-b", "16", "-c", "1", "-L", "-"],
            input=data,
            capture_output=True,
            check=True,
            timeout=60,
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise VoiceError(f"sox could not convert the audio to 8 kHz: {exc}") from None
    return out


def load_audio(source: bytes | str | Path) -> bytes:
    """8 kHz S16LE PCM from raw PCM bytes or a WAV file (resampled with sox if needed)."""
    if isinstance(source, bytes | bytearray):
        data = bytes(source)
        return data[: len(data) & ~1]
    path = Path(source)
    try:
        with wave.open(str(path), "rb") as w:
            if (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, RATE):
                return w.readframes(w.getnframes())
    except FileNotFoundError:
        raise VoiceError(f"no audio file {path}") from None
    except (wave.Error, EOFError):
        pass  # not a plain PCM WAV: let sox try
    return _sox_to_pcm(path.read_bytes(), path.suffix.lstrip(".") or "wav")


def rms(frame: bytes) -> float:
    """Root mean square of S16LE samples."""
    if len(frame) < 2:
        return 0.0
    samples = np.frombuffer(frame[: len(frame) & ~1], dtype="<i2").astype(np.float64)
    return float(np.sqrt(np.mean(samples * samples)))


def mix(frames: Sequence[bytes]) -> bytes:
    """Sum S16LE frames of equal length, clipped to 16 bits."""
    if len(frames) == 1:
        return frames[0]
    acc = np.zeros(FRAME_BYTES // 2, dtype=np.int32)
    for f in frames:
        acc += np.frombuffer(f, dtype="<i2")
    return bytes(np.clip(acc, -32768, 32767).astype("<i2").tobytes())


# ---------------------------------------------------------------------- remote party
class Step(Protocol):
    """One thing a remote party does once the call is answered."""

    def perform(self, call: SimCall) -> None: ...


@dataclass(frozen=True)
class Say:
    """Speak ``text`` (espeak-ng, 8 kHz) and wait until it has been played."""

    text: str
    voice: str = "en-us"

    def perform(self, call: SimCall) -> None:
        call.play(render_speech(self.text, self.voice))
        call.wait_played()


@dataclass(frozen=True)
class Play:
    """Play 8 kHz S16LE PCM bytes or a WAV file, and wait until it has been played."""

    source: bytes | str | Path

    def perform(self, call: SimCall) -> None:
        call.play(load_audio(self.source))
        call.wait_played()


@dataclass(frozen=True)
class Digits:
    """Press keys: in-band tones (plus the family's DTMF URC), ``on_ms``/``off_ms`` each."""

    digits: str
    on_ms: int = 100
    off_ms: int = 100

    def perform(self, call: SimCall) -> None:
        call.send_digits(self.digits, self.on_ms, self.off_ms)
        call.wait_played()


@dataclass(frozen=True)
class Silence:
    """Say nothing for ``seconds``."""

    seconds: float

    def perform(self, call: SimCall) -> None:
        call.wait_state("ended", timeout=self.seconds)


@dataclass(frozen=True)
class Hangup:
    """Hang up."""

    def perform(self, call: SimCall) -> None:
        call.hangup()


@dataclass(frozen=True)
class WaitHeard:
    """Wait until ``seconds`` of non-silent audio came from the appliance (or ``timeout``)."""

    seconds: float = 1.0
    timeout: float = 10.0

    def perform(self, call: SimCall) -> None:
        call.wait_heard(self.seconds, self.timeout)


class RemoteParty:
    """A scripted person on the far end of a call; the steps run once it is answered.

    With no steps the party stays on the line, silent, until someone hangs up.
    """

    def __init__(self, steps: Sequence[Step] = ()) -> None:
        self.steps = tuple(steps)

    def run(self, call: SimCall) -> threading.Thread:
        t = threading.Thread(target=self._run, args=(call,), name=f"sim-party-{call.id}")
        t.daemon = True
        t.start()
        return t

    def _run(self, call: SimCall) -> None:
        for step in self.steps:
            if call.state == "ended":
                return
            try:
                step.perform(call)
            except Exception:
                LOGGER.exception("sim %s: remote party step %r failed", call.id, step)
                return

    @classmethod
    def from_spec(cls, spec: Sequence[Any] | None) -> RemoteParty:
        """Steps from JSON-like dicts: ``{"say": "hi"}``, ``{"play": "/x.wav"}``,
        ``{"digits": "12#", "on_ms": 80, "off_ms": 80}``, ``{"silence": 2}``,
        ``{"wait_heard": 1.0, "timeout": 10}``, ``{"hangup": true}``."""
        steps: list[Step] = []
        for item in spec or ():
            if not isinstance(item, dict) or len(set(item) & _SPEC_KEYS) != 1:
                raise VoiceError(f"a step must be an object with one of {sorted(_SPEC_KEYS)}")
            if "say" in item:
                steps.append(Say(str(item["say"]), str(item.get("voice", "en-us"))))
            elif "play" in item:
                steps.append(Play(str(item["play"])))
            elif "digits" in item:
                digits = str(item["digits"])
                _check_digits(digits)
                on, off = int(item.get("on_ms", 100)), int(item.get("off_ms", 100))
                steps.append(Digits(digits, on, off))
            elif "silence" in item:
                steps.append(Silence(float(item["silence"])))
            elif "wait_heard" in item:
                steps.append(WaitHeard(float(item["wait_heard"]), float(item.get("timeout", 10))))
            else:
                steps.append(Hangup())
        return cls(steps)


_SPEC_KEYS = {"say", "play", "digits", "silence", "wait_heard", "hangup"}


def _check_digits(digits: str) -> None:
    bad = [d for d in digits if d.upper() not in DTMF_KEYS]
    if bad or not digits:
        raise VoiceError(f"DTMF digits must be 0-9, *, #, A-D; got {digits!r}")


# ---------------------------------------------------------------------- one call leg
@dataclass
class _Chunk:
    pcm: bytes
    pos: int = 0
    on_start: Callable[[], None] | None = None


class SimCall:
    """One call leg on one simulated modem (see the module docstring)."""

    def __init__(
        self,
        network: VoiceNetwork,
        modem: SimulatedModem,
        direction: str,
        number: str,
        *,
        party: RemoteParty | None = None,
        withheld: bool = False,
        peer: SimCall | None = None,
    ) -> None:
        self.id = f"C{next(network._call_ids)}"
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

    def play(self, pcm: bytes) -> None:
        """Queue downlink audio (8 kHz S16LE) after what is already queued."""
        if self.stat == STAT_RELEASED:
            return
        with self._cond:
            self._down.append(_Chunk(load_audio(pcm)))

    def send_digits(self, digits: str, on_ms: int = 100, off_ms: int = 100) -> None:
        """Press keys: tones in the downlink; the family's DTMF URC as each tone starts."""
        from appliance.voice import tones

        _check_digits(digits)
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


# ---------------------------------------------------------------------- audio pty
class AudioPort:
    """The audio pseudo-terminal of one modem, paced at one 320-byte frame per 20 ms."""

    def __init__(self, modem: SimulatedModem, path: Path) -> None:
        self.modem = modem
        self.path = path
        self.frames_written = 0
        self.frames_dropped = 0  # nobody read the pty: the frame was lost, as on a USB tty
        self.frames_read = 0
        self._master: int | None = None
        self._slave: int | None = None
        self._wake_r: int | None = None
        self._wake_w: int | None = None
        self._thread: threading.Thread | None = None
        self._closing = False
        self._lock = threading.Lock()

    @property
    def is_open(self) -> bool:
        return self._master is not None

    def open(self) -> None:
        with self._lock:
            if self._master is not None:
                return
            master, slave = open_pty(self.path)
            self._master, self._slave = master, slave
            self._wake_r, self._wake_w = os.pipe()
            self._closing = False
            self._thread = threading.Thread(
                target=self._loop,
                args=(master, self._wake_r),
                name=f"sim-{self.modem.name}-audio",
                daemon=True,
            )
            self._thread.start()

    def close(self, remove_link: bool = True) -> None:
        with self._lock:
            thread = self._thread
            self._closing = True
            if self._wake_w is not None:
                os.write(self._wake_w, b"x")
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)
        with self._lock:
            for fd in (self._master, self._slave, self._wake_r, self._wake_w):
                if fd is not None:
                    try:
                        os.close(fd)
                    except OSError:
                        pass
            self._master = self._slave = self._wake_r = self._wake_w = None
            self._thread = None
            if remove_link:
                try:
                    self.path.unlink()
                except FileNotFoundError:
                    pass

    def wake(self) -> None:
        """A call changed state: re-evaluate whether the clock runs."""
        with self._lock:
            if self._wake_w is not None:
                try:
                    os.write(self._wake_w, b"w")
                except OSError:
                    pass

    def _loop(self, master: int, wake_r: int) -> None:
        pending = bytearray()
        next_tick: float | None = None
        leftover = b""
        while True:
            if self.modem.voice_ticking():
                if next_tick is None:
                    next_tick = time.monotonic()
            else:
                next_tick = None
                leftover = b""
            timeout = None if next_tick is None else max(0.0, next_tick - time.monotonic())
            try:
                ready, _, _ = select.select([master, wake_r], [], [], timeout)
            except (OSError, ValueError):
                return
            if wake_r in ready:
                try:
                    os.read(wake_r, 64)
                except OSError:
                    return
                if self._closing:
                    return
            if master in ready:
                try:
                    data = os.read(master, 65536)
                except BlockingIOError:
                    data = b""
                except OSError as exc:
                    if exc.errno != errno.EIO:
                        return
                    data = b""
                if data:
                    self._uplink(data, pending)
            if next_tick is not None and time.monotonic() >= next_tick:
                leftover = self._tick(master, leftover)
                next_tick += FRAME_SECONDS
                now = time.monotonic()
                if now - next_tick > RESYNC_AFTER:
                    next_tick = now

    def _uplink(self, data: bytes, pending: bytearray) -> None:
        if not self.modem.audio_streaming():
            pending.clear()  # no call or audio not enabled: read and drop
            return
        now = time.monotonic()
        pending += data
        while len(pending) >= FRAME_BYTES:
            frame = bytes(pending[:FRAME_BYTES])
            del pending[:FRAME_BYTES]
            self.frames_read += 1
            self.modem.voice_uplink(frame, now)

    def _tick(self, master: int, leftover: bytes) -> bytes:
        frame, starts = self.modem.voice_downlink()
        for cb in starts:
            cb()
        if frame is None or not self.modem.audio_streaming():
            return b""
        out = leftover + frame if leftover else frame
        try:
            n = os.write(master, out)
        except BlockingIOError:
            self.frames_dropped += 1
            return leftover
        except OSError:
            return b""
        self.frames_written += 1
        # a partial write keeps the rest (at most one frame) so framing stays aligned
        return out[n:][-FRAME_BYTES:] if n < len(out) else b""


# ---------------------------------------------------------------------- the network side
@dataclass
class Callee:
    """How a number outside the simulator answers when a modem dials it."""

    outcome: str = "answer"
    answer_after: float = 2.0
    party: RemoteParty | None = None


def _digits_of(number: str) -> str:
    return "".join(c for c in number if c.isdigit())


# Q.850-ish release reasons as the far end sees them when the near end releases
_PEER_REASON = {
    "local-hangup": "remote-hangup",
    "rejected": "rejected",
    "busy": "busy",
    "no-answer": "no-answer",
    "transferred": "remote-hangup",
}


class VoiceNetwork:
    """Call routing, mixed into :class:`~.network.Network`."""

    scheduler: Scheduler
    modems: dict[str, SimulatedModem]
    _lock: threading.RLock

    def modem(self, which: str | SimulatedModem) -> SimulatedModem:
        raise NotImplementedError

    def _voice_init(self) -> None:
        self._call_ids = itertools.count(1)
        self.calls: list[SimCall] = []
        self.callees: dict[str, Callee] = {}
        self.default_callee = Callee()
        self.refused: set[str] = set()  # "hold" | "mpty" | "ect": the operator says no
        self.refuse_code = 3  # +CME ERROR: 3 (operation not allowed)
        self.ring_timeout = NETWORK_RING_TIMEOUT

    # ------------------------------------------------------------------ test/CLI API
    def incoming_call(
        self,
        modem: str | SimulatedModem,
        caller: str,
        *,
        party: RemoteParty | None = None,
        ring_timeout: float = NETWORK_RING_TIMEOUT,
        withheld: bool = False,
    ) -> SimCall:
        """Someone calls ``modem`` from ``caller``; ``party`` acts once it is answered."""
        target = self.modem(modem)
        call = SimCall(self, target, "inbound", caller, party=party, withheld=withheld)
        self._add(call)
        target.voice_offer(call)
        if call.stat != STAT_RELEASED:
            self.scheduler.call_later(ring_timeout, lambda: self._unanswered(call))
        return call

    def set_callee(
        self,
        number: str,
        outcome: str = "answer",
        answer_after: float = 2.0,
        party: RemoteParty | None = None,
    ) -> Callee:
        """How ``number`` answers when a modem dials it (default: answer after 2 s)."""
        if outcome not in OUTCOMES:
            raise VoiceError(f"outcome must be one of {OUTCOMES}, not {outcome!r}")
        callee = Callee(outcome, max(0.0, float(answer_after)), party)
        with self._lock:
            self.callees[_digits_of(number)] = callee
        return callee

    def refuse(self, *services: str, code: int | None = None) -> None:
        """The operator refuses these supplementary services (hold, mpty, ect); none = allow all."""
        bad = set(services) - {"hold", "mpty", "ect"}
        if bad:
            raise VoiceError(f"services are hold, mpty and ect, not {sorted(bad)}")
        self.refused = set(services)
        if code is not None:
            self.refuse_code = int(code)

    def find_call(self, call_id: str | None = None, modem: str | None = None) -> SimCall:
        """A call by id, else the newest live call (on ``modem`` if given)."""
        with self._lock:
            calls = list(self.calls)
        if call_id:
            for c in calls:
                if c.id == call_id:
                    return c
            raise VoiceError(f"no call {call_id!r}")
        for c in reversed(calls):
            if c.stat != STAT_RELEASED and (modem is None or c.modem.name == modem):
                return c
        raise VoiceError("no call in progress")

    def wait_call(self, modem: str | None = None, timeout: float = 10.0) -> SimCall:
        """Wait for a live call to appear (on ``modem`` if given)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self.find_call(modem=modem)
            except VoiceError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    # ------------------------------------------------------------------ routing
    def _add(self, call: SimCall) -> None:
        with self._lock:
            self.calls.append(call)
            if len(self.calls) > 1000:  # keep the newest; a long-running simulator
                del self.calls[:100]

    def _later(self, delay: float, fn: Callable[[], None]) -> None:
        self.scheduler.call_later(delay, fn)

    def _modem_for(self, number: str) -> SimulatedModem | None:
        want = _digits_of(number)
        with self._lock:
            for m in self.modems.values():
                if want and _digits_of(m.number) == want:
                    return m
        return None

    def dial(self, call: SimCall) -> None:
        """A modem dialled ``call.number`` (ATD): route it (call already in the modem's list)."""
        self._add(call)
        v = call.modem.profile.voice
        origin = call.modem
        self._later(v.orig_delay, lambda: origin.voice_progress(call, STAT_DIALING))
        target = self._modem_for(call.number)
        if target is origin:
            self._later(v.orig_delay + 0.3, lambda: origin.voice_released(call, "busy"))
            return
        if target is not None:
            self._later(v.alert_delay, lambda: self._dial_modem(call, target))
            return
        with self._lock:
            callee = self.callees.get(_digits_of(call.number), self.default_callee)
        if callee.outcome == "unreachable":
            self._later(v.orig_delay + 0.5, lambda: origin.voice_released(call, "unreachable"))
            return
        self._later(v.alert_delay, lambda: origin.voice_progress(call, STAT_ALERTING))
        ring_end = v.alert_delay + callee.answer_after
        if callee.outcome == "busy":
            self._later(v.alert_delay + 0.5, lambda: origin.voice_released(call, "busy"))
        elif callee.outcome == "reject":
            self._later(ring_end, lambda: self._ringing_release(call, "rejected"))
        elif callee.outcome == "answer":
            party = callee.party if callee.party is not None else RemoteParty()
            self._later(ring_end, lambda: self._callee_answers(call, party))
        self._later(v.alert_delay + self.ring_timeout, lambda: self._unanswered(call))

    def _ringing_release(self, call: SimCall, reason: str) -> None:
        if call.stat in (STAT_DIALING, STAT_ALERTING, STAT_INCOMING, STAT_WAITING):
            call.modem.voice_released(call, reason)

    def _unanswered(self, call: SimCall) -> None:
        """The network's ring timeout: an unanswered call ends as no-answer on both sides."""
        if call.stat in (STAT_DIALING, STAT_ALERTING, STAT_INCOMING, STAT_WAITING):
            call.modem.voice_released(call, "no-answer")
            peer = call.peer
            if peer is not None:
                self._ringing_release(peer, "no-answer")

    def _callee_answers(self, call: SimCall, party: RemoteParty) -> None:
        if call.stat != STAT_ALERTING:
            return
        call.party = party
        call.modem.voice_connected(call)
        self.answered(call)

    def _dial_modem(self, call: SimCall, target: SimulatedModem) -> None:
        if call.stat == STAT_RELEASED:
            return
        leg = SimCall(self, target, "inbound", call.modem.number, withheld=call.withheld, peer=call)
        call.peer = leg
        self._add(leg)
        target.voice_offer(leg)
        if leg.stat == STAT_RELEASED:
            reason = leg.end_reason or "unreachable"
            call.modem.voice_released(call, "busy" if reason == "busy" else "unreachable")
            return
        call.modem.voice_progress(call, STAT_ALERTING)
        self._later(self.ring_timeout, lambda: self._unanswered(leg))

    # ------------------------------------------------------------------ events from modems
    def answered(self, call: SimCall) -> None:
        """``call`` became active for the first time (ATA, CHLD, or the callee answered)."""
        peer = call.peer
        if peer is not None:
            if call.direction == "inbound":
                self._later(0.0, lambda: peer.modem.voice_connected(peer))
            return
        if call.party is not None and not call._party_started:
            call._party_started = True
            call.party.run(call)

    def released(self, call: SimCall, reason: str) -> None:
        """The modem released ``call`` itself (ATH, CHUP, CHLD, UDUB, unplug ...)."""
        peer = call.peer
        if peer is not None and peer.stat != STAT_RELEASED:
            far = _PEER_REASON.get(reason, "remote-hangup")
            self._later(0.0, lambda: peer.modem.voice_released(peer, far))

    def remote_release(self, call: SimCall, reason: str) -> None:
        """The far end (a remote party, or the network) releases ``call``."""
        call.modem.voice_released(call, reason)
        peer = call.peer
        if peer is not None and peer.stat != STAT_RELEASED:
            self._later(0.0, lambda: peer.modem.voice_released(peer, reason))

    def transferred(self, a: SimCall, b: SimCall) -> None:
        """ECT (AT+CHLD=4): the far ends of ``a`` and ``b`` now talk to each other."""
        a.transferred_to, b.transferred_to = b, a
        pa, pb = a.peer, b.peer
        if pa is not None:
            pa.peer = pb
        if pb is not None:
            pb.peer = pa
        a.peer = b.peer = None  # the modem is out of both calls: nothing to tell the far ends


__all__ = [
    "FRAME_BYTES",
    "FRAME_SECONDS",
    "RATE",
    "AudioPort",
    "Callee",
    "Digits",
    "Hangup",
    "Play",
    "RemoteParty",
    "Say",
    "SimCall",
    "Silence",
    "Step",
    "VoiceError",
    "VoiceNetwork",
    "WaitHeard",
    "load_audio",
    "render_speech",
]
