"""A call's timeline: a ``call_events`` row for each verb as it starts and for what it gathered.

The panel's call page (:mod:`web.calls`) merges these rows with the call's webhook requests,
its dialled legs and its recordings.  Writing them must not slow the call down: a row is
queued on the store's single writer (:meth:`appliance.store.database.Store.submit`) and
committed with whatever else is waiting, without the call's thread waiting for the fsync;
the time is taken when the verb starts, not when the row is committed.  The gathered
digits are what the app receives as ``Digits`` (also kept in the webhook log): the panel
shows them, the log lines do not.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from appliance.errors import StoreClosed

if TYPE_CHECKING:
    from appliance.store.database import Store

LOGGER = logging.getLogger(__name__)

VERB = "verb"  # call_events.kind: a verb started; detail: what it is (describe())
GATHERED = "gathered"  # call_events.kind: a <Gather> ended; detail: the digits or why none
MAX_TEXT = 120  # characters of a <Say> text or a URL kept in a verb's description


def _short(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


def _attrs(verb: Any, names: tuple[tuple[str, str], ...]) -> str:
    parts = []
    for attr, label in names:
        value = getattr(verb, attr, None)
        if value not in (None, "", ()):
            parts.append(f"{label}={_short(str(value))}")
    return " ".join(parts)


def describe(verb: Any) -> str:
    """One line for a parsed TwiML verb, e.g. ``Say "Hello"`` or ``Dial +14155550100``."""
    name = type(verb).__name__
    if name == "Say":
        return f'Say "{_short(verb.text)}"'
    if name == "Play":
        return f"Play digits {verb.digits}" if verb.digits else f"Play {_short(verb.url or '')}"
    if name == "Pause":
        return f"Pause {verb.length} s"
    if name == "Gather":
        prompts = "; ".join(describe(child) for child in getattr(verb, "children", ()))
        attrs = _attrs(
            verb,
            (("num_digits", "numDigits"), ("timeout", "timeout"), ("finish_on_key", "finishOnKey")),
        )
        return f"Gather {attrs}" + (f" ({prompts})" if prompts else "")
    if name == "Dial":
        numbers = [str(getattr(n, "number", n)) for n in getattr(verb, "numbers", ())]
        return f"Dial {', '.join(numbers) or '(no number)'} " + _attrs(
            verb, (("timeout", "timeout"), ("time_limit", "timeLimit"))
        )
    if name == "Record":
        return "Record " + _attrs(verb, (("max_length", "maxLength"), ("timeout", "timeout")))
    if name == "Redirect":
        return f"Redirect {verb.method} {_short(verb.url)}"
    if name == "Reject":
        return f"Reject ({verb.reason})"
    if name in ("Sms", "Message"):
        return f"{name} to {getattr(verb, 'to', None) or 'the caller'}"
    if name in ("Start", "Connect"):
        return f"{name} Stream {_short(verb.stream.url)}"
    if name == "PlainText":
        return "text/plain answer, read aloud"
    if name == "AudioBody":
        return "audio answer, played"
    return name


EventValues = tuple[str, float, str, int | None, str]  # call_sid, at, kind, error_code, detail


def insert_event(conn: Any, values: EventValues) -> None:
    """Insert one ``call_events`` row."""
    conn.execute(
        "INSERT INTO call_events (call_sid, at, kind, error_code, detail) VALUES (?,?,?,?,?)",
        values,
    )


def event_landed(conn: Any, values: EventValues) -> bool:
    """The row of ``values`` is there (a kept write whose COMMIT an outage cut had landed):
    the same call, time (fixed when the write was made), kind and detail."""
    call_sid, at, kind, _code, detail = values
    return bool(
        conn.execute(
            "SELECT 1 FROM call_events WHERE call_sid = ? AND at = ? AND kind = ? AND detail = ?",
            (call_sid, at, kind, detail),
        ).fetchone()
    )


def kept_event(values: EventValues) -> Callable[[Any], None]:
    """The insert of ``values`` as a kept write: a re-run does not write it twice."""
    from appliance.voice.backlog import once  # late: the store's backlog

    return once(lambda conn: insert_event(conn, values), lambda conn: event_landed(conn, values))


def note(store: Store, call_sid: str, kind: str, detail: str) -> None:
    """Queue a timeline row; never raises (a lost row must not end the call)."""
    values = (call_sid, time.time(), kind, None, detail[:2000])
    try:
        if not store.available:  # the database is away: kept, written when it is back
            from appliance.voice.backlog import Backlog  # late: the store's backlog

            Backlog.of(store).write(f"{kind} of {call_sid}", kept_event(values))
            return
        store.submit(lambda conn: insert_event(conn, values))
    except StoreClosed:
        pass


def verb(store: Store, call_sid: str, parsed: Any) -> None:
    """A verb starts on the call."""
    try:
        detail = describe(parsed)
    except Exception:  # noqa: BLE001 - a description is not worth a failed call
        LOGGER.debug("cannot describe %r", parsed, exc_info=True)
        detail = type(parsed).__name__
    note(store, call_sid, VERB, detail)


def gathered(store: Store, call_sid: str, digits: str, finished_by: str) -> None:
    """A ``<Gather>`` ended with ``digits`` (maybe none); ``finished_by`` says why."""
    what = f"digits {digits}" if digits else "no digits"
    note(store, call_sid, GATHERED, f"{what} ({finished_by})")
