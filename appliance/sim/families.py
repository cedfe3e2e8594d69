"""One SimulatedModem subclass per modem family.

Each subclass only adds the vendor commands its family answers (and their
semantics); everything tunable — identity strings, storages, CLAC style, boot and
periodic URCs, the unknown-command reply — comes from the family's profile file
(``firmware_config/profiles/<family>.toml``, ``[sim]`` and ``[[quirks]]``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .call import STAT_ACTIVE
from .device import AtError, SimulatedModem, cme
from .profile import SimProfile, load_profile

if TYPE_CHECKING:
    from .network import Network


class GenericModem(SimulatedModem):
    """A plain 27.005/27.007 modem (no vendor commands)."""

    family = "generic"


class _SimcomMixin(SimulatedModem):
    def at_DDET(self, kind: str, arg: str) -> list[str]:
        """DTMF detection: AT+DDET=<mode>[,<interval>][,<reportMode>][,<ssdet>] (voice.md 1.5).

        Mode 1 makes the module report the far end's keys (+DTMF: on SIM800, +RXDTMF: on
        SIM7600); reportMode 1 adds the tone length in ms.
        """
        ex = self.state.extra
        if kind == "read":
            return [f"+DDET: {ex.get('ddet', '0')},0,{ex.get('ddet_report', '0')},0"]
        if kind == "test":
            return ["+DDET: (0,1),(0-10000),(0,1),(0,1)"]
        parts = [p.strip() for p in arg.split(",")]
        if parts[0] not in ("0", "1") or (len(parts) > 2 and parts[2] not in ("", "0", "1")):
            raise cme(4)
        ex["ddet"] = parts[0]
        ex["ddet_report"] = parts[2] if len(parts) > 2 and parts[2] else "0"
        return []

    def at_CSCLK(self, kind: str, arg: str) -> list[str]:
        """Slow clock (sleep) mode; the driver sends AT+CSCLK=0 to keep the UART awake."""
        if kind == "read":
            return [f"+CSCLK: {self.state.extra.get('csclk', '0')}"]
        if kind == "test":
            return ["+CSCLK: (0-2)"]
        if arg.strip() not in ("0", "1", "2"):
            raise cme(4)
        self.state.extra["csclk"] = arg.strip()
        return []


class Sim800(_SimcomMixin):
    family = "sim800"

    def at_MORING(self, kind: str, arg: str) -> list[str]:
        """MO RING / MO CONNECTED URCs for outgoing calls (SIM800 manual)."""
        if kind == "read":
            return [f"+MORING: {self.state.moring}"]
        if kind == "test":
            return ["+MORING: (0,1)"]
        if arg.strip() not in ("0", "1"):
            raise cme(4)
        self.state.moring = int(arg.strip())
        return []

    def at_CBC(self, kind: str, arg: str) -> list[str]:
        return [] if kind == "test" else ["+CBC: 0,85,4012"]


class Sim7600(_SimcomMixin):
    family = "sim7600"

    def at_CPCMREG(self, kind: str, arg: str) -> list[str]:
        """USB audio on/off: ERROR unless a call is connected (voice.md 1.3)."""
        if kind == "read":
            return [f"+CPCMREG: {int(self.voice_port)}"]
        if kind == "test":
            return ["+CPCMREG: (0,1)"]
        value = arg.split(",")[0].strip()
        if value == "1":
            if not self._calls_in(STAT_ACTIVE):
                raise AtError("plain")
            if self.faults.cpcmreg_fail > 0:  # real modules: ERROR on the first try
                self.faults.cpcmreg_fail -= 1
                raise AtError("plain")
            self.voice_port = True
            self.audio.wake()
        elif value == "0":
            self.voice_port = False
        else:
            raise cme(4)
        return []

    def at_CPCMFRM(self, kind: str, arg: str) -> list[str]:
        """PCM format: 0 = 8 kHz (the only one simulated), 1 = 16 kHz."""
        if kind == "read":
            return ["+CPCMFRM: 0"]
        if kind == "test":
            return ["+CPCMFRM: (0,1)"]
        if arg.strip() != "0":
            raise cme(4)
        return []

    def at_CPSI(self, kind: str, arg: str) -> list[str]:
        if kind == "test":
            return []
        if not self.registered():
            return ["+CPSI: NO SERVICE,Online"]
        return [
            "+CPSI: LTE,Online,234-15,0x1A2B,12345678,123,EUTRAN-BAND3,1300,5,5,-94,-850,-560,15"
        ]


class HuaweiE173(SimulatedModem):
    family = "huawei_e173"

    def periodic_enabled(self) -> bool:
        return self.state.extra.get("curc", "1") != "0"

    def at_caret_CURC(self, kind: str, arg: str) -> list[str]:
        """AT^CURC=0 silences the periodic ^RSSI/^BOOT/^MODE reports (faucamp#35)."""
        if kind == "read":
            return [f"^CURC: {self.state.extra.get('curc', '1')}"]
        if kind == "test":
            return ["^CURC: (0-1)"]
        if arg.strip() not in ("0", "1"):
            raise AtError("plain")
        self.state.extra["curc"] = arg.strip()
        return []

    def at_caret_PORTSEL(self, kind: str, arg: str) -> list[str]:
        """AT^PORTSEL=<n>: the port that shows incoming calls and SMS (0 modem, 1 PC UI).

        gammu's Huawei set-up sends AT^PORTSEL=1 and stops if it fails (atgen.c
        ATGEN_PostConnect).  The simulator has one AT port: every indication is on it.
        """
        if kind == "read":
            return [f"^PORTSEL: {self.state.extra.get('portsel', '0')}"]
        if kind == "test":
            return ["^PORTSEL: (0,1)"]
        if kind != "set" or arg.strip() not in ("0", "1"):
            raise AtError("plain")
        self.state.extra["portsel"] = arg.strip()
        return []

    def at_caret_CVOICE(self, kind: str, arg: str) -> list[str]:
        if kind == "read":
            return ["^CVOICE:0,8000,16,20"]
        if kind == "test":
            return ["^CVOICE:(0)"]
        return []

    def at_caret_USSDMODE(self, kind: str, arg: str) -> list[str]:
        if kind == "read":
            return [f"^USSDMODE: {self.state.extra.get('ussdmode', '0')}"]
        if kind == "set":
            self.state.extra["ussdmode"] = arg.strip()
        return []

    def at_caret_DTMF(self, kind: str, arg: str) -> list[str]:
        """AT^DTMF=<call_idx>,<digit>: send a key to the far end of an active call."""
        if kind == "test":
            return ["^DTMF: (1-7),(0-9,*,#,A-D)"]
        if kind != "set":
            raise AtError("plain")
        idx, _, rest = arg.partition(",")
        call = self._by_index(int(idx))
        digit = self._dtmf_arg(rest)[:1]
        if call.stat != STAT_ACTIVE:
            raise cme(3)
        call.received_digits += digit
        return []

    def at_caret_DDSETEX(self, kind: str, arg: str) -> list[str]:
        """AT^DDSETEX=2: PCM on the voice port; accepted before ^CONN (voice.md 1.2, 1.6)."""
        if kind == "test":
            return ["^DDSETEX: (2)"]
        if kind != "set" or arg.strip() != "2":
            raise AtError("plain")
        self.voice_port = True
        self.audio.wake()
        return []

    def at_caret_HWVER(self, kind: str, arg: str) -> list[str]:
        return [] if kind == "test" else ['^HWVER:"CD1E173M"']

    def at_caret_ICCID(self, kind: str, arg: str) -> list[str]:
        if kind == "test":
            return []
        self._require_sim()
        return [f"^ICCID: {self.profile.iccid}"]

    def at_caret_SYSINFO(self, kind: str, arg: str) -> list[str]:
        if kind == "test":
            return []
        srv = 2 if self.registered() else 0
        return [f"^SYSINFO:{srv},3,0,{3 if srv else 0},1,,{3 if srv else 0}"]


class QuectelEC25(SimulatedModem):
    family = "quectel_ec25"

    def _setting(self, key: str, kind: str, arg: str, default: str) -> list[str]:
        prefix = "+" + key.upper()
        if kind == "read":
            return [f"{prefix}: {self.state.extra.get(key, default)}"]
        if kind == "set":
            self.state.extra[key] = arg
        return []

    def at_QURCCFG(self, kind: str, arg: str) -> list[str]:
        """URC output port: "usbat", "usbmodem" or "uart1"."""
        if kind == "set" and arg.split(",")[0].strip().strip('"').lower() == "urcport":
            parts = arg.split(",", 1)
            if len(parts) == 1:
                port = self.state.extra.get("urcport", '"usbat"')
                return [f'+QURCCFG: "urcport",{port}']
            self.state.extra["urcport"] = parts[1].strip()
            return []
        if kind == "test":
            return ['+QURCCFG: "urcport",("usbat","usbmodem","uart1")']
        if kind == "set":
            raise AtError("plain")
        return []

    def at_QINDCFG(self, kind: str, arg: str) -> list[str]:
        """URC indications; "ccinfo",1 reports every call state change (+QIND: "ccinfo")."""
        parts = [p.strip() for p in arg.split(",")]
        if kind == "set" and parts[0].strip('"').lower() == "ccinfo":
            if len(parts) == 1:
                return [f'+QINDCFG: "ccinfo",{self.state.extra.get("ccinfo", "0")}']
            if parts[1] not in ("0", "1"):
                raise cme(4)
            self.state.extra["ccinfo"] = parts[1]
            return []
        return self._setting("qindcfg", kind, arg, '"all",1')

    def at_QCFG(self, kind: str, arg: str) -> list[str]:
        if kind == "set" and "," not in arg:
            return [f"+QCFG: {arg},0"]
        return []

    def at_QPCMV(self, kind: str, arg: str) -> list[str]:
        return self._setting("qpcmv", kind, arg, "0")

    def at_QTONEDET(self, kind: str, arg: str) -> list[str]:
        return self._setting("qtonedet", kind, arg, "0")

    def at_QCCID(self, kind: str, arg: str) -> list[str]:
        if kind == "test":
            return []
        self._require_sim()
        return [f"+QCCID: {self.profile.iccid}F"]

    def at_QSPN(self, kind: str, arg: str) -> list[str]:
        if kind == "test":
            return []
        op = self.profile.operator
        return [f'+QSPN: "{op}","{op[:8]}","",0,"23415"']


FAMILIES: dict[str, type[SimulatedModem]] = {
    "generic": GenericModem,
    "sim800": Sim800,
    "huawei_e173": HuaweiE173,
    "sim7600": Sim7600,
    "quectel_ec25": QuectelEC25,
}


def create_modem(
    name: str,
    family: str,
    number: str,
    port_path: Path | str,
    network: Network,
    *,
    latency: float | None = None,
    pin: str | None = None,
    profile: SimProfile | None = None,
) -> SimulatedModem:
    """Build the right subclass for ``family`` with its profile loaded from data."""
    cls = FAMILIES.get(family)
    prof = profile if profile is not None else load_profile(family)
    if cls is None:
        # an unknown family with its own profile file behaves like a generic modem
        cls = GenericModem
    return cls(name, prof, number, port_path, network, latency=latency, pin=pin)
