"""A browser leg's receive buffer (appliance.clients.receivebuffer) on its own, and in each
audio receiver of a Peer in place of aiortc's JitterBuffer (a renamed aiortc attribute fails
here, not silently in a call)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from appliance.clients import medialoop
from appliance.clients.audioport import WebRtcAudioPort
from appliance.clients.peer import JITTER_BUFFER, Peer
from appliance.clients.receivebuffer import MAX_MISORDER, ReceiveBuffer


@dataclass
class Packet:
    sequence_number: int
    timestamp: int
    _data: bytes


def packet(seq: int) -> Packet:
    return Packet(seq % 65536, seq * 160 % (1 << 32), bytes([seq % 256]) * 160)


def passed(buffer: ReceiveBuffer, seqs: list[int]) -> list[int | None]:
    out: list[int | None] = []
    for seq in seqs:
        pli, frame = buffer.add(packet(seq))
        assert pli is False
        out.append(None if frame is None else frame.timestamp // 160)
    return out


def test_each_packet_goes_on_as_it_arrives() -> None:
    b = ReceiveBuffer()
    assert passed(b, [0, 1, 2, 3]) == [0, 1, 2, 3]  # none held back (aiortc held four)
    _, frame = ReceiveBuffer().add(packet(7))
    assert frame is not None and frame.data == bytes([7]) * 160


def test_a_lost_packet_is_skipped_at_once_and_adds_no_latency() -> None:
    b = ReceiveBuffer()
    seqs = [n for n in range(40) if n != 10]
    assert passed(b, seqs) == seqs  # aiortc's buffer stalls 16 packets, then lags 14
    assert b.skipped == 1 and b.dropped == 0


def test_late_and_duplicate_packets_are_dropped() -> None:
    b = ReceiveBuffer()
    assert passed(b, [0, 2, 1, 2, 3]) == [0, 2, None, None, 3]
    assert b.dropped == 2 and b.skipped == 1


def test_sequence_numbers_wrap_and_a_restarted_sender_is_followed() -> None:
    b = ReceiveBuffer()
    assert passed(b, [65534, 65535, 65536, 65537]) == [65534, 65535, 65536, 65537]
    restart = 65537 - MAX_MISORDER - 5  # far behind: the sender started a new sequence
    assert passed(b, [restart, restart + 1]) == [restart, restart + 1]


@pytest.mark.timeout(30)
@pytest.mark.parametrize("side", ["offer", "answer"])
def test_every_audio_receiver_of_a_peer_gets_one(side: str) -> None:
    media = medialoop.MediaLoop(["127.0.0.1"])
    media.start()
    a = Peer(WebRtcAudioPort(media.start()), name="a")
    b = Peer(WebRtcAudioPort(media.start()), name="b")
    try:
        sdp = media.submit(a.offer()).result(10)
        if side == "answer":
            media.submit(b.answer(sdp)).result(10)
        peer = a if side == "offer" else b
        assert peer.pc is not None
        receivers = [t.receiver for t in peer.pc.getTransceivers() if t.kind == "audio"]
        assert receivers and all(
            isinstance(getattr(r, JITTER_BUFFER), ReceiveBuffer) for r in receivers
        )
    finally:
        media.submit(a.close()).result(10)
        media.submit(b.close()).result(10)
        media.stop()
