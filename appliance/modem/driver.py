"""The modem driver: python-gsmmodem-new with its defects mended.

This is the only module that imports python-gsmmodem-new.  :class:`Driver`
keeps the library's port handling, command/response correlation, init
sequence (``GsmModem.connect``), error classes and queries, and replaces the
parts that lose data (twilio-compat.md, part B5):

* B5.1 -- the read thread died on the first non-UTF-8 byte.  :meth:`_Port._readLoop`
  decodes every line with :func:`atcodec.clean` and survives any byte.
* B5.2 -- a URC arriving while a command waited was swallowed into its response.
  :meth:`_Port._handleLineRead` classifies each line with :func:`atcodec.is_urc`
  and hands URCs to ``urc_sink`` even mid-command.
* B5.3/B5.9 -- ``+CMT`` and ``NO CARRIER`` were dropped as "unhandled".  All URCs,
  two-line ones included, go to ``urc_sink``; the modem thread handles them.
* B5.5 -- the library runs callbacks on a new thread per notification, and
  multi-step operations (``AT+CMGS`` prompt + PDU) interleave across threads.
  Here URCs never run callbacks on the reader thread: the sink is a queue owned
  by :class:`appliance.modem.Modem`, whose single thread issues every command,
  and :meth:`Driver.send_pdu` holds the port lock across prompt and PDU.
* B5.6 -- flow control was hard-coded to RTS/CTS.  It comes from the profile.
* B5.7 -- emoji broke the library's UCS-2 encoder.  SMS are encoded by
  :mod:`appliance.sms.pdu` and sent as PDUs; the library's ``sendSms`` is not used.
* B5.11 -- ``+CME ERROR: 14/515`` (SIM busy) was retried by unbounded recursion.
  :meth:`Driver.write` retries a bounded number of times.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import serial
from gsmmodem.exceptions import CmeError, CmsError, CommandError, TimeoutException
from gsmmodem.modem import GsmModem
from gsmmodem.serial_comms import SerialComms

from appliance.errors import CommandRejected, ModemGone, ModemTimeout
from appliance.modem import atcodec
from appliance.modem.attap import AtTap

LOGGER = logging.getLogger(__name__)
TRACE = 5

# Seconds a serial read blocks before the reader checks whether it should stop.
READ_TIMEOUT = 1.0
# A line longer than this without CR LF is line noise; it is dropped.
MAX_LINE = 4096
# Seconds to let the modem answer the ESC sent on connect, before its answer is flushed.
ESC_SETTLE = 0.2
# Retries of a command answered "SIM busy" (+CME ERROR: 14) or "busy" (515).
BUSY_RETRIES = 5

UrcSink = Callable[[atcodec.Urc], None]


class DriverTimeout(ModemTimeout, TimeoutException):  # type: ignore[misc]
    """A command timed out.  Also a library TimeoutException, which its connect() expects."""

    def __init__(self, message: str, data: list[str] | None = None) -> None:
        ModemTimeout.__init__(self, message)
        self.data = data


class _Port(SerialComms):  # type: ignore[misc]
    """SerialComms with a reader that never dies on bad bytes and never swallows URCs."""

    flow_control = False
    urc_sink: UrcSink | None = None
    gone_sink: Callable[[Exception], None] | None = None
    tap: AtTap | None = None  # the panel's AT monitor: every line written and read

    def connect(self) -> None:
        self._assembler = atcodec.UrcAssembler()
        self._command: str | None = None
        self.serial = serial.serial_for_url(
            self.port,
            baudrate=self.baudrate,
            timeout=READ_TIMEOUT,
            rtscts=self.flow_control,
            dsrdtr=False,
            exclusive=True,
        )
        # A send cut earlier may have left the modem waiting for PDU input: ESC aborts it.
        # Whatever the modem answers to that (often ERROR) is flushed before any real command.
        self.serial.write(b"\x1b\r")
        time.sleep(ESC_SETTLE)
        self.serial.reset_input_buffer()
        self.alive = True
        self.rxThread = threading.Thread(
            target=self._readLoop, name=f"reader {self.port}", daemon=True
        )
        self.rxThread.start()

    def close(self) -> None:
        self.alive = False
        try:
            self.serial.cancel_read()  # wake the reader now instead of after its read timeout
        except Exception:  # noqa: BLE001 - not every port type can cancel
            pass
        if (
            getattr(self, "rxThread", None) is not None
            and self.rxThread is not threading.current_thread()
        ):
            self.rxThread.join(READ_TIMEOUT + 1)
        try:
            self.serial.close()
        except Exception:  # noqa: BLE001 - closing a vanished port may fail in many ways
            pass

    def write(
        self,
        data: str,
        waitForResponse: bool = True,  # noqa: N803 - library signature
        timeout: float = 5,
        expectedResponseTermSeq: str | None = None,  # noqa: N803
    ) -> list[str] | None:
        self._command = data.rstrip("\r\x1a")
        if self.tap is not None:
            self.tap.record("tx", self._command)
        try:
            rv: list[str] | None = SerialComms.write(
                self, data, waitForResponse, timeout, expectedResponseTermSeq
            )
            return rv
        except (serial.SerialException, OSError) as e:
            raise ModemGone(f"{self.port}: {e}") from e
        finally:
            self._command = None

    def _readLoop(self) -> None:  # noqa: N802 - library name
        buf = bytearray()
        try:
            while self.alive:
                data = self.serial.read(max(1, self.serial.in_waiting))
                if not data:
                    continue
                LOGGER.log(TRACE, "%s rx %r", self.port, bytes(data))
                buf += data
                while True:
                    end = buf.find(b"\r\n")
                    if end < 0:
                        break
                    raw, buf = bytes(buf[:end]), buf[end + 2 :]
                    line = atcodec.clean(raw)
                    if line:
                        self._dispatch(line, True)
                term = self._expectResponseTermSeq
                if term and buf.endswith(term):
                    line = atcodec.clean(bytes(buf))
                    buf = bytearray()
                    self._dispatch(line or "> ", False)
                if len(buf) > MAX_LINE:
                    LOGGER.warning("%s: dropping %d bytes of line noise", self.port, len(buf))
                    buf = bytearray()
        except (serial.SerialException, OSError, TypeError) as e:
            # TypeError: pyserial's read on a closed fd.  All mean "the port is gone".
            if self.alive:
                self._gone(e)
        except Exception as e:  # noqa: BLE001 - the reader must report, never vanish silently
            LOGGER.exception("%s: reader failed", self.port)
            self._gone(e)

    def _gone(self, error: Exception) -> None:
        self.alive = False
        try:
            self.serial.close()
        except Exception:  # noqa: BLE001
            pass
        event = self._responseEvent
        if event is not None:
            event.set()  # wake the waiting command; it sees an empty response
        if self.gone_sink is not None:
            self.gone_sink(error)

    def _dispatch(self, line: str, check_term: bool) -> None:
        try:
            self._handleLineRead(line, check_term)
        except Exception:  # noqa: BLE001 - never let one line kill the reader
            LOGGER.exception("%s: failed to handle line %r", self.port, line)

    def _handleLineRead(self, line: str, checkForResponseTerm: bool = True) -> None:  # noqa: N802,N803
        waiting = self._responseEvent is not None and not self._responseEvent.is_set()
        command = self._command if waiting else None
        if self._assembler.waiting or (checkForResponseTerm and atcodec.is_urc(line, command)):
            if self.tap is not None:
                self.tap.record("urc", line)
            urc = self._assembler.feed(line)
            if urc is not None:
                LOGGER.debug("%s urc %s", self.port, urc)
                if self.urc_sink is not None:
                    self.urc_sink(urc)
            return
        if waiting and command and line == command:
            return  # echo of the command (echo is on until ATE0)
        if self.tap is not None:
            self.tap.record("rx", line)
        if waiting:
            self._response.append(line)
            if not checkForResponseTerm or self.RESPONSE_TERM.match(line):
                self._responseEvent.set()
        else:
            # Neither a response nor a known URC: echo after a timeout, or noise.
            LOGGER.debug("%s: unsolicited line ignored: %r", self.port, line)
            if self.urc_sink is not None and line not in ("OK", "ERROR"):
                self.urc_sink(atcodec.Urc(line))


class Driver(GsmModem, _Port):  # type: ignore[misc]
    """One modem.  Not thread-safe by design: only its owner thread calls it."""

    def __init__(
        self,
        port: str,
        *,
        baudrate: int = 115200,
        flow_control: bool = False,
        urc_sink: UrcSink | None = None,
        gone_sink: Callable[[Exception], None] | None = None,
        cnmi: str = "2,1,0,2,0",
        tap: AtTap | None = None,
    ) -> None:
        super().__init__(
            port,
            baudrate,
            incomingCallCallbackFunc=None,
            smsReceivedCallbackFunc=self._unused_callback,
            smsStatusReportCallback=self._unused_callback,
            requestDelivery=True,
            AT_CNMI=cnmi,
        )
        self.flow_control = flow_control
        self.urc_sink = urc_sink
        self.gone_sink = gone_sink
        self.tap = tap
        self._port_lock = threading.RLock()

    @staticmethod
    def _unused_callback(*args: Any) -> None:
        """Set so the library enables +CNMI; URCs never reach it (see _Port)."""

    def _handleModemNotification(self, lines: list[str]) -> None:  # noqa: N802
        # The library would start a thread per notification; everything goes to urc_sink instead.
        for line in lines:
            if self.urc_sink is not None:
                self.urc_sink(atcodec.Urc(line))

    def write(  # type: ignore[override]
        self,
        data: str,
        waitForResponse: bool = True,  # noqa: N803
        timeout: float = 10,
        parseError: bool = True,  # noqa: N803
        writeTerm: str = "\r",  # noqa: N803
        expectedResponseTermSeq: str | None = None,  # noqa: N803
    ) -> list[str] | None:
        """GsmModem.write with bounded SIM-busy retries and appliance errors."""
        if not self.alive:
            raise ModemGone(f"{self.port}: port is closed")
        for attempt in range(BUSY_RETRIES + 1):
            with self._port_lock:
                try:
                    lines = _Port.write(
                        self, data + writeTerm, waitForResponse, timeout, expectedResponseTermSeq
                    )
                except TimeoutException as e:
                    if not self.alive:
                        raise ModemGone(f"{self.port}: port vanished during {data!r}") from e
                    raise DriverTimeout(
                        f"{self.port}: no answer to {data!r} within {timeout} s", e.data
                    ) from e
            if not waitForResponse:
                return None
            assert lines is not None
            if not self.alive and not lines:
                raise ModemGone(f"{self.port}: port vanished during {data!r}")
            status = lines[-1] if lines else ""
            if parseError and ("ERROR" in status or status == "COMMAND NOT SUPPORT"):
                kind, code = atcodec.parse_error(status)
                if code in (14, 515) and kind == "CME" and attempt < BUSY_RETRIES:
                    time.sleep(0.2 * (attempt + 1))
                    continue
                if kind == "CME":
                    raise CmeError(data, code)
                if kind == "CMS":
                    raise CmsError(data, code)
                raise CommandError(f"{data} ({status})")
            return lines
        raise AssertionError("unreachable")

    # -- operations used by appliance.modem ------------------------------------------------

    def open(self, pin: str | None = None) -> None:
        """Open the port and run the library's init sequence (twilio-compat.md B3)."""
        GsmModem.connect(self, pin=pin)

    def command(self, cmd: str, timeout: float = 10.0) -> list[str]:
        """Run one AT command; return its response lines (final OK included)."""
        try:
            return self.write(cmd, timeout=timeout) or []
        except CommandError as e:
            raise _rejected(cmd, e) from e

    def send_pdu(
        self, pdu_hex: str, tpdu_length: int, timeout: float, prompt_timeout: float = 5.0
    ) -> int:
        """``AT+CMGS=<n>``, wait for ``> ``, write the PDU and Ctrl-Z; return the MR.

        The port lock is held across both steps so nothing can come between the
        prompt and the PDU.  The PDU is hex digits only (checked), so it cannot
        carry a Ctrl-Z, ESC or CR of its own.
        """
        if not pdu_hex or any(c not in "0123456789ABCDEFabcdef" for c in pdu_hex):
            raise ValueError("PDU must be hex digits")
        with self._port_lock:
            try:
                self.write(
                    f"AT+CMGS={int(tpdu_length)}",
                    timeout=prompt_timeout,
                    expectedResponseTermSeq="> ",
                )
            except (ModemTimeout, ModemGone) as e:
                e.prompt_only = True  # nothing was sent
                raise
            except CommandError as e:
                raise _rejected("AT+CMGS", e) from e
            try:
                lines = self.write(pdu_hex, writeTerm="\x1a", timeout=timeout) or []
            except CommandError as e:
                raise _rejected("AT+CMGS", e) from e
        mr = atcodec.parse_cmgs(lines)
        if mr is None:
            raise CommandRejected("AT+CMGS", "no +CMGS reference in " + repr(lines), None)
        return mr

    def select_storage(self, memory: str) -> None:
        self.command(f'AT+CPMS="{_memory(memory)}"')

    def read_slot(self, index: int) -> str | None:
        """The PDU stored at ``index``, or None if the slot is empty."""
        try:
            return atcodec.parse_cmgr(self.command(f"AT+CMGR={int(index)}"))
        except CommandRejected as e:
            if (
                e.kind == "CMS" and e.error == 321
            ):  # "invalid memory index": empty on Huawei and others
                return None
            raise

    def delete_slot(self, index: int) -> None:
        self.command(f"AT+CMGD={int(index)},0")

    def list_slots(self, timeout: float = 30.0) -> list[tuple[int, int, str]]:
        return atcodec.parse_cmgl(self.command("AT+CMGL=4", timeout=timeout))


def _memory(name: str) -> str:
    if name not in ("SM", "ME", "MT", "SR", "BM", "TA"):
        raise ValueError(f"unknown message storage {name!r}")
    return name


def _rejected(cmd: str, error: CommandError) -> CommandRejected:
    if isinstance(error, CmsError):
        return CommandRejected(cmd, "CMS", int(error.code))
    if isinstance(error, CmeError):
        return CommandRejected(cmd, "CME", int(error.code))
    return CommandRejected(cmd, "ERROR", None)
