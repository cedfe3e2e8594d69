"""Call control for one modem: call URCs -> call legs, AT work for flows, the outbound queue.

Each modem has a :class:`Phone`, which lives in that modem's thread (one thread owns
each modem): it turns call URCs into :class:`appliance.voice.call.CallLeg`
transitions, writes them to the store, queues status callbacks and dials queued
calls when the line is free.  Each live call has a flow thread that runs its TwiML;
the flow asks its phone for AT work (answer, hang up, dial) through :meth:`Phone.run`,
which executes it on the modem thread.  The AT commands themselves are the phone's
:class:`appliance.voice.handset.Handset`; what happens when the modem is late or silent
about a call (AT+CLCC polling, the connect and no-answer deadlines) is its
:class:`appliance.voice.callwatch.CallWatch`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, TypeVar

from appliance import logs, sids
from appliance.errors import CommandRejected, StoreUnavailable
from appliance.store.database import Store
from appliance.voice import call
from appliance.voice.call import CallEvent, CallLeg, Step
from appliance.voice.callwatch import CallWatch
from appliance.voice.handset import Handset
from appliance.voice.records import TURNED_AWAY, CallRecords

if TYPE_CHECKING:
    from appliance.modem.modem import Modem
    from appliance.modem.profiles import VoiceProfile
    from appliance.twiml.stream import Stream
    from appliance.voice.mediastream import StreamState
    from appliance.voice.ports import AudioPort

LOGGER = logging.getLogger(__name__)
T = TypeVar("T")

CALLER_ID_SOURCES = frozenset({"CLIP", "CLCC", "ccinfo", "DSCI"})  # lines that carry caller ID
TURN_AWAY_QUIET = 10.0  # seconds the RINGs of a call turned away are not recorded again
# The CallStatus of the "initiated" status callback: Twilio reports a status of its own for
# it ("initiated: Twilio has dialed the call"), not the row's queued (docs/voice.md).
INITIATED = "initiated"


class FlowHandle(Protocol):
    """A live call's flow thread, as its phone and the engine drive it."""

    def start(self) -> None: ...
    def join(self, timeout: float | None = None) -> None: ...
    def notify(self, step: Step) -> None: ...  # the modem thread applied an event to the call
    def digit(self, digit: str, source: str) -> None: ...  # a key press the modem reported
    def stop(self) -> None: ...  # the appliance is stopping: end the call
    def control(self) -> None: ...  # the REST API wrote calls.control (redirect or end)
    def start_stream(self, spec: Stream) -> StreamState | None: ...  # REST: a one-way stream


class Switchboard(Protocol):
    """What a phone needs from the engine: the registry it joins and the maker of flows."""

    @property
    def phones(self) -> dict[str, Phone]: ...

    @property
    def flow_factory(self) -> Callable[[Phone, CallLeg], FlowHandle] | None: ...


class Phone:
    """Call control for one modem (a :class:`~appliance.voice.line.Line`); every method runs
    on that modem's thread."""

    can_conference = True  # the network holds one call and joins another (AT+CHLD)

    def __init__(
        self,
        modem: Modem,
        voice: VoiceProfile,
        store: Store,
        engine: Switchboard,
        account_sid: Callable[[], str],
        audio_port: str,
        on_job: Callable[[], None],
        node: str = "",
    ) -> None:
        self.modem = modem
        self.voice = voice
        self.store = store
        self.engine = engine
        self.account_sid = account_sid
        self.audio_port = audio_port
        self.on_job = on_job
        self.records = CallRecords(
            store, modem.name, modem.cfg.number, account_sid, on_job, node=node
        )
        self.legs: dict[str, CallLeg] = {}
        self.flows: dict[str, FlowHandle] = {}
        self.handset = Handset(modem, voice)
        self.watch = CallWatch(self.handset, self.legs, self._after)
        self._turned_away = 0.0  # monotonic time a call was last turned away (an outage)
        engine.phones[modem.name] = self

    @property
    def name(self) -> str:
        return self.modem.name

    def open_audio(self) -> AudioPort | None:
        """The modem's audio port for a call (its ``audio_port`` setting), or None without one."""
        if not self.audio_port:
            return None
        from appliance.voice.ports import open_audio_port  # late: only calls need it

        return open_audio_port(self.audio_port)

    # -- modem thread: life cycle -------------------------------------------------------------

    def on_connect(self) -> None:
        """After (re)connecting: voice init, and calls cut by a restart or a lost modem end."""
        self.handset.init()
        self._end_stale()
        if not any(leg.live for leg in self.legs.values()):
            # Calls the modem still has but nobody runs (the modem hung, the daemon restarted).
            self.handset.hang_up_leftovers()

    def _end_stale(self) -> None:
        """Rows left ringing or in progress without a live leg (a crash, a lost modem)."""
        live = set(self.legs)
        for row in self.records.stale():
            if row["sid"] in live:
                continue
            status = call.COMPLETED if row["status"] == call.IN_PROGRESS else call.FAILED
            self.records.write_status(
                row["sid"], status, error=(31005, "call lost: appliance restarted")
            )

    def on_drop(self) -> None:
        """The modem went away: every live call is over."""
        now = time.monotonic()
        for leg in list(self.legs.values()):
            step = leg.end(call.COMPLETED if leg.status == call.IN_PROGRESS else call.FAILED, now)
            self._after(leg, step, why="modem lost")

    # -- modem thread: events ----------------------------------------------------------------

    def on_line(self, line: str) -> bool:
        """A URC; True if it was about calls (and has been handled)."""
        event = call.parse(line)
        if event is None:
            return False
        self.on_event(event)
        return True

    def on_event(self, event: CallEvent) -> None:
        now = time.monotonic()
        if event.kind == "dtmf":
            for flow in self.flows.values():
                if event.digit:
                    flow.digit(event.digit, "modem")
            return
        live = [leg for leg in self.legs.values() if leg.live]
        if event.kind == "waiting" or (
            event.kind == "ring" and live and any(leg.status == call.IN_PROGRESS for leg in live)
        ):
            self._reject_waiting(event)
            return
        if event.kind == "ring":
            ringing = [leg for leg in live if leg.incoming]
            if ringing:
                leg = ringing[0]
                if event.number and not leg.number:
                    leg.number = event.number
                    self.records.write_caller(leg)
                if event.index is not None and leg.index is None:
                    leg.index = event.index
                if event.source in CALLER_ID_SOURCES:
                    leg.caller_id_seen = True
                return
            if live:
                return  # our own outbound call is being set up: a late +CLCC
            self._incoming(event)
            return
        if self.watch.is_echo(event, now):
            return
        target = self._leg_for(event, live)
        if target is None:
            LOGGER.debug("%s: call event %s with no call", self.modem.name, event)
            return
        if self.watch.awaits_reason(target, event, now):
            return
        self._after(target, target.apply(event, now), why=event.source or event.kind)

    def _leg_for(self, event: CallEvent, live: list[CallLeg]) -> CallLeg | None:
        if not live:
            return None
        if event.index is not None:
            for leg in live:
                if leg.index == event.index:
                    return leg
            unindexed = [leg for leg in live if leg.index is None]
            if len(unindexed) == 1:
                return unindexed[0]
            return None
        if len(live) == 1:
            return live[0]
        if event.kind == "released":
            dialled = call.dial_outcome_leg(event, live)  # BUSY beside a held call
            if dialled is not None:
                return dialled
            self.watch.poll_soon()  # ambiguous: ask the modem which call is gone
            return None
        # Several calls, no index (e.g. MO CONNECTED during <Dial>): the newest outgoing one.
        outgoing = [leg for leg in live if not leg.incoming]
        return outgoing[-1] if outgoing else live[-1]

    def _incoming(self, event: CallEvent) -> None:
        sid = sids.new("CA")
        leg = CallLeg(
            sid, incoming=True, number=event.number, index=event.index, status=call.RINGING
        )
        leg.caller_id_seen = event.source in CALLER_ID_SOURCES
        try:
            self.store.outage.check()  # no wait: the caller is not left ringing
            self.records.insert_incoming(sid, event)
        except StoreUnavailable:
            self._turn_away(event)
            return
        self.legs[sid] = leg
        self._log_call(leg, "call ringing")
        self._start_flow(leg)

    def _turn_away(self, event: CallEvent) -> None:
        """A call that rings while the database is away: no flow could run it (its Voice URL
        and its row are in the store), so it is rejected at once (AT+CHUP: the network tells
        the caller busy, and a forward-on-busy set on the SIM takes it).  Its row (``busy``,
        error 20503) is written once the database is back; the RINGs that follow it are not
        recorded again."""
        now = time.monotonic()
        self.handset.reject_ringing()
        if now - self._turned_away < TURN_AWAY_QUIET:
            return
        self._turned_away = now
        self.records.insert_rejected(event, error=TURNED_AWAY, at=time.time())
        logs.event(
            LOGGER,
            logging.WARNING,
            "call turned away as busy: database unreachable",
            modem=self.modem.name,
            from_=event.number or "unknown",
        )

    def _reject_waiting(self, event: CallEvent) -> None:
        """Call waiting on a busy line: reject it as busy (UDUB) and log it."""
        self.handset.reject_waiting()
        self.records.insert_rejected(event)
        logs.event(
            LOGGER,
            logging.INFO,
            "call waiting rejected as busy",
            modem=self.modem.name,
            from_=event.number or "unknown",
        )

    def _start_flow(self, leg: CallLeg) -> None:
        factory = self.engine.flow_factory
        if factory is None:
            return
        flow = factory(self, leg)
        self.flows[leg.sid] = flow
        flow.start()

    # -- modem thread: timers and the outbound queue ---------------------------------------

    def next_deadline(self) -> float | None:
        """Monotonic time this phone wants :meth:`tick` (None: nothing timed)."""
        times = self.watch.deadlines()
        return min(times) if times else None

    def tick(self, place: bool = True) -> None:
        """Run what is due; then, if the line is free and ``place``, dial the next queued call
        (not while the database is away: the modem loop passes False)."""
        if self.watch.tick() and place:
            self._place_next()

    def _place_next(self) -> None:
        row = self.records.claim_queued()
        if row is None:
            return
        leg = CallLeg(row["sid"], incoming=False, number=row["to_number"], status=call.QUEUED)
        self.legs[leg.sid] = leg
        self.records.emit_callback(leg.sid, "initiated", INITIATED)
        if not self.dial(leg, row["to_number"], float(row["timeout"] or 60)):
            return
        self._start_flow(leg)

    def dial(self, leg: CallLeg, number: str, timeout: float) -> bool:
        """ATD<number>; for ``leg``; False (and the leg ended failed) if the modem refuses."""
        try:
            self.handset.dial(number)
        except CommandRejected as e:
            step = leg.end(call.FAILED, time.monotonic())
            self._after(leg, step, error=(31009, str(e)), why="dial refused")
            return False
        now = time.monotonic()
        self.watch.dialled(leg, timeout, now)
        self._after(leg, leg.apply(CallEvent("dialing", source="ATD"), now))
        return True

    # -- modem thread: actions requested by flows -----------------------------------------------

    def run(self, fn: Callable[[], T], timeout: float = 60.0) -> T:
        """Run ``fn`` on the modem thread (from a flow thread) and return its result."""
        return self.modem.submit(lambda _driver: fn(), timeout=timeout)

    def answer(self, leg: CallLeg) -> bool:
        """ATA; True if the modem took it.  The call is in progress once the modem says it is
        connected (``call.CONNECT_NOTICES``, or AT+CLCC stat 0), not on ATA's OK: the flow
        waits for that (``channel.answered``); after CONNECT_TIMEOUT it is assumed."""
        if not leg.live:
            return False
        try:
            self.handset.answer()
        except CommandRejected as e:
            self._after(leg, leg.end(call.NO_ANSWER, time.monotonic()), why=f"ATA refused: {e}")
            return False
        self.watch.answered(leg)
        return leg.live

    def hangup(self, leg: CallLeg, status: str = call.COMPLETED) -> None:
        if not leg.live:
            return
        self.handset.release(leg, self.legs.values())
        self._after(leg, leg.end(status, time.monotonic()), why="hung up by the appliance")

    def early_media(self, leg: CallLeg) -> bool:
        """A modem cannot give a ringing caller audio: the network plays its ringing."""
        return False

    def released(self, leg: CallLeg, status: str = call.COMPLETED) -> None:
        """The network let go of ``leg`` on our request (a transfer): end it, no AT command."""
        self._after(leg, leg.end(status, time.monotonic()), why="transferred")

    def chld(self, n: str) -> bool:
        return self.handset.chld(n)

    def enable_audio(self) -> bool:
        """Start call audio where the family needs a command for it, once connected."""
        return self.handset.enable_audio()

    # -- store and callbacks ----------------------------------------------------------------

    def _after(
        self,
        leg: CallLeg,
        step: Step,
        error: tuple[int, str] | None = None,
        why: str | None = None,
    ) -> None:
        """A change of ``leg``: its row, status callback and log line; its flow is told."""
        if not step.changed:
            return
        if step.ended_now:
            self._log_call(leg, "call ended", error=error, why=why)
        elif step.status in (call.RINGING, call.IN_PROGRESS):
            self._log_call(leg, "call ringing" if step.status == call.RINGING else "call answered")
        flow = self.flows.get(leg.sid)
        self.records.record_step(leg, step, error)
        if step.ended_now:
            self.watch.ended(leg)
            if leg.answered_at is not None:
                self.handset.disable_audio()
            self.legs.pop(leg.sid, None)
        if flow is not None:
            flow.notify(step)
        if step.ended_now:
            self.modem.wake()  # the line is free: the next queued call may go

    def _log_call(
        self, leg: CallLeg, what: str, error: tuple[int, str] | None = None, why: str | None = None
    ) -> None:
        """One line per ringing, answer and end of a call, with its SID and numbers."""
        ours, theirs = self.modem.cfg.number, leg.number or "unknown"
        ended = what == "call ended"
        logs.event(
            LOGGER,
            logging.WARNING if ended and leg.status == call.FAILED else logging.INFO,
            what,
            sid=leg.sid,
            modem=self.modem.name,
            direction="inbound" if leg.incoming else "outbound",
            from_=theirs if leg.incoming else ours,
            to=ours if leg.incoming else theirs,
            status=leg.status if ended else None,
            duration=leg.duration() if ended else None,
            reason=why if ended else None,
            error_code=error[0] if error else None,
            error=error[1] if error else None,
        )
