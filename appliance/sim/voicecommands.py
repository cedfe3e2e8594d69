"""Call AT commands: ATD, ATA, ATH, +CHUP, +CLCC, +CHLD, +VTS, +CCWA, +CLIP and friends.

:class:`VoiceCommands` is a mixin of :class:`~.device.SimulatedModem` on top of
:class:`~.voiceline.VoiceLine` (the modem's legs and the network's call events); the
URCs its commands cause are in the family's dialect (``calldialect.py``).
"""

from __future__ import annotations

import re

from .call import (
    DTMF_KEYS,
    STAT_ACTIVE,
    STAT_ALERTING,
    STAT_DIALING,
    STAT_HELD,
    STAT_INCOMING,
    STAT_WAITING,
    SimCall,
)
from .calldialect import clcc_line, connected_lines, report
from .errors import AtError, cme
from .voiceline import MAX_CALLS, VoiceLine

_DIAL_RE = re.compile(r"\+?[0-9*#]{1,40}")


class VoiceCommands(VoiceLine):
    """Calls: ATD, ATA, ATH, +CHUP, +CLCC, +CHLD, +VTS, +CCWA, +CLIP, +CRC and the rest."""

    # ------------------------------------------------------------------ helpers
    def _by_index(self, idx: int | None) -> SimCall:
        for c in self.calls:
            if c.index == idx:
                return c
        raise cme(22)  # not found

    def _service(self, name: str) -> None:
        """A supplementary service (hold, mpty, ect): the module's, then the operator's say."""
        if not getattr(self.profile.voice, name):
            raise cme(4)  # operation not supported
        if name in self.network.refused:
            raise cme(self.network.refuse_code)

    # ------------------------------------------------------------------ commands
    def at_D(self, kind: str, arg: str) -> list[str]:
        """ATD<number>[I|i];: a voice call (data calls, without ";", are not simulated)."""
        self._require_sim()
        body = arg.strip()
        if not body.endswith(";"):
            raise AtError("plain")
        body = body[:-1].strip()
        withheld = False
        while body and body[-1] in "IiGg":  # CLIR and CUG modifiers
            withheld = withheld or body[-1] == "I"
            body = body[:-1]
        number = body.replace(" ", "")
        if not _DIAL_RE.fullmatch(number):
            raise AtError("plain")
        if not self.registered():
            raise cme(30)  # no network service
        if self._calls_in(STAT_DIALING, STAT_ALERTING, STAT_INCOMING):
            raise cme(3)
        if len(self.calls) >= MAX_CALLS:
            raise cme(3)
        active = self._calls_in(STAT_ACTIVE)
        if active:
            if not self.profile.voice.atd_auto_hold:
                raise cme(3)  # hold it first (AT+CHLD=2)
            self._service("hold")
            for c in active:
                self._set_held(c, STAT_HELD)
        call = SimCall(self.network, self, "outbound", number, withheld=withheld)
        call.index = self._next_index()
        self.calls.append(call)
        self._changed()
        self.network.dial(call)
        return []

    def at_A(self, kind: str, arg: str) -> list[str]:
        ringing = [c for c in self._calls_in(STAT_INCOMING) if not c.answering]
        if not ringing:
            raise AtError("plain")  # no incoming call to answer
        call = ringing[0]
        call.answering = True
        self.network.scheduler.call_later(
            self.profile.voice.answer_delay, lambda: self._answer(call)
        )
        return []

    def _answer(self, call: SimCall) -> None:
        with self._lock:
            if call not in self.calls or call.stat not in (STAT_INCOMING, STAT_WAITING):
                return
            call.answering = False
            call._set_stat(STAT_ACTIVE)
            self._emit(connected_lines(self.profile.voice, self.state, call))
            self._changed()
        self.network.answered(call)

    def _hangup_all(self) -> None:
        busy = self._calls_in(STAT_ACTIVE, STAT_HELD, STAT_DIALING, STAT_ALERTING)
        if busy:
            for c in busy:
                self._release(c, "local-hangup", local=True, notify=True)
        else:
            for c in self._calls_in(STAT_INCOMING):
                self._release(c, "rejected", local=True, notify=True)

    def at_H(self, kind: str, arg: str) -> list[str]:
        if arg not in ("", "0"):
            raise AtError("plain")
        self._hangup_all()
        return []

    def at_CHUP(self, kind: str, arg: str) -> list[str]:
        if kind == "exec":
            self._hangup_all()
        return []

    def at_CLCC(self, kind: str, arg: str) -> list[str]:
        if kind == "test":
            return []
        if kind == "read":
            return [f"+CLCC: {self.state.clcc}"]
        if kind == "set":
            if not self.profile.voice.clcc_urc or arg.strip() not in ("0", "1"):
                raise AtError("plain")
            self.state.clcc = int(arg.strip())
            return []
        out = []
        if self.profile.voice.phantom_data_call and self.registered():
            out.append('+CLCC: 1,1,0,1,0,"",128')  # a data session (EG25, voice.md 1.4)
        for c in sorted(self.calls, key=lambda c: c.index):
            out.append(clcc_line(self.profile.voice, c, c.stat))
        return out

    def _set_held(self, call: SimCall, stat: int) -> None:
        call._set_stat(stat)
        self._emit(report(self.profile.voice, self.state, call, stat))

    def _accept(self, call: SimCall) -> None:
        call.answering = False
        call._set_stat(STAT_ACTIVE)
        self._emit(connected_lines(self.profile.voice, self.state, call))
        self.network.answered(call)

    def at_CHLD(self, kind: str, arg: str) -> list[str]:
        """Call hold and multiparty (27.007 7.13; voice.md 3.1)."""
        if kind == "test":
            return ["+CHLD: (0,1,1x,2,2x,3,4)"]
        a = arg.strip()
        if kind != "set" or not a.isdigit() or len(a) > 2:
            raise AtError("plain")
        op, x = a[0], (int(a[1:]) if len(a) == 2 else None)
        active = self._calls_in(STAT_ACTIVE)
        held = self._calls_in(STAT_HELD)
        waiting = self._calls_in(STAT_WAITING) or self._calls_in(STAT_INCOMING)
        if op == "0" and x is None:
            if waiting:  # UDUB: the caller hears busy
                self._release(waiting[0], "busy", local=True, notify=True)
            elif held:
                for c in held:
                    self._release(c, "local-hangup", local=True, notify=True)
            else:
                raise cme(3)
        elif op == "1" and x is not None:
            c = self._by_index(x)
            reason = "rejected" if c.stat in (STAT_INCOMING, STAT_WAITING) else "local-hangup"
            self._release(c, reason, local=True, notify=True)
        elif op == "1":
            for c in active + self._calls_in(STAT_DIALING, STAT_ALERTING):
                self._release(c, "local-hangup", local=True, notify=True)
            if waiting:
                self._accept(waiting[0])
            elif held:
                for c in held:
                    self._set_held(c, STAT_ACTIVE)
        elif op == "2" and x is not None:
            c = self._by_index(x)
            if c.stat == STAT_ACTIVE and len(active) > 1:  # split c from the conference
                self._service("hold")
                for o in active:
                    if o is not c:
                        self._set_held(o, STAT_HELD)
                c.mpty = False
                self._set_held(c, STAT_ACTIVE)
            elif c.stat == STAT_HELD:
                self._service("hold")
                for o in active:
                    self._set_held(o, STAT_HELD)
                self._set_held(c, STAT_ACTIVE)
            else:
                raise cme(3)
        elif op == "2":
            if not (waiting or held or active):
                raise cme(3)
            if active or held:
                self._service("hold")
            for c in active:
                self._set_held(c, STAT_HELD)
            if waiting:
                self._accept(waiting[0])
            else:
                for c in held:
                    self._set_held(c, STAT_ACTIVE)
        elif op == "3" and x is None:
            if not (active and held):
                raise cme(3)
            self._service("mpty")
            for c in sorted(active + held, key=lambda c: c.index):
                c.mpty = True
                self._set_held(c, STAT_ACTIVE)
        elif op == "4" and x is None:
            other = active or self._calls_in(STAT_ALERTING)
            if not (held and other):
                raise cme(3)
            self._service("ect")
            a_call, b_call = held[0], other[0]
            self.network.transferred(a_call, b_call)
            for c in (a_call, b_call):
                self._release(c, "transferred", local=True, notify=True)
        else:
            raise cme(4)
        self._changed()
        return []

    @staticmethod
    def _dtmf_arg(arg: str) -> str:
        s = arg.strip()
        if s.startswith('"'):
            end = s.find('"', 1)
            s = s[1:end] if end > 0 else s[1:]
            digits = s.replace(",", "").replace(" ", "")
        else:
            digits = s.split(",")[0].strip()
        if not digits or any(d.upper() not in DTMF_KEYS for d in digits):
            raise cme(4)
        return digits.upper()

    def at_VTS(self, kind: str, arg: str) -> list[str]:
        """Send DTMF to the far end of the active call (it is in ``call.received_digits``)."""
        if kind == "test":
            return ["+VTS: (0-9,#,*,A-D),(1-255)"]
        if kind != "set":
            raise AtError("plain")
        digits = self._dtmf_arg(arg)
        active = self._calls_in(STAT_ACTIVE)
        if not active:
            raise cme(3)
        for c in active:
            c.received_digits += digits
        return []

    def at_CCWA(self, kind: str, arg: str) -> list[str]:
        """Call waiting: <n> = +CCWA URC presentation, <mode> = the network service."""
        if kind == "read":
            return [f"+CCWA: {self.state.ccwa}"]
        if kind == "test":
            return ["+CCWA: (0,1)"]
        if kind != "set":
            return []
        vals = self._ints(arg)
        if vals[0] is not None:
            if vals[0] not in (0, 1):
                raise cme(4)
            self.state.ccwa = vals[0]
        mode = vals[1] if len(vals) > 1 else None
        if mode == 2:
            return [f"+CCWA: {int(self.cw_service)},1"]
        if mode is not None:
            if mode not in (0, 1):
                raise cme(4)
            self.cw_service = mode == 1
        return []

    def at_CLIP(self, kind: str, arg: str) -> list[str]:
        if kind == "set":
            self.state.clip = int(arg.split(",")[0])
        elif kind == "read":
            return [f"+CLIP: {self.state.clip},1"]
        elif kind == "test":
            return ["+CLIP: (0,1)"]
        return []

    def at_CRC(self, kind: str, arg: str) -> list[str]:
        if kind == "set":
            self.state.crc = int(arg)
        elif kind == "read":
            return [f"+CRC: {self.state.crc}"]
        return []

    def at_CSSN(self, kind: str, arg: str) -> list[str]:
        """Supplementary service notifications (chan_dongle's Huawei init); none are sent."""
        if kind == "read":
            return [f"+CSSN: {self.state.extra.get('cssn', '0,0')}"]
        if kind == "set":
            self.state.extra["cssn"] = arg.strip()
        return []

    def at_CVHU(self, kind: str, arg: str) -> list[str]:
        return ["+CVHU: 0"] if kind == "read" else []

    def at_COLP(self, kind: str, arg: str) -> list[str]:
        return ["+COLP: 0,1"] if kind == "read" else []
