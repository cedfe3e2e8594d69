"""``<Record>``: record the caller to a WAV file, store it, and tell the app.

``timeout`` (silence) and ``maxLength`` run on the call's clock, not on counted audio
frames, so a call without an audio port (or one whose port stalls) still ends the
recording.  A REST update (hang up or redirect) cuts the recording short, as it cuts
``<Gather>``: what was heard is stored, and the update, not the action, runs next.

While the database is away (PostgreSQL) a recording is made as always: the file is
written, its row and its recordingStatusCallback are kept and written once the database
answers (:mod:`appliance.voice.recordingrows`), and the action is requested with the
call's parameters as last read (:meth:`~appliance.voice.documents.Documents.row`).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any

from appliance import logs, sids
from appliance.voice import recordingrows
from appliance.voice.channel import CallEnded
from appliance.voice.session import CallSession

LOGGER = logging.getLogger(__name__)
POLL = 0.05  # seconds between looks at the keys, the clock and REST updates while recording


def record(session: CallSession, verb: Any, doc: Any) -> Any:
    from appliance.voice import tones
    from appliance.voice.recorder import Recorder, frame_is_silent, write_wav

    channel, ctx = session.channel, session.ctx
    channel.clear_digits()
    if verb.play_beep:
        channel.play(tones.beep(), barge_in=False)
    recorder = Recorder(
        max_length=float(verb.max_length),
        silence_timeout=float(verb.timeout),
        finish_on_key=verb.finish_on_key,
        trim=str(verb.trim) != "do-not-trim",
        play_beep=False,
    )
    finished = threading.Event()
    start = time.monotonic()
    end = start + float(verb.max_length)
    silence = float(verb.timeout)  # 0: no silence timeout
    last_sound = [start]  # the call's clock when the caller was last heard

    def feed(frame: bytes) -> None:
        if not frame_is_silent(frame):
            last_sound[0] = time.monotonic()
        if recorder.feed(frame):
            finished.set()
            channel.wake()

    started = time.time()
    channel.recorder_feed = feed
    key = ""
    try:
        with channel.poke:
            while not finished.is_set():
                if channel.ended.is_set() or not session.leg.live:
                    key = "hangup"
                    break
                if channel.control_pending.is_set():
                    key = "control"  # a REST hang-up or redirect: it runs next
                    break
                now = time.monotonic()
                if now >= end or (silence and now - last_sound[0] >= silence):
                    break
                try:
                    d = channel.digits.get_nowait()
                except queue.Empty:
                    channel.poke.wait(POLL)
                    continue
                if recorder.on_digit(d):
                    key = d
                    break
    finally:
        channel.recorder_feed = None
    if key == "hangup":
        recorder.hangup()
    pcm = recorder.result().pcm
    if not pcm:
        session.documents.event("warning", 16102, "recording is silent; nothing stored")
        if key == "hangup":
            raise CallEnded()
        return None
    rec_sid = sids.new("RE")
    ctx.recordings_dir.mkdir(parents=True, exist_ok=True)
    path = ctx.recordings_dir / f"{rec_sid}.wav"
    write_wav(path, pcm)
    duration = round(len(pcm) / 16000)
    logs.event(
        LOGGER,
        logging.INFO,
        "recording saved",
        sid=rec_sid,
        call=session.sid,
        duration=duration,
        bytes=len(pcm),
        path=str(path),
        ended_by=key or "timeout",
    )
    url = (
        f"{ctx.base_url().rstrip('/')}/2010-04-01/Accounts/{ctx.account_sid()}/Recordings/{rec_sid}"
    )
    extra = {
        "RecordingUrl": url,
        "RecordingSid": rec_sid,
        "RecordingDuration": str(duration),
        "Digits": key,
    }
    callback = getattr(verb, "recording_status_callback", None)
    status = None
    if callback:
        status = recordingrows.StatusCallback(
            callback,
            getattr(verb, "recording_status_callback_method", "POST") or "POST",
            {
                "AccountSid": ctx.account_sid(),
                "CallSid": session.sid,
                "RecordingSid": rec_sid,
                "RecordingUrl": url,
                "RecordingStatus": "completed",
                "RecordingDuration": str(duration),
                "RecordingChannels": "1",
                "RecordingSource": "RecordVerb",
            },
        )
    recordingrows.keep(  # or once the database is back (an outage): the file is on disk
        ctx.store,
        recordingrows.RecordingRow(
            sid=rec_sid,
            call_sid=session.sid,
            duration=duration,
            channels=1,
            source="RecordVerb",
            path=str(path),
            start_time=started,
            created=time.time(),
        ),
        status,
        ctx.on_job,
    )
    if key == "control":
        return None  # the flow takes the REST update
    if key == "hangup":
        # Twilio still requests the action; what it answers is not run.
        try:
            session.documents.after_hangup(verb.action, verb.method, extra)
        finally:
            raise CallEnded()
    return session.documents.action(verb.action, verb.method, extra)
