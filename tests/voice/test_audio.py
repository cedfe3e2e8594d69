"""The audio engine on a real pty pair: pacing, silence, playback queue, flush, framing, ALSA."""

from __future__ import annotations

import itertools
import os
import shutil
import threading
import time
from collections.abc import Iterator

import pytest

from appliance.voice import tones
from appliance.voice.audio import FRAME_BYTES, Media
from appliance.voice.ports import AlsaAudioPort, AudioPortError, SerialAudioPort, open_audio_port


class FarEnd:
    """The modem's side of the audio pty: reads what the appliance writes, every 20 ms."""

    def __init__(self, master: int) -> None:
        self.master = master
        self.received = bytearray()
        self.arrivals: list[tuple[float, int]] = []  # (monotonic, total bytes so far)
        self.outgoing: list[bytes] = []  # chunks to send, one per tick
        self.sent_at: list[float] = []  # monotonic time each outgoing chunk was written
        self._stop = threading.Event()
        os.set_blocking(master, False)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        next_t = time.monotonic()
        while not self._stop.is_set():
            if self.outgoing:
                os.write(self.master, self.outgoing.pop(0))
                self.sent_at.append(time.monotonic())
            while True:
                try:
                    data = os.read(self.master, 4096)
                except (BlockingIOError, OSError):
                    break
                if not data:
                    break
                self.received += data
                self.arrivals.append((time.monotonic(), len(self.received)))
            next_t += 0.02
            self._stop.wait(max(0.0, next_t - time.monotonic()))

    def frames(self) -> list[bytes]:
        data = bytes(self.received)
        return [data[i : i + FRAME_BYTES] for i in range(0, len(data), FRAME_BYTES)]

    def wait_bytes(self, n: int, timeout: float = 5.0) -> bool:
        end = time.monotonic() + timeout
        while len(self.received) < n and time.monotonic() < end:
            time.sleep(0.01)
        return len(self.received) >= n

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)


@pytest.fixture
def pty_pair() -> Iterator[tuple[int, str]]:
    """A real pty: (master fd for the far end, slave path the appliance opens)."""
    master, slave = os.openpty()
    path = os.ttyname(slave)
    yield master, path
    os.close(slave)
    os.close(master)


@pytest.fixture
def port(pty_pair: tuple[int, str]) -> Iterator[SerialAudioPort]:
    """The appliance's SerialAudioPort on the pty."""
    p = SerialAudioPort(pty_pair[1])
    yield p
    p.close()


@pytest.fixture
def far(pty_pair: tuple[int, str], port: SerialAudioPort) -> Iterator[FarEnd]:
    """The far end, paced at 20 ms by a thread."""
    f = FarEnd(pty_pair[0])
    yield f
    f.close()


@pytest.fixture
def media(port: SerialAudioPort, far: FarEnd) -> Iterator[Media]:
    """A started Media on the pty port."""
    m = Media(port)
    m.start()
    yield m
    m.stop()


def numbered(i: int) -> bytes:
    """A recognisable non-silent frame."""
    return bytes([(i % 250) + 1, 0x10]) * (FRAME_BYTES // 2)


def test_silence_when_idle_at_real_time_pace(media: Media, far: FarEnd) -> None:
    time.sleep(1.0)
    frames = far.frames()
    assert 40 <= len(frames) <= 60  # one frame per 20 ms, never ahead of real time
    assert all(f == bytes(FRAME_BYTES) for f in frames[:-1])
    s = media.stats()
    assert s["frames_written"] >= 40
    assert s["silence_frames"] == s["frames_written"]
    assert s["interval_p50_ms"] == pytest.approx(20.0, abs=2.0)


def test_play_bytes_arrive_intact_and_in_order(media: Media, far: FarEnd) -> None:
    audio = b"".join(numbered(i) for i in range(10)) + b"\x05\x05" * 40  # 10.5 frames
    pb1 = media.play(audio)
    pb2 = media.play(numbered(99))
    assert pb1.wait(10) and pb2.wait(10)
    assert pb1.started_at is not None and pb2.started_at is not None
    assert pb2.started_at - pb1.started_at == pytest.approx(0.22, abs=0.03)
    assert pb1.frames == 11 and pb2.frames == 1
    time.sleep(0.1)
    data = bytes(far.received)
    start = data.index(numbered(0))
    assert start % FRAME_BYTES == 0
    expected = audio + bytes(FRAME_BYTES - 80) + numbered(99)
    assert data[start : start + len(expected)] == expected
    assert data[start + len(expected) : start + len(expected) + FRAME_BYTES] == bytes(FRAME_BYTES)


def test_iterable_source_is_bounded_and_closed_on_flush(media: Media, far: FarEnd) -> None:
    pulled = itertools.count()
    closed = threading.Event()

    def endless() -> Iterator[bytes]:
        try:
            for _ in pulled:
                yield b"\x22\x01" * 800  # 100 ms per chunk
        finally:
            closed.set()

    media2_cap_ms = 1000
    pb = media.play(endless())
    time.sleep(0.6)
    s = media.stats()
    assert s["queued_ms"] <= media2_cap_ms + 100
    assert next(pulled) <= 20  # ~0.6 s played + 1 s buffered, not an unbounded read-ahead
    assert s["underruns"] == 0
    media.flush()
    assert pb.wait(10) and pb.cancelled
    assert closed.wait(10)
    assert not media.busy


def test_flush_takes_effect_within_one_frame(media: Media, far: FarEnd) -> None:
    pb = media.play(b"".join(numbered(i) for i in range(200)))
    time.sleep(0.3)
    frames_before = pb.frames
    flushed_at = time.monotonic()
    media.flush()
    assert pb.done.is_set() and pb.cancelled
    time.sleep(0.2)
    assert pb.frames - frames_before <= 1
    # every frame that reached the far end more than one frame period after the flush is silence
    late_from = next(n for t, n in far.arrivals if t > flushed_at + 0.06)
    tail = bytes(far.received[late_from - (late_from % FRAME_BYTES) :])
    assert tail and tail == bytes(len(tail))


def test_cancel_one_playback_skips_to_the_next(media: Media, far: FarEnd) -> None:
    first = media.play(numbered(1) * 50)
    second = media.play(numbered(2) * 3)
    time.sleep(0.1)
    first.cancel()
    assert second.wait(10) and not second.cancelled
    assert first.cancelled and first.frames < 50


def test_failing_source_ends_its_playback_only(media: Media, far: FarEnd) -> None:
    def broken() -> Iterator[bytes]:
        yield numbered(3) * 2
        raise RuntimeError("decoder exploded")

    pb = media.play(broken())
    after = media.play(numbered(4))
    assert pb.wait(10) and isinstance(pb.error, RuntimeError)
    assert after.wait(10) and after.frames == 1


def test_listeners_get_every_frame_in_order(media: Media, far: FarEnd) -> None:
    got: list[bytes] = []
    also: list[bytes] = []
    media.add_listener(got.append)
    media.add_listener(also.append)
    sent = [numbered(i) for i in range(50)]
    far.outgoing.extend(sent)
    end = time.monotonic() + 5
    while len(got) < 50 and time.monotonic() < end:
        time.sleep(0.02)
    assert got == sent
    assert also == sent
    media.remove_listener(also.append)
    far.outgoing.append(numbered(77))
    time.sleep(0.2)
    assert got[-1] == numbered(77) and len(also) == 50
    assert media.stats()["frames_read"] == 51


def test_partial_reads_are_reframed(media: Media, far: FarEnd) -> None:
    got: list[bytes] = []
    media.add_listener(got.append)
    stream = b"".join(numbered(i) for i in range(12))
    sizes = [1, 100, 7, 333, 319, 2, 640, 1000]
    chunks, pos = [], 0
    for n in itertools.cycle(sizes):
        if pos >= len(stream):
            break
        chunks.append(stream[pos : pos + n])
        pos += n
    far.outgoing.extend(chunks)
    end = time.monotonic() + 5
    while len(got) < 12 and time.monotonic() < end:
        time.sleep(0.02)
    assert b"".join(got) == stream
    assert all(len(f) == FRAME_BYTES for f in got)
    assert media.stats()["short_reads"] >= 1


def test_a_failing_listener_does_not_stop_the_others(media: Media, far: FarEnd) -> None:
    got: list[bytes] = []

    def bad(frame: bytes) -> None:
        raise ValueError("boom")

    media.add_listener(bad)
    media.add_listener(got.append)
    far.outgoing.extend([numbered(5), numbered(6)])
    end = time.monotonic() + 3
    while len(got) < 2 and time.monotonic() < end:
        time.sleep(0.02)
    assert got == [numbered(5), numbered(6)]


def test_dtmf_written_through_media_is_what_the_far_end_hears(media: Media, far: FarEnd) -> None:
    from appliance.voice.dtmf import DtmfDetector

    pb = media.play(tones.digits_audio("159#"))
    assert pb.wait(10)
    time.sleep(0.1)
    assert DtmfDetector().feed(bytes(far.received)) == list("159#")


def test_a_bridge_adds_its_queue_not_a_playback_buffer() -> None:
    """Two calls' media bridged (a <Dial>): a frame read on one side is written on the other
    within a few ticks, also after the bridge has run for a while on silence (it used to be a
    buffered playback source that was never empty, so it ran max_buffer_ms, a second, late)."""
    from appliance.voice.bridge import BRIDGE_DEPTH, Bridge

    ends = []
    try:
        for _ in range(2):
            master, slave = os.openpty()
            port = SerialAudioPort(os.ttyname(slave))
            far = FarEnd(master)
            media = Media(port)
            media.start()
            ends.append((master, slave, port, far, media))
        (_, _, _, far_a, media_a), (_, _, _, far_b, media_b) = ends
        bridge = Bridge(media_a, media_b)
        time.sleep(1.5)  # a second and a half of silence both ways
        far_a.outgoing.append(numbered(7))
        assert wait_frame(far_b, numbered(7))
        index = far_b.frames().index(numbered(7))
        arrived = next(t for t, total in far_b.arrivals if total >= (index + 1) * FRAME_BYTES)
        late = arrived - far_a.sent_at[0]
        # the reader, the bridge's queue (at most BRIDGE_DEPTH frames) and the next tick
        assert late < (BRIDGE_DEPTH + 3) * 0.02, f"{late * 1000:.0f} ms"
        bridge.stop()
    finally:
        for master, slave, port, far, media in ends:
            media.stop()
            far.close()
            port.close()
            os.close(slave)
            os.close(master)


def wait_frame(far: FarEnd, frame: bytes, timeout: float = 10.0) -> bool:
    end = time.monotonic() + timeout
    while frame not in far.frames():
        if time.monotonic() > end:
            return False
        time.sleep(0.01)
    return True


def test_stop_ends_queued_playbacks_and_threads(port: SerialAudioPort, far: FarEnd) -> None:
    m = Media(port)
    m.start()
    pb = m.play(numbered(1) * 100)
    m.stop()
    assert pb.done.is_set() and pb.cancelled
    assert not any(t.name.startswith("media-w") for t in threading.enumerate() if t.is_alive())
    late = m.play(numbered(2))
    assert late.done.is_set() and late.cancelled


def test_full_port_drops_instead_of_blocking(pty_pair: tuple[int, str]) -> None:
    # Nobody reads the master: the pty buffer fills and writes must not hang the clock.
    p = SerialAudioPort(pty_pair[1], write_timeout=0.02)
    try:
        start = time.monotonic()
        for _ in range(2000):
            p.write(numbered(1))
            if p.dropped_bytes:
                break
        assert p.dropped_bytes > 0
        assert time.monotonic() - start < 5
    finally:
        p.close()


def test_port_errors_are_clear() -> None:
    with pytest.raises(AudioPortError, match="cannot open audio port"):
        open_audio_port("/nonexistent/ttyUSB9")


def test_read_after_far_end_closes_raises(pty_pair: tuple[int, str]) -> None:
    master, path = pty_pair
    p = SerialAudioPort(path)
    os.write(master, b"ab")
    assert p.read(10, 1.0) == b"ab"
    p.close()
    with pytest.raises(AudioPortError, match="closed"):
        p.read(10, 0.1)


@pytest.mark.skipif(shutil.which("aplay") is None, reason="alsa-utils not installed")
def test_alsa_port_on_the_null_device() -> None:
    # This machine has no sound card: ALSA's "null" PCM proves the arecord/aplay plumbing
    # (open, raw S16_LE 8 kHz read and write, close); pacing by a real card is untested here.
    port = open_audio_port("alsa:null")
    assert isinstance(port, AlsaAudioPort)
    try:
        data = b""
        end = time.monotonic() + 5
        while len(data) < FRAME_BYTES and time.monotonic() < end:
            data += port.read(FRAME_BYTES, 1.0)
        assert len(data) >= FRAME_BYTES
        for _ in range(10):
            port.write(numbered(1))
    finally:
        port.close()
    with pytest.raises(AudioPortError):
        port.write(numbered(1))


@pytest.mark.skipif(shutil.which("aplay") is None, reason="alsa-utils not installed")
def test_alsa_port_on_a_missing_device_fails_clearly() -> None:
    port = AlsaAudioPort("hw:9,9")
    try:
        with pytest.raises(AudioPortError, match="ALSA capture on 'hw:9,9' stopped"):
            for _ in range(20):
                port.read(FRAME_BYTES, 0.5)
    finally:
        port.close()


def test_speech_streams_through_media_without_underrun(media: Media, far: FarEnd) -> None:
    from appliance.voice import tts

    queued_at = time.monotonic()
    pb = media.play(tts.speak("This is a test of the call audio path.", "woman", "en-GB"))
    assert pb.wait(10) and pb.error is None and not pb.cancelled
    assert pb.started_at is not None and pb.started_at - queued_at < 1.0
    assert pb.frames > 50
    assert media.stats()["underruns"] == 0
    time.sleep(0.1)
    assert any(far.received)


def test_stop_from_a_listener_does_not_deadlock(port: SerialAudioPort, far: FarEnd) -> None:
    m = Media(port)
    stopped = threading.Event()

    def hang_up(frame: bytes) -> None:
        m.stop()
        stopped.set()

    m.add_listener(hang_up)
    m.start()
    far.outgoing.append(numbered(1))
    assert stopped.wait(10)
    m.stop()
