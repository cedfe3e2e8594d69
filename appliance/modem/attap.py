"""A modem's AT traffic, kept in memory for the panel's AT monitor: the last lines each way.

The driver hands every line it writes (``tx``) and reads (``rx``, and ``urc`` for unsolicited
ones) to :meth:`AtTap.record`; the tap keeps the last :data:`RING_LINES` in a ring (a
``deque``), numbered, so a reader asks for what came after the last number it saw
(:meth:`AtTap.since`).  Nothing is pushed and nothing waits: recording is a lock, a few
substring tests and an append, whether or not anyone watches, and the ring is bounded.

What is kept is already safe to show: SIM PINs and passwords (``AT+CPIN``, ``AT+CPWD``,
``AT+CLCK``) and the appliance's registered secrets are masked when recorded
(:data:`appliance.logs.REDACT`, the log's own rule).  Message contents (an SMS PDU or text,
a USSD string) are kept but flagged ``body``, so a reader can mask them
(:func:`masked`) unless the admin asked to see them.
"""

from __future__ import annotations

import dataclasses
import re
import threading
import time
from collections import deque

from appliance import logs

RING_LINES = 500  # lines kept per modem (a few minutes of a busy modem; ~100 KB at most)
MAX_TEXT = 1024  # characters kept of one line (a PDU is at most ~360 hex digits)
BODY_MASK = "[message content hidden]"

# Commands whose arguments are passwords: AT+CLCK="SC",1,"1234" (the facility and mode are
# kept); AT+CPIN / AT+CPWD are masked by the log's rule (logs.REDACT).
_CLCK = re.compile(r"(\+CLCK=\s*\"?[A-Za-z]{2}\"?\s*,\s*\d)\s*,.*", re.IGNORECASE)
# A line the modem sends before an SMS's PDU (or text) on the next line.
_BODY_NEXT = ("+CMT:", "+CMGR:", "+CMGL:", "+CDS:")
# USSD strings (codes typed, answers) can carry vouchers and balances: contents too.
_USSD = re.compile(r"(\+CUSD[:=]\s*\d+\s*,\s*)(\"[^\"]*\"|[0-9A-Fa-f]+)(.*)")
_HEX = re.compile(r"[0-9A-Fa-f]{40,}")  # a PDU: longer than any ICCID or IMEI


@dataclasses.dataclass(frozen=True)
class Line:
    """One line of traffic: its number, wall time, direction (tx, rx, urc) and text."""

    seq: int
    at: float
    direction: str
    text: str
    body: bool = False  # the text is (or holds) a message's content


def secrets_masked(text: str) -> str:
    """``text`` with SIM PINs, passwords and registered secrets masked (always done)."""
    text = logs.REDACT(text)
    if "CLCK" in text.upper():
        text = _CLCK.sub(rf"\1,{logs.MASK}", text)
    return text


def masked(line: Line) -> str:
    """What a reader who did not ask for message contents sees of ``line``."""
    if not line.body:
        return line.text
    m = _USSD.search(line.text)
    if m:
        return line.text[: m.start(2)] + BODY_MASK + m.group(3)
    return BODY_MASK


class AtTap:
    """The ring of one modem's last AT lines.  Written by the driver's threads, read by any."""

    def __init__(self, size: int = RING_LINES) -> None:
        self._ring: deque[Line] = deque(maxlen=size)
        self._lock = threading.Lock()
        self._seq = 0
        self._pdu_next = False  # tx: the PDU follows AT+CMGS's prompt
        self._body_next = False  # rx: an SMS's PDU or text follows +CMT: / +CMGR: ...

    def record(self, direction: str, text: str) -> None:
        """Keep one line (``tx``, ``rx`` or ``urc``); secrets masked, contents flagged."""
        text = text.rstrip("\r\n\x1a")[:MAX_TEXT]
        body = False
        if direction == "tx":
            upper = text.upper()
            if self._pdu_next and not upper.startswith("AT"):
                body = True
            self._pdu_next = upper.startswith("AT+CMGS") or upper.startswith("AT+CMGW")
            if "+CUSD" in upper:
                body = bool(_USSD.search(text))
        else:
            if self._body_next:
                body = True
                self._body_next = False
            elif text.startswith(_BODY_NEXT):
                self._body_next = True
            elif text.startswith("+CUSD"):
                body = bool(_USSD.search(text))
            elif _HEX.fullmatch(text):
                body = True  # a PDU whose header line was not seen
        text = secrets_masked(text)  # an echo or a modem's report may repeat a PIN too
        with self._lock:
            self._seq += 1
            self._ring.append(Line(self._seq, time.time(), direction, text, body))

    @property
    def last(self) -> int:
        """The number of the newest line (0: none yet)."""
        return self._seq

    def since(self, seq: int, limit: int = RING_LINES) -> list[Line]:
        """The lines after number ``seq``, oldest first (at most ``limit``, the newest)."""
        with self._lock:
            if seq >= self._seq:
                return []
            lines = [line for line in self._ring if line.seq > seq]
        return lines[-limit:]
