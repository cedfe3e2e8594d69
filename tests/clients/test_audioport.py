"""A browser leg's audio port on its own (appliance.clients.audioport): frames across the
threads, bounded buffers that drop the oldest audio, silence on the track's own clock."""

from __future__ import annotations

import threading
import time

import pytest

from appliance.clients import medialoop
from appliance.clients.audioport import FRAME_BYTES, IN_BYTES, OUT_FRAMES, SILENCE, WebRtcAudioPort

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def loop():
    media = medialoop.MediaLoop()
    yield media.start()
    media.stop()


def run(loop, coro, timeout=5.0):
    import asyncio

    return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout)


def test_writes_become_whole_frames_and_a_late_sender_costs_audio_not_latency(loop):
    port = WebRtcAudioPort(loop)
    port.write(b"\x01" * 100)  # a partial frame waits for the rest
    port.write(b"\x01" * (FRAME_BYTES - 100))
    for n in range(2, 2 + OUT_FRAMES + 2):
        port.write(bytes([n]) * FRAME_BYTES)
    time.sleep(0.1)
    frames = [run(loop, port.next_frame()) for _ in range(OUT_FRAMES)]
    # 1 + OUT_FRAMES + 2 frames: the 3 oldest were dropped, the newest remain in order
    assert [f[0] for f in frames] == list(range(4, 4 + OUT_FRAMES))
    assert all(len(f) == FRAME_BYTES for f in frames) and port.dropped_out == 3


def test_an_idle_writer_gets_silence_every_20_ms(loop):
    port = WebRtcAudioPort(loop)

    async def ten() -> list[bytes]:
        return [await port.next_frame() for _ in range(10)]

    started = time.monotonic()
    frames = run(loop, ten())
    took = time.monotonic() - started
    assert frames == [SILENCE] * 10
    assert 0.15 <= took <= 0.4, took  # about 9 frame times: paced, not a burst


def test_reads_wait_and_the_inbound_buffer_keeps_the_newest_120_ms(loop):
    port = WebRtcAudioPort(loop)
    started = time.monotonic()
    assert port.read(FRAME_BYTES, 0.05) == b""
    assert time.monotonic() - started >= 0.05
    port._received(b"\x00\x01" * (IN_BYTES // 2) + b"\x02\x03" * 80)  # 120 ms + 10 ms
    assert port.dropped_in == 160
    data = port.read(IN_BYTES * 2, 0.1)
    assert len(data) == IN_BYTES and data.endswith(b"\x02\x03" * 80)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(port.read(FRAME_BYTES, 5)))
    reader.start()
    time.sleep(0.05)
    port.close()  # wakes a waiting reader at once
    reader.join(1)
    assert got == [b""] and not reader.is_alive()
