"""A bridge direction's queue (appliance.voice.bridge.FrameQueue) on its own: bounded, and the
frames that stood in it at every tick of a window shed (at a quiet frame when one comes),
without a silent tick for them."""

from __future__ import annotations

import struct

from appliance.voice.bridge import BRIDGE_DEPTH, SILENCE, TRIM_TICKS, FrameQueue, quiet


def loud(n: int) -> bytes:
    return struct.pack("<h", 8000 + n % 8000) * 160  # a frame of speech, numbered


def hush(n: int) -> bytes:
    return struct.pack("<h", 1 + n % 500) * 160  # a pause in speech (about -36 dBFS and under)


def run(q: FrameQueue, make, first: int, ticks: int) -> tuple[list[int], list[bytes]]:
    """One frame put and one pulled per tick, as two 20 ms clocks do: depths at each pull,
    and the frames pulled."""
    depths, out = [], []
    for n in range(first, first + ticks):
        q.put(make(n))
        depths.append(len(q))
        out.append(q.pull())
    return depths, out


def test_quiet_means_no_sample_beyond_about_minus_30_dbfs() -> None:
    assert quiet(SILENCE) and quiet(hush(499)) and not quiet(loud(0))
    assert not quiet(bytes(318) + struct.pack("<h", -5000))


def test_a_full_queue_drops_its_oldest_frame() -> None:
    q = FrameQueue()
    for n in range(BRIDGE_DEPTH + 2):
        q.put(loud(n))
    assert len(q) == BRIDGE_DEPTH and q.dropped == 2
    assert q.pull() == loud(2)


def test_a_standing_queue_of_speech_sheds_its_spare_frames_a_second_later() -> None:
    q = FrameQueue()
    for n in range(3):  # a burst at the start: three frames stand in the queue
        q.put(loud(n))
    depths, out = run(q, loud, 3, 4 * TRIM_TICKS)
    assert SILENCE not in out and q.underruns == 0 and q.trimmed == 3
    assert depths[: 2 * TRIM_TICKS - 1] == [4] * (2 * TRIM_TICKS - 1)  # no quiet frame came
    assert set(depths[-TRIM_TICKS:]) == {1}  # then only the frame just put (this tick's)
    assert out[-1] == loud(2 + 4 * TRIM_TICKS)  # the last tick is on time
    numbers = [struct.unpack("<h", f[:2])[0] for f in out]
    assert numbers == sorted(numbers)  # in order: only whole frames left out


def test_a_standing_queue_sheds_quiet_frames_at_once() -> None:
    q = FrameQueue()
    for n in range(3):
        q.put(hush(n))
    depths, out = run(q, hush, 3, 2 * TRIM_TICKS)
    assert SILENCE not in out and q.trimmed == 3
    assert depths[TRIM_TICKS + 3 :] == [1] * (TRIM_TICKS - 3)  # three ticks after the window


def test_after_an_underrun_the_queue_keeps_a_frame_more() -> None:
    q = FrameQueue()
    q.put(loud(0))
    assert q.pull() == loud(0)
    assert q.pull() == SILENCE  # the next frame is late: one silent tick
    assert q.underruns == 1 and q.floor == 2
    for n in range(1, 3):  # it comes with the one after it, then one a tick: three stand
        q.put(loud(n))
    _, out = run(q, loud, 3, 4 * TRIM_TICKS)
    assert SILENCE not in out and q.underruns == 1
    assert q.trimmed == 1 and len(q) == 1  # one frame to spare stays after each tick


def test_silence_before_the_first_frame_is_not_an_underrun() -> None:
    q = FrameQueue()
    assert [q.pull() for _ in range(5)] == [SILENCE] * 5
    assert q.silent_ticks == 5 and q.underruns == 0 and q.floor == 1
