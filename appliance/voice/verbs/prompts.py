"""What the caller hears: ``<Say>``, ``<Play>``, ``<Pause>``, and text or audio answered
instead of TwiML."""

from __future__ import annotations

from typing import Any

from appliance.voice.documents import AudioBody, PlainText
from appliance.voice.session import CallSession

MAX_LOOP = 1000  # loop="0" ("until the call ends") still has a bound


def loops(loop: int) -> range:
    return range(MAX_LOOP if loop == 0 else max(1, loop))


def say(session: CallSession, verb: Any, doc: Any, *, barge_in: bool = False) -> Any:
    from appliance.voice import tts

    for _ in loops(int(verb.loop)):
        if not verb.text.strip():
            break
        digit = session.channel.play(
            tts.speak(verb.text, verb.voice, verb.language), barge_in=barge_in
        )
        if digit is not None or session.channel.control_pending.is_set():
            return None
    return None


def play(session: CallSession, verb: Any, doc: Any, *, barge_in: bool = False) -> Any:
    from appliance.voice import playback, tones

    if getattr(verb, "digits", None):
        session.channel.play(tones.digits_audio(verb.digits), barge_in=False)
        return None
    if not verb.url:
        return None
    try:
        pcm = playback.fetch_audio(verb.url, timeout=15.0)
    except Exception as e:  # noqa: BLE001 - a failed fetch is recorded and skipped
        session.documents.event("error", 11100, f"<Play> {verb.url}: {e}")
        return None
    for _ in loops(int(verb.loop)):
        digit = session.channel.play(pcm, barge_in=barge_in)
        if digit is not None or session.channel.control_pending.is_set():
            return None
    return None


def pause(session: CallSession, verb: Any, doc: Any, *, barge_in: bool = False) -> Any:
    session.channel.sleep(float(verb.length), digits=barge_in)
    return None


def plain_text(session: CallSession, verb: PlainText, doc: Any) -> Any:
    """A text/plain answer: read aloud, then hang up."""
    from appliance.voice import tts

    session.channel.play(tts.speak(verb.text), barge_in=False)
    session.hangup()


def audio_body(session: CallSession, verb: AudioBody, doc: Any) -> Any:
    """An audio/* answer: played, then hang up."""
    from appliance.voice import playback

    try:
        pcm = playback.decode_audio(verb.body)
    except Exception as e:  # noqa: BLE001 - any decoding failure is the app's error
        session.documents.event("error", 12300, f"audio body could not be played: {e}")
    else:
        session.channel.play(pcm, barge_in=False)
    session.hangup()
