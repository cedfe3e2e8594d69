"""Calls on the simulated network: routing, timers, and telling each side what the other did.

:class:`VoiceNetwork` (mixed into :class:`~.network.Network`): ``incoming_call`` rings a
modem, ``set_callee`` decides how a dialled number outside the simulator answers,
dialling another simulated modem's number rings that modem (and their audio is
bridged), and ``refuse`` makes the operator refuse HOLD/MPTY/ECT.

The modem (``voiceline.VoiceLine``, ``voicecommands.VoiceCommands``) owns the legs it
carries: AT commands and the network change their state under the modem's lock and the
modem writes the URCs of its family's dialect.  The network routes calls, runs the
timers (ring cadence, callee answers, network ring timeout) on its one scheduler thread
and tells the far side what the near side did.  Calls into another modem always go
through the scheduler, so no thread ever holds two modems' locks.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from .call import (
    STAT_ALERTING,
    STAT_DIALING,
    STAT_INCOMING,
    STAT_RELEASED,
    STAT_WAITING,
    SimCall,
)
from .errors import VoiceError
from .party import RemoteParty
from .scheduler import Scheduler
from .subscriber import Subscriber

NETWORK_RING_TIMEOUT = 60.0  # the network gives up on an unanswered call (voice.md 4.1)
OUTCOMES = ("answer", "busy", "no-answer", "unreachable", "reject")


@dataclass
class Callee:
    """How a number outside the simulator answers when a modem dials it."""

    outcome: str = "answer"
    answer_after: float = 2.0
    party: RemoteParty | None = None


def _digits_of(number: str) -> str:
    return "".join(c for c in number if c.isdigit())


# Q.850-ish release reasons as the far end sees them when the near end releases
_PEER_REASON = {
    "local-hangup": "remote-hangup",
    "rejected": "rejected",
    "busy": "busy",
    "no-answer": "no-answer",
    "transferred": "remote-hangup",
}


class VoiceNetwork:
    """Call routing, mixed into :class:`~.network.Network`."""

    scheduler: Scheduler
    modems: dict[str, Subscriber]
    _lock: threading.RLock

    def modem(self, which: str | Subscriber) -> Subscriber:
        raise NotImplementedError

    def _voice_init(self) -> None:
        self._call_ids = itertools.count(1)
        self.calls: list[SimCall] = []
        self.callees: dict[str, Callee] = {}
        self.default_callee = Callee()
        self.refused: set[str] = set()  # "hold" | "mpty" | "ect": the operator says no
        self.refuse_code = 3  # +CME ERROR: 3 (operation not allowed)
        self.ring_timeout = NETWORK_RING_TIMEOUT

    def new_call_id(self) -> str:
        """A fresh call id (``C1``, ``C2``, ...) for a new leg."""
        return f"C{next(self._call_ids)}"

    # ------------------------------------------------------------------ test/CLI API
    def incoming_call(
        self,
        modem: str | Subscriber,
        caller: str,
        *,
        party: RemoteParty | None = None,
        ring_timeout: float = NETWORK_RING_TIMEOUT,
        withheld: bool = False,
    ) -> SimCall:
        """Someone calls ``modem`` from ``caller``; ``party`` acts once it is answered."""
        target = self.modem(modem)
        call = SimCall(self, target, "inbound", caller, party=party, withheld=withheld)
        self._add(call)
        target.voice_offer(call)
        if call.stat != STAT_RELEASED:
            self.scheduler.call_later(ring_timeout, lambda: self._unanswered(call))
        return call

    def set_callee(
        self,
        number: str,
        outcome: str = "answer",
        answer_after: float = 2.0,
        party: RemoteParty | None = None,
    ) -> Callee:
        """How ``number`` answers when a modem dials it (default: answer after 2 s)."""
        if outcome not in OUTCOMES:
            raise VoiceError(f"outcome must be one of {OUTCOMES}, not {outcome!r}")
        callee = Callee(outcome, max(0.0, float(answer_after)), party)
        with self._lock:
            self.callees[_digits_of(number)] = callee
        return callee

    def refuse(self, *services: str, code: int | None = None) -> None:
        """The operator refuses these supplementary services (hold, mpty, ect); none = allow all."""
        bad = set(services) - {"hold", "mpty", "ect"}
        if bad:
            raise VoiceError(f"services are hold, mpty and ect, not {sorted(bad)}")
        self.refused = set(services)
        if code is not None:
            self.refuse_code = int(code)

    def find_call(self, call_id: str | None = None, modem: str | None = None) -> SimCall:
        """A call by id, else the newest live call (on ``modem`` if given)."""
        with self._lock:
            calls = list(self.calls)
        if call_id:
            for c in calls:
                if c.id == call_id:
                    return c
            raise VoiceError(f"no call {call_id!r}")
        for c in reversed(calls):
            if c.stat != STAT_RELEASED and (modem is None or c.modem.name == modem):
                return c
        raise VoiceError("no call in progress")

    def wait_call(self, modem: str | None = None, timeout: float = 10.0) -> SimCall:
        """Wait for a live call to appear (on ``modem`` if given)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self.find_call(modem=modem)
            except VoiceError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    # ------------------------------------------------------------------ routing
    def _add(self, call: SimCall) -> None:
        with self._lock:
            self.calls.append(call)
            if len(self.calls) > 1000:  # keep the newest; a long-running simulator
                del self.calls[:100]

    def _later(self, delay: float, fn: Callable[[], None]) -> None:
        self.scheduler.call_later(delay, fn)

    def _modem_for(self, number: str) -> Subscriber | None:
        want = _digits_of(number)
        with self._lock:
            for m in self.modems.values():
                if want and _digits_of(m.number) == want:
                    return m
        return None

    def dial(self, call: SimCall) -> None:
        """A modem dialled ``call.number`` (ATD): route it (call already in the modem's list)."""
        self._add(call)
        v = call.modem.profile.voice
        origin = call.modem
        self._later(v.orig_delay, lambda: origin.voice_progress(call, STAT_DIALING))
        target = self._modem_for(call.number)
        if target is origin:
            self._later(v.orig_delay + 0.3, lambda: origin.voice_released(call, "busy"))
            return
        if target is not None:
            self._later(v.alert_delay, lambda: self._dial_modem(call, target))
            return
        with self._lock:
            callee = self.callees.get(_digits_of(call.number), self.default_callee)
        if callee.outcome == "unreachable":
            self._later(v.orig_delay + 0.5, lambda: origin.voice_released(call, "unreachable"))
            return
        self._later(v.alert_delay, lambda: origin.voice_progress(call, STAT_ALERTING))
        ring_end = v.alert_delay + callee.answer_after
        if callee.outcome == "busy":
            self._later(v.alert_delay + 0.5, lambda: origin.voice_released(call, "busy"))
        elif callee.outcome == "reject":
            self._later(ring_end, lambda: self._ringing_release(call, "rejected"))
        elif callee.outcome == "answer":
            party = callee.party if callee.party is not None else RemoteParty()
            self._later(ring_end, lambda: self._callee_answers(call, party))
        self._later(v.alert_delay + self.ring_timeout, lambda: self._unanswered(call))

    def _ringing_release(self, call: SimCall, reason: str) -> None:
        if call.stat in (STAT_DIALING, STAT_ALERTING, STAT_INCOMING, STAT_WAITING):
            call.modem.voice_released(call, reason)

    def _unanswered(self, call: SimCall) -> None:
        """The network's ring timeout: an unanswered call ends as no-answer on both sides."""
        if call.stat in (STAT_DIALING, STAT_ALERTING, STAT_INCOMING, STAT_WAITING):
            call.modem.voice_released(call, "no-answer")
            peer = call.peer
            if peer is not None:
                self._ringing_release(peer, "no-answer")

    def _callee_answers(self, call: SimCall, party: RemoteParty) -> None:
        if call.stat != STAT_ALERTING:
            return
        call.party = party
        call.modem.voice_connected(call)
        self.answered(call)

    def _dial_modem(self, call: SimCall, target: Subscriber) -> None:
        if call.stat == STAT_RELEASED:
            return
        leg = SimCall(self, target, "inbound", call.modem.number, withheld=call.withheld, peer=call)
        call.peer = leg
        self._add(leg)
        target.voice_offer(leg)
        if leg.stat == STAT_RELEASED:
            reason = leg.end_reason or "unreachable"
            call.modem.voice_released(call, "busy" if reason == "busy" else "unreachable")
            return
        call.modem.voice_progress(call, STAT_ALERTING)
        self._later(self.ring_timeout, lambda: self._unanswered(leg))

    # ------------------------------------------------------------------ events from modems
    def answered(self, call: SimCall) -> None:
        """``call`` became active for the first time (ATA, CHLD, or the callee answered)."""
        peer = call.peer
        if peer is not None:
            if call.direction == "inbound":
                self._later(0.0, lambda: peer.modem.voice_connected(peer))
            return
        if call.party is not None and not call._party_started:
            call._party_started = True
            call.party.run(call)

    def released(self, call: SimCall, reason: str) -> None:
        """The modem released ``call`` itself (ATH, CHUP, CHLD, UDUB, unplug ...)."""
        peer = call.peer
        if peer is not None and peer.stat != STAT_RELEASED:
            far = _PEER_REASON.get(reason, "remote-hangup")
            self._later(0.0, lambda: peer.modem.voice_released(peer, far))

    def remote_release(self, call: SimCall, reason: str) -> None:
        """The far end (a remote party, or the network) releases ``call``."""
        call.modem.voice_released(call, reason)
        peer = call.peer
        if peer is not None and peer.stat != STAT_RELEASED:
            self._later(0.0, lambda: peer.modem.voice_released(peer, reason))

    def transferred(self, a: SimCall, b: SimCall) -> None:
        """ECT (AT+CHLD=4): the far ends of ``a`` and ``b`` now talk to each other."""
        a.transferred_to, b.transferred_to = b, a
        pa, pb = a.peer, b.peer
        if pa is not None:
            pa.peer = pb
        if pb is not None:
            pb.peer = pa
        a.peer = b.peer = None  # the modem is out of both calls: nothing to tell the far ends
