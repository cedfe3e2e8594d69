"""Ringing browsers: a ``<Dial><Client>`` noun as a ring leg of the voice engine's ``<Dial>``.

:class:`~appliance.clients.directory.ClientRinging` (the engine's client directory) makes a
:class:`ClientDialLeg` for each ``<Client>`` noun, which :class:`~appliance.voice.ringing.Ringer` drives like a ``<Number>``'s
:class:`~appliance.voice.dialleg.DialLeg` (docs/design.md, "Browser phone calls"):

* **The child call** is a ``calls`` row on the client line (``outbound-dial``, From the
  caller's number, To ``client:<identity>``, the parent's SID, the noun's status callback).
* **Dialling** sends ``invite`` to every device registered under the identity that has no live
  call (:class:`~appliance.clients.invitation.Invitation` keeps the race), each with an offer of
  its own PeerConnection; the ``<Parameter>``s go in ``Params``.  No device registered: the leg
  ends ``no-answer`` at once; every device busy: ``busy``; the database unreachable (its row
  cannot be written): ``busy``, no device rung, the row written once the database is back.
* **The first ``answer`` wins**: its SDP completes that device's PeerConnection, the leg is in
  progress (a :class:`~appliance.clients.line.ClientCall` on the client line from then on, so
  the browser's ``hangup``, ``dtmf`` and media end work as for a call it placed), and every
  other device gets ``cancel``.  A ``reject`` takes that device out; the last one ends the leg
  ``busy``.  The ring timeout ends it ``no-answer``, and a caller who hangs up, another leg
  that wins or a REST update ``canceled``, each with ``cancel`` to the devices still ringing.
* **Audio** is the winner's :class:`~appliance.clients.audioport.WebRtcAudioPort` under the
  callee session's usual media clock, so the ``<Client url>`` whisper and the bridge to the
  caller are the ``<Number>``'s code.

The state every ring leg keeps (its leg, session, handle, ``ended_by_rest``,
``media_started``) is :class:`~appliance.voice.ringleg.ChildLeg`'s, shared with the
``<Number>``'s; the child row and the callee's line are :mod:`appliance.clients.callee`.
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
import time
from collections.abc import Callable, Hashable, Iterable
from typing import TYPE_CHECKING, Any, Protocol, cast

from appliance import logs, sids
from appliance.clients import callee, invitation, medialoop, offer, pstream
from appliance.clients.invitation import Invitation, Send
from appliance.clients.line import ClientCall, ClientLine, Device
from appliance.voice import call, restupdate
from appliance.voice.call import CallEvent, CallLeg, Step
from appliance.voice.records import TURNED_AWAY
from appliance.voice.restupdate import ends
from appliance.voice.ringleg import ChildLeg
from appliance.voice.session import CallSession

if TYPE_CHECKING:
    from appliance.clients.peer import Peer

LOGGER = logging.getLogger(__name__)

OFFER_TIMEOUT = 10.0  # seconds to make the offers (aiortc gathers the host candidates)
OUTCOME_STATUS = {  # an Invitation's outcome -> the child call's status
    invitation.BUSY: call.BUSY,
    invitation.NO_ANSWER: call.NO_ANSWER,
    invitation.CANCELED: call.CANCELED,
}


class Browser(Device, Hashable, Protocol):
    """A registered browser's signalling socket (a ``Session``): what the ring keys on."""


class Rings(Protocol):
    """The rings in progress (:class:`~appliance.clients.directory.ClientRinging`)."""

    line: ClientLine
    account_sid: Callable[[], str]
    devices: Callable[[str], Iterable[Browser]]

    def add(self, ring: ClientDialLeg) -> None: ...

    def remove(self, ring: ClientDialLeg) -> None: ...


class ClientDialLeg(ChildLeg):
    """The child call of one ``<Client>`` noun: every free device of its identity rings."""

    def __init__(
        self,
        rings: Rings,
        parent: CallSession,
        noun: Any,
        timeout: float,
        wake: Callable[[], None],
    ) -> None:
        self.rings, self.line, self.parent = rings, rings.line, parent
        self.noun, self.timeout = noun, timeout
        self.identity = str(noun.identity)
        leg = CallLeg(
            sids.new("CA"), incoming=False, number=f"client:{self.identity}", status=call.QUEUED
        )
        super().__init__(
            leg, CallSession(callee.CalleeLine(self), leg, parent.ctx), wake, self.rest_update
        )
        # False while the database is away: the ring is turned away as busy (dial)
        self.caller, self.written = callee.insert_row(
            self.line.records.store, parent, leg, noun, timeout, self.line.records.node
        )
        self.invitation: Invitation | None = None
        self.peers: dict[Browser, Peer] = {}
        self.call: ClientCall | None = None  # the winner's, once a device answered
        self._lock = threading.RLock()

    # -- the Ringer's thread

    def dial(self) -> bool:
        """Invite every free device; False if none rings (the leg has ended)."""
        line = self.line
        if not self.written:
            self._turn_away()
            return False
        line.run(self._join)  # REST updates and the engine's stop reach the leg
        self.rings.add(self)
        line.records.emit_callback(self.sid, "initiated", "initiated")
        devices = list(dict.fromkeys(self.rings.devices(self.identity)))
        if not devices:
            self.parent.documents.event(
                "info", None, f"<Client>{self.identity}</Client>: no browser is registered"
            )
            self._end(call.NO_ANSWER)
            return False
        busy = [d for d in devices if line.of_device(d)]
        with self._lock:
            self.invitation = Invitation(devices, busy)
            step = self.invitation.start()
        if step.outcome is not None:
            self._end(OUTCOME_STATUS[step.outcome])
            return False
        try:
            offers = self._offers([cast(Browser, s.device) for s in step.sends])
        except Exception as e:  # noqa: BLE001 - no extra, or aiortc failed: the leg fails
            self.parent.documents.event(
                "warning", None, f"<Client>{self.identity}</Client> not rung: {e}"
            )
            with self._lock:
                self.invitation.cancel()
            self._close_peers(list(self.peers))
            self._end(call.FAILED)
            return False
        self._apply(CallEvent("alerting", source="browser"))  # ringing, as Twilio's leg is
        with self._lock:
            if self.invitation.decided:  # the caller hung up meanwhile
                return False
            for device, sdp in offers.items():
                device.push(
                    pstream.invite(
                        self.sid,
                        sdp,
                        account_sid=self.rings.account_sid(),
                        caller=self.caller,
                        to=str(self.leg.number),
                        params=dict(getattr(self.noun, "parameters", ())),
                    )
                )
        logs.event(
            LOGGER, logging.INFO, "client ringing", sid=self.sid, identity=self.identity,
            devices=len(offers),
        )  # fmt: skip
        return self.leg.live

    def _turn_away(self) -> None:
        """The child row could not be written (the database is away): no device rings, as
        a GSM call ringing in then is turned away.  The leg ends ``busy`` (the
        ``<Dial>``'s DialCallStatus; its action or the next verb runs), and its row
        (``busy``, error 20503) and status callbacks are written once the database is back.
        """
        self.parent.documents.event(
            "info", None, f"<Client>{self.identity}</Client> not rung: the database is unreachable"
        )
        logs.event(
            LOGGER,
            logging.WARNING,
            "client ring turned away as busy: database unreachable",
            sid=self.sid,
            identity=self.identity,
            parent=self.parent.sid,
        )
        self.line.run(
            lambda: self._record(self.leg.end(call.BUSY, time.monotonic()), error=TURNED_AWAY)
        )

    def _offers(self, devices: list[Browser]) -> dict[Browser, str]:
        """One PeerConnection per device, and its offer (made at once on the media loop)."""
        from appliance.clients.audioport import WebRtcAudioPort
        from appliance.clients.peer import Peer

        why = medialoop.missing()
        if why is not None:
            raise RuntimeError(why)
        loop = self.line.media.start()
        futures: dict[Browser, concurrent.futures.Future[str]] = {}
        for device in devices:
            peer = Peer(WebRtcAudioPort(loop), name=self.sid)
            self.peers[device] = peer
            futures[device] = self.line.media.submit(peer.offer())
        return {d: f.result(OFFER_TIMEOUT) for d, f in futures.items()}

    def _join(self) -> None:
        self.line.flows[self.sid] = self._handle
        self.line.legs[self.sid] = self.leg

    def wait_answer(self, stop: Callable[[], bool]) -> bool:
        """Wait until a device answers (True), the leg ends, ``stop()`` says so or the ring
        times out (the leg ends ``no-answer``)."""
        channel = self.session.channel
        end = time.monotonic() + self.timeout
        with channel.poke:
            while self.leg.live and self.leg.status != call.IN_PROGRESS:
                if stop():
                    return False
                if time.monotonic() >= end:
                    break
                channel.poke.wait(0.1)
        if self.leg.live and self.leg.status != call.IN_PROGRESS:
            self._stop_ring(invitation.NO_ANSWER)
        return self.leg.status == call.IN_PROGRESS

    def send_digits(self, digits: str) -> None:
        return None  # <Client> has no sendDigits

    def hangup(self, status: str | None = None) -> None:
        """End the child call: ``hangup`` to the browser once answered, else ``cancel`` to
        every device still ringing (``canceled``, or ``status``)."""
        if not self.leg.live:
            return
        with self._lock:  # an answer cannot slip in between
            found = self.call
            if found is None:
                self._stop_ring(invitation.CANCELED, status)
                return
        found.hangup(self.leg, status or call.COMPLETED)

    def close(self) -> None:
        self.hangup()
        self.session.channel.stop_media()
        self.line.flows.pop(self.sid, None)
        self.rings.remove(self)
        self._close_peers(list(self.peers))  # but the winner's, which its call closes

    def rest_update(self) -> None:
        """``Status=canceled``/``completed`` ends the leg; a redirect is refused by the API
        (a browser leg is never redirectable out of its ``<Dial>``)."""
        update = restupdate.take(self.line.records.store, self.sid) or {}
        if ends(update):
            self.ended_by_rest = True
            self.parent.documents.event(
                "info", None, f"dialled leg {self.sid} to {self.leg.number} ended by a REST update"
            )
            self.hangup(call.COMPLETED if self.answered else call.CANCELED)

    # the bridge: a browser leg stays in its <Dial> (no REST redirect out of it)
    def bridge_started(self) -> None:
        return None

    def leaving(self) -> bool:
        return False

    def unbridge(self) -> bool:
        return False

    def hand_over(self) -> None:
        self.hangup()

    # -- browsers' signalling threads

    def on_answer(self, device: Browser, sdp: object) -> bool:
        """``answer`` from ``device``: the first wins; False if it is not one of this ring's."""
        with self._lock:
            ring = self.invitation
            if ring is None or device not in ring.rung:
                return False
            checked: offer.Offer | None = None
            if device in ring.ringing:
                try:
                    checked = offer.check(sdp, kind="answer")
                except pstream.ProtocolError as e:
                    device.push(pstream.error(e.code, e.message, self.sid))
                    self._send(ring.reject(device).sends)
                    return True
            step = ring.answer(device)
            if step.error is not None:
                device.push(pstream.error(pstream.NOT_FOUND, step.error, self.sid))
                return True
            if step.outcome != invitation.ANSWERED or checked is None:
                self._send(step.sends)  # a late answer: hangup
                return True
            peer = self.peers[device]
            found = ClientCall(self.line, device, self.sid, self.leg, peer)
            peer.on_end = found.media_ended
            self.call = found
            accepted = self.line.media.submit(peer.accept(checked.sdp))
            accepted.add_done_callback(lambda f: self._accept_done(f, found))
            self.line.add(found, lambda: self._handle)
            self._send(step.sends)  # the confirmation to the winner, cancel to the others
        self._close_peers([d for d in self.peers if d is not device])
        self.line.apply(found, CallEvent("active", source="browser"), why="answered")
        return True

    def rejected(self, device: Browser) -> bool:
        with self._lock:
            ring = self.invitation
            if ring is None or device not in ring.rung:
                return False
            step = ring.reject(device)
        self._close_peers([device])
        if step.outcome is not None:
            self._end(OUTCOME_STATUS[step.outcome])
        return True

    def gone(self, device: Browser) -> None:
        with self._lock:
            ring = self.invitation
            if ring is None or device not in ring.ringing:
                return
            step = ring.gone(device)
        self._close_peers([device])
        if step.outcome is not None:
            self._end(OUTCOME_STATUS[step.outcome])

    # -- helpers

    def _accept_done(self, future: concurrent.futures.Future[None], found: ClientCall) -> None:
        if future.exception() is not None:  # aiortc refused the browser's answer
            found.media_ended("failed")

    def _stop_ring(self, outcome: str, status: str | None = None) -> None:
        """The ring ends unanswered (timeout, cancel): ``cancel`` to the devices still
        ringing; nothing if a device answered meanwhile."""
        with self._lock:
            ring = self.invitation
            if self.call is not None:
                return
            if ring is not None:
                timed_out = outcome == invitation.NO_ANSWER
                self._send((ring.timeout() if timed_out else ring.cancel()).sends)
            self._close_peers(list(self.peers))
            self._end(status or OUTCOME_STATUS[outcome])

    def _send(self, sends: Iterable[Send]) -> None:
        for s in sends:
            device = cast(Browser, s.device)
            if s.kind == "cancel":
                device.push(pstream.cancel(self.sid))
            elif s.kind == "answer":  # the winner's confirmation, with its reconnect token
                found = self.call
                token = found.reconnect if found is not None and found.device is device else None
                device.push(pstream.answer(self.sid, reconnect=token))
            elif s.kind == "hangup":
                device.push(pstream.hangup(self.sid))

    def _close_peers(self, devices: Iterable[Browser]) -> None:
        media = self.line.media
        for device in list(devices):
            peer = self.peers.get(device)
            if peer is None or (self.call is not None and peer is self.call.peer):
                continue
            if media.running:
                try:
                    media.submit(peer.close())
                    continue
                except RuntimeError:
                    pass
            peer.port.close()

    def _apply(self, event: CallEvent) -> None:
        self.line.run(lambda: self._record(self.leg.apply(event, time.monotonic())))

    def _end(self, status: str) -> None:
        """The leg ends before any device answered (busy, no-answer, canceled, failed)."""
        self.line.run(lambda: self._record(self.leg.end(status, time.monotonic())))

    def _record(self, step: Step, error: tuple[int, str] | None = None) -> None:
        if not step.changed:
            return
        self.line.records.record_step(self.leg, step, error)
        if step.ended_now:
            self.line.legs.pop(self.sid, None)
            logs.event(
                LOGGER, logging.INFO, "client ring ended", sid=self.sid, status=self.leg.status
            )
        self._handle.notify(step)


if TYPE_CHECKING:  # mypy checks that a <Client>'s leg keeps the RingLeg Protocol
    from appliance.voice.ringleg import RingLeg

    def _a_client_leg_is_a_ring_leg(leg: ClientDialLeg) -> RingLeg:
        return leg
