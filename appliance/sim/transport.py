"""The modem end of the pseudo-terminal: lifecycle, response framing and unsolicited results.

:class:`ModemTransport` owns the pty and its symlink, the reader thread, the power-up
state, the radio status and the boot/periodic URCs.  It writes responses and final
result codes, and holds unsolicited results back while a command is in progress.  What
the host writes is split into command lines by :class:`~.linediscipline.LineDiscipline`.

What a command line *means* is left to subclasses: :meth:`ModemTransport._command`
(see ``dispatcher.py``) and :meth:`ModemTransport._end_pdu` (see ``sms.py``).
"""

from __future__ import annotations

import errno
import logging
import os
import random
import select
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import AtError
from .linediscipline import LineDiscipline
from .noise import junk
from .profile import SimProfile
from .pseudoterminal import open_pty, write_master
from .state import Faults, ModemState
from .storage import Memory, UnionMemory

if TYPE_CHECKING:
    from .network import Network

log = logging.getLogger(__name__)

WRITE_TIMEOUT = 1.0  # seconds output waits for the host to drain the pty before it is dropped


class ModemTransport(LineDiscipline):
    """The pty side of one simulated modem; :class:`~.device.SimulatedModem` builds on it."""

    def __init__(
        self,
        name: str,
        profile: SimProfile,
        number: str,
        port_path: Path | str,
        network: Network,
        *,
        latency: float | None = None,
        pin: str | None = None,
    ) -> None:
        self.name = name
        self.profile = profile
        self.number = number
        self.port_path = Path(port_path)
        self.network = network
        self.latency = profile.send_latency if latency is None else latency
        self.pin = pin
        # A real SIM allows three wrong PINs, then wants its PUK (3GPP TS 31.101); the count
        # lives on the SIM, so a power cycle does not restore it.
        self.pin_attempts_left = 3
        self.faults = Faults()
        self.rssi = profile.signal
        self.plugged = False
        self.booted = False
        self.pin_locked = pin is not None
        self._mr = 0
        self._lock = threading.RLock()
        self._out_lock = threading.Lock()
        self._busy = False
        self._pending_urcs: list[bytes] = []
        self._inject: list[bytes] = []
        self._master: int | None = None
        self._slave: int | None = None
        self._wake_r: int | None = None
        self._wake_w: int | None = None
        self._reader: threading.Thread | None = None
        self._stop = threading.Event()
        self._unplugged = threading.Event()
        self._boot_gen = 0
        self._rand = random.Random(hash(name) & 0xFFFF)
        super().__init__()  # the input parser
        # storage persists across unplug/replug (it is on the SIM / in flash)
        self.memories: dict[str, Memory] = {}
        for mem_name, cap in profile.storages.items():
            self.memories[mem_name] = Memory(mem_name, cap, profile.index_base)
        for mem_name, members in profile.storage_unions.items():
            self.memories[mem_name] = UnionMemory(
                mem_name, [self.memories[m] for m in members], profile.index_base
            )
        self.state = self._power_up_state()
        self.sent_count = 0
        self.rx_log: list[str] = []  # commands received (bounded), for debugging/tests

    # ------------------------------------------------------------------ lifecycle
    def _power_up_state(self) -> ModemState:
        return ModemState(
            echo=self.profile.echo,
            cnmi=self.profile.cnmi_default,
            cpms=list(self.profile.cpms_default),
        )

    def start(self) -> None:
        """Power on: create the pty and symlink, start the reader, emit boot URCs."""
        self._stop.clear()
        self._plug()

    def stop(self) -> None:
        """Power off for good (host shutdown)."""
        self._stop.set()
        self._unplug(remove_link=True)

    def _plug(self) -> None:
        with self._lock:
            if self.plugged:
                return
            master, slave = open_pty(self.port_path)
            self._master, self._slave = master, slave
            self._wake_r, self._wake_w = os.pipe()
            self.state = self._power_up_state()
            self._buf.clear()
            self._pdu_mode = False
            self._overflow = False
            self._busy = False
            self._pending_urcs.clear()
            self._inject.clear()
            self.plugged = True
            self._unplugged.clear()
            self.booted = False
            self.pin_locked = self.pin is not None
            self._boot_gen += 1
            gen = self._boot_gen
            self._reader = threading.Thread(
                target=self._read_loop,
                args=(master, self._wake_r),
                name=f"sim-{self.name}-reader",
                daemon=True,
            )
            self._reader.start()
        self.network.scheduler.call_later(self.profile.boot_delay, lambda: self._boot(gen))

    def _boot(self, gen: int) -> None:
        with self._lock:
            if not self.plugged or gen != self._boot_gen:
                return
            self.booted = True
            for line in self.profile.boot_urcs:
                self._urc([line])
            for urc in self.profile.periodic_urcs:
                self._schedule_periodic(gen, urc.text, urc.period)
        self.network.kick()

    def _schedule_periodic(self, gen: int, text: str, period: float) -> None:
        self.network.scheduler.call_later(period, lambda: self._periodic(gen, text, period))

    def _periodic(self, gen: int, text: str, period: float) -> None:
        with self._lock:
            if not self.plugged or gen != self._boot_gen or self._stop.is_set():
                return
            if self.periodic_enabled():
                self._urc([text.format(rssi=self.current_rssi())])
        self.network.scheduler.call_later(period, lambda: self._periodic(gen, text, period))

    def periodic_enabled(self) -> bool:
        """Whether periodic URCs are on (Huawei: AT^CURC=0 turns them off)."""
        return True

    def _unplug(self, remove_link: bool) -> None:
        reader = None
        with self._lock:
            if self.plugged:
                self.plugged = False
                self._unplugged.set()
                self.booted = False
                self._boot_gen += 1
                if self._wake_w is not None:
                    os.write(self._wake_w, b"x")
                reader = self._reader
        if reader is not None and reader is not threading.current_thread():
            reader.join(timeout=5)
        with self._lock, self._out_lock:
            for fd in (self._master, self._slave, self._wake_r, self._wake_w):
                if fd is not None:
                    try:
                        os.close(fd)
                    except OSError:
                        pass
            self._master = self._slave = self._wake_r = self._wake_w = None
            self._reader = None
            if remove_link:
                try:
                    self.port_path.unlink()
                except FileNotFoundError:
                    pass

    # ------------------------------------------------------------------ radio status
    def registered(self) -> bool:
        return (
            self.plugged
            and not self.faults.network_loss
            and self.state.cfun == 1
            and not self.pin_locked
        )

    def reg_stat(self) -> int:
        if self.registered():
            return 1
        if self.faults.network_loss or self.pin_locked:
            return 2 if self.state.cfun == 1 and not self.pin_locked else 0
        return 0

    def current_rssi(self) -> int:
        return 99 if self.faults.network_loss or not self.registered() else self.rssi

    def receive_memory(self) -> Memory:
        return self.memories[self.state.cpms[2]]

    def report_memory(self) -> Memory:
        name = self.profile.status_report_memory
        return self.memories[name] if name else self.receive_memory()

    def _creg_line(self, prefix: str, n: int, urc: bool) -> str:
        stat = self.reg_stat()
        head = f"{prefix}: {stat}" if urc else f"{prefix}: {n},{stat}"
        if n == 2 and stat in (1, 5):
            head += ',"1A2B","00C3"'
        return head

    def _creg_changed(self, was: bool) -> None:
        if was == self.registered() or not self.plugged:
            return
        if self.state.creg_n:
            self._urc([self._creg_line("+CREG", self.state.creg_n, urc=True)])

    # ------------------------------------------------------------------ output
    def _write(self, data: bytes) -> None:
        with self._out_lock:
            if self._master is not None:
                write_master(self._master, data, WRITE_TIMEOUT)

    @staticmethod
    def _frame(lines: list[str]) -> bytes:
        return ("\r\n" + "\r\n".join(lines) + "\r\n").encode("latin-1", "replace")

    def _urc(self, lines: list[str]) -> None:
        """Emit an unsolicited result: never inside a response (unless forced)."""
        data = self._frame(lines)
        with self._lock:
            if not self.plugged:
                return
            if self.faults.urc_before_ok:
                self.faults.urc_before_ok = False
                self._inject.append(data)
            elif self._busy or self._input_waiting():
                # a command is being processed, or one has arrived and is about to be:
                # hold the URC until its final result code has been written
                self._pending_urcs.append(data)
            else:
                self._write(data)

    def _input_waiting(self) -> bool:
        fd = self._master
        if fd is None:
            return False
        try:
            ready, _, _ = select.select([fd], [], [], 0)
        except (OSError, ValueError):
            return False
        return bool(ready)

    def _flush_pending(self) -> None:
        with self._lock:
            if self._busy or self._pdu_mode or not self._pending_urcs:
                return
            pending, self._pending_urcs = self._pending_urcs, []
            for data in pending:
                self._write(data)

    def _final(self, err: AtError | None) -> str:
        if err is None:
            return "OK"
        if err.kind == "unknown":
            return self.profile.unknown_command
        if err.kind in ("cme", "cms") and self.state.cmee:
            return f"+{err.kind.upper()} ERROR: {err.code}"
        return "ERROR"

    def _respond(self, lines: list[str], err: AtError | None) -> None:
        """Write a complete response; called with the lock held and _busy set."""
        self._respond_all([lines], err)

    def _respond_all(self, responses: list[list[str]], err: AtError | None) -> None:
        """The responses of a command line's commands, each framed, then one final result code."""
        out = bytearray()
        for lines in responses:
            if lines:
                out += self._frame(lines)
        if self._inject:
            for data in self._inject:
                out += data
            self._inject.clear()
        out += self._frame([self._final(err)])
        self._write(bytes(out))
        if self.faults.garbage_mode:
            self._write(junk(self._rand, self._rand.randint(3, 12)) + b"\r\n")

    def _respond_locked(self, lines: list[str], err: AtError | None) -> None:
        with self._lock:
            self._respond(lines, err)

    def _respond_all_locked(self, responses: list[list[str]], err: AtError | None) -> None:
        with self._lock:
            self._respond_all(responses, err)

    def _end_command(self) -> None:
        with self._lock:
            if self._pdu_mode:  # still at the "> " prompt: the command is not over
                return
            pending, self._pending_urcs = self._pending_urcs, []
            self._busy = False
            for data in pending:
                self._write(data)

    # ------------------------------------------------------------------ input
    def _read_loop(self, master: int, wake_r: int) -> None:
        try:
            while not self._stop.is_set():
                try:
                    ready, _, _ = select.select([master, wake_r], [], [], 1.0)
                except (OSError, ValueError):
                    return
                if wake_r in ready:
                    return
                if master not in ready:
                    continue
                try:
                    data = os.read(master, 4096)
                except BlockingIOError:
                    continue
                except OSError as exc:
                    if exc.errno == errno.EIO:  # no slave open yet (cannot happen: we hold one)
                        time.sleep(0.5)
                        continue
                    return
                if not data:
                    return
                try:
                    self.feed(data)
                    self._flush_pending()
                except Exception:  # never let junk kill the modem
                    log.exception("sim %s: error handling input %r", self.name, data[:80])
                    with self._lock:
                        self._buf.clear()
                        self._pdu_mode = False
                        self._busy = False
        finally:
            log.debug("sim %s: reader exits", self.name)

    def _run(self, body: Callable[[], None]) -> None:
        with self._lock:
            self._busy = True
        try:
            body()
        finally:
            self._end_command()

    def _fail(self, err: AtError) -> None:
        with self._lock:
            self._respond([], err)
