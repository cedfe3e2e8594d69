"""The log: one line per event, with ``key=value`` fields to grep, and never a secret.

A line reads ``2026-12-06T22:04:25Z INFO sms.inbox message received sid=SM… from=+1555…
segments=2``: the time (UTC), the level, the logger without its ``appliance.`` prefix, the
event and its fields.  :func:`event` writes one; a value with a space, a quote, ``=`` or a
backslash is double-quoted, and a control character in any value or message is escaped
(``\\n``), so a sender or a body cannot split a line or forge one.  Tracebacks follow on lines
that start with spaces: every line that starts with a time is an event.

:class:`LineFormatter` masks what must never be written, whatever the logger (the
appliance's own, python-gsmmodem-new, cheroot, APScheduler): the values passed to
:func:`secret` (the AuthToken, the metrics token), the password of a URL
(``https://user:***@host``) and the argument of ``AT+CPIN=`` / ``AT+CPWD=`` (a SIM PIN).
Message bodies are not masked here: callers write them at DEBUG only.

:func:`configure` installs the handlers: stderr (journald takes it under systemd, and then
each line carries its syslog priority, ``<4>`` for WARNING, so ``journalctl -p warning``
works) and, when asked, a rotating file.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import re
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

__all__ = [
    "TRACE",
    "LineFormatter",
    "RotatingFile",
    "configure",
    "event",
    "level_number",
    "render",
    "secret",
]

TRACE = 5  # below DEBUG: raw AT traffic (log_level = "TRACE")
logging.addLevelName(TRACE, "TRACE")

PREFIX = "appliance."  # left out of logger names: "sms.inbox", not "appliance.sms.inbox"
MASK = "***"
MIN_SECRET = 8  # shorter values are not masked by value (a PIN would mask digits of numbers)
CONTINUATION = "    "  # a traceback's lines start with this, never with a time
FILE_MODE = 0o640  # the log file holds phone numbers: not for every user of the machine

_SPECIAL = frozenset(' "=\\')
_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t", '"': '\\"', "\\": "\\\\"}
_KEY = re.compile(r"[^A-Za-z0-9_.-]")
_USERINFO = re.compile(r"(\b[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@\"'?#]*):[^@/\s\"'?#]*@")
# AT+CPIN="1234" or AT+CPIN=1234, also as repr (\"1234\") or with a second argument.
_AT_SECRET = re.compile(r"(\+CP(?:IN|WD)=)(?:(?:\\?\"[^\"\\]*\\?\"|[^\s'\",\\]+),?)+")
_SYSLOG = ((logging.ERROR, 3), (logging.WARNING, 4), (logging.INFO, 6))  # else 7 (debug)


# -- one line ---------------------------------------------------------------------------------


def _escaped(ch: str) -> str:
    if ch in _ESCAPES:
        return _ESCAPES[ch]
    if ch.isprintable():
        return ch
    n = ord(ch)
    return f"\\x{n:02x}" if n < 0x100 else f"\\u{n:04x}" if n < 0x10000 else f"\\U{n:08x}"


def text(s: str) -> str:
    """Free text on one line: control and other unprintable characters escaped."""
    if s.isprintable():
        return s
    return "".join(ch if ch.isprintable() else _escaped(ch) for ch in s)


def value(v: object) -> str:
    """A field's value as written: bare when it can be, else double-quoted with escapes."""
    if isinstance(v, bool):
        return "true" if v else "false"
    s = format(v, "g") if isinstance(v, float) else str(v)
    if s and s.isprintable() and not _SPECIAL.intersection(s):
        return s
    return '"' + "".join(_escaped(ch) for ch in s) + '"'


def render(what: str, fields: Mapping[str, object]) -> str:
    """``event key=value ...``; fields whose value is None are left out.

    A trailing underscore is dropped from a key (``from_=...`` is written ``from=...``).
    """
    parts = [text(what)]
    for key, v in fields.items():
        if v is not None:
            parts.append(f"{_KEY.sub('_', key.removesuffix('_'))}={value(v)}")
    return " ".join(parts)


def event(
    logger: logging.Logger, level: int, what: str, /, *, exc_info: bool = False, **fields: object
) -> None:
    """Log one event: ``what`` (the same words each time: it is what people grep) and its fields.

    The fields are also on the record as ``record.kv`` (and ``what`` as ``record.event``)
    for a handler that wants them as data.
    """
    if not logger.isEnabledFor(level):
        return
    logger.log(
        level,
        render(what, fields),
        exc_info=exc_info,
        extra={"event": what, "kv": fields},
        stacklevel=2,
    )


# -- secrets ----------------------------------------------------------------------------------


class Redactor:
    """Masks secrets in text: registered values, URL passwords, SIM PINs in AT commands."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._secrets: tuple[str, ...] = ()

    def add(self, secret: str) -> None:
        if len(secret) < MIN_SECRET:
            return
        with self._lock:
            if secret not in self._secrets:
                # longest first, so a secret that contains another is masked whole
                self._secrets = tuple(sorted((*self._secrets, secret), key=len, reverse=True))

    def __call__(self, s: str) -> str:
        if "://" in s:
            s = _USERINFO.sub(rf"\1:{MASK}@", s)
        if "+CP" in s:
            s = _AT_SECRET.sub(rf"\1{MASK}", s)
        for secret in self._secrets:
            if secret in s:
                s = s.replace(secret, MASK)
        return s


REDACT = Redactor()


def secret(s: str) -> None:
    """Never write ``s`` to the log (values of at least :data:`MIN_SECRET` characters)."""
    REDACT.add(s)


# -- the formatter ----------------------------------------------------------------------------


def _priority(levelno: int) -> int:
    for floor, prio in _SYSLOG:
        if levelno >= floor:
            return prio
    return 7


class LineFormatter(logging.Formatter):
    """``time LEVEL logger message``, one line per record, secrets masked.

    ``priority``: start each line with its syslog priority (``<6>``), which journald reads
    from a service's stderr and then leaves out of the message.
    """

    def __init__(self, *, priority: bool = False, redact: Redactor = REDACT) -> None:
        super().__init__()
        self.priority = priority
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.created))
        name = record.name.removeprefix(PREFIX)
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a library's bad format string must not lose the line
            message = f"{record.msg!r} % {record.args!r}"
        lines = [f"{when} {record.levelname} {name} {text(self.redact(message))}"]
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        for extra in (record.exc_text, record.stack_info and self.formatStack(record.stack_info)):
            if extra:
                lines += [CONTINUATION + text(self.redact(x)) for x in extra.splitlines()]
        if self.priority:
            prefix = f"<{_priority(record.levelno)}>"
            lines = [prefix + line for line in lines]
        return "\n".join(lines)


# -- handlers ---------------------------------------------------------------------------------


class RotatingFile(logging.handlers.RotatingFileHandler):
    """A size-rotated log file created readable by its owner and group only."""

    def _open(self) -> Any:
        return open(  # noqa: SIM115 - the handler keeps it open
            self.baseFilename,
            self.mode,
            encoding=self.encoding,
            errors=self.errors,
            opener=lambda path, flags: os.open(path, flags, FILE_MODE),
        )


def level_number(level: str) -> int | None:
    """The number of a level name (``"debug"``, ``"TRACE"``), or None when it is not one."""
    number = logging.getLevelName(level.strip().upper())
    return number if isinstance(number, int) else None


def _is_journal(stream: IO[str]) -> bool:
    """Whether ``stream`` is the journald stream systemd connected (``$JOURNAL_STREAM``)."""
    want = os.environ.get("JOURNAL_STREAM", "")
    if not want:
        return False
    try:
        st = os.fstat(stream.fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return want == f"{st.st_dev}:{st.st_ino}"


def configure(
    level: str,
    *,
    log_file: Path | None = None,
    max_bytes: int = 0,
    backups: int = 0,
    stream: IO[str] | None = None,
) -> None:
    """Send the log to ``stream`` (stderr) and, with ``log_file``, to a rotating file.

    Replaces the handlers an earlier call installed (others, e.g. pytest's, stay).  An
    unknown level means INFO (the daemon's start-up check names the setting).  Raises
    OSError when the file cannot be opened.
    """
    numeric = level_number(level) or logging.INFO
    out = sys.stderr if stream is None else stream
    handlers: list[logging.Handler] = []
    console = logging.StreamHandler(out)
    console.setFormatter(LineFormatter(priority=_is_journal(out)))
    handlers.append(console)
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        file = RotatingFile(log_file, maxBytes=max_bytes, backupCount=backups, encoding="utf-8")
        file.setFormatter(LineFormatter())
        handlers.append(file)
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "appliance", False):
            root.removeHandler(old)
            old.close()
    for handler in handlers:
        handler.appliance = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(numeric)
    logging.getLogger("urllib3").setLevel(logging.WARNING)
    # python-gsmmodem-new says "Connecting to modem..." at every connect, beside our own
    # "modem connected" line, and that it "will use polling for call state" (we do not).
    logging.getLogger("gsmmodem").setLevel(logging.WARNING if numeric > logging.DEBUG else numeric)
    # APScheduler logs every run of every job at INFO: months of journal noise on a Pi.
    logging.getLogger("apscheduler").setLevel(max(numeric, logging.WARNING))
