"""The modem's line discipline: what the host writes, split into command lines and prompts.

Bytes are echoed (``ATE1``), backspace edits the line, CR ends a command line and LF is
ignored; after ``AT+CMGS`` the ``> `` prompt body is collected until Ctrl-Z (send) or
ESC (cancel).  Over-long input is remembered and answered with ``ERROR``.  What a line
*means* is left to the subclasses' hooks (:meth:`LineDiscipline._command`,
:meth:`LineDiscipline._end_pdu`); how output is written and a command is run is left
to :class:`~.transport.ModemTransport`.
"""

from __future__ import annotations

from collections.abc import Callable

from .errors import AtError
from .profile import SimProfile
from .state import Faults, ModemState

CTRL_Z = 0x1A
ESC = 0x1B
PROMPT = b"\r\n> "
MAX_PDU_HEX = 400  # 175 octets max PDU incl. SMSC → 350 hex digits; allow slack


class LineDiscipline:
    """The input side of one simulated modem; :class:`~.transport.ModemTransport` builds on it."""

    profile: SimProfile
    state: ModemState
    faults: Faults

    def __init__(self) -> None:
        self._buf = bytearray()
        self._overflow = False
        self._pdu_mode = False
        self._pdu_len = 0
        self._pdu_text_dest: str | None = None

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

    # ------------------------------------------------------------------ output (transport)
    def _write(self, data: bytes) -> None:
        raise NotImplementedError

    def _run(self, body: Callable[[], None]) -> None:
        """Run one command: URCs are held back until it has answered."""
        raise NotImplementedError

    def _fail(self, err: AtError) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------------ meaning (commands)
    def _command(self, raw: bytes) -> None:
        """Handle one command line as received (without its CR)."""
        raise NotImplementedError

    def _end_pdu(self, cancel: bool) -> None:
        """Ctrl-Z (``cancel=False``) or ESC (``cancel=True``) ended the ``> `` prompt."""
        raise NotImplementedError
