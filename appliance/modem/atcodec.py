"""Sans-I/O AT line handling: which lines are URCs, and what they mean.

Theory of operation
-------------------
A modem interleaves two streams on one serial line: responses to the command
in flight, and unsolicited result codes (URCs) that can arrive at any moment,
including between a command and its final ``OK``.  python-gsmmodem-new puts
every line that arrives while a command waits into that command's response,
so a ``+CMTI`` that lands during ``AT+CSQ`` is lost (its defect B5.2).

:func:`classify` decides, for one line and the command in flight, whether the
line is a URC.  A line whose prefix names the command in flight
(``+CREG: 0,1`` during ``AT+CREG?``) is a response; a known URC prefix is a URC
otherwise.  :class:`UrcAssembler` joins two-line URCs (``+CMT:`` and ``+CDS:``
are followed by a PDU line) and turns lines into :class:`Urc` events.  No I/O,
no clocks, no threads: the reader thread feeds it lines.
"""

from __future__ import annotations

import dataclasses
import re

# URCs whose next line belongs to them (the PDU).
TWO_LINE = ("+CMT:", "+CDS:")

# Prefixes that are always unsolicited unless the command in flight asked for them.
URC_PREFIXES = (
    "+CMTI:",
    "+CMT:",
    "+CDSI:",
    "+CDS:",
    "+CBM:",
    "RING",
    "+CRING:",
    "+CLIP:",
    "+CCWA:",
    "+CLCC:",
    "+CUSD:",
    "+CREG:",
    "+CGREG:",
    "+CEREG:",
    "+CPIN:",
    "+CFUN:",
    "+CMGS-URC:",
    "+DTMF:",
    "+RXDTMF:",
    "+QTONEDET:",
    "+QIND:",
    "+QUSIM:",
    "+CIEV:",
    "+CSQN:",
    "^RSSI:",
    "^HRSSILVL:",
    "^BOOT:",
    "^MODE:",
    "^SRVST:",
    "^SIMST:",
    "^ORIG:",
    "^CONF:",
    "^CONN:",
    "^CEND:",
    "^DSFLOWRPT:",
    "VOICE CALL:",
    "MISSED_CALL:",
    "NO CARRIER",
    "BUSY",
    "NO ANSWER",
    "NO DIALTONE",
    "RDY",
    "SMS DONE",
    "PB DONE",
    "SMS Ready",
    "Call Ready",
    "UNDER-VOLTAGE",
    "OVER-VOLTAGE",
    "NORMAL POWER DOWN",
)

# Final results of a dial that are URCs at any other time.
_CALL_FINALS = ("NO CARRIER", "BUSY", "NO ANSWER", "NO DIALTONE")

_COMMAND_PREFIX = re.compile(r"^AT([+^][A-Z]+)", re.IGNORECASE)


def command_prefix(command: str | None) -> str | None:
    """``"AT+CSQ"`` -> ``"+CSQ"``; ``None`` for basic commands such as ``ATD``."""
    if not command:
        return None
    m = _COMMAND_PREFIX.match(command.strip())
    return m.group(1).upper() if m else None


def is_urc(line: str, command: str | None) -> bool:
    """True if ``line`` is unsolicited, given the command in flight (or None)."""
    prefix = command_prefix(command)
    if prefix and line.upper().startswith(prefix + ":"):
        return False  # the command asked for this line: +CREG: during AT+CREG?
    if command and command.strip().upper().startswith("ATD") and line.startswith(_CALL_FINALS):
        return False
    return line.startswith(URC_PREFIXES)


def clean(raw: bytes) -> str:
    """Decode one line from the modem; never raises.

    Modems emit Latin-1 or GSM-charset text in text-mode SMS and USSD, and line
    noise after a brown-out.  Undecodable bytes become U+FFFD, and leading noise
    (control and replacement characters) is dropped so that a line such as
    ``b"\\xff\\xfeOK"`` still reads as ``OK``.
    """
    text = raw.decode("utf-8", errors="replace")
    i = 0
    while i < len(text) and (text[i] == "\ufffd" or not text[i].isprintable()):
        i += 1
    return text[i:].strip("\r\n\x00")


@dataclasses.dataclass(frozen=True)
class Urc:
    """One unsolicited result code, with its PDU line for +CMT/+CDS."""

    line: str
    data: str | None = None

    @property
    def name(self) -> str:
        return self.line.split(":", 1)[0].strip()


class UrcAssembler:
    """Turns URC lines into :class:`Urc` events, joining two-line URCs."""

    def __init__(self) -> None:
        self._pending: str | None = None

    @property
    def waiting(self) -> bool:
        """True while the PDU line of a +CMT/+CDS is still to come."""
        return self._pending is not None

    def feed(self, line: str) -> Urc | None:
        if self._pending is not None:
            header, self._pending = self._pending, None
            return Urc(header, line)
        if line.startswith(TWO_LINE):
            self._pending = line
            return None
        return Urc(line)


_CMTI = re.compile(r'^\+C(?:MTI|DSI):\s*"?([A-Z]{2})"?\s*,\s*(\d+)')
_CMGL = re.compile(r"^\+CMGL:\s*(\d+)\s*,\s*(\d+)\s*,[^,]*,\s*(\d+)")
_CMGR = re.compile(r"^\+CMGR:\s*(\d+)\s*,[^,]*,\s*(\d+)")
_CMGS = re.compile(r"^\+CMGS:\s*(\d+)")
_CME = re.compile(r"^\+(CM[ES]) ERROR:\s*(\d+)")


def parse_storage_urc(line: str) -> tuple[str, int] | None:
    """``+CMTI: "SM",3`` -> ``("SM", 3)``."""
    m = _CMTI.match(line)
    return (m.group(1), int(m.group(2))) if m else None


def parse_cmgl(lines: list[str]) -> list[tuple[int, int, str]]:
    """Lines of an ``AT+CMGL`` response -> ``[(index, stat, pdu_hex)]``.

    Each ``+CMGL:`` header is followed by its PDU line.  Junk lines (line noise)
    between entries are skipped; a header without a PDU yields an empty PDU.
    """
    out: list[tuple[int, int, str]] = []
    i = 0
    while i < len(lines):
        m = _CMGL.match(lines[i])
        if m:
            pdu = (
                lines[i + 1].strip() if i + 1 < len(lines) and not _CMGL.match(lines[i + 1]) else ""
            )
            if pdu in ("OK",):
                pdu = ""
            out.append((int(m.group(1)), int(m.group(2)), pdu))
            i += 2 if pdu else 1
        else:
            i += 1
    return out


def parse_cmgr(lines: list[str]) -> str | None:
    """Lines of an ``AT+CMGR`` response -> the PDU hex, or None for an empty slot."""
    for i, line in enumerate(lines):
        if _CMGR.match(line) and i + 1 < len(lines):
            pdu = lines[i + 1].strip()
            return pdu if pdu and pdu != "OK" else None
    return None


def parse_cmgs(lines: list[str]) -> int | None:
    for line in lines:
        m = _CMGS.match(line)
        if m:
            return int(m.group(1))
    return None


def parse_error(line: str) -> tuple[str, int | None]:
    """A final error line -> ``("CMS", 500)``, ``("CME", 10)`` or ``("ERROR", None)``."""
    m = _CME.match(line)
    if m:
        return m.group(1), int(m.group(2))
    return "ERROR", None
