"""General, identity and network AT command handlers.

Each class is a mixin of :class:`~.device.SimulatedModem`, grouped by area; call
commands are in ``voicecommands.py``, SMS commands in ``sms.py``, USSD in ``ussd.py``.
"""

from __future__ import annotations

import re

from .dispatcher import CommandDispatcher
from .errors import AtError, cme

# V.250 S-parameters (§6.2, §6.3): number -> (power-up value, lowest, highest).  S0 is the
# number of rings before the modem answers by itself (0 = never); S3/S4 name the line end
# characters and S5 backspace: they are kept and reported, but lines always end in CR LF.
S_PARAMETERS = {
    0: (0, 0, 255),
    3: (13, 0, 127),
    4: (10, 0, 127),
    5: (8, 0, 127),
    6: (2, 2, 10),
    7: (60, 1, 255),
    8: (2, 0, 255),
    10: (15, 1, 254),
}
_S_ARG = re.compile(r"(\d+)(\?|=\?|=(\d*))")
BAUD_RATES = (0, 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600)


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

    def at_S(self, kind: str, arg: str) -> list[str]:
        """ATS<n>=<v>, ATS<n>? (three digits, V.250 §5.3.2), ATS<n>=?"""
        m = _S_ARG.fullmatch(arg)
        if m is None or int(m.group(1)) not in S_PARAMETERS:
            raise AtError("plain")
        reg = int(m.group(1))
        default, low, high = S_PARAMETERS[reg]
        if m.group(2) == "?":
            return [f"{self.state.sregs.get(reg, default):03d}"]
        if m.group(2) == "=?":
            return [f"S{reg}: ({low}-{high})"]
        value = int(m.group(3)) if m.group(3) else default
        if not low <= value <= high:
            raise AtError("plain")
        self.state.sregs[reg] = value
        return []

    def _basic_setting(self, key: str, arg: str, allowed: str) -> list[str]:
        """A basic command that only selects a value (ATX<n>, AT&C<n>, AT&D<n>)."""
        value = arg or "0"
        if value not in allowed:
            raise AtError("plain")
        self.state.extra[key] = value
        return []

    def at_X(self, kind: str, arg: str) -> list[str]:
        """Result code selection and call progress monitoring (busy/dial tone detection)."""
        return self._basic_setting("x", arg, "01234")

    def at_amp_C(self, kind: str, arg: str) -> list[str]:
        """DCD: always on, or on while a data connection is up (a pty has no DCD line)."""
        return self._basic_setting("amp_c", arg, "01")

    def at_amp_D(self, kind: str, arg: str) -> list[str]:
        """What DTR going off does (a pty has no DTR line)."""
        return self._basic_setting("amp_d", arg, "012")

    def at_IFC(self, kind: str, arg: str) -> list[str]:
        """Local flow control: +IFC=<by DTE>,<by DCE>, 0 none, 1 XON/XOFF, 2 RTS/CTS."""
        if kind == "test":
            return ["+IFC: (0-2),(0-2)"]
        if kind == "read":
            return [f"+IFC: {self.state.extra.get('ifc', '0,0')}"]
        vals = [v if v is not None else 0 for v in self._ints(arg)]
        if kind != "set" or len(vals) > 2 or any(not 0 <= v <= 2 for v in vals):
            raise AtError("plain")
        self.state.extra["ifc"] = ",".join(str(v) for v in (vals + vals[:1])[:2])
        return []

    def at_IPR(self, kind: str, arg: str) -> list[str]:
        """Serial rate (0 = autobauding); a pty runs at any rate, so it is only remembered."""
        if kind == "test":
            return ["+IPR: (0),(" + ",".join(str(r) for r in BAUD_RATES[1:]) + ")"]
        if kind == "read":
            return [f"+IPR: {self.state.extra.get('ipr', '115200')}"]
        if kind != "set" or not arg.strip().isdigit() or int(arg) not in BAUD_RATES:
            raise AtError("plain")
        self.state.extra["ipr"] = str(int(arg))
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
        blocked = self.pin_attempts_left <= 0
        if kind == "read":
            if blocked:
                return ["+CPIN: SIM PUK"]
            return ["+CPIN: SIM PIN" if self.pin_locked else "+CPIN: READY"]
        if kind == "test":
            return []
        if kind != "set":
            raise cme(4)
        if blocked:
            raise cme(12)  # SIM PUK required: no PIN is tried any more
        if not self.pin_locked:
            raise cme(3)
        entered = self._unquote(arg.split(",")[0])
        if entered != self.pin:
            self.pin_attempts_left -= 1
            raise cme(12 if self.pin_attempts_left <= 0 else 16)
        self.pin_attempts_left = 3
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

    def at_GCAP(self, kind: str, arg: str) -> list[str]:
        return [] if kind == "test" else [f"+GCAP: {self.profile.gcap}"]

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
    """Signal, registration (and its URCs) and operator (USSD is ``ussd.py``)."""

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

    def at_CEREG(self, kind: str, arg: str) -> list[str]:
        """EPS registration (LTE modules only: the family's profile lists it as unsupported)."""
        return self._reg_cmd("+CEREG", "cereg_n", kind, arg)

    def at_CGATT(self, kind: str, arg: str) -> list[str]:
        """Packet domain attach (27.007 §10.1.9): attached while registered unless detached."""
        if kind == "test":
            return ["+CGATT: (0,1)"]
        if kind == "read":
            return [f"+CGATT: {int(self.state.cgatt and self.registered())}"]
        if kind != "set" or arg.strip() not in ("0", "1"):
            raise cme(4)
        if arg.strip() == "1" and not self.registered():
            raise cme(30)  # no network service
        self.state.cgatt = arg.strip() == "1"
        return []

    def at_COPS(self, kind: str, arg: str) -> list[str]:
        """Operator: +COPS? in the format of AT+COPS=3,<f> (0 long, 1 short, 2 numeric MCC+MNC)."""
        op, plmn = self.profile.operator, self.profile.plmn
        names = (op, op[:8], plmn)
        if kind == "test":
            return [f'+COPS: (2,"{op}","{op[:8]}","{plmn}",{self.profile.act}),,(0-4),(0-2)']
        if kind == "read":
            if not self.registered():
                return ["+COPS: 0"]
            fmt = self.state.cops_format
            return [f'+COPS: 0,{fmt},"{names[fmt]}",{self.profile.act}']
        vals = self._ints(arg.split('"')[0].rstrip(","))
        if vals[0] not in (0, 1, 2, 3, 4) or (len(vals) > 1 and vals[1] not in (None, 0, 1, 2)):
            raise cme(4)
        if len(vals) > 1 and vals[1] is not None:
            self.state.cops_format = vals[1]
        return []
