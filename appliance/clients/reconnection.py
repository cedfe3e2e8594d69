"""Browser calls that outlive their dropped socket, and the sockets that take them back.

A socket that drops with an answered call on it does not end the call at once
(:meth:`Reconnections.detach`): the media keeps flowing for ``client_reconnect_grace``
seconds, and the SDK's reconnect (an ``invite`` carrying the call's CA sid and the
``reconnect`` token sent in ``answer``, on a new socket of the same identity) re-attaches it
(:meth:`Reconnections.reattach`), answered by ``answer`` with the token; a wrong token gets
``hangup`` 31209 (:meth:`Reconnections.refuse`).  A legacy 1.x Device sends no such
``invite``: its ``listen`` on the new socket takes the call back (:meth:`Reconnections.resume`,
by :func:`~appliance.clients.invitation.may_resume`).  Without a reconnect the call is
released when the grace is over (``completed``; a bridged leg is hung up by its ``<Dial>``).
"""

from __future__ import annotations

import logging
import threading

from appliance import logs
from appliance.clients import invitation, pstream
from appliance.clients.line import ClientCall, ClientLine, Device

LOGGER = logging.getLogger(__name__)

RECONNECT_GRACE = 30.0  # s a call outlives its dropped socket (the SDK waits at most 30 s)
SILENT = 10.0  # s a socket has not echoed the 5 s heartbeat: a 1.x Device's new socket takes over


class Reconnections:
    """The client line's detached calls: their grace timers, and the legacy 1.x ones."""

    def __init__(self, line: ClientLine, grace: float = RECONNECT_GRACE) -> None:
        self.line = line
        self.grace = max(0.0, grace)  # client_reconnect_grace
        self._timers: dict[str, threading.Timer] = {}  # detached calls' grace, by CA sid
        # detached calls of legacy 1.x Devices, by CA sid: the call, its dropped socket, its holder
        self._legacy: dict[str, tuple[ClientCall, Device, invitation.Holder]] = {}
        self._lock = threading.Lock()

    def stop(self) -> None:
        """The daemon stops: no grace timer outlives it (the engine ends the calls)."""
        with self._lock:
            timers, self._timers = list(self._timers.values()), {}
            self._legacy.clear()
        for timer in timers:
            timer.cancel()

    def detach(self, found: ClientCall, device: Device) -> None:
        timer = threading.Timer(self.grace, self._grace_over, args=(found, device))
        timer.daemon = True
        timer.name = f"grace {found.sid[:10]}"
        holder = getattr(device, "holder", None)  # a Session's last good listen
        with self._lock:
            old = self._timers.pop(found.sid, None)
            self._timers[found.sid] = timer
            if isinstance(holder, invitation.Holder) and holder.legacy:
                self._legacy[found.sid] = (found, device, holder)
        if old is not None:
            old.cancel()
        timer.start()
        logs.event(
            LOGGER,
            logging.INFO,
            "client call detached",
            sid=found.sid,
            connection=device.number,
            grace=self.grace,
        )

    def _grace_over(self, found: ClientCall, device: Device) -> None:
        """No reconnect within the grace: the call ends (a bridged leg with it)."""
        self._forget(found.sid, fired=threading.current_thread())

        def release() -> None:
            if found.device is device and found.leg.live:  # not re-attached meanwhile
                self.line.released(found, f"socket closed, no reconnect in {self.grace:g} s")

        self.line.run(release)

    def _forget(self, sid: str, fired: threading.Thread | None = None) -> None:
        """Call ``sid`` is detached no more: its grace timer is cancelled and its legacy entry
        dropped.  ``fired``: the grace timer that ran out (a newer one, of a later drop,
        is left alone)."""
        with self._lock:
            timer = self._timers.get(sid)
            if fired is not None and timer is not fired:
                return
            self._timers.pop(sid, None)
            self._legacy.pop(sid, None)
        if timer is not None and timer is not fired:
            timer.cancel()

    def reattach(self, device: Device, identity: str, callsid: str, token: str) -> None:
        """The SDK's ``invite`` with a ``reconnect`` token after its socket dropped (call.ts:
        ``callsid`` is the CA sid; its SDP is the current one and is not renegotiated: the
        PeerConnection kept going).  ``answer`` with the token brings the Call back to open."""
        found = self.line.reattach(callsid, token, identity, device)
        if found is None:
            self.refuse(device, callsid, f"No call {callsid} to re-attach")
            return
        self._forget(found.sid)
        device.push(pstream.answer(found.sid, reconnect=found.reconnect))
        logs.event(
            LOGGER, logging.INFO, "client call re-attached", sid=found.sid, connection=device.number
        )

    def resume(self, device: Device, holder: invitation.Holder) -> None:
        """A legacy 1.x Device listened on a new socket: it takes back one answered call whose
        socket dropped, if :func:`~appliance.clients.invitation.may_resume` allows it (the very
        same token first, then the call that dropped first).  1.x keeps its Connection through
        a lost socket, sends ``listen`` again, then its keys and hang-up with the CA sid (1.x
        ``pstream.js``, ``_handleTransportOpen``): nothing is sent back.  A socket silent for
        :data:`SILENT` s counts as dropped (its close may come much later) and is closed.  A
        call that ended while the socket was down gets ``hangup``: the Connection ends."""
        with self._lock:
            waiting = [w for w in self._legacy.values() if invitation.may_resume(w[2], holder)]
        for found, _, _ in waiting:
            if not found.leg.live:  # it ended while the socket was down: the Device hears it
                device.push(pstream.hangup(found.sid))
        if self.line.of_device(device):  # a 1.x Device has one call at a time
            return
        detached = {w[0].sid for w in waiting}
        for found in self.line.answered():  # sockets the Device gave up on, not closed yet
            held = getattr(found.device, "holder", None)  # its Session's last good listen
            if found.sid in detached or found.device is device:
                continue
            if isinstance(held, invitation.Holder) and invitation.may_resume(held, holder):
                if found.device.silent() >= SILENT:
                    waiting.append((found, found.device, held))
        waiting.sort(key=lambda w: not w[2].same_token(holder))  # stable: dropped ones first
        for found, dropped, _ in waiting:
            if not self.line.move(found, dropped, device):
                continue  # ended, or taken meanwhile
            self._forget(found.sid)
            if found.sid not in detached:
                dropped.replaced()
            logs.event(
                LOGGER,
                logging.INFO,
                "client call re-attached",
                sid=found.sid,
                connection=device.number,
                legacy=True,
                was=dropped.number,
            )
            return

    def refuse(self, device: Device, callsid: str, why: str) -> None:
        logs.event(
            LOGGER,
            logging.INFO,
            "client reconnect refused",
            connection=device.number,
            code=pstream.RECONNECT_REFUSED,
            why=why,
        )
        device.push(pstream.hangup(callsid, pstream.RECONNECT_REFUSED, why))
