"""The browsers a ``<Dial><Client>`` rings: the voice engine's client directory.

:class:`ClientRinging` is :attr:`VoiceEngine.clients <appliance.voice.engine.VoiceEngine.clients>`
(a :class:`~appliance.voice.ringleg.ClientDirectory`): it makes the ring leg of each ``<Client>``
noun (:class:`~appliance.clients.ringing.ClientDialLeg`), keeps the rings in progress by call
SID, and hands them the browsers' ``answer`` and ``reject`` and closed sockets
(:class:`~appliance.clients.calls.ClientCalls` routes them here).  The registered devices of
an identity come from the HTTPS server's hub (the daemon wires :attr:`ClientRinging.devices`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import cast

from appliance.clients.line import ClientLine, Device
from appliance.clients.ringing import Browser, ClientDialLeg
from appliance.voice.session import CallSession


class ClientRinging:
    """The ``<Client>`` rings in progress, and the browsers' answers and rejects for them."""

    def __init__(self, line: ClientLine, account_sid: Callable[[], str]) -> None:
        self.line, self.account_sid = line, account_sid
        # the devices registered under an identity (the hub's; wired with the HTTPS server)
        self.devices: Callable[[str], Iterable[Browser]] = lambda identity: ()
        self._rings: dict[str, ClientDialLeg] = {}
        self._lock = threading.Lock()

    def leg(
        self, parent: CallSession, noun: object, timeout: float, wake: Callable[[], None]
    ) -> ClientDialLeg:
        return ClientDialLeg(self, parent, noun, timeout, wake)

    def add(self, ring: ClientDialLeg) -> None:
        with self._lock:
            self._rings[ring.sid] = ring

    def remove(self, ring: ClientDialLeg) -> None:
        with self._lock:
            self._rings.pop(ring.sid, None)

    def find(self, callsid: str) -> ClientDialLeg | None:
        with self._lock:
            return self._rings.get(callsid)

    def answer(self, device: Device, callsid: str, sdp: object) -> bool:
        """A browser accepted a ringing call; False if no ring has that call SID."""
        ring = self.find(callsid)
        return ring is not None and ring.on_answer(cast(Browser, device), sdp)

    def reject(self, device: Device, callsid: str) -> bool:
        ring = self.find(callsid)
        return ring is not None and ring.rejected(cast(Browser, device))

    def dropped(self, device: Device) -> None:
        """A browser's socket closed: it stops ringing wherever it rang."""
        with self._lock:
            rings = list(self._rings.values())
        for ring in rings:
            ring.gone(cast(Browser, device))
