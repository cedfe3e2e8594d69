"""AT command parsing and dispatch to ``at_*`` handler methods.

Command handlers are methods named after the command:

* ``at_CMGS`` handles ``AT+CMGS``; ``at_caret_CURC`` handles ``AT^CURC``;
  ``at_amp_F`` handles ``AT&F``; basic commands use one letter (``at_Z`` = ``ATZ``).
* signature ``(self, kind, arg) -> list[str]`` where ``kind`` is ``"exec"``,
  ``"read"`` (``?``), ``"test"`` (``=?``) or ``"set"`` (``=arg``); return the
  information lines (the final ``OK`` is added) or raise :class:`AtError`.
"""

from __future__ import annotations

from collections.abc import Callable

from .errors import AtError, cme
from .transport import ModemTransport

Handler = Callable[[str, str], list[str]]


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
