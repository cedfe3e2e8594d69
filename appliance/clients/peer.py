"""One browser's ``RTCPeerConnection`` (aiortc), run on the media loop.

A :class:`Peer` answers a browser's offer (a call from the browser: :meth:`Peer.answer`) or
makes the offer that rings a browser (:meth:`Peer.offer`, then :meth:`Peer.accept` with its
answer).  Its audio goes through a :class:`~appliance.clients.audioport.WebRtcAudioPort`: the
outbound track is the port's, and the browser's track is pumped into it.

* **Codecs:** PCMU, then Opus (the Voice SDK's default ``codecPreferences``); aiortc has no
  ``telephone-event``, so the SDK sends its digits as signalling (docs/design.md).
* **ICE:** no STUN or TURN server (aiortc would ask Google's STUN server by default): only host
  candidates, those of ``webrtc_addresses`` (:mod:`~appliance.clients.medialoop`).  aiortc
  gathers them inside ``setLocalDescription``, so the appliance's SDP holds them all (the SDK
  does not trickle).  The browser's SDP usually holds none: its STUN checks reach the
  appliance's candidates and aioice learns its address from them (peer-reflexive), so
  Chrome's mDNS ``.local`` names never have to resolve (:mod:`~appliance.clients.offer` drops
  any that came).
* **ICE restart** (the SDK's ``reinvite`` after a media failure, e.g. a network change):
  :meth:`Peer.restart` renegotiates with the browser's new offer and answers it.  aiortc has
  no ICE restart of its own (``RTCIceTransport.start`` runs once), so the appliance keeps its
  ICE credentials, candidates and DTLS session, and its ICE agent (aioice) takes the
  browser's new credentials: the checks of the browser's new ICE generation are accepted, from
  a new address too (a peer-reflexive candidate), and its consent checks use them
  (docs/design.md, "reinvite").
* **Receiving:** each audio receiver gets a :class:`~appliance.clients.receivebuffer.ReceiveBuffer`
  in place of aiortc's ``JitterBuffer(capacity=16, prefetch=4)``: the packets go to the
  decoder as they arrive (80 ms sooner, and a lost packet is no longer a 300 ms gap that leaves
  the call 280 ms late); the bridge's queue is what absorbs jitter (docs/design.md).
* **The end:** the browser closing its side (DTLS ``close_notify``), ICE consent expiring (a
  lost network, a killed tab: about 30 s) or DTLS failing calls ``on_end`` with the state
  (``closed`` or ``failed``), once; :meth:`Peer.close` is the appliance's own end and calls
  nothing.

Every method is a coroutine for the media loop; aiortc is imported only here and in the port,
never at module import.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from appliance import logs
from appliance.clients.audioport import WebRtcAudioPort
from appliance.clients.receivebuffer import ReceiveBuffer

if TYPE_CHECKING:
    from aiortc import RTCPeerConnection

LOGGER = logging.getLogger(__name__)

PREFERENCES = ("audio/PCMU", "audio/opus")  # the appliance's order


class Peer:
    """One browser leg's media: a PeerConnection and its audio port."""

    def __init__(
        self,
        port: WebRtcAudioPort,
        on_end: Callable[[str], None] | None = None,
        name: str = "",
        codecs: tuple[str, ...] = PREFERENCES,
    ) -> None:
        self.port, self.on_end, self.name, self.codecs = port, on_end, name, codecs
        self.pc: RTCPeerConnection | None = None
        self.ended: str | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def codec(self) -> str | None:
        """The negotiated codec (``PCMU`` or ``opus``), once both SDPs are set."""
        if self.pc is None:
            return None
        for t in self.pc.getTransceivers():
            codecs = getattr(t, "_codecs", [])  # aiortc keeps the negotiated list there
            if codecs:
                return str(codecs[0].mimeType.split("/", 1)[1])
        return None

    async def answer(self, offer_sdp: str) -> str:
        """The appliance's answer (with its candidates) to a browser's checked offer."""
        from aiortc import RTCSessionDescription

        pc = self._connection()
        await pc.setRemoteDescription(RTCSessionDescription(offer_sdp, "offer"))
        transceiver = next(t for t in pc.getTransceivers() if t.kind == "audio")
        transceiver.direction = "sendrecv"
        _prefer(transceiver, self.codecs)
        _receive_at_once(transceiver.receiver)
        transceiver.sender.replaceTrack(self.port.track())
        await pc.setLocalDescription(await pc.createAnswer())
        return str(pc.localDescription.sdp)

    async def offer(self) -> str:
        """The appliance's offer (with its candidates) that rings a browser."""
        pc = self._connection()
        transceiver = pc.addTransceiver(self.port.track(), direction="sendrecv")
        _prefer(transceiver, self.codecs)
        _receive_at_once(transceiver.receiver)
        await pc.setLocalDescription(await pc.createOffer())
        return str(pc.localDescription.sdp)

    async def accept(self, answer_sdp: str) -> None:
        """The browser's checked answer to :meth:`offer`."""
        from aiortc import RTCSessionDescription

        assert self.pc is not None, "accept() after offer()"
        await self.pc.setRemoteDescription(RTCSessionDescription(answer_sdp, "answer"))

    async def restart(self, offer_sdp: str, ice: tuple[str, str]) -> str:
        """The answer to a browser's ICE restart (its checked offer, with its new ICE
        credentials ``ice``): the same media, DTLS session and candidates; the ICE agent
        accepts the new credentials.  Raises if the peer has no established media."""
        from aiortc import RTCSessionDescription

        pc = self.pc
        if pc is None or pc.signalingState != "stable" or pc.remoteDescription is None:
            raise RuntimeError("the call's media is not established")
        await pc.setRemoteDescription(RTCSessionDescription(offer_sdp, "offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        for transceiver in pc.getTransceivers():
            _take_remote_ice(transceiver.receiver.transport.transport, ice)
        logs.event(LOGGER, logging.INFO, "webrtc ice restarted", peer=self.name)
        return str(pc.localDescription.sdp)

    async def close(self) -> None:
        """Ends the media: the port, the pump and the PeerConnection."""
        self.ended = self.ended or "closed"
        self.port.close()
        if self.pc is not None:
            await self.pc.close()
        for task in list(self._tasks):
            task.cancel()

    def _connection(self) -> RTCPeerConnection:
        from aiortc import RTCConfiguration, RTCPeerConnection

        if self.pc is not None:
            raise RuntimeError("this peer already has a PeerConnection")
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))  # no STUN server: LAN only
        self.pc = pc

        @pc.on("track")
        def on_track(track: Any) -> None:
            if track.kind == "audio":
                task = asyncio.ensure_future(self.port.pump(track))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

        @pc.on("connectionstatechange")
        def on_state() -> None:
            state = pc.connectionState
            logs.event(LOGGER, logging.DEBUG, "webrtc state", peer=self.name, state=state)
            # "closed" without close(): the browser's DTLS close_notify, or ICE consent
            # expired (aioice closes the connection after 6 unanswered checks, ~30 s)
            if state in ("failed", "closed") and self.ended is None:
                self.ended = state
                logs.event(LOGGER, logging.INFO, "webrtc media ended", peer=self.name, state=state)
                if self.on_end is not None:
                    self.on_end(state)

        return pc


def _take_remote_ice(transport: Any, ice: tuple[str, str]) -> None:
    """Point a started ``RTCIceTransport``'s ICE agent at the browser's new credentials.

    aiortc hands aioice the remote ``usernameFragment`` and ``password`` once, in
    ``RTCIceTransport.start``, and has no ICE restart; aioice's ``Connection`` checks each
    incoming check's USERNAME against its public ``remote_username`` and signs its own checks
    with ``remote_password``.  The one private name is aiortc's ``_connection`` (pinned by
    the aiortc version and tests/clients/test_reinvite.py; docs/design.md)."""
    connection = getattr(transport, "_connection", None)
    if connection is None or not hasattr(connection, "remote_username"):
        raise RuntimeError("this aiortc has no ICE agent to restart")
    connection.remote_username, connection.remote_password = ice


def _prefer(transceiver: Any, names: tuple[str, ...]) -> None:
    """PCMU, then Opus, and nothing else (no telephone-event: aiortc cannot send it)."""
    from aiortc import RTCRtpSender

    codecs = RTCRtpSender.getCapabilities("audio").codecs
    chosen = [c for name in names for c in codecs if c.mimeType.lower() == name.lower()]
    transceiver.setCodecPreferences(chosen)


# aiortc's RTCRtpReceiver keeps its jitter buffer in a private (name-mangled) attribute and
# only calls its add(); aiortc 1.16 is pinned (pyproject.toml), and a test checks the swap.
JITTER_BUFFER = "_RTCRtpReceiver__jitter_buffer"


def _receive_at_once(receiver: Any) -> None:
    """The audio receiver's packets go to the decoder as they arrive (:mod:`receivebuffer`);
    an aiortc without the attribute keeps its own buffer (80 ms later), with a warning."""
    if not hasattr(receiver, JITTER_BUFFER):
        logs.event(LOGGER, logging.WARNING, "aiortc's receive buffer kept", reason="no attribute")
        return
    setattr(receiver, JITTER_BUFFER, ReceiveBuffer())
