"""The bot's audio on a bidirectional Media Stream: played into the call, marks, ``clear``.

:class:`BotPlayback` queues the bot's ``media`` (linear PCM, any length) on the call's paced
writer in whole 20 ms frames, answers each ``mark`` once the audio queued before it has
played (or was cleared), and :meth:`BotPlayback.clear` cancels the queued audio, so the
next frame is silence and the pending marks come back at once.  The stream's receiver
thread calls it; the stream's ``stop`` calls :meth:`BotPlayback.clear` too, so the marks
still pending when the stream ends come back before ``stop``.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable

from appliance.voice.audio import FRAME_BYTES, Media, Playback

MAX_BUFFERED_SECONDS = 60.0  # the bot's audio queued ahead of real time; beyond, dropped
MAX_PENDING_MARKS = 256  # marks waiting for their audio; beyond, refused with a warning
BYTES_PER_SECOND = 16000  # 8 kHz 16-bit linear PCM

Warn = Callable[[str, int | None, str], None]  # (key, code, message): once a stream per key


class BotPlayback:
    """The bot's audio and marks on one stream; every method is thread-safe."""

    def __init__(self, media: Media | None, send_mark: Callable[[str], None], warn: Warn) -> None:
        self.media = media
        self._send_mark = send_mark
        self._warn = warn
        self._lock = threading.Lock()
        self._partial = bytearray()  # less than a frame, waiting for more
        self._playing: deque[tuple[Playback, int]] = deque()
        self._marks: deque[tuple[str, Playback | None]] = deque()

    def _buffered_bytes(self) -> int:
        return sum(size for pb, size in self._playing if not pb.done.is_set()) + len(self._partial)

    def play(self, pcm: bytes) -> None:
        media = self.media
        if media is None:
            return
        with self._lock:
            while self._playing and self._playing[0][0].done.is_set():
                self._playing.popleft()
            if self._buffered_bytes() + len(pcm) > MAX_BUFFERED_SECONDS * BYTES_PER_SECOND:
                self._warn(
                    "too fast",
                    None,
                    f"the bot sends audio faster than real time; beyond "
                    f"{MAX_BUFFERED_SECONDS:g} s queued it is dropped",
                )
                return
            self._partial += pcm
            whole = len(self._partial) // FRAME_BYTES * FRAME_BYTES
            if whole:
                chunk = bytes(self._partial[:whole])
                del self._partial[:whole]
                self._playing.append((media.play(chunk), len(chunk)))

    def mark(self, name: str) -> None:
        with self._lock:
            if len(self._marks) >= MAX_PENDING_MARKS:
                self._warn(
                    "marks",
                    None,
                    f"more than {MAX_PENDING_MARKS} marks pending; mark {name!r} was refused",
                )
                return
            media = self.media
            if self._partial and media is not None:  # a short tail: played padded, then marked
                chunk = bytes(self._partial)
                self._partial.clear()
                self._playing.append((media.play(chunk), len(chunk)))
            last = self._playing[-1][0] if self._playing else None
            self._marks.append((name, last))
        self.answer_marks()

    def clear(self) -> None:
        """Drop the queued audio (the next frame is silence); the pending marks come back."""
        with self._lock:
            self._partial.clear()
            playing = list(self._playing)
            self._playing.clear()
        for pb, _ in playing:
            pb.cancel()
        self.answer_marks()

    def answer_marks(self) -> None:
        """Send, in order, the marks whose audio has played (or was cleared)."""
        with self._lock:
            while self._marks:
                name, pb = self._marks[0]
                if pb is not None and not pb.done.is_set():
                    break
                self._marks.popleft()
                self._send_mark(name)
