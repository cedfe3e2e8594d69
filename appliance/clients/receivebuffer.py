"""A browser leg's RTP receive buffer for audio: each packet goes to the decoder as it arrives.

aiortc's ``RTCRtpReceiver`` hands every RTP packet to a jitter buffer and decodes what that
buffer returns from ``add(packet)``: at most one frame per packet.  For audio it uses
``JitterBuffer(capacity=16, prefetch=4)``, which (measured, docs/design.md "Browser audio in")

* holds every frame until four later packets have come: 80 ms on every call, and it smooths
  nothing, since each frame leaves when a later packet *arrives* (the arrival jitter goes
  straight through; the appliance's own queues and the 20 ms writer absorb it);
* stops at a lost packet until 16 later packets have come (a 300 ms gap), and then returns one
  frame per packet from the 14 it holds: one lost packet leaves the rest of the call 280 ms
  late.

:class:`ReceiveBuffer` keeps aiortc's interface (``add`` returns ``(pli_flag, frame)``) and
nothing else of its code: a packet newer than the last one passed on goes on at once (the
packets it skipped are lost), an older one or a duplicate is dropped (a reordered packet costs
its 20 ms of audio, never latency), and one far behind (:data:`MAX_MISORDER`) starts a new
sequence (the sender restarted).  :class:`~appliance.clients.peer.Peer` puts one in each audio
receiver.  Pure: packets are duck-typed (``sequence_number``, ``timestamp`` and ``_data``, the
depayloaded bytes aiortc sets before ``add``); aiortc is never imported here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

SEQ_MOD = 1 << 16  # RTP sequence numbers are 16 bits and wrap
MAX_MISORDER = 100  # a packet this far behind the last one is a new sequence, not a late one


class Packet(Protocol):
    sequence_number: int
    timestamp: int
    _data: bytes


@dataclass
class EncodedFrame:
    """What aiortc's decoder thread takes: the payload and its RTP timestamp (which the
    receiver rewrites in place)."""

    data: bytes
    timestamp: int


class ReceiveBuffer:
    """Audio packets in arrival order, none held: newer ones on, older ones dropped."""

    capacity = 1  # aiortc's JitterBuffer has the attribute; nothing is ever held here

    def __init__(self) -> None:
        self.last: int | None = None  # sequence number of the last packet passed on
        self.passed = 0
        self.dropped = 0  # late (reordered) or duplicate packets
        self.skipped = 0  # sequence numbers never seen (lost, or later dropped as late)

    def add(self, packet: Packet) -> tuple[bool, EncodedFrame | None]:
        """``(False, frame)`` to decode now, or ``(False, None)`` for a late packet (no
        picture-loss indication: audio)."""
        seq = packet.sequence_number % SEQ_MOD
        if self.last is not None:
            ahead = (seq - self.last) % SEQ_MOD
            behind = SEQ_MOD - ahead
            if ahead == 0 or (ahead >= SEQ_MOD // 2 and behind < MAX_MISORDER):
                self.dropped += 1
                return False, None
            if ahead < MAX_MISORDER:
                self.skipped += ahead - 1
        self.last = seq
        self.passed += 1
        return False, EncodedFrame(bytes(packet._data), packet.timestamp)
