"""Call state: modem call URCs as events, and one call's life as a transition table.

No I/O, no clocks, no threads (h11's style): :func:`parse` turns one URC line of
any supported dialect into a :class:`CallEvent` (or None), and :class:`CallLeg`
applies events to one call with :data:`TRANSITIONS`, answering with the Twilio
status the call now has.  The voice engine (appliance/voice.py) does the I/O.

Dialects (firmware_config/profiles/*.toml ``[voice] dialect``; voice.md 3.4, 4):

* every modem: ``RING``, ``+CRING: VOICE``, ``+CLIP:``, ``+CCWA:``, ``+CLCC:``,
  ``NO CARRIER``, ``BUSY``, ``NO ANSWER``, ``NO DIALTONE``;
* huawei: ``^ORIG``, ``^CONF``, ``^CONN``, ``^CEND:<idx>,<s>,<end>[,<cc cause>]``;
* sim800: ``MO RING``, ``MO CONNECTED``, ``+COLP:``, ``+DTMF: d[,ms]``;
* sim7600: ``VOICE CALL: BEGIN``, ``VOICE CALL: END[: hhmmss]``, ``MISSED_CALL:``,
  ``+RXDTMF: d`` (or ``+DTMF:``);
* quectel: ``+QIND: "ccinfo",...`` and ``+QTONEDET: <ascii>``; ``^DSCI:`` as well.
"""

from __future__ import annotations

import dataclasses
import logging
import re

LOGGER = logging.getLogger(__name__)

# Twilio call statuses (CallEnumStatus).
QUEUED = "queued"
RINGING = "ringing"
IN_PROGRESS = "in-progress"
COMPLETED = "completed"
BUSY = "busy"
FAILED = "failed"
NO_ANSWER = "no-answer"
CANCELED = "canceled"
ENDED = frozenset({COMPLETED, BUSY, FAILED, NO_ANSWER, CANCELED})

# Q.850 cause values in ^CEND (voice.md 3.4): how a call that never connected ended.
_CAUSE_END = {17: BUSY, 18: NO_ANSWER, 19: NO_ANSWER, 21: BUSY, 1: FAILED, 3: FAILED, 28: FAILED}

# +CLCC <stat> (3GPP 27.007).
CLCC_ACTIVE, CLCC_HELD, CLCC_DIALING, CLCC_ALERTING, CLCC_INCOMING, CLCC_WAITING = range(6)
CLCC_RELEASED = 6

# The lines (CallEvent.source) by which each dialect says an answered incoming call is
# connected.  ATA's OK only means the modem took the command: the call is active once one of
# these arrives (voice.md 4), and until then AT+CHLD=2 would answer it rather than hold it.
# A dialect that says nothing (generic: OK alone) is polled with AT+CLCC (stat 0 = active).
CONNECT_NOTICES: dict[str, frozenset[str]] = {
    "huawei": frozenset({"CONN"}),  # ^CONN:<idx>,<type> ~0.3-1 s after ATA (4.1)
    "sim800": frozenset({"CLCC"}),  # +CLCC: <idx>,1,0,... with AT+CLCC=1 (4.2)
    "sim7600": frozenset({"VOICE CALL", "CLCC"}),  # VOICE CALL: BEGIN, +CLCC stat 0 (4.3)
    "quectel": frozenset({"ccinfo", "DSCI"}),  # +QIND: "ccinfo",<idx>,1,0,... (4.4)
    "generic": frozenset(),
}


def announces_connect(dialect: str) -> bool:
    """Whether the dialect has a URC for "the answered call is connected" (else: poll)."""
    return bool(CONNECT_NOTICES.get(dialect))


@dataclasses.dataclass(frozen=True)
class CallEvent:
    """One thing a modem said about a call.

    ``kind`` is one of ``ring`` (incoming, ``number`` may be known), ``waiting``
    (a second incoming call during one), ``dialing``, ``alerting`` (the far end
    rings), ``active`` (connected), ``held``, ``released`` (``reason`` is the
    Twilio status a not-yet-connected call ends with, or None when the line does
    not say), ``dtmf`` (``digit``).  ``index`` is the modem's call index when the
    line carries one; ``incoming`` says the direction when it is known.
    """

    kind: str
    index: int | None = None
    number: str | None = None
    reason: str | None = None
    digit: str | None = None
    incoming: bool | None = None
    source: str = ""


_NUMBER = r'"([^"]*)"'
_CLIP = re.compile(r"^\+CLIP:\s*" + _NUMBER)
_CCWA = re.compile(r"^\+CCWA:\s*" + _NUMBER)
_CLCC = re.compile(
    r"^\+CLCC:\s*(\d+)\s*,\s*(\d)\s*,\s*(\d)\s*,\s*(\d+)\s*,\s*(\d)(?:\s*,\s*" + _NUMBER + r")?"
)
_COLP = re.compile(r"^\+COLP:\s*" + _NUMBER)
_ORIG = re.compile(r"^\^ORIG:\s*(\d+)")
_CONF = re.compile(r"^\^CONF:\s*(\d+)")
_CONN = re.compile(r"^\^CONN:\s*(\d+)")
_CEND = re.compile(r"^\^CEND:\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)(?:\s*,\s*(\d+))?")
_VOICE_END = re.compile(r"^VOICE CALL:\s*END(?::\s*(\d+))?")
_CCINFO = re.compile(
    r'^\+QIND:\s*"ccinfo"\s*,\s*(\d+)\s*,\s*(\d)\s*,\s*(-?\d+)\s*,\s*\d+\s*,\s*\d+\s*(?:,\s*'
    + _NUMBER
    + r")?"
)
_DSCI = re.compile(r"^\^DSCI:\s*(\d+)\s*,\s*(\d)\s*,\s*(\d)\s*,\s*\d+\s*,\s*\"?([^,\"]*)\"?")
_DTMF = re.compile(r"^\+(?:RX)?DTMF:\s*([0-9A-Da-d*#])")
_QTONEDET = re.compile(r"^\+QTONEDET:\s*(\d+)")
_DIGITS = frozenset("0123456789*#ABCD")


def _number(raw: str | None) -> str | None:
    """The caller ID as the modem gave it; None when withheld or absent."""
    if raw is None:
        return None
    raw = raw.strip()
    return raw or None


def _state_event(
    stat: int, index: int, incoming: bool, number: str | None, source: str
) -> CallEvent | None:
    if stat == CLCC_ACTIVE:
        return CallEvent("active", index, number, incoming=incoming, source=source)
    if stat == CLCC_HELD:
        return CallEvent("held", index, number, incoming=incoming, source=source)
    if stat == CLCC_DIALING:
        return CallEvent("dialing", index, number, incoming=False, source=source)
    if stat == CLCC_ALERTING:
        return CallEvent("alerting", index, number, incoming=False, source=source)
    if stat == CLCC_INCOMING:
        return CallEvent("ring", index, number, incoming=True, source=source)
    if stat == CLCC_WAITING:
        return CallEvent("waiting", index, number, incoming=True, source=source)
    if stat == CLCC_RELEASED:
        return CallEvent("released", index, number, incoming=incoming, source=source)
    return None


def parse(line: str) -> CallEvent | None:
    """One URC line -> a :class:`CallEvent`, or None if it is not about calls."""
    line = line.strip()
    if not line:
        return None
    if line == "RING" or line.startswith("+CRING:"):
        if line.startswith("+CRING:") and "VOICE" not in line.upper():
            return None  # a data/fax call: not ours
        return CallEvent("ring", incoming=True, source="RING")
    if m := _CLIP.match(line):
        return CallEvent("ring", number=_number(m.group(1)), incoming=True, source="CLIP")
    if m := _CCWA.match(line):
        return CallEvent("waiting", number=_number(m.group(1)), incoming=True, source="CCWA")
    if m := _CLCC.match(line):
        mode = int(m.group(4))
        if mode != 0:
            return None  # data or fax: a phantom "+CLCC: 1,1,0,1,0" data session (voice.md 1.4)
        return _state_event(
            int(m.group(3)), int(m.group(1)), m.group(2) == "1", _number(m.group(6)), "CLCC"
        )
    if line == "NO CARRIER":
        return CallEvent("released", source=line)
    if line == "BUSY":
        return CallEvent("released", reason=BUSY, source=line)
    if line == "NO ANSWER":
        return CallEvent("released", reason=NO_ANSWER, source=line)
    if line == "NO DIALTONE":
        return CallEvent("released", reason=FAILED, source=line)
    if line == "MO RING":
        return CallEvent("alerting", incoming=False, source=line)
    if line == "MO CONNECTED":
        return CallEvent("active", incoming=False, source=line)
    if m := _COLP.match(line):
        return CallEvent("active", number=_number(m.group(1)), incoming=False, source="COLP")
    if m := _ORIG.match(line):
        return CallEvent("dialing", int(m.group(1)), incoming=False, source="ORIG")
    if m := _CONF.match(line):
        return CallEvent("alerting", int(m.group(1)), incoming=False, source="CONF")
    if m := _CONN.match(line):
        return CallEvent("active", int(m.group(1)), source="CONN")
    if m := _CEND.match(line):
        duration = int(m.group(2))
        cause = int(m.group(4)) if m.group(4) else None
        reason = None if duration > 0 or cause is None else _CAUSE_END.get(cause)
        return CallEvent("released", int(m.group(1)), reason=reason, source="CEND")
    if line.startswith("VOICE CALL: BEGIN"):
        return CallEvent("active", source="VOICE CALL")
    if m := _VOICE_END.match(line):
        return CallEvent("released", source="VOICE CALL")
    if line.startswith("MISSED_CALL:"):
        return CallEvent("released", reason=NO_ANSWER, incoming=True, source="MISSED_CALL")
    if m := _CCINFO.match(line):
        stat = int(m.group(3))
        index, incoming = int(m.group(1)), m.group(2) == "1"
        if stat < 0:
            return CallEvent(
                "released", index, _number(m.group(4)), incoming=incoming, source="ccinfo"
            )
        return _state_event(stat, index, incoming, _number(m.group(4)), "ccinfo")
    if m := _DSCI.match(line):
        return _state_event(
            int(m.group(3)), int(m.group(1)), m.group(2) == "1", _number(m.group(4)), "DSCI"
        )
    if m := _DTMF.match(line):
        return CallEvent("dtmf", digit=m.group(1).upper(), source="DTMF")
    if m := _QTONEDET.match(line):
        char = chr(int(m.group(1))) if int(m.group(1)) < 128 else ""
        if char.upper() in _DIGITS:
            return CallEvent("dtmf", digit=char.upper(), source="QTONEDET")
        return None
    return None


def dial_outcome_leg(event: CallEvent, live: list[CallLeg]) -> CallLeg | None:
    """The leg a ``BUSY`` / ``NO ANSWER`` / ``NO DIALTONE`` without a call index is about.

    Such a line is the result code of a dial (V.250 6.3.1): it belongs to the one outgoing
    call still being set up, even while another call is held (a one-modem ``<Dial>``).
    None when the line says no reason or no single call is being dialled.
    """
    if event.kind != "released" or event.index is not None or event.reason is None:
        return None
    dialling = [leg for leg in live if not leg.incoming and leg.answered_at is None]
    return dialling[0] if len(dialling) == 1 else None


def parse_clcc(lines: list[str]) -> list[CallEvent]:
    """An ``AT+CLCC`` response -> one state event per listed voice call."""
    out = []
    for line in lines:
        event = parse(line) if line.startswith("+CLCC:") else None
        if event is not None:
            out.append(event)
    return out


def match_listing(legs: list[CallLeg], listed: list[CallEvent]) -> list[tuple[CallLeg, CallEvent]]:
    """Pair live calls with the entries of an ``AT+CLCC`` listing that are still up.

    A call is paired by its modem index; a call whose index is not known yet (its URCs
    carried none: RING, +CLIP, ATD's OK) with the one unclaimed entry of its direction, if
    exactly one call of that direction is unindexed.
    """
    up = [e for e in listed if e.kind != "released" and e.index is not None]
    pairs: list[tuple[CallLeg, CallEvent]] = []
    claimed = {leg.index for leg in legs if leg.index is not None}
    for leg in legs:
        if leg.index is not None:
            pairs += [(leg, e) for e in up if e.index == leg.index][:1]
    for incoming in (True, False):
        unindexed = [leg for leg in legs if leg.index is None and leg.incoming == incoming]
        free = [e for e in up if e.index not in claimed and e.incoming == incoming]
        if len(unindexed) == 1 and len(free) == 1:
            pairs.append((unindexed[0], free[0]))
    return pairs


# --------------------------------------------------------------------------- one call


@dataclasses.dataclass(frozen=True)
class Step:
    """What applying an event did: the new status, and whether it changed."""

    status: str
    changed: bool
    answered_now: bool = False
    ended_now: bool = False


# (status, event kind) -> new status.  Anything missing leaves the status alone.
TRANSITIONS: dict[tuple[str, str], str] = {
    (QUEUED, "dialing"): RINGING,
    (QUEUED, "alerting"): RINGING,
    (QUEUED, "active"): IN_PROGRESS,
    (QUEUED, "released"): FAILED,
    (RINGING, "active"): IN_PROGRESS,
    (RINGING, "released"): NO_ANSWER,  # refined by the event's reason
    (IN_PROGRESS, "released"): COMPLETED,
    (IN_PROGRESS, "held"): IN_PROGRESS,
}


@dataclasses.dataclass
class CallLeg:
    """One call on one modem: its direction, modem index, status and times (monotonic)."""

    sid: str
    incoming: bool
    number: str | None = None
    index: int | None = None
    status: str = QUEUED
    alerted: bool = False
    held: bool = False
    caller_id_seen: bool = False  # a +CLIP/+CLCC/ccinfo line arrived (the number may be withheld)
    answered_at: float | None = None
    ended_at: float | None = None

    @property
    def live(self) -> bool:
        return self.status not in ENDED

    def apply(self, event: CallEvent, now: float) -> Step:
        """Apply one event; answer the status it leads to."""
        if not self.live:
            return Step(self.status, False)  # e.g. NO CARRIER after ^CEND: already ended
        if event.index is not None and self.index is None:
            self.index = event.index
        if event.number and not self.number:
            self.number = event.number
        if event.kind == "alerting":
            self.alerted = True
        if event.kind == "held":
            self.held = True
        elif event.kind == "active":
            self.held = False
        new = TRANSITIONS.get((self.status, event.kind))
        if new is None:
            return Step(self.status, False)
        if event.kind == "released" and self.status in (QUEUED, RINGING):
            new = event.reason or self._unconnected_end()
        old, self.status = self.status, new
        answered = old != IN_PROGRESS and new == IN_PROGRESS
        if answered:
            self.answered_at = now
        ended = new in ENDED
        if ended:
            self.ended_at = now
        return Step(new, old != new, answered, ended)

    def _unconnected_end(self) -> str:
        """A release before connecting whose line did not say why (plain NO CARRIER)."""
        if self.incoming:
            return NO_ANSWER  # the caller gave up while it rang
        return NO_ANSWER if self.alerted else FAILED

    def end(self, status: str, now: float) -> Step:
        """The appliance ended the call itself (hang-up, reject, ring timeout, modem lost)."""
        if not self.live:
            return Step(self.status, False)
        self.status = status
        self.ended_at = now
        return Step(status, True, False, True)

    def duration(self) -> int:
        """Whole seconds between answer and end (Twilio's CallDuration)."""
        if self.answered_at is None or self.ended_at is None:
            return 0
        return max(0, round(self.ended_at - self.answered_at))
