"""A simulated GSM modem behind a real pseudo-terminal.

The production driver (python-gsmmodem-new's ``GsmModem`` and the project's subclass)
opens the pty's slave side through a stable symlink, exactly as it would open
``/dev/serial/by-id/...`` on real hardware.  This module implements the modem end:
an AT command parser/dispatcher, SMS storage (``AT+CPMS`` memories), PDU-mode send
(``AT+CMGS``), ``AT+CNMI`` routing of inbound messages and status reports, and fault
switches (unplug, hang, garbage, errors, full storage, network loss).

Command handlers are methods named after the command:

* ``at_CMGS`` handles ``AT+CMGS``; ``at_caret_CURC`` handles ``AT^CURC``;
  ``at_amp_F`` handles ``AT&F``; basic commands use one letter (``at_Z`` = ``ATZ``).
* signature ``(self, kind, arg) -> list[str]`` where ``kind`` is ``"exec"``,
  ``"read"`` (``?``), ``"test"`` (``=?``) or ``"set"`` (``=arg``); return the
  information lines (the final ``OK`` is added) or raise :class:`AtError`.

Family subclasses (``families.py``) add vendor commands by defining more methods and
change data-driven behaviour through their profile (``profile.py``).
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import random
import select
import threading
import time
import tty
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .profile import SimProfile

if TYPE_CHECKING:
    from .network import Network

log = logging.getLogger(__name__)

CTRL_Z = 0x1A
ESC = 0x1B
PROMPT = b"\r\n> "
MAX_PDU_HEX = 400  # 175 octets max PDU incl. SMSC → 350 hex digits; allow slack

# SMS storage status values (3GPP 27.005 <stat> in PDU mode)
STAT_REC_UNREAD = 0
STAT_REC_READ = 1
STAT_STO_UNSENT = 2
STAT_STO_SENT = 3

Handler = Callable[[str, str], list[str]]


class AtError(Exception):
    """Raised by a command handler; rendered according to AT+CMEE and the family."""

    def __init__(self, kind: str = "plain", code: int = 0) -> None:
        super().__init__(f"{kind} {code}")
        self.kind = kind  # "plain" | "cme" | "cms" | "unknown"
        self.code = code


def cme(code: int) -> AtError:
    return AtError("cme", code)


def cms(code: int) -> AtError:
    return AtError("cms", code)


@dataclass
class StoredSms:
    stat: int
    pdu: str  # hex including the SMSC field, as +CMGR shows it
    length: int  # TPDU length in octets (the <length> field)


def tpdu_octets(pdu_hex: str) -> int:
    """TPDU length of a hex PDU that starts with an SMSC field (robust for broken PDUs)."""
    total = len(pdu_hex) // 2
    try:
        smsc_len = int(pdu_hex[0:2], 16)
    except ValueError:
        return total
    return max(0, total - 1 - smsc_len)


class Memory:
    """One message memory ("SM", "ME", "SR", ...) with a fixed capacity."""

    def __init__(self, name: str, capacity: int, base: int) -> None:
        self.name = name
        self.capacity = capacity
        self.base = base
        self.slots: dict[int, StoredSms] = {}

    @property
    def used(self) -> int:
        return len(self.slots)

    def indices(self) -> range:
        return range(self.base, self.base + self.capacity)

    def store(self, msg: StoredSms) -> int | None:
        for i in self.indices():
            if i not in self.slots:
                self.slots[i] = msg
                return i
        return None

    def get(self, index: int) -> StoredSms | None:
        return self.slots.get(index)

    def valid(self, index: int) -> bool:
        return index in self.indices()

    def delete(self, index: int) -> bool:
        return self.slots.pop(index, None) is not None

    def items(self) -> Iterator[tuple[int, StoredSms]]:
        return iter(sorted(self.slots.items()))


class UnionMemory(Memory):
    """A memory that spans others (Quectel "MT" = "ME" + "SM"), indices laid end to end."""

    def __init__(self, name: str, members: list[Memory], base: int) -> None:
        super().__init__(name, sum(m.capacity for m in members), base)
        self.members = members

    def _locate(self, index: int) -> tuple[Memory, int] | None:
        offset = index - self.base
        for m in self.members:
            if 0 <= offset < m.capacity:
                return m, m.base + offset
            offset -= m.capacity
        return None

    def _global(self, member: Memory, local: int) -> int:
        offset = 0
        for m in self.members:
            if m is member:
                return self.base + offset + (local - m.base)
            offset += m.capacity
        raise KeyError(member.name)

    @property
    def used(self) -> int:
        return sum(m.used for m in self.members)

    def store(self, msg: StoredSms) -> int | None:
        for m in self.members:
            local = m.store(msg)
            if local is not None:
                return self._global(m, local)
        return None

    def get(self, index: int) -> StoredSms | None:
        loc = self._locate(index)
        return loc[0].get(loc[1]) if loc else None

    def delete(self, index: int) -> bool:
        loc = self._locate(index)
        return loc[0].delete(loc[1]) if loc else False

    def items(self) -> Iterator[tuple[int, StoredSms]]:
        out = [(self._global(m, i), s) for m in self.members for i, s in m.slots.items()]
        return iter(sorted(out, key=lambda t: t[0]))


@dataclass
class Faults:
    stop_answering: bool = False
    garbage_mode: bool = False
    storage_full: bool = False
    network_loss: bool = False
    cms_error: int = 0
    cms_error_count: int = 0
    urc_before_ok: bool = False

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
    cops_format: int = 0
    cscs: str = "IRA"
    csmp: str = "17,167,0,0"
    csms: int = 0
    cfun: int = 1
    clip: int = 0
    crc: int = 0
    extra: dict[str, str] = field(default_factory=dict)  # vendor settings (CURC, DDET, ...)


class SimulatedModem:
    """One simulated modem.  Create it, then :meth:`start`; it owns a pty and a reader thread."""

    family = "generic"

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
        self.faults = Faults()
        self.rssi = profile.signal
        self.plugged = False
        self.booted = False
        self.pin_locked = pin is not None
        self.ussd_reply = profile.ussd_reply
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
        # input parser
        self._buf = bytearray()
        self._overflow = False
        self._pdu_mode = False
        self._pdu_len = 0
        self._pdu_text_dest: str | None = None
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
            master, slave = os.openpty()
            tty.setraw(master)
            tty.setraw(slave)
            fl = fcntl.fcntl(master, fcntl.F_GETFL)
            fcntl.fcntl(master, fcntl.F_SETFL, fl | os.O_NONBLOCK)
            self._master, self._slave = master, slave
            self._wake_r, self._wake_w = os.pipe()
            self.port_path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.port_path.with_name(self.port_path.name + ".new")
            try:
                tmp.unlink()
            except FileNotFoundError:
                pass
            os.symlink(os.ttyname(slave), tmp)
            os.replace(tmp, self.port_path)
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

    # ------------------------------------------------------------------ fault switches
    def unplug(self) -> None:
        """USB unplug: the pty master closes (the driver sees EIO), the symlink disappears."""
        self._unplug(remove_link=True)

    def replug(self) -> None:
        """USB plug-in: a new pty behind the same symlink, fresh power-up state, boot URCs."""
        self._unplug(remove_link=False)
        self._plug()

    def stop_answering(self, on: bool = True) -> None:
        self.faults.stop_answering = bool(on)

    def garbage(self, nbytes: int = 32) -> None:
        """Emit ``nbytes`` random bytes (incl. 0xff 0xfe and partial lines) at once."""
        self._write(self._junk(max(1, int(nbytes))) + b"\r\n")

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
        if not on:
            self.network.kick()

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

    def _junk(self, n: int) -> bytes:
        pool = [0xFF, 0xFE, 0x00, 0x80, 0xC3, 0x1A, 0x0D]
        fragments = [b"+CM", b"+CMT", b"OK", b"\r", b"+CSQ: 1", b"ERR"]
        out = bytearray()
        while len(out) < n:
            r = self._rand.random()
            if r < 0.3:
                out.append(self._rand.choice(pool))
            elif r < 0.4:
                out += self._rand.choice(fragments)
            else:
                out.append(self._rand.randrange(256))
        data = bytes(out[:n])
        # never a full line that looks like a final result code
        return data.replace(b"\n", b"?")

    # ------------------------------------------------------------------ status
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
                "latency": self.latency,
                "storage": {
                    n: {"used": m.used, "total": m.capacity}
                    for n, m in self.memories.items()
                    if not isinstance(m, UnionMemory)
                },
                "faults": self.faults.as_dict(),
                "sent": self.sent_count,
                "mr": self._mr,
            }

    # ------------------------------------------------------------------ output
    def _write(self, data: bytes) -> None:
        with self._out_lock:
            fd = self._master
            if fd is None:
                return
            view = memoryview(data)
            deadline = time.monotonic() + 1.0
            while view:
                try:
                    n = os.write(fd, view)
                    view = view[n:]
                except BlockingIOError:
                    # nobody drains the slave side (driver not running): like a real
                    # modem talking into an unplugged cable, output is dropped
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return
                    select.select([], [fd], [], min(remaining, 0.5))
                except OSError:
                    return

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
        out = bytearray()
        if lines:
            out += self._frame(lines)
        if self._inject:
            for data in self._inject:
                out += data
            self._inject.clear()
        out += self._frame([self._final(err)])
        self._write(bytes(out))
        if self.faults.garbage_mode:
            self._write(self._junk(self._rand.randint(3, 12)) + b"\r\n")

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

    def feed(self, data: bytes) -> None:
        """Process bytes written by the host (public so tests can drive it without a pty)."""
        if self.faults.stop_answering:
            return
        echo = bytearray()
        for b in data:
            if self._pdu_mode:
                if self.state.echo:
                    echo.append(b)
                if b == CTRL_Z or b == ESC:
                    self._flush_echo(echo)
                    self._end_pdu(cancel=(b == ESC))
                elif len(self._buf) < MAX_PDU_HEX * 4:
                    self._buf.append(b)
                else:
                    self._overflow = True
                continue
            if self.state.echo and b != 0x0A:
                echo.append(b)
            if b == 0x0D:
                line = bytes(self._buf)
                overflow = self._overflow
                self._buf.clear()
                self._overflow = False
                self._flush_echo(echo)
                if overflow:
                    self._run(lambda: self._fail(AtError("plain")))
                elif line.strip():
                    self._command(line)
            elif b == 0x0A:
                continue
            elif b == 0x08 or b == 0x7F:  # backspace, as terminals send it
                if self._buf:
                    self._buf.pop()
            elif len(self._buf) < self.profile.max_line:
                self._buf.append(b)
            else:
                self._overflow = True
            if self.faults.stop_answering:
                return
        self._flush_echo(echo)

    def _flush_echo(self, echo: bytearray) -> None:
        if echo:
            self._write(bytes(echo))
            echo.clear()

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

    # ------------------------------------------------------------------ dispatch
    def _command(self, raw: bytes) -> None:
        text = raw.decode("latin-1").strip()
        if len(self.rx_log) > 200:
            del self.rx_log[:100]
        self.rx_log.append(text)
        upper = text.upper()
        if not upper.startswith("AT"):
            self._run(lambda: self._fail(AtError("plain")))
            return
        body = text[2:]
        if not body.strip():
            self._run(lambda: self._respond_locked([], None))
            return
        self._run(lambda: self._dispatch(body))

    def _respond_locked(self, lines: list[str], err: AtError | None) -> None:
        with self._lock:
            self._respond(lines, err)

    @staticmethod
    def parse(body: str) -> tuple[str, str, str]:
        """Split a command body (text after "AT") into (name, kind, arg)."""
        if body[0] == "&":
            name = body[:2].upper()
            rest = body[2:]
            if rest and rest[0] not in "=?":
                return name, "set", rest
        elif body[0] in "+^$%*#":
            i = 1
            while i < len(body) and (body[i].isalnum() or body[i] in "_"):
                i += 1
            name = body[:i].upper()
            rest = body[i:]
        else:
            name = body[0].upper()
            rest = body[1:]
            if name in ("D",):  # ATD<number>[;]
                return name, "set", rest
            if rest.startswith("=") or rest.startswith("?"):
                pass
            else:
                return name, ("set" if rest else "exec"), rest
        if rest == "?":
            return name, "read", ""
        if rest == "=?":
            return name, "test", ""
        if rest.startswith("="):
            return name, "set", rest[1:]
        if rest == "":
            return name, "exec", ""
        return name, "set", rest

    @staticmethod
    def method_name(cmd: str) -> str:
        prefix = {"+": "", "^": "caret_", "&": "amp_", "$": "dollar_", "%": "pct_", "*": "star_"}
        if cmd[0] in prefix:
            return "at_" + prefix[cmd[0]] + cmd[1:]
        return "at_" + cmd

    def handler(self, cmd: str) -> Handler | None:
        if cmd in self.profile.unsupported:
            return None
        fn = getattr(self, self.method_name(cmd), None)
        return fn if callable(fn) else None

    def supported_commands(self) -> list[str]:
        prefix = {"caret_": "^", "amp_": "&", "dollar_": "$", "pct_": "%", "star_": "*"}
        out = []
        for attr in dir(self):
            if not attr.startswith("at_"):
                continue
            rest = attr[3:]
            for p, sym in prefix.items():
                if rest.startswith(p):
                    name = sym + rest[len(p) :]
                    break
            else:
                name = rest if len(rest) == 1 else "+" + rest
            if name not in self.profile.unsupported:
                out.append(name)
        out.extend(self.profile.clac_extra)
        return sorted(set(out))

    def _dispatch(self, body: str) -> None:
        try:
            name, kind, arg = self.parse(body)
        except IndexError:
            self._respond_locked([], AtError("plain"))
            return
        fn = self.handler(name)
        if fn is None:
            self._respond_locked([], AtError("unknown"))
            return
        # commands that start a PDU/text prompt manage their own response
        try:
            with self._lock:
                lines = fn(kind, arg)
        except AtError as err:
            self._respond_locked([], err)
            return
        except (ValueError, IndexError):
            self._respond_locked([], AtError("plain"))
            return
        if lines is PROMPTED:
            return
        self._respond_locked(lines, None)
        # a command may have freed storage or changed routing
        if name in ("+CMGD", "+CPIN", "+CFUN", "+CNMI"):
            self.network.kick()

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _ints(arg: str) -> list[int | None]:
        out: list[int | None] = []
        for part in arg.split(","):
            part = part.strip()
            out.append(int(part) if part else None)
        return out

    @staticmethod
    def _unquote(s: str) -> str:
        s = s.strip()
        if len(s) >= 2 and s[0] == '"' and s[-1] == '"':
            return s[1:-1]
        return s

    def _require_sim(self) -> None:
        if self.pin_locked:
            raise cme(11)

    # ------------------------------------------------------------------ basic commands
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

    def at_I(self, kind: str, arg: str) -> list[str]:
        p = self.profile
        rev = p.revision if p.revision.lower().startswith("revision") else f"Revision: {p.revision}"
        return [p.manufacturer, p.model, rev]

    # ------------------------------------------------------------------ voice extension point
    def at_D(self, kind: str, arg: str) -> list[str]:
        """ATD<number>; — voice is not simulated yet: the call fails right away."""
        self._require_sim()
        if not self.registered():
            raise AtError("plain")
        self.network.scheduler.call_later(0.2, lambda: self._urc(["NO CARRIER"]))
        return []

    def at_A(self, kind: str, arg: str) -> list[str]:
        raise AtError("plain")  # no incoming call to answer

    def at_H(self, kind: str, arg: str) -> list[str]:
        return []

    def at_CHUP(self, kind: str, arg: str) -> list[str]:
        return []

    def at_CLCC(self, kind: str, arg: str) -> list[str]:
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

    def at_CVHU(self, kind: str, arg: str) -> list[str]:
        return ["+CVHU: 0"] if kind == "read" else []

    def at_COLP(self, kind: str, arg: str) -> list[str]:
        return ["+COLP: 0,1"] if kind == "read" else []

    def at_VTS(self, kind: str, arg: str) -> list[str]:
        return ["+VTS: (0-9,#,*,A-D),(1-255)"] if kind == "test" else []

    # ------------------------------------------------------------------ identity / general
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

    def at_CSQ(self, kind: str, arg: str) -> list[str]:
        if kind == "test":
            return ["+CSQ: (0-31,99),(0-7,99)"]
        return [f"+CSQ: {self.current_rssi()},99"]

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

    def at_CNUM(self, kind: str, arg: str) -> list[str]:
        if kind == "test":
            return []
        self._require_sim()
        ton = 145 if self.number.startswith("+") else 129
        return [f'+CNUM: "","{self.number}",{ton}']

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

    # ------------------------------------------------------------------ SMS settings
    def at_CMGF(self, kind: str, arg: str) -> list[str]:
        if kind == "read":
            return [f"+CMGF: {self.state.cmgf}"]
        if kind == "test":
            return ["+CMGF: (0,1)"]
        mode = int(arg or "0")
        if mode not in (0, 1):
            raise cms(303)
        self.state.cmgf = mode
        return []

    def at_CSCA(self, kind: str, arg: str) -> list[str]:
        if kind == "read":
            sc = self.state.extra.get("csca", self.profile.smsc)
            return [f'+CSCA: "{sc}",{145 if sc.startswith("+") else 129}']
        if kind == "set":
            self.state.extra["csca"] = self._unquote(arg.split(",")[0])
        return []

    def at_CSMP(self, kind: str, arg: str) -> list[str]:
        if kind == "read":
            return [f"+CSMP: {self.state.csmp}"]
        if kind == "set":
            self.state.csmp = arg
        return []

    def at_CSMS(self, kind: str, arg: str) -> list[str]:
        if kind == "test":
            return ["+CSMS: (0,1)"]
        if kind == "read":
            return [f"+CSMS: {self.state.csms},1,1,1"]
        svc = int(arg or "0")
        if svc not in (0, 1):
            raise cms(303)
        self.state.csms = svc
        return ["+CSMS: 1,1,1"]

    def at_CNMA(self, kind: str, arg: str) -> list[str]:
        if kind == "test":
            return ["+CNMA: (0-2)"]
        return []

    def at_CNMI(self, kind: str, arg: str) -> list[str]:
        if kind == "read":
            return ["+CNMI: " + ",".join(str(v) for v in self.state.cnmi)]
        if kind == "test":
            return [f"+CNMI: {self.profile.cnmi_test}"]
        vals = self._ints(arg)
        if len(vals) > 5:
            raise cms(303)
        limits = (3, 3, 3, 2, 1)
        cur = list(self.state.cnmi)
        for i, v in enumerate(vals):
            if v is None:
                continue
            if not 0 <= v <= limits[i]:
                raise cms(303)
            cur[i] = v
        self.state.cnmi = (cur[0], cur[1], cur[2], cur[3], cur[4])
        return []

    # ------------------------------------------------------------------ storage
    def _memory(self, name: str) -> Memory:
        mem = self.memories.get(name)
        if mem is None:
            raise cms(302)
        return mem

    def _used(self, mem: Memory) -> int:
        if self.faults.storage_full and mem is self.receive_memory():
            return mem.capacity
        return mem.used

    def at_CPMS(self, kind: str, arg: str) -> list[str]:
        if kind == "test":
            groups = ["(" + ",".join(f'"{m}"' for m in g) + ")" for g in self.profile.cpms_test]
            return ["+CPMS: " + ",".join(groups)]
        self._require_sim()
        if kind == "read":
            parts = []
            for name in self.state.cpms:
                mem = self._memory(name)
                parts.append(f'"{name}",{self._used(mem)},{mem.capacity}')
            return ["+CPMS: " + ",".join(parts)]
        if kind != "set":
            raise cms(302)
        names = [self._unquote(a) for a in arg.split(",")]
        if not 1 <= len(names) <= 3:
            raise cms(302)
        new = list(self.state.cpms)
        for i, name in enumerate(names):
            if not name:
                continue
            if name not in self.profile.cpms_test[i]:
                raise cms(302)
            new[i] = name
        self.state.cpms = new
        out = []
        for name in new:
            mem = self._memory(name)
            out.append(f"{self._used(mem)},{mem.capacity}")
        return ["+CPMS: " + ",".join(out)]

    def at_CMGR(self, kind: str, arg: str) -> list[str]:
        if kind == "test":
            return []
        self._require_sim()
        if self.state.cmgf != 0:
            raise cms(302)  # text-mode reading is not simulated
        mem = self._memory(self.state.cpms[0])
        index = int(arg)
        if not mem.valid(index):
            raise cms(321)
        msg = mem.get(index)
        if msg is None:
            if self.profile.empty_slot == "ok":
                return []
            raise cms(321)
        lines = [f"+CMGR: {msg.stat},,{msg.length}", msg.pdu]
        if msg.stat == STAT_REC_UNREAD:
            msg.stat = STAT_REC_READ
        return lines

    def at_CMGL(self, kind: str, arg: str) -> list[str]:
        if kind == "test":
            return ["+CMGL: (0-4)"]
        self._require_sim()
        if self.state.cmgf != 0:
            raise cms(302)
        stat = int(arg or "0")
        if stat not in (0, 1, 2, 3, 4):
            raise cms(302)
        mem = self._memory(self.state.cpms[0])
        lines: list[str] = []
        for index, msg in mem.items():
            if stat == 4 or msg.stat == stat:
                lines.append(f"+CMGL: {index},{msg.stat},,{msg.length}")
                lines.append(msg.pdu)
                if msg.stat == STAT_REC_UNREAD:
                    msg.stat = STAT_REC_READ
        return lines

    def at_CMGD(self, kind: str, arg: str) -> list[str]:
        if kind == "test":
            mem = self._memory(self.state.cpms[0])
            used = ",".join(str(i) for i, _ in mem.items())
            return [f"+CMGD: ({used}),(0-4)"]
        self._require_sim()
        vals = self._ints(arg)
        mem = self._memory(self.state.cpms[0])
        index = vals[0]
        flag = vals[1] if len(vals) > 1 and vals[1] is not None else 0
        if flag not in (0, 1, 2, 3, 4):
            raise cms(302)
        if flag == 0:
            if index is None or not mem.valid(index):
                raise cms(321)
            if not mem.delete(index) and self.profile.empty_slot == "error":
                raise cms(321)
            return []
        wanted = {
            1: {STAT_REC_READ},
            2: {STAT_REC_READ, STAT_STO_SENT},
            3: {STAT_REC_READ, STAT_STO_SENT, STAT_STO_UNSENT},
            4: {0, 1, 2, 3},
        }[flag]
        for i, msg in list(mem.items()):
            if msg.stat in wanted:
                mem.delete(i)
        return []

    # ------------------------------------------------------------------ sending
    def at_CMGS(self, kind: str, arg: str) -> list[str]:
        if kind == "test":
            return []
        if kind != "set":
            raise cms(302)
        self._require_sim()
        if self.state.cmgf == 1:
            dest = self._unquote(arg.split(",")[0])
            if not dest:
                raise cms(304)
            self._pdu_text_dest = dest
            self._pdu_len = 0
        else:
            try:
                length = int(arg)
            except ValueError:
                raise cms(304) from None
            if not 7 <= length <= 164:
                raise cms(304)
            self._pdu_text_dest = None
            self._pdu_len = length
        self._pdu_mode = True
        self._buf.clear()
        self._overflow = False
        self._write(PROMPT)
        return PROMPTED

    def _end_pdu(self, cancel: bool) -> None:
        """Called from feed() when Ctrl-Z / ESC ends the prompt."""
        raw = bytes(self._buf)
        overflow = self._overflow
        self._buf.clear()
        self._overflow = False
        self._pdu_mode = False
        if cancel:
            self._run(lambda: self._respond_locked([], None))
            return
        self._run(lambda: self._submit(raw, overflow))

    def _submit(self, raw: bytes, overflow: bool) -> None:
        from .. import pdu as pdumod

        try:
            if overflow:
                raise cms(304)
            text_dest = self._pdu_text_dest
            if text_dest is not None:
                body = raw.decode("latin-1").strip("\r\n")
                record: Any = ("text", text_dest, body)
                first = self.state.csmp.split(",")[0].strip()
                srr = bool(int(first) & 0x20) if first.isdigit() else False
            else:
                hexstr = raw.decode("latin-1").strip()
                if (
                    not hexstr
                    or len(hexstr) % 2
                    or any(c not in "0123456789abcdefABCDEF" for c in hexstr)
                ):
                    raise cms(304)
                if tpdu_octets(hexstr) != self._pdu_len:
                    raise cms(304)
                try:
                    submit = pdumod.decode(hexstr, has_smsc=True, direction="mo")
                except (pdumod.PduError, ValueError):
                    raise cms(304) from None
                if not isinstance(submit, pdumod.Submit):
                    raise cms(304)
                record = submit
                srr = submit.srr
        except AtError as err:
            self._respond_locked([], err)
            return
        # the radio round trip: the modem answers nothing else meanwhile
        if self.latency > 0:
            self._unplugged.wait(self.latency)
        with self._lock:
            if not self.plugged:
                return
            if self.faults.cms_error_count > 0:
                self.faults.cms_error_count -= 1
                self._respond([], cms(self.faults.cms_error))
                return
            if not self.registered():
                self._respond([], cms(331))
                return
            mr = self._mr
            self._mr = (self._mr + 1) % 256
            self.sent_count += 1
            self._respond([f"+CMGS: {mr}"], None)
        self.network.submitted(self, record, mr, srr)

    # ------------------------------------------------------------------ inbound (network side)
    def accept_deliver(self, pdu_hex: str, *, flash: bool = False) -> bool:
        """The network hands an SMS-DELIVER PDU (hex incl. SMSC) over; False = try later."""
        with self._lock:
            if not self.plugged or not self.booted or not self.registered():
                return False
            mode, mt = self.state.cnmi[0], self.state.cnmi[1]
            length = tpdu_octets(pdu_hex)
            if mode != 0 and (flash or mt == 2):
                self._urc([f"+CMT: ,{length}", pdu_hex.upper()])
                return True
            mem = self.receive_memory()
            if self.faults.storage_full and mem is self.receive_memory():
                return False
            index = mem.store(StoredSms(STAT_REC_UNREAD, pdu_hex.upper(), length))
            if index is None:
                return False
            if mode != 0 and mt in (1, 3):
                self._urc([f'+CMTI: "{mem.name}",{index}'])
            return True

    def accept_status_report(self, pdu_hex: str) -> bool:
        with self._lock:
            if not self.plugged or not self.booted or not self.registered():
                return False
            mode, ds = self.state.cnmi[0], self.state.cnmi[3]
            length = tpdu_octets(pdu_hex)
            if ds == 0:
                return True  # not routed to the TE: the report is dropped
            if ds == 1 and mode != 0:
                self._urc([f"+CDS: {length}", pdu_hex.upper()])
                return True
            mem = self.report_memory()
            if self.faults.storage_full and mem is self.receive_memory():
                return False
            index = mem.store(StoredSms(STAT_REC_UNREAD, pdu_hex.upper(), length))
            if index is None:
                return False
            if mode != 0:
                self._urc([f'+CDSI: "{mem.name}",{index}'])
            return True

    def store_raw(self, pdu_hex: str, memory: str | None = None, stat: int = 0) -> int:
        """Put a PDU straight into storage (no URC); returns the index."""
        with self._lock:
            mem = self.memories[memory] if memory else self.receive_memory()
            index = mem.store(StoredSms(stat, pdu_hex.upper(), tpdu_octets(pdu_hex)))
            if index is None:
                raise RuntimeError(f"memory {mem.name} is full")
            return index

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} {self.number} {self.port_path}>"


class _Prompted(list[str]):
    """Marker: the handler wrote its own prompt; no final result yet."""


PROMPTED: list[str] = _Prompted()
