"""General, identity, network and voice AT command handlers (SMS: ``sms.py``).

Each class is a mixin of :class:`~.device.SimulatedModem`, grouped by area.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import partial
from pathlib import Path

from .dispatcher import CommandDispatcher
from .errors import AtError, cme
from .voice import (
    DTMF_KEYS,
    STAT_ACTIVE,
    STAT_ALERTING,
    STAT_DIALING,
    STAT_HELD,
    STAT_INCOMING,
    STAT_RELEASED,
    STAT_WAITING,
    AudioPort,
    SimCall,
    mix,
)


class GeneralCommands(CommandDispatcher):
    """V.25ter basics and equipment control: reset, echo, error reporting, function, PIN."""

    def at_Z(self, kind: str, arg: str) -> list[str]:
        keep_cpms = self.state.cpms
        self.state = self._power_up_state()
        self.state.cpms = keep_cpms
        return []

    def at_amp_F(self, kind: str, arg: str) -> list[str]:
        return self.at_Z(kind, arg)

    def at_amp_W(self, kind: str, arg: str) -> list[str]:
        return []

    def at_E(self, kind: str, arg: str) -> list[str]:
        if arg not in ("", "0", "1"):
            raise AtError("plain")
        self.state.echo = arg == "1"
        return []

    def at_V(self, kind: str, arg: str) -> list[str]:
        if arg not in ("", "1"):  # numeric result codes are not simulated
            raise AtError("plain")
        return []

    def at_Q(self, kind: str, arg: str) -> list[str]:
        return []

    def at_CMEE(self, kind: str, arg: str) -> list[str]:
        if kind == "read":
            return [f"+CMEE: {self.state.cmee}"]
        if kind == "test":
            return ["+CMEE: (0-2)"]
        value = int(arg or "0")
        if value not in (0, 1, 2):
            raise cme(4)
        self.state.cmee = value
        return []

    def at_CFUN(self, kind: str, arg: str) -> list[str]:
        if kind == "read":
            return [f"+CFUN: {self.state.cfun}"]
        if kind == "test":
            return ["+CFUN: (0,1,4),(0,1)"]
        vals = self._ints(arg)
        fun = vals[0]
        if fun not in (0, 1, 4):
            raise cme(4)
        was = self.registered()
        self.state.cfun = fun
        self._creg_changed(was)
        if len(vals) > 1 and vals[1] == 1:  # reset: reboot, boot URCs again
            self.booted = False
            self._boot_gen += 1
            gen = self._boot_gen
            self.network.scheduler.call_later(self.profile.boot_delay, lambda: self._boot(gen))
        return []

    def at_CPIN(self, kind: str, arg: str) -> list[str]:
        if kind == "read":
            return ["+CPIN: SIM PIN" if self.pin_locked else "+CPIN: READY"]
        if kind == "test":
            return []
        if kind != "set":
            raise cme(4)
        if not self.pin_locked:
            raise cme(3)
        entered = self._unquote(arg.split(",")[0])
        if entered != self.pin:
            raise cme(16)
        was = self.registered()
        self.pin_locked = False
        self._creg_changed(was)
        return []

    def at_CLAC(self, kind: str, arg: str) -> list[str]:
        style = self.profile.clac
        if style == "error" or kind != "exec":
            raise AtError("plain")
        cmds = self.supported_commands()
        if style == "single":
            return ["+CLAC: " + ",".join(cmds)]
        if self.profile.clac_stray_cr:
            return [f"AT{c}\r" for c in cmds]
        return [f"AT{c}" for c in cmds]

    def at_CSCS(self, kind: str, arg: str) -> list[str]:
        if kind == "test":
            return ["+CSCS: (" + ",".join(f'"{c}"' for c in self.profile.cscs) + ")"]
        if kind == "read":
            return [f'+CSCS: "{self.state.cscs}"']
        cs = self._unquote(arg)
        if cs not in self.profile.cscs:
            raise cme(4)
        self.state.cscs = cs
        return []


class IdentityCommands(CommandDispatcher):
    """Manufacturer, model, revision, IMEI, IMSI, ICCID and own number."""

    def at_I(self, kind: str, arg: str) -> list[str]:
        p = self.profile
        rev = p.revision if p.revision.lower().startswith("revision") else f"Revision: {p.revision}"
        return [p.manufacturer, p.model, rev]

    def at_CGMI(self, kind: str, arg: str) -> list[str]:
        return [] if kind == "test" else [self.profile.manufacturer]

    def at_GMI(self, kind: str, arg: str) -> list[str]:
        return self.at_CGMI(kind, arg)

    def at_CGMM(self, kind: str, arg: str) -> list[str]:
        return [] if kind == "test" else [self.profile.model]

    def at_GMM(self, kind: str, arg: str) -> list[str]:
        return self.at_CGMM(kind, arg)

    def at_CGMR(self, kind: str, arg: str) -> list[str]:
        return [] if kind == "test" else [self.profile.revision]

    def at_GMR(self, kind: str, arg: str) -> list[str]:
        return self.at_CGMR(kind, arg)

    def at_CGSN(self, kind: str, arg: str) -> list[str]:
        return [] if kind == "test" else [self.profile.imei]

    def at_GSN(self, kind: str, arg: str) -> list[str]:
        return self.at_CGSN(kind, arg)

    def at_CIMI(self, kind: str, arg: str) -> list[str]:
        if kind == "test":
            return []
        self._require_sim()
        return [self.profile.imsi]

    def at_CCID(self, kind: str, arg: str) -> list[str]:
        if kind == "test":
            return []
        self._require_sim()
        return [self.profile.iccid]

    def at_CNUM(self, kind: str, arg: str) -> list[str]:
        if kind == "test":
            return []
        self._require_sim()
        ton = 145 if self.number.startswith("+") else 129
        return [f'+CNUM: "","{self.number}",{ton}']


class NetworkCommands(CommandDispatcher):
    """Signal, registration (and its URCs), operator and USSD."""

    def at_CSQ(self, kind: str, arg: str) -> list[str]:
        if kind == "test":
            return ["+CSQ: (0-31,99),(0-7,99)"]
        return [f"+CSQ: {self.current_rssi()},99"]

    def _reg_cmd(self, prefix: str, attr: str, kind: str, arg: str) -> list[str]:
        if kind == "read":
            return [self._creg_line(prefix, getattr(self.state, attr), urc=False)]
        if kind == "test":
            return [f"{prefix}: (0-2)"]
        if kind == "set":
            n = int(arg or "0")
            if n not in (0, 1, 2):
                raise cme(4)
            setattr(self.state, attr, n)
        return []

    def at_CREG(self, kind: str, arg: str) -> list[str]:
        return self._reg_cmd("+CREG", "creg_n", kind, arg)

    def at_CGREG(self, kind: str, arg: str) -> list[str]:
        return self._reg_cmd("+CGREG", "cgreg_n", kind, arg)

    def at_COPS(self, kind: str, arg: str) -> list[str]:
        op = self.profile.operator
        if kind == "test":
            return [f'+COPS: (2,"{op}","{op[:8]}","23415",{self.profile.act}),,(0-4),(0-2)']
        if kind == "read":
            if not self.registered():
                return ["+COPS: 0"]
            return [f'+COPS: 0,{self.state.cops_format},"{op}",{self.profile.act}']
        vals = self._ints(arg.split('"')[0].rstrip(","))
        if len(vals) > 1 and vals[1] is not None:
            self.state.cops_format = vals[1]
        return []

    def at_CUSD(self, kind: str, arg: str) -> list[str]:
        if kind == "read":
            return ["+CUSD: 1"]
        if kind == "test":
            return ["+CUSD: (0-2)"]
        vals = arg.split(",")
        if len(vals) > 1 and vals[0].strip() in ("1", "0"):
            if not self.registered():
                raise cme(30)
            reply = self.ussd_reply.replace('"', "'")
            self.network.scheduler.call_later(0.2, lambda: self._urc([f'+CUSD: 0,"{reply}",15']))
        return []


_DIAL_RE = re.compile(r"\+?[0-9*#]{1,40}")
MAX_CALLS = 7  # 27.007 call indices are 1..7

# ^CEND cc_cause (Q.850) by release reason (voice.md 3.4, 4.1)
_CC_CAUSE = {
    "busy": 17,
    "no-answer": 19,
    "rejected": 21,
    "unreachable": 20,
    "network-lost": 31,
}


class VoiceCommands(CommandDispatcher):
    """Calls: ATD, ATA, ATH, +CHUP, +CLCC, +CHLD, +VTS, +CCWA and the family's call URCs.

    The URC dialect (voice.md section 4) comes from the profile's ``[voice] dialect``:
    ``generic`` (RING/+CLIP, V.25 result codes), ``sim800`` (+CLCC with AT+CLCC=1),
    ``sim7600`` (+ ``VOICE CALL: BEGIN/END``), ``huawei`` (^ORIG/^CONF/^CONN/^CEND),
    ``quectel`` (+QIND: "ccinfo", no RING).
    """

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
        self.audio = AudioPort(self, self.port_path.with_suffix(".audio"))  # type: ignore[arg-type]

    @property
    def audio_path(self) -> Path:
        """The audio pty's stable symlink, ``<base_dir>/<name>.audio``."""
        return self.audio.path

    # ------------------------------------------------------------------ helpers
    def _calls_in(self, *stats: int) -> list[SimCall]:
        return [c for c in self.calls if c.stat in stats]

    def _by_index(self, idx: int | None) -> SimCall:
        for c in self.calls:
            if c.index == idx:
                return c
        raise cme(22)  # not found

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

    def _service(self, name: str) -> None:
        """A supplementary service (hold, mpty, ect): the module's, then the operator's say."""
        if not getattr(self.profile.voice, name):
            raise cme(4)  # operation not supported
        if name in self.network.refused:
            raise cme(self.network.refuse_code)

    @staticmethod
    def _who(call: SimCall) -> tuple[str, int]:
        if call.withheld and call.direction == "inbound":
            return "", 128
        return call.number, 145 if call.number.startswith("+") else 129

    def _clcc_line(self, call: SimCall, stat: int) -> str:
        number, ton = self._who(call)
        d = 0 if call.direction == "outbound" else 1
        line = f'+CLCC: {call.index},{d},{stat},0,{int(call.mpty)},"{number}",{ton}'
        return line + ',""' if self.profile.voice.clcc_alpha else line

    def _ccinfo_line(self, call: SimCall, stat: int) -> str:
        number, ton = self._who(call)
        d = 0 if call.direction == "outbound" else 1
        st = -1 if stat == STAT_RELEASED else stat
        return f'+QIND: "ccinfo",{call.index},{d},{st},0,{int(call.mpty)},"{number}",{ton}'

    def _report(self, call: SimCall, stat: int) -> list[str]:
        """The state-change URCs the host asked for (AT+CLCC=1, AT+QINDCFG="ccinfo",1)."""
        v = self.profile.voice
        out = []
        if v.clcc_urc and self.state.clcc:
            out.append(self._clcc_line(call, stat))
        if v.dialect == "quectel" and self.state.extra.get("ccinfo") == "1":
            out.append(self._ccinfo_line(call, stat))
        return out

    def _clip_line(self, call: SimCall) -> str:
        number, ton = self._who(call)
        validity = 1 if call.withheld else 0
        return self.profile.voice.clip.format(number=number, type=ton, validity=validity)

    def _ring_lines(self, call: SimCall, first: bool) -> list[str]:
        v = self.profile.voice
        out: list[str] = []
        if first and v.dialect == "sim800":
            out += self._report(call, STAT_INCOMING)  # SIM800: +CLCC before the first RING
        if self.state.crc:
            out.append("+CRING: VOICE")
        elif v.ring:
            out.append("RING")
        if self.state.clip:
            out.append(self._clip_line(call))
        if first and v.dialect != "sim800":
            out += self._report(call, STAT_INCOMING)
        return out

    def _connected_lines(self, call: SimCall) -> list[str]:
        v = self.profile.voice
        if v.dialect == "huawei":
            return [f"^CONN:{call.index},0"]
        out = ["VOICE CALL: BEGIN"] if v.dialect == "sim7600" else []
        out += self._report(call, STAT_ACTIVE)
        if v.dialect == "sim800" and call.direction == "outbound" and self.state.moring:
            out.append("MO CONNECTED")
        return out

    def _result_code(self, call: SimCall, reason: str) -> str:
        if call.direction == "inbound":
            return "NO CARRIER"
        if reason == "busy":
            return "BUSY"
        if reason in ("no-answer", "rejected"):
            if self.profile.voice.dialect == "sim7600":
                return "NO CARRIER"  # rejected and unanswered look the same (voice.md 4.3)
            return "NO ANSWER" if reason == "no-answer" else "BUSY"
        return "NO CARRIER"

    def _end_lines(
        self, call: SimCall, reason: str, local: bool, connected: bool, seconds: int
    ) -> list[str]:
        v = self.profile.voice
        # a V.25 result code for a remote or network release, once no other call is left
        tail = [] if local or self.calls else [self._result_code(call, reason)]
        if v.dialect == "huawei":
            status = 29 if local else 104  # 29 ended by the client, 104 released by the network
            cause = _CC_CAUSE.get(reason, 16)
            if call.direction == "inbound" and not local and reason != "network-lost":
                cause = 16
            return [f"^CEND:{call.index},{seconds},{status},{cause}"] + (
                tail if v.result_after_cend else []
            )
        report = self._report(call, STAT_RELEASED)
        if v.dialect == "sim7600":
            h, rest = divmod(seconds, 3600)
            end = f"VOICE CALL: END: {h:02d}{rest // 60:02d}{rest % 60:02d}"
            if not connected:
                end = "VOICE CALL: END"
                if call.direction == "inbound" and not local:
                    return [end, *tail, *report]  # sim76xx README order for a missed call
            return [*report, end, *tail]
        return report + tail

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
                lines = []
                if self.state.ccwa:
                    number, ton = self._who(call)
                    lines.append(f'+CCWA: "{number}",{ton},1')
                self._emit(lines + self._report(call, STAT_WAITING))
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
            self._emit(self._ring_lines(call, first))
        self.network.scheduler.call_later(self.profile.voice.ring_period, lambda: self._ring(call))

    def voice_progress(self, call: SimCall, stat: int) -> None:
        """An outgoing call is dialling (2) or the far end is alerting (3)."""
        huawei = self.profile.voice.dialect == "huawei"
        with self._lock:
            if call not in self.calls or call.stat != STAT_DIALING:
                return
            if stat == STAT_DIALING:
                self._emit([f"^ORIG:{call.index},0"] if huawei else self._report(call, stat))
                return
            call._set_stat(STAT_ALERTING)
            lines = [f"^CONF:{call.index}"] if huawei else self._report(call, STAT_ALERTING)
            if self.profile.voice.dialect == "sim800" and self.state.moring:
                lines.append("MO RING")
            self._emit(lines)

    def voice_connected(self, call: SimCall) -> None:
        """The far end answered an outgoing call."""
        with self._lock:
            if call not in self.calls or call.stat not in (STAT_DIALING, STAT_ALERTING):
                return
            call._set_stat(STAT_ACTIVE)
            self._emit(self._connected_lines(call))
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
            kind = self.profile.voice.dtmf
            if kind == "ddet" and extra.get("ddet") == "1":
                line = f"+DTMF: {digit}" + (f",{ms}" if extra.get("ddet_report") == "1" else "")
            elif kind == "rxdtmf" and extra.get("ddet") == "1":
                line = f"+RXDTMF: {digit}"
            elif kind == "qtonedet" and extra.get("qtonedet", "0").strip().startswith("1"):
                line = f"+QTONEDET: {ord(digit)}"
            else:
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
            self._emit(self._end_lines(call, reason, local, connected, seconds))
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
        call = SimCall(self.network, self, "outbound", number, withheld=withheld)  # type: ignore[arg-type]
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
            self._emit(self._connected_lines(call))
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
            out.append(self._clcc_line(c, c.stat))
        return out

    def _set_held(self, call: SimCall, stat: int) -> None:
        call._set_stat(stat)
        self._emit(self._report(call, stat))

    def _accept(self, call: SimCall) -> None:
        call.answering = False
        call._set_stat(STAT_ACTIVE)
        self._emit(self._connected_lines(call))
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
