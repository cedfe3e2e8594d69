"""A live call's channel: its audio, its key presses, and the waits of the thread that runs it.

Other threads only poke the channel (the modem thread's call events and DTMF URCs,
the engine's stop and control requests); the flow thread waits on it.  Every wait
checks that the call is still up and raises :class:`CallEnded` when it is not, so a
caller who hangs up mid-verb ends the flow at once.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from appliance.voice.call import CallLeg, Step

if TYPE_CHECKING:
    from appliance.voice.audio import Media, Playback
    from appliance.voice.dtmf import DigitMerger, DtmfDetector
    from appliance.voice.line import Line

LOGGER = logging.getLogger(__name__)


class CallEnded(Exception):
    """The call is over (the caller hung up, or the appliance ended it)."""


class CallChannel:
    """The audio and keys of one live call, and the condition its flow thread waits on."""

    def __init__(self, phone: Line, leg: CallLeg) -> None:
        self.phone = phone
        self.leg = leg
        self.sid = leg.sid
        self.poke = threading.Condition()
        self.digits: queue.Queue[str] = queue.Queue()
        self.answered = threading.Event()
        self.ended = threading.Event()
        self.control_pending = threading.Event()  # calls.control was written
        self.media: Media | None = None
        self.recorder_feed: Callable[[bytes], None] | None = None
        self.closers: list[Callable[[], None]] = []  # run before the media stops (Media Streams)
        # While bridged by a <Dial>: where keys that came out of band (a browser's signalling
        # ``dtmf``) go, since no tone of theirs passes through the bridge's audio.
        self.relay: Callable[[str], None] | None = None
        self._closers_lock = threading.Lock()  # a REST stream adds its closer from an HTTP thread
        self._media_stopped = False
        self._merger: DigitMerger | None = None
        self._detector: DtmfDetector | None = None

    # -- any thread ----------------------------------------------------------------------------

    def notify(self, step: Step) -> None:
        """The modem thread applied an event to this call."""
        if step.answered_now:
            self.answered.set()
        if step.ended_now:
            self.ended.set()
            media = self.media
            if media is not None:
                media.flush()
        self.wake()

    def digit(self, digit: str, source: str) -> None:
        """A key press, from the in-band detector or a modem URC (merged, never doubled)."""
        merger = self._merger
        if merger is not None and not merger.add(digit, source=source, at=time.monotonic()):
            return
        relay = self.relay
        if relay is not None and source == "signal":
            relay(digit)
        self.digits.put(digit)
        self.wake()

    def stop(self) -> None:
        """The appliance is stopping: end the call at the next step (it is hung up)."""
        self.ended.set()
        media = self.media
        if media is not None:
            media.flush()
        self.wake()

    def control(self) -> None:
        """The REST API wrote calls.control (redirect or end)."""
        self.control_pending.set()
        media = self.media
        if media is not None:
            media.flush()
        self.wake()

    def wake(self) -> None:
        with self.poke:
            self.poke.notify_all()

    def add_closer(self, close: Callable[[], None]) -> bool:
        """Run ``close`` when the call's media stops; False (not added) if it already has."""
        with self._closers_lock:
            if self._media_stopped:
                return False
            self.closers.append(close)
            return True

    # -- the flow thread -----------------------------------------------------------------------

    def check(self) -> None:
        """Raise :class:`CallEnded` if the call is over."""
        if self.ended.is_set() or not self.leg.live:
            raise CallEnded()

    def start_media(self) -> None:
        """Start the call's audio: the 20 ms clock on the phone's audio port, DTMF detection."""
        from appliance.voice.audio import Media
        from appliance.voice.dtmf import DigitMerger, DtmfDetector

        self.check()
        self.phone.run(self.phone.enable_audio, timeout=30)
        port = self.phone.open_audio()  # the line's: a modem's audio port, a browser's WebRTC
        if port is None:
            LOGGER.warning("call %s: no audio port configured; audio verbs are silent", self.sid)
            return
        self._merger = DigitMerger()
        self._detector = DtmfDetector()
        media = Media(port)
        media.add_listener(self._on_frame)
        media.start()
        self.media = media

    def stop_media(self) -> None:
        with self._closers_lock:
            self._media_stopped = True
            closers, self.closers = self.closers, []
        for close in closers:
            try:
                close()
            except Exception:
                LOGGER.exception("call %s: closing %r failed", self.sid, close)
        media, self.media = self.media, None
        if media is not None:
            media.stop()

    def _on_frame(self, frame: bytes) -> None:
        detector = self._detector
        if detector is not None:
            for d in detector.feed(frame):
                self.digit(d, "inband")
        feed = self.recorder_feed
        if feed is not None:
            feed(frame)

    def play(self, source: bytes | Iterable[bytes], *, barge_in: bool) -> str | None:
        """Play audio; returns the digit that interrupted it (barge-in), else None."""
        self.check()
        media = self.media
        if media is None:
            return None
        playback: Playback = media.play(source)
        with self.poke:
            while not playback.done.is_set():
                self.check()
                if self.control_pending.is_set():
                    playback.cancel()
                    media.flush()
                    return None
                if barge_in and not self.digits.empty():
                    playback.cancel()
                    media.flush()
                    return str(self.digits.queue[0])
                self.poke.wait(0.02)
        return None

    def sleep(self, seconds: float, *, interruptible: bool = True, digits: bool = False) -> None:
        """Wait ``seconds``; a control update (``interruptible``) or a key (``digits``) cuts it."""
        end = time.monotonic() + seconds
        with self.poke:
            while True:
                self.check()
                if interruptible and self.control_pending.is_set():
                    return
                if digits and not self.digits.empty():
                    return
                left = end - time.monotonic()
                if left <= 0:
                    return
                self.poke.wait(min(left, 0.25))

    def next_digit(self, timeout: float) -> str | None:
        """The next key pressed within ``timeout``; None on timeout or a control update."""
        end = time.monotonic() + timeout
        while True:
            self.check()
            if self.control_pending.is_set():
                return None
            try:
                return self.digits.get_nowait()
            except queue.Empty:
                pass
            left = end - time.monotonic()
            if left <= 0:
                return None
            with self.poke:
                if self.digits.empty():
                    self.poke.wait(min(left, 0.25))

    def clear_digits(self) -> None:
        while True:
            try:
                self.digits.get_nowait()
            except queue.Empty:
                return
