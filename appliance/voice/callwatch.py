"""When the modem is late, vague or silent about a call: a phone's timers and AT+CLCC.

Call URCs get lost, come in two halves or never come at all, depending on the family
(docs/voice.md).  Each :class:`appliance.voice.phone.Phone` has a :class:`CallWatch`
that covers for them, on the modem's thread:

* while a call is live, AT+CLCC every WATCHDOG_POLL: a call the modem no longer lists has
  ended (a lost NO CARRIER), and the state of the others is applied; sooner while our own
  call rings or an answered call has not said it is connected (modems without those URCs);
* after ATA, CONNECT_TIMEOUT for the connect notice; then the call is taken as connected;
* an outgoing call not answered within its timeout is hung up as no-answer;
* an end without a reason ("+CLCC: ...,6", or our unanswered call gone from AT+CLCC) waits
  RELEASE_GRACE for the BUSY or NO ANSWER that says why;
* an index-less end line within RELEASE_ECHO of another call's end is that call's echo.
"""

from __future__ import annotations

import logging
import time
from typing import Protocol

from appliance.errors import CommandRejected
from appliance.voice import call
from appliance.voice.call import CallEvent, CallLeg, Step
from appliance.voice.handset import Handset

LOGGER = logging.getLogger(__name__)

WATCHDOG_POLL = 5.0  # seconds between AT+CLCC checks while a call is live (lost URCs)
RELEASE_GRACE = 0.5  # seconds to wait after "+CLCC: ...,6" for the line that says why
RINGING_POLL = 1.0  # while our own call rings: modems without an answer URC are polled
CONNECT_POLL = 0.2  # after ATA on a modem with no connect URC: AT+CLCC until it lists stat 0
CONNECT_TIMEOUT = 10.0  # ATA -> connect notice (^CONN ~0.3-1 s, voice.md 4.1); then assumed
RELEASE_ECHO = 1.0  # an index-less end line this soon after another call ended is its echo
GONE = "gone from AT+CLCC"


class Settle(Protocol):
    """The phone's bookkeeping of a step of ``leg``: its row, callback, log line and flow."""

    def __call__(
        self,
        leg: CallLeg,
        step: Step,
        error: tuple[int, str] | None = None,
        why: str | None = None,
    ) -> None: ...


class CallWatch:
    """The timers of one phone's calls; every method runs on the modem's thread."""

    def __init__(self, handset: Handset, legs: dict[str, CallLeg], settle: Settle) -> None:
        self.handset = handset
        self.legs = legs  # the phone's own dict: the watch reads it, the phone writes it
        self.settle = settle
        self._next_poll = 0.0
        self._dial_deadline: dict[str, float] = {}
        self._connect_deadline: dict[str, float] = {}  # answered (ATA), not yet connected
        self._last_end = float("-inf")  # monotonic time the last call ended
        self._pending_release: dict[str, tuple[float, CallEvent]] = {}

    # -- what the phone tells the watch ------------------------------------------------------

    def dialled(self, leg: CallLeg, timeout: float, now: float) -> None:
        """ATD took ``leg``: it has ``timeout`` seconds to be answered."""
        self._dial_deadline[leg.sid] = now + timeout
        self._next_poll = now + WATCHDOG_POLL

    def answered(self, leg: CallLeg) -> None:
        """ATA took ``leg``: wait CONNECT_TIMEOUT for its connect notice, polling meanwhile."""
        if leg.live and leg.status != call.IN_PROGRESS:
            now = time.monotonic()
            self._connect_deadline[leg.sid] = now + CONNECT_TIMEOUT
            self._next_poll = now + self._poll_interval([leg])

    def ended(self, leg: CallLeg) -> None:
        """``leg`` is over: its timers go."""
        self._dial_deadline.pop(leg.sid, None)
        self._connect_deadline.pop(leg.sid, None)
        self._last_end = time.monotonic()

    def poll_soon(self) -> None:
        """An event the phone cannot place: AT+CLCC at the next tick says which call it was."""
        self._next_poll = 0.0

    def is_echo(self, event: CallEvent, now: float) -> bool:
        """An index-less end line just after another call ended: that call's echo, not news."""
        if (
            event.kind == "released"
            and event.index is None
            and event.reason is None
            and now - self._last_end < RELEASE_ECHO
        ):
            # VOICE CALL: END / NO CARRIER without an index just after another call ended
            # (a one-modem <Dial>'s callee): most likely that call's own end line, not the
            # end of the call left.  AT+CLCC says whether it is still there.
            self._next_poll = 0.0
            return True
        return False

    def awaits_reason(self, leg: CallLeg, event: CallEvent, now: float) -> bool:
        """True if ``event`` ends our unanswered ``leg`` without saying why: it is held
        RELEASE_GRACE for the line that does (which then replaces it)."""
        if (
            event.kind == "released"
            and event.reason is None
            and event.source in ("CLCC", "ccinfo", "DSCI", "VOICE CALL", GONE)
            and leg.answered_at is None
            and not leg.incoming
        ):
            # "+CLCC: ...,6" comes before the BUSY / NO ANSWER that says why: wait for it.
            self._pending_release[leg.sid] = (now + RELEASE_GRACE, event)
            return True
        self._pending_release.pop(leg.sid, None)
        return False

    # -- timers ------------------------------------------------------------------------------

    def deadlines(self) -> list[float]:
        """Monotonic times the watch wants :meth:`tick`."""
        times = list(self._dial_deadline.values()) + list(self._connect_deadline.values())
        times += [deadline for deadline, _ in self._pending_release.values()]
        if any(leg.live for leg in self.legs.values()):
            times.append(self._next_poll)
        return times

    def tick(self) -> bool:
        """Run what is due; True if no call was live (the line is free for a queued call)."""
        now = time.monotonic()
        for sid, (deadline, event) in list(self._pending_release.items()):
            if now >= deadline:
                self._pending_release.pop(sid, None)
                pending = self.legs.get(sid)
                if pending is not None:
                    self.settle(pending, pending.apply(event, now), why=event.source)
        for sid, deadline in list(self._dial_deadline.items()):
            leg = self.legs.get(sid)
            if leg is None or not leg.live or leg.status == call.IN_PROGRESS:
                self._dial_deadline.pop(sid, None)
            elif now >= deadline:
                self._dial_deadline.pop(sid, None)
                self.handset.release(leg, self.legs.values())
                self.settle(leg, leg.end(call.NO_ANSWER, now), why="not answered in time")
        live = [leg for leg in self.legs.values() if leg.live]
        if live and now >= self._next_poll:
            self._next_poll = now + self._poll_interval(live)
            self._poll(live)
        self._connect_timeouts(time.monotonic())
        return not live

    def _poll_interval(self, live: list[CallLeg]) -> float:
        """Seconds to the next AT+CLCC: soon while a call connects or our own call rings."""
        if any(leg.sid in self._connect_deadline for leg in live):
            announces = call.announces_connect(self.handset.voice.dialect)
            return RINGING_POLL if announces else CONNECT_POLL
        if any(not leg.incoming and leg.status == call.RINGING for leg in live):
            return RINGING_POLL
        return WATCHDOG_POLL

    def _poll(self, live: list[CallLeg]) -> None:
        """AT+CLCC: a call the modem no longer lists has ended (a lost NO CARRIER); the state
        of the others is applied (modems without answer or connect URCs are read this way)."""
        try:
            listed = self.handset.calls()
        except CommandRejected as e:
            LOGGER.debug("%s: AT+CLCC failed: %s", self.handset.modem.name, e)
            return
        now = time.monotonic()
        indexes = {e.index for e in listed if e.kind != "released"}
        for leg in live:
            if leg.status == call.QUEUED or leg.sid in self._pending_release:
                continue
            if not listed or (leg.index is not None and leg.index not in indexes):
                # A dial's end found by this poll: its BUSY / NO ANSWER may be held by the
                # modem until after this command's OK, so it is awaited as for "+CLCC: ...,6".
                gone = CallEvent("released", leg.index, source=GONE)
                if not self.awaits_reason(leg, gone, now):
                    self.settle(leg, leg.apply(gone, now), why=gone.source)
        still = [leg for leg in live if leg.live and leg.status != call.QUEUED]
        for leg, event in call.match_listing(still, listed):
            self.settle(leg, leg.apply(event, now), why=event.source)

    def _connect_timeouts(self, now: float) -> None:
        """Answered calls whose connect notice never came: assumed connected (ATA said OK)."""
        for sid, deadline in list(self._connect_deadline.items()):
            leg = self.legs.get(sid)
            if leg is None or not leg.live or leg.status == call.IN_PROGRESS:
                self._connect_deadline.pop(sid, None)
            elif now >= deadline:
                self._connect_deadline.pop(sid, None)
                LOGGER.warning(
                    "%s: call %s: no connect notice %.0f s after ATA; taken as connected",
                    self.handset.modem.name,
                    sid,
                    CONNECT_TIMEOUT,
                )
                event = CallEvent("active", leg.index, source="ATA")
                self.settle(leg, leg.apply(event, now))
