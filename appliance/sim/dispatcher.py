"""AT command parsing and dispatch to ``at_*`` handler methods.

Command handlers are methods named after the command:

* ``at_CMGS`` handles ``AT+CMGS``; ``at_caret_CURC`` handles ``AT^CURC``;
  ``at_amp_F`` handles ``AT&F``; basic commands use one letter (``at_Z`` = ``ATZ``).
* signature ``(self, kind, arg) -> list[str]`` where ``kind`` is ``"exec"``,
  ``"read"`` (``?``), ``"test"`` (``=?``) or ``"set"`` (``=arg``); return the
  information lines (the final ``OK`` is added) or raise :class:`AtError`.

One command line may carry several commands after its one ``AT`` (V.250 §5.4; SIM800
manual §1.4.4: ``ATE1Q0S0=1S3=13V1X4;+IFC=0,0;+IPR=115200;&W``): :meth:`CommandDispatcher.split`
cuts it up, the commands run in order, each one's information text is written, and one
final result code ends the line: ``OK``, or the error of the first command that failed (the
rest of the line is not executed).
"""

from __future__ import annotations

from collections.abc import Callable

from .errors import AtError, cme
from .transport import ModemTransport

Handler = Callable[[str, str], list[str]]
EXTENDED_PREFIXES = "+^$%*#"  # an extended command: a prefix and a name (V.250 §5.4.1)
KICKING = frozenset({"+CMGD", "+CPIN", "+CFUN", "+CNMI"})  # may free storage or change routing


class _Prompted(list[str]):
    """Marker: the handler wrote its own prompt; no final result yet."""


PROMPTED: list[str] = _Prompted()


class CommandDispatcher(ModemTransport):
    """Turns command lines into handler calls; the base of the command mixins."""

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

    @staticmethod
    def split(body: str) -> list[str]:
        """The commands of one command line (the text after "AT"), in order (V.250 §5.4).

        Spaces outside string constants are ignored (V.250 §5.1).  Basic commands (a letter,
        or ``&`` and a letter, then an optional number, ``?`` or ``=?``) and S-parameters
        (``S<n>=<v>``, ``S<n>?``) follow one another with no separator; an extended command
        (a prefix such as ``+`` or ``^`` and a name) runs to the next ``;`` outside a string
        constant; ``D`` (dial) takes the rest of the line, its ``;`` included.  A ``;`` between
        commands is skipped.
        """
        text, quoted = [], False
        for ch in body:
            if ch == '"':
                quoted = not quoted
            if ch != " " or quoted:
                text.append(ch)
        line = "".join(text)
        out: list[str] = []
        i, n = 0, len(line)
        while i < n:
            c = line[i]
            j = i + 1
            if c == ";":
                i = j
                continue
            if c.upper() == "D":
                out.append(line[i:])
                break
            if c in EXTENDED_PREFIXES:
                quoted = False
                while j < n and (quoted or line[j] != ";"):
                    quoted ^= line[j] == '"'
                    j += 1
            else:
                if c == "&" and j < n:
                    j += 1
                if c.upper() == "S":  # S<n> then =<value>, ? or =?
                    while j < n and line[j].isdigit():
                        j += 1
                if line.startswith("=?", j):
                    j += 2
                elif line.startswith("?", j):
                    j += 1
                else:
                    if line.startswith("=", j):
                        j += 1
                    while j < n and line[j].isdigit():
                        j += 1
            out.append(line[i:j])
            i = j
        return out

    @staticmethod
    def parse(body: str) -> tuple[str, str, str]:
        """Split one command (see :meth:`split`) into (name, kind, arg)."""
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
        responses: list[list[str]] = []
        kick = False
        err: AtError | None = None
        for command in self.split(body):
            name, kind, arg = self.parse(command)
            fn = self.handler(name)
            if fn is None:
                err = AtError("unknown")
                break
            try:
                with self._lock:
                    lines = fn(kind, arg)
            except AtError as e:
                err = e
                break
            except (ValueError, IndexError):
                err = AtError("plain")
                break
            # a command that starts a PDU/text prompt manages its own response (and ends the line)
            if lines is PROMPTED:
                return
            responses.append(lines)
            kick = kick or name in KICKING
        self._respond_all_locked(responses, err)
        if kick:  # a command may have freed storage or changed routing
            self.network.kick()

    # ------------------------------------------------------------------ handler helpers
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
