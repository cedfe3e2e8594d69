"""The modem's calls: its legs, what the network tells it about them, and its audio.

:class:`VoiceLine` is the voice side of :class:`~.device.SimulatedModem` below its AT
commands (``voicecommands.py``): it owns the legs the modem carries (``calls``, in
index order), takes the network's call events (``voice_offer``, ``voice_progress``,
``voice_connected``, ``voice_released``, ``voice_dtmf``; see ``call.CallEndpoint``),
writes the family's URCs for them (``calldialect.py``), releases legs, and feeds the
audio pty (``audioport.AudioPort``) from the active legs.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

from .audioport import AudioPort
from .call import (
    STAT_ACTIVE,
    STAT_ALERTING,
    STAT_DIALING,
    STAT_HELD,
    STAT_INCOMING,
    STAT_WAITING,
    SimCall,
)
from .calldialect import (
    alerting_lines,
    connected_lines,
    dialing_lines,
    dtmf_line,
    end_lines,
    ring_lines,
    waiting_lines,
)
from .dispatcher import CommandDispatcher
from .pcm import mix

MAX_CALLS = 7  # 27.007 call indices are 1..7


class VoiceLine(CommandDispatcher):
    """The legs of one modem, the network's events about them, and the audio they carry."""

    calls: list[SimCall]
    audio: AudioPort
    cw_service: bool
    voice_port: bool
    _active: tuple[SimCall, ...]

    def _voice_setup(self) -> None:
        self.calls = []  # live legs on this modem (index order of creation)
        self._active = ()  # snapshot of the active legs, read by the audio thread
        self.cw_service = True  # network-side call waiting (AT+CCWA=,<mode>)
        self.voice_port = False  # AT^DDSETEX=2 / AT+CPCMREG=1 for the current call(s)
        self.audio = AudioPort(self, self.port_path.with_suffix(".audio"))

    @property
    def audio_path(self) -> Path:
        """The audio pty's stable symlink, ``<base_dir>/<name>.audio``."""
        return self.audio.path

    # ------------------------------------------------------------------ helpers
    def _calls_in(self, *stats: int) -> list[SimCall]:
        return [c for c in self.calls if c.stat in stats]

    def _next_index(self) -> int:
        used = {c.index for c in self.calls}
        i = self.profile.voice.first_call_id
        while i in used:
            i += 1
        return i

    def _changed(self) -> None:
        self._active = tuple(c for c in self.calls if c.stat == STAT_ACTIVE)
        self.audio.wake()

    def _emit(self, lines: list[str]) -> None:
        for line in lines:  # each URC framed on its own: \r\nLINE\r\n
            self._urc([line])

    # ------------------------------------------------------------------ network events
    def voice_offer(self, call: SimCall) -> str:
        """An incoming call: ``ringing``, ``waiting``, or ended as ``busy``/``unreachable``."""
        with self._lock:
            if not self.registered():
                call._end("unreachable")
                return "unreachable"
            if self._calls_in(STAT_INCOMING, STAT_WAITING) or len(self.calls) >= MAX_CALLS:
                call._end("busy")
                return "busy"
            call.index = self._next_index()
            if self.calls:
                if not self.cw_service:
                    call._end("busy")
                    return "busy"
                self.calls.append(call)
                call._set_stat(STAT_WAITING)
                self._emit(waiting_lines(self.profile.voice, self.state, call))
                self._changed()
                return "waiting"
            self.calls.append(call)
            call._set_stat(STAT_INCOMING)
            self._changed()
            self._ring(call, first=True)
            return "ringing"

    def _ring(self, call: SimCall, first: bool = False) -> None:
        with self._lock:
            if call not in self.calls or call.stat != STAT_INCOMING or call.answering:
                return
            self._emit(ring_lines(self.profile.voice, self.state, call, first))
            call.rings += 1
            auto = self.state.sregs.get(0, 0)  # ATS0=<n>: answer by itself after n rings
            if auto and call.rings >= auto:
                call.answering = True
                self.network.scheduler.call_later(
                    self.profile.voice.answer_delay, lambda: self._answer(call)
                )
                return
        self.network.scheduler.call_later(self.profile.voice.ring_period, lambda: self._ring(call))

    def _answer(self, call: SimCall) -> None:
        """Connect an incoming call being answered (ATA, or ATS0 auto-answer)."""
        raise NotImplementedError

    def voice_progress(self, call: SimCall, stat: int) -> None:
        """An outgoing call is dialling (2) or the far end is alerting (3)."""
        with self._lock:
            if call not in self.calls or call.stat != STAT_DIALING:
                return
            if stat == STAT_DIALING:
                self._emit(dialing_lines(self.profile.voice, self.state, call))
                return
            call._set_stat(STAT_ALERTING)
            self._emit(alerting_lines(self.profile.voice, self.state, call))

    def voice_connected(self, call: SimCall) -> None:
        """The far end answered an outgoing call."""
        with self._lock:
            if call not in self.calls or call.stat not in (STAT_DIALING, STAT_ALERTING):
                return
            call._set_stat(STAT_ACTIVE)
            self._emit(connected_lines(self.profile.voice, self.state, call))
            self._changed()

    def voice_released(self, call: SimCall, reason: str) -> None:
        """The far end or the network released ``call``."""
        self._release(call, reason, local=False, notify=False)

    def voice_dtmf(self, call: SimCall, digit: str, ms: int) -> None:
        """The far end pressed a key: the family's DTMF URC, if the host enabled it."""
        extra = self.state.extra
        with self._lock:
            if call not in self.calls or call.stat != STAT_ACTIVE:
                return
            line = dtmf_line(self.profile.voice, extra, digit, ms)
            if line is None:
                return
            self._urc([line])

    def _release(self, call: SimCall, reason: str, *, local: bool, notify: bool) -> bool:
        with self._lock:
            if call not in self.calls:
                return False
            connected = call.answered_at is not None
            seconds = int(call.duration())
            self.calls.remove(call)
            call._end(reason)
            self._emit(
                end_lines(
                    self.profile.voice,
                    self.state,
                    call,
                    reason,
                    local=local,
                    connected=connected,
                    seconds=seconds,
                    others=bool(self.calls),
                )
            )
            if not self.calls:
                self.voice_port = False
            conference = [c for c in self.calls if c.mpty]
            if len(conference) == 1:  # a conference of one is a plain call again
                conference[0].mpty = False
            if not self._calls_in(STAT_ACTIVE, STAT_HELD, STAT_DIALING, STAT_ALERTING):
                for waiting in self._calls_in(STAT_WAITING):  # it rings like a new call
                    waiting._set_stat(STAT_INCOMING)
                    self.network.scheduler.call_later(0.0, partial(self._ring, waiting, True))
            self._changed()
        if notify:
            self.network.released(call, reason)
        return True

    def _voice_drop(self, reason: str) -> None:
        """Every call ends at once (unplugged, network lost); the far ends are told."""
        with self._lock:
            calls = list(self.calls)
        for c in calls:
            self._release(c, reason, local=False, notify=True)

    # ------------------------------------------------------------------ audio (AudioPort)
    def audio_enabled(self) -> bool:
        mode = self.profile.voice.audio_enable
        if mode == "none":
            return True
        if mode == "qpcmv":
            return self.state.extra.get("qpcmv", "0").strip().startswith("1")
        return self.voice_port

    def voice_ticking(self) -> bool:
        """A call is active: the network's 20 ms clock runs (whether or not audio is on)."""
        return bool(self._active) and self.plugged

    def audio_streaming(self) -> bool:
        """Frames flow on the audio pty: an active call, audio enabled, modem answering."""
        return self.voice_ticking() and not self.faults.stop_answering and self.audio_enabled()

    def voice_downlink(self) -> tuple[bytes | None, list[Callable[[], None]]]:
        calls = self._active
        if not calls:
            return None, []
        frames: list[bytes] = []
        starts: list[Callable[[], None]] = []
        for c in calls:
            frame, cbs = c._pull_frame()
            frames.append(frame)
            starts += cbs
        return mix(frames), starts

    def voice_uplink(self, frame: bytes, at: float) -> None:
        for c in self._active:
            c._hear(frame, at)
