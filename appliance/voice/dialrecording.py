"""``<Dial record>``: the bridged call recorded to a WAV file, with Twilio's callbacks.

``record-from-answer`` starts when the callee is bridged, ``record-from-ringing`` when
the dialling starts (the caller's side, and what the caller hears meanwhile: the
ringback, if the appliance plays one).  ``-dual`` keeps the two parties apart: channel 1
is the caller (the parent call), channel 2 the callee (the child call); otherwise both
are mixed into one channel.  On one modem (hold and three-way calling) the appliance
hears the conference already mixed, so the recording is mono there (a ``-dual``
request says so in a call event).

The recording belongs to the parent call (``source`` ``DialVerb``), lives where the
``<Record>`` verb's do (``recordings_dir``, the ``recordings`` table) and shows in the
Recordings resource.  ``recordingStatusCallback`` gets ``in-progress`` (when it starts),
``completed`` or ``absent`` (nothing was heard) as ``recordingStatusCallbackEvent``
asks; the default is ``completed`` only (Twilio).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from appliance import logs, sids
from appliance.voice import recordingrows
from appliance.voice.callbacks import rfc2822

if TYPE_CHECKING:
    from appliance.voice.audio import Media
    from appliance.voice.session import CallSession

LOGGER = logging.getLogger(__name__)
SOURCE = "DialVerb"
BYTES_PER_SECOND = 16000  # 8 kHz S16LE


def wanted(verb: Any) -> bool:
    return str(getattr(verb, "record", "do-not-record")) != "do-not-record"


class DialRecording:
    """Collects the caller's and the callee's frames (two tracks, kept aligned)."""

    def __init__(self, session: CallSession, verb: Any) -> None:
        mode = str(verb.record)
        self.session = session
        self.verb = verb
        self.from_ringing = mode.startswith("record-from-ringing")
        self.dual = mode.endswith("-dual")
        self.sid = sids.new("RE")
        self._lock = threading.Lock()
        self._near = bytearray()  # the caller
        self._far = bytearray()  # the callee (or what the caller hears while it rings)
        self._detach: list[Any] = []
        self._started_at: float | None = None
        self._caller_attached = False
        self._saved = False

    # -- tracks --------------------------------------------------------------------------
    def start(self, caller: Media | None, *, mono_mix: bool = False) -> None:
        """Start recording the caller's side (``mono_mix``: one modem, already mixed)."""
        first = self._started_at is None
        if first:
            self._started_at = time.time()
            if mono_mix and self.dual:
                self.session.documents.event(
                    "info", None, "record: one modem hears the call mixed; recorded in one channel"
                )
                self.dual = False
        if caller is not None and not self._caller_attached:
            # (answerOnBridge: the caller's audio starts only at the bridge)
            self._caller_attached = True
            with self._lock:
                self._pad(self._near, len(self._far))
            caller.add_listener(self._on_near)
            self._detach.append(lambda: caller.remove_listener(self._on_near))
            if self.from_ringing and not mono_mix:
                caller.add_write_listener(self._on_far)  # the ringback the caller hears
                self._detach.append(lambda: caller.remove_write_listener(self._on_far))
        if first:
            self._callback("in-progress", {"RecordingStatus": "in-progress"})

    def add_callee(self, caller: Media | None, callee: Media | None) -> None:
        """The bridge is up: the far track is the callee from now on."""
        if caller is not None:
            try:
                caller.remove_write_listener(self._on_far)
            except ValueError:
                pass
        with self._lock:
            self._pad(self._far, len(self._near))
        if callee is not None:
            callee.add_listener(self._on_far)
            self._detach.append(lambda: callee.remove_listener(self._on_far))

    def _on_near(self, frame: bytes) -> None:
        with self._lock:
            self._near += frame

    def _on_far(self, frame: bytes) -> None:
        with self._lock:
            self._far += frame

    @staticmethod
    def _pad(track: bytearray, length: int) -> None:
        if len(track) < length:
            track += bytes(length - len(track))

    def stop(self) -> None:
        for detach in self._detach:
            try:
                detach()
            except ValueError:
                pass
        self._detach = []

    def pcm(self) -> tuple[bytes, int]:
        """The recording as interleaved (dual) or mixed (mono) PCM, and its channels."""
        with self._lock:
            n = max(len(self._near), len(self._far)) & ~1
            near, far = bytearray(self._near), bytearray(self._far)
        self._pad(near, n)
        self._pad(far, n)
        a = np.frombuffer(bytes(near[:n]), dtype="<i2").astype(np.int32)
        b = np.frombuffer(bytes(far[:n]), dtype="<i2").astype(np.int32)
        if self.dual:
            out = np.empty(a.size * 2, dtype="<i2")
            out[0::2], out[1::2] = a, b
            return out.tobytes(), 2
        return np.clip(a + b, -32768, 32767).astype("<i2").tobytes(), 1

    # -- the file, the row, the callbacks -------------------------------------------------
    def url(self) -> str:
        ctx = self.session.ctx
        base = ctx.base_url().rstrip("/")
        return f"{base}/2010-04-01/Accounts/{ctx.account_sid()}/Recordings/{self.sid}"

    def save(self) -> dict[str, str]:
        """Write the WAV and its row, queue the callback; the Dial action's parameters
        (RecordingUrl, RecordingSid, RecordingDuration), empty if nothing was recorded."""
        from appliance.voice.recorder import write_wav

        self.stop()
        if self._saved or self._started_at is None:
            return {}
        self._saved = True
        pcm, channels = self.pcm()
        if not pcm:
            self._callback("absent", {"RecordingStatus": "absent", "ErrorCode": "0"})
            return {}
        ctx = self.session.ctx
        ctx.recordings_dir.mkdir(parents=True, exist_ok=True)
        path = ctx.recordings_dir / f"{self.sid}.wav"
        write_wav(path, pcm, channels=channels)
        duration = round(len(pcm) / channels / BYTES_PER_SECOND)
        recordingrows.keep(  # or once the database is back (an outage): the file is on disk
            ctx.store,
            recordingrows.RecordingRow(
                sid=self.sid,
                call_sid=self.session.sid,
                duration=duration,
                channels=channels,
                source=SOURCE,
                path=str(path),
                start_time=self._started_at,
                created=time.time(),
            ),
            self._status(
                "completed",
                {
                    "RecordingStatus": "completed",
                    "RecordingDuration": str(duration),
                    "RecordingChannels": str(channels),
                },
            ),
            ctx.on_job,
        )
        logs.event(
            LOGGER,
            logging.INFO,
            "recording saved",
            sid=self.sid,
            call=self.session.sid,
            duration=duration,
            channels=channels,
            path=str(path),
        )
        return {
            "RecordingUrl": self.url(),
            "RecordingSid": self.sid,
            "RecordingDuration": str(duration),
        }

    def _callback(self, event: str, extra: dict[str, str]) -> None:
        status = self._status(event, extra)
        if status is not None:
            recordingrows.callback(
                self.session.ctx.store, self.session.sid, status, self.session.ctx.on_job
            )

    def _status(self, event: str, extra: dict[str, str]) -> recordingrows.StatusCallback | None:
        """The recordingStatusCallback of ``event``, if the verb asked for it."""
        verb, ctx = self.verb, self.session.ctx
        url = getattr(verb, "recording_status_callback", None)
        if not url or event not in getattr(verb, "recording_status_callback_events", ()):
            return None
        params = {
            "AccountSid": ctx.account_sid(),
            "CallSid": self.session.sid,
            "RecordingSid": self.sid,
            "RecordingUrl": self.url(),
            "RecordingSource": SOURCE,
            "RecordingStartTime": rfc2822(self._started_at or time.time()),
            "RecordingTrack": "both",
        }
        params.update(extra)
        return recordingrows.StatusCallback(
            url, getattr(verb, "recording_status_callback_method", "POST") or "POST", params
        )
