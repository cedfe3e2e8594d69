"""The client line: browser legs as call legs, so the voice engine runs their TwiML unchanged.

A browser leg is a call leg like a modem's (docs/design.md, "Browser phone calls"): a ``calls``
row (``calls.modem`` reads ``client``), a :class:`~appliance.voice.call.CallLeg` driven by
signalling instead of URCs, and an audio port backed by WebRTC
(:class:`~appliance.clients.audioport.WebRtcAudioPort` under the usual ``Media`` clock).

* :class:`ClientLine` is the :class:`~appliance.voice.line.Line` the engine sees
  (:attr:`VoiceEngine.client_line <appliance.voice.engine.VoiceEngine.client_line>`): every
  live browser call, their flows, the rows and status callbacks (``CallRecords`` under
  ``client``).  Its work runs inline under one lock (there is no modem thread to wait for).
* :class:`ClientCall` is one browser call, and the line its flow runs on: answering sends
  ``answer`` with the appliance's SDP, hanging up sends ``hangup`` (with 31486 or 31603 for a
  first ``<Reject>``), and its audio port is the call's WebRTC one.  Early media (``<Dial
  answerOnBridge>``) sends that SDP in ``ringing`` instead, so the browser hears the ringback
  before the ``answer`` that comes at the bridge.

A browser that hangs up, closes its socket or stops answering ICE consent releases its leg
(:meth:`ClientLine.released`); the row ends completed after an answer, else as a caller who
gave up.
"""

from __future__ import annotations

import concurrent.futures
import logging
import secrets
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, TypeVar

from appliance import logs
from appliance.clients import pstream
from appliance.clients.invitation import Reconnects
from appliance.voice import call
from appliance.voice.call import CallEvent, CallLeg, Step
from appliance.voice.records import CallRecords

if TYPE_CHECKING:
    from appliance.clients.medialoop import MediaLoop
    from appliance.clients.peer import Peer
    from appliance.store.database import Store
    from appliance.voice.line import Line
    from appliance.voice.phone import FlowHandle, Switchboard
    from appliance.voice.ports import AudioPort

LOGGER = logging.getLogger(__name__)
T = TypeVar("T")

NAME = "client"  # calls.modem of every browser leg
ANSWER_TIMEOUT = 10.0  # seconds the flow waits for the appliance's SDP (aiortc gathers first)
CLOSE_TIMEOUT = 5.0


class Device(Protocol):
    """A browser's signalling socket, as a call sends to it (a ``Session``)."""

    number: int

    def push(self, text: str) -> None: ...

    def silent(self) -> float: ...  # seconds since the browser last sent a frame

    def replaced(self) -> None: ...  # its call moved to the Device's new socket: close it


class ClientCall:
    """One browser call, and the line its flow runs on (``legs``, ``flows`` and the lock are
    the client line's; the audio port and the signalling are this call's)."""

    name = NAME
    can_conference = False  # a browser leg never holds one call and joins another

    def __init__(
        self,
        line: ClientLine,
        device: Device,
        tjs: str,
        leg: CallLeg,
        peer: Peer,
    ) -> None:
        self.line, self.device, self.tjs, self.leg = line, device, tjs, leg
        self.peer = peer
        # the appliance's SDP, made on the media loop while the flow asks the Voice URL
        self.answer_sdp: concurrent.futures.Future[str] | None = None
        self.sid = leg.sid
        self.legs = line.legs
        self.flows = line.flows
        self.browser_gone = False  # the browser hung up or its socket closed
        self.sdp_sent = False  # in ``ringing`` (early media) or ``answer``
        # the token that re-attaches the call to a new socket after a dropped one (sent in
        # ``answer``; ClientCalls.invite checks it)
        self.reconnect = line.issue(self)

    @property
    def identity(self) -> str:
        """The browser's identity: the caller of a call it placed, the callee of one it took."""
        return str(self.leg.number).removeprefix("client:")

    @property
    def engine(self) -> Switchboard:
        return self.line.engine

    def run(self, fn: Callable[[], T], timeout: float = 60.0) -> T:
        """Runs ``fn`` at once on the flow's thread: the line's own changes take its lock,
        and an answer waiting for its SDP must not hold up the other calls."""
        return fn()

    def answer(self, leg: CallLeg) -> bool:
        """Sends ``answer`` with the appliance's SDP (made on the media loop while the Voice
        URL was asked); the leg is in progress.  False if the call ended or the SDP failed."""
        if not leg.live:
            return False
        sdp: str | None = None
        if not self.sdp_sent:  # (early media sent it in ``ringing``)
            sdp = self._sdp()
            if sdp is None:
                return False
        if not leg.live:
            return False
        self.sdp_sent = True
        self.line.apply(self, CallEvent("active", source="browser"), why="answered")
        # the row says in-progress already
        self.device.push(pstream.answer(self.sid, sdp, reconnect=self.reconnect))
        return leg.live

    def early_media(self, leg: CallLeg) -> bool:
        """``<Dial answerOnBridge>``: ``ringing`` with the appliance's SDP, so the browser
        plays the call's audio (the ringback) while the call rings; ``answer`` comes at the
        bridge.  False if the call ended or the SDP failed (the call is then hung up)."""
        if not leg.live or self.sdp_sent:
            return self.sdp_sent and leg.live
        sdp = self._sdp()
        if sdp is None or not leg.live:
            return False
        self.sdp_sent = True
        self.device.push(pstream.ringing(self.sid, sdp))
        return True

    def _sdp(self) -> str | None:
        """The appliance's SDP; None if aiortc refused the offer or timed out: the browser
        then gets ``hangup`` 31100 and the call fails."""
        try:
            if self.answer_sdp is None:
                raise RuntimeError("no answer was started")
            return self.answer_sdp.result(ANSWER_TIMEOUT)
        except Exception as e:  # noqa: BLE001 - aiortc refused the offer, or timed out
            logs.event(LOGGER, logging.WARNING, "client answer failed", sid=self.sid, error=str(e))
            self.device.push(
                pstream.hangup(
                    self.sid, pstream.MALFORMED, "The appliance could not answer the call's SDP"
                )
            )
            self.line.end(self, call.FAILED, error=(31100, "no answer SDP"), why="SDP failed")
            return None

    def hangup(self, leg: CallLeg, status: str = call.COMPLETED) -> None:
        """The appliance ends the call (the TwiML ended, ``<Hangup>``, ``<Reject>``, a REST
        update, the daemon stopping): the row, then ``hangup`` to the browser (in that order:
        a browser that closes its socket on the ``hangup`` must find the call already ended
        with the appliance's status, not end it as a caller who gave up)."""
        if not leg.live:
            return
        if leg.answered_at is None and status == call.BUSY:  # <Reject reason="busy">
            text = pstream.hangup(self.sid, pstream.BUSY, "Busy here")
        elif leg.answered_at is None and status == call.NO_ANSWER:  # <Reject>
            text = pstream.hangup(self.sid, pstream.DECLINED, "Declined")
        else:
            text = pstream.hangup(self.sid)
        gone = self.browser_gone
        self.line.end(self, status, why="hung up by the appliance")
        if not gone:
            self.device.push(text)

    def enable_audio(self) -> bool:
        return True

    def open_audio(self) -> AudioPort | None:
        return self.peer.port

    def media_ended(self, state: str) -> None:
        """The peer's media ended on the browser's side (close_notify, consent lapsed); runs
        on the media loop, so the release goes to a thread of its own."""
        threading.Thread(
            target=self.line.released,
            args=(self, f"media {state}"),
            name=f"release {self.sid[:10]}",
            daemon=True,
        ).start()


class ClientLine:
    """The browser phones' line: their live calls by CA and TJS id, their rows and flows."""

    name = NAME
    can_conference = False

    def __init__(
        self,
        store: Store,
        account_sid: Callable[[], str],
        on_job: Callable[[], None],
        media: MediaLoop,
        engine: Switchboard,
    ) -> None:
        self.records = CallRecords(store, NAME, "", account_sid, on_job)
        self.media = media
        self.engine = engine  # whose modems a browser's <Dial> claims
        self.legs: dict[str, CallLeg] = {}
        self.flows: dict[str, FlowHandle] = {}
        self.calls: dict[str, ClientCall] = {}  # by CA sid
        self._by_tjs: dict[str, str] = {}  # the browser's temporary id -> CA sid
        self._reconnects = Reconnects()
        self._lock = threading.RLock()

    # -- the Line protocol (what the engine uses)

    def run(self, fn: Callable[[], T], timeout: float = 60.0) -> T:
        """Runs ``fn`` at once under the line's lock (no thread to hand it to)."""
        with self._lock:
            return fn()

    def answer(self, leg: CallLeg) -> bool:
        found = self.calls.get(leg.sid)
        return found.answer(leg) if found is not None else False

    def hangup(self, leg: CallLeg, status: str = call.COMPLETED) -> None:
        found = self.calls.get(leg.sid)
        if found is not None:
            found.hangup(leg, status)

    def early_media(self, leg: CallLeg) -> bool:
        found = self.calls.get(leg.sid)
        return found.early_media(leg) if found is not None else False

    def enable_audio(self) -> bool:
        return True

    def open_audio(self) -> AudioPort | None:
        return None  # each call has its own port (ClientCall.open_audio)

    # -- calls

    def start(self) -> None:
        """Rows a crash left ringing or in progress end (there is no call to resume)."""
        for row in self.records.stale():
            status = call.COMPLETED if row["status"] == call.IN_PROGRESS else call.FAILED
            self.records.write_status(
                row["sid"], status, error=(31005, "call lost: appliance restarted")
            )

    def add(self, found: ClientCall, make_flow: Callable[[], FlowHandle]) -> FlowHandle:
        """Adds a new call and its flow (made under the lock, so that nothing can end the
        call before its flow is known); the caller starts the flow."""
        with self._lock:
            self.calls[found.sid] = found
            self.legs[found.sid] = found.leg
            self._by_tjs[found.tjs] = found.sid
            flow = make_flow()
            self.flows[found.sid] = flow
            return flow

    def count(self) -> int:
        with self._lock:
            return len(self.calls)

    def discard(self, found: ClientCall) -> None:
        """A call that failed before it was added (its row could not be written): its
        reconnect token goes (the caller closes its PeerConnection)."""
        with self._lock:
            self._reconnects.forget(found.sid)

    def find(self, callsid: str, device: Device) -> ClientCall | None:
        """The live call ``callsid`` (its CA sid, or the TJS id the browser made) of this
        browser's socket; None for another socket's or an ended call."""
        with self._lock:
            sid = self._by_tjs.get(callsid, callsid)
            found = self.calls.get(sid)
        return found if found is not None and found.device is device else None

    def answered(self) -> list[ClientCall]:
        """Every live call the browser has answered (or the appliance, for one it placed)."""
        with self._lock:
            return [c for c in self.calls.values() if c.leg.answered_at is not None]

    def of_device(self, device: Device) -> list[ClientCall]:
        with self._lock:
            return [c for c in self.calls.values() if c.device is device]

    def issue(self, found: ClientCall) -> str:
        """A new reconnect token for ``found`` (it replaces any earlier one)."""
        with self._lock:
            return self._reconnects.issue(secrets.token_urlsafe(32), found.sid, found.identity)

    def reattach(
        self, callsid: str, token: str, identity: str, device: Device
    ) -> ClientCall | None:
        """Moves the live call ``callsid`` to ``device`` (a new socket of the browser whose
        socket dropped) if ``token`` is that call's reconnect token for ``identity``."""
        with self._lock:
            found = self.calls.get(callsid)
            if found is None or not found.leg.live:
                return None
            if not self._reconnects.claim(token, callsid, identity):
                return None
            found.device = device
            return found

    def move(self, found: ClientCall, dropped: Device, device: Device) -> bool:
        """Moves ``found`` from the socket that ``dropped`` to ``device`` (a legacy Device's
        new socket) if the call is still live and still on that socket."""
        with self._lock:
            if not found.leg.live or self.calls.get(found.sid) is not found:
                return False
            if found.device is not dropped:
                return False
            found.device = device
            return True

    def released(self, found: ClientCall, why: str) -> None:
        """The browser let go: it hung up, its socket closed, or its media ended."""
        with self._lock:
            found.browser_gone = True
            self.apply(found, CallEvent("released", source="browser"), why=why)

    def apply(self, found: ClientCall, event: CallEvent, why: str | None = None) -> None:
        with self._lock:
            self._after(found, found.leg.apply(event, time.monotonic()), why=why)

    def end(
        self,
        found: ClientCall,
        status: str,
        error: tuple[int, str] | None = None,
        why: str | None = None,
    ) -> None:
        with self._lock:
            self._after(found, found.leg.end(status, time.monotonic()), error=error, why=why)

    def _after(
        self,
        found: ClientCall,
        step: Step,
        error: tuple[int, str] | None = None,
        why: str | None = None,
    ) -> None:
        """A change of a browser leg: its row, status callback and log line; its flow is
        told; an ended call's media is closed (as ``Phone._after`` does for a modem)."""
        if not step.changed:
            return
        leg = found.leg
        if step.ended_now:
            logs.event(
                LOGGER,
                logging.INFO,
                "client call ended",
                sid=leg.sid,
                status=leg.status,
                duration=leg.duration(),
                reason=why,
                error_code=error[0] if error else None,
            )
        elif step.status == call.IN_PROGRESS:
            logs.event(LOGGER, logging.INFO, "client call answered", sid=leg.sid)
        flow = self.flows.get(leg.sid)
        self.records.record_step(leg, step, error)
        if step.ended_now:
            self.legs.pop(leg.sid, None)
            self.calls.pop(leg.sid, None)
            self._by_tjs.pop(found.tjs, None)
            self._reconnects.forget(leg.sid)
            self._close_media(found)
        if flow is not None:
            flow.notify(step)

    def _close_media(self, found: ClientCall) -> None:
        """Closes the call's PeerConnection on the media loop (without waiting for it)."""
        if not self.media.running:  # the daemon stopped the loop already
            found.peer.port.close()
            return
        try:
            self.media.submit(found.peer.close())
        except RuntimeError:  # the loop closed meanwhile
            found.peer.port.close()


if TYPE_CHECKING:  # mypy checks that a browser call and the client line are lines

    def _a_client_call_is_a_line(found: ClientCall) -> Line:
        return found

    def _the_client_line_is_a_line(line: ClientLine) -> Line:
        return line
