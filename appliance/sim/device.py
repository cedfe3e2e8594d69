"""A simulated GSM modem behind a real pseudo-terminal.

The production driver (python-gsmmodem-new's ``GsmModem`` and the project's subclass)
opens the pty's slave side through a stable symlink, exactly as it would open
``/dev/serial/by-id/...`` on real hardware.  :class:`SimulatedModem` is the modem end,
assembled from:

* ``transport.py`` — the pty, reader thread, response framing, URCs (the line
  discipline is ``linediscipline.py``, the pty itself ``pseudoterminal.py``);
* ``dispatcher.py`` — AT command parsing and dispatch to ``at_*`` handler methods;
* ``commands.py`` — general, identity and network command handlers;
* ``ussd.py`` — ``AT+CUSD`` and the operator's USSD services (balance, a menu);
* ``sms.py`` — SMS settings, storage (``AT+CPMS`` memories, ``storage.py``), PDU-mode
  send (``AT+CMGS``) and ``AT+CNMI`` routing of inbound messages and status reports;
* ``voiceline.py`` — the modem's calls (:class:`~.call.SimCall` legs), the network's
  call events and the audio pty (``audioport.py``); ``voicecommands.py`` — call AT
  commands; ``calldialect.py`` — the family's call URCs;
* this module — the fault switches (unplug, hang, garbage, errors, full storage,
  network loss) and the status snapshot.

Family subclasses (``families.py``) add vendor commands by defining more methods and
change data-driven behaviour through their profile (``profile.py``).
"""

from __future__ import annotations

from typing import Any

from .commands import GeneralCommands, IdentityCommands, NetworkCommands
from .dispatcher import PROMPTED, Handler
from .errors import AtError, cme, cms
from .linediscipline import CTRL_Z, ESC, MAX_PDU_HEX, PROMPT
from .noise import junk
from .sms import SmsCommands
from .state import Faults, ModemState
from .storage import (
    STAT_REC_READ,
    STAT_REC_UNREAD,
    STAT_STO_SENT,
    STAT_STO_UNSENT,
    Memory,
    StoredSms,
    UnionMemory,
    tpdu_octets,
)
from .ussd import UssdCommands
from .voicecommands import VoiceCommands

__all__ = [
    "CTRL_Z",
    "ESC",
    "MAX_PDU_HEX",
    "PROMPT",
    "PROMPTED",
    "STAT_REC_READ",
    "STAT_REC_UNREAD",
    "STAT_STO_SENT",
    "STAT_STO_UNSENT",
    "AtError",
    "Faults",
    "Handler",
    "Memory",
    "ModemState",
    "SimulatedModem",
    "StoredSms",
    "UnionMemory",
    "cme",
    "cms",
    "tpdu_octets",
]


class SimulatedModem(
    GeneralCommands, IdentityCommands, NetworkCommands, UssdCommands, VoiceCommands, SmsCommands
):
    """One simulated modem.  Create it, then :meth:`start`; it owns a pty and a reader thread."""

    family = "generic"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._voice_setup()
        self._ussd_setup()

    def _plug(self) -> None:
        super()._plug()
        self.audio.open()

    def _unplug(self, remove_link: bool) -> None:
        super()._unplug(remove_link)
        self._voice_drop("modem-gone")  # the far ends hear the call drop
        self.audio.close(remove_link=remove_link)

    # ------------------------------------------------------------------ fault switches
    def unplug(self) -> None:
        """USB unplug: both ptys (AT and audio) close, both symlinks disappear, calls drop."""
        self._unplug(remove_link=True)

    def replug(self) -> None:
        """USB plug-in: a new pty behind the same symlink, fresh power-up state, boot URCs."""
        self._unplug(remove_link=False)
        self._plug()

    def stop_answering(self, on: bool = True) -> None:
        self.faults.stop_answering = bool(on)

    def garbage(self, nbytes: int = 32) -> None:
        """Emit ``nbytes`` random bytes (incl. 0xff 0xfe and partial lines) at once."""
        self._write(junk(self._rand, max(1, int(nbytes))) + b"\r\n")

    def garbage_mode(self, on: bool = True) -> None:
        self.faults.garbage_mode = bool(on)

    def cms_error(self, code: int, count: int = 1) -> None:
        self.faults.cms_error = int(code)
        self.faults.cms_error_count = int(count)

    def storage_full(self, on: bool = True) -> None:
        self.faults.storage_full = bool(on)
        if not on:
            self.network.kick()

    def network_loss(self, on: bool = True) -> None:
        with self._lock:
            was = self.registered()
            self.faults.network_loss = bool(on)
            self._creg_changed(was)
        if on:
            self._voice_drop("network-lost")
        else:
            self.network.kick()

    def cpcmreg_fail(self, count: int = 1) -> None:
        """SIM7600: the next ``count`` AT+CPCMREG=1 answer ERROR even in a call."""
        self.faults.cpcmreg_fail = max(0, int(count))

    def set_signal(self, rssi: int) -> None:
        if not (0 <= rssi <= 31 or rssi == 99):
            raise ValueError("rssi must be 0..31 or 99")
        self.rssi = rssi

    def urc_before_ok(self, on: bool = True) -> None:
        """Force the next URC to be written inside the next command's response, before its OK."""
        with self._lock:
            self.faults.urc_before_ok = bool(on)

    def malformed_pdu(self, kind: str = "truncated", sender: str = "+447700900999") -> str:
        """Have the network deliver a deliberately broken PDU (quarantine tests)."""
        return self.network.malformed_pdu(self, kind, sender)

    def deliver_sms(self, sender: str, body: str, **kwargs: Any) -> Any:
        """Shortcut for ``network.deliver_sms(self, ...)``."""
        return self.network.deliver_sms(self, sender, body, **kwargs)

    def set_latency(self, seconds: float) -> None:
        self.latency = max(0.0, float(seconds))

    # ------------------------------------------------------------------ status
    def status(self) -> dict[str, Any]:
        with self._lock:
            return {
                "name": self.name,
                "family": self.profile.family,
                "number": self.number,
                "port": str(self.port_path),
                "plugged": self.plugged,
                "booted": self.booted,
                "registered": self.registered(),
                "creg": self.reg_stat(),
                "rssi": self.current_rssi(),
                "echo": self.state.echo,
                "cmee": self.state.cmee,
                "cmgf": self.state.cmgf,
                "cnmi": list(self.state.cnmi),
                "cpms": list(self.state.cpms),
                "pin_locked": self.pin_locked,
                "pin_attempts_left": self.pin_attempts_left,
                "latency": self.latency,
                "storage": {
                    n: {"used": m.used, "total": m.capacity}
                    for n, m in self.memories.items()
                    if not isinstance(m, UnionMemory)
                },
                "faults": self.faults.as_dict(),
                "sent": self.sent_count,
                "balance": self.balance,
                "ussd_session": self.ussd_session(),
                "mr": self._mr,
                "audio": {
                    "port": str(self.audio_path),
                    "enabled": self.audio_enabled(),
                    "streaming": self.audio_streaming(),
                    "frames_written": self.audio.frames_written,
                    "frames_read": self.audio.frames_read,
                    "frames_dropped": self.audio.frames_dropped,
                },
                "calls": [c.as_dict() for c in self.calls],
            }

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} {self.number} {self.port_path}>"
