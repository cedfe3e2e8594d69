"""General, identity and network AT command handlers.

Each class is a mixin of :class:`~.device.SimulatedModem`, grouped by area; call
commands are in ``voicecommands.py``, SMS commands in ``sms.py``.
"""

from __future__ import annotations

from .dispatcher import CommandDispatcher
from .errors import AtError, cme


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
