"""The simulated modem's switchable faults and volatile (power-up) settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Faults:
    stop_answering: bool = False
    garbage_mode: bool = False
    storage_full: bool = False
    network_loss: bool = False
    cms_error: int = 0
    cms_error_count: int = 0
    urc_before_ok: bool = False
    cpcmreg_fail: int = 0  # SIM7600: the next N AT+CPCMREG=1 answer ERROR (voice.md 1.3)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class ModemState:
    """Volatile state: reset at power-up (replug) and, partly, by ATZ."""

    echo: bool = True
    cmee: int = 0
    cmgf: int = 0
    cnmi: tuple[int, int, int, int, int] = (0, 0, 0, 0, 0)
    cpms: list[str] = field(default_factory=lambda: ["SM", "SM", "SM"])
    creg_n: int = 0
    cgreg_n: int = 0
    cereg_n: int = 0  # LTE modules: AT+CEREG=<n>
    cgatt: bool = True  # packet domain attached while registered (AT+CGATT=0 detaches)
    cops_format: int = 0
    cscs: str = "IRA"
    csmp: str = "17,167,0,0"
    csms: int = 0
    cfun: int = 1
    clip: int = 0
    crc: int = 0
    clcc: int = 0  # AT+CLCC=1: report call state changes (SIMCom)
    ccwa: int = 0  # AT+CCWA=1: present +CCWA for a waiting call
    moring: int = 0  # AT+MORING=1: MO RING / MO CONNECTED (SIM800)
    sregs: dict[int, int] = field(default_factory=dict)  # V.250 S-parameters set (ATS<n>=<v>)
    extra: dict[str, str] = field(default_factory=dict)  # vendor settings (CURC, DDET, ...)
