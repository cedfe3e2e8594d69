"""The Media Streams wire protocol, as Twilio documents it: the JSON messages both ways.  Pure.

Messages *to* the bot (:func:`connected`, :func:`start`, :func:`media`, :func:`dtmf`,
:func:`mark`, :func:`stop`) are built as dicts and serialised by :func:`dumps`; all but
``connected`` carry ``sequenceNumber`` (a string, from "1", one counter per stream) and
``streamSid``.  ``chunk`` and ``timestamp`` in ``media`` are strings too, as Twilio sends
them; ``payload`` is base64 μ-law with no header.

Messages *from* the bot (bidirectional streams only) are read by :func:`parse`: ``media``
(base64 μ-law), ``mark`` and ``clear``.  Anything else raises :class:`ProtocolError`
with Twilio's code: 31924 (protocol error: a frame over :data:`MAX_FRAME_BYTES`, a
binary frame, text that is not a JSON object) or 31951 (invalid message: an unknown
event, a missing or ill-typed field, another stream's SID, a payload that is not base64).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

__all__ = [
    "INVALID_MESSAGE",
    "MAX_FRAME_BYTES",
    "MEDIA_FORMAT",
    "PROTOCOL_ERROR",
    "Clear",
    "Mark",
    "Media",
    "ProtocolError",
    "connected",
    "dtmf",
    "dumps",
    "mark",
    "media",
    "parse",
    "start",
    "stop",
]

PROTOCOL_ERROR = 31924  # "Stream - WebSocket - Protocol Error"
INVALID_MESSAGE = 31951  # "Stream - Protocol - Invalid Message" (a warning, once per stream)
MAX_FRAME_BYTES = 64 * 1024  # a message from the bot above this is refused
MEDIA_FORMAT = {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}
PROTOCOL_VERSION = "1.0.0"


class ProtocolError(Exception):
    """A message from the bot that breaks the protocol; ``code`` is Twilio's."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# --------------------------------------------------------------------------- to the bot


def dumps(message: dict[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":"))


def connected() -> dict[str, Any]:
    return {"event": "connected", "protocol": "Call", "version": PROTOCOL_VERSION}


def _head(event: str, seq: int, stream_sid: str) -> dict[str, Any]:
    return {"event": event, "sequenceNumber": str(seq), "streamSid": stream_sid}


def start(
    seq: int,
    stream_sid: str,
    account_sid: str,
    call_sid: str,
    tracks: list[str],
    custom_parameters: dict[str, str],
) -> dict[str, Any]:
    """``tracks`` holds "inbound" and/or "outbound"."""
    msg = _head("start", seq, stream_sid)
    msg["start"] = {
        "streamSid": stream_sid,
        "accountSid": account_sid,
        "callSid": call_sid,
        "tracks": list(tracks),
        "customParameters": dict(custom_parameters),
        "mediaFormat": dict(MEDIA_FORMAT),
    }
    return msg


def media(
    seq: int, stream_sid: str, track: str, chunk: int, timestamp_ms: int, ulaw: bytes
) -> dict[str, Any]:
    """One frame of μ-law; ``track`` is "inbound" or "outbound", ``chunk`` counts from 1."""
    msg = _head("media", seq, stream_sid)
    msg["media"] = {
        "track": track,
        "chunk": str(chunk),
        "timestamp": str(timestamp_ms),
        "payload": base64.b64encode(ulaw).decode("ascii"),
    }
    return msg


def dtmf(seq: int, stream_sid: str, digit: str) -> dict[str, Any]:
    msg = _head("dtmf", seq, stream_sid)
    msg["dtmf"] = {"track": "inbound_track", "digit": digit}
    return msg


def mark(seq: int, stream_sid: str, name: str) -> dict[str, Any]:
    msg = _head("mark", seq, stream_sid)
    msg["mark"] = {"name": name}
    return msg


def stop(seq: int, stream_sid: str, account_sid: str, call_sid: str) -> dict[str, Any]:
    msg = _head("stop", seq, stream_sid)
    msg["stop"] = {"accountSid": account_sid, "callSid": call_sid}
    return msg


# --------------------------------------------------------------------------- from the bot


@dataclass(frozen=True)
class Media:
    """Audio to play into the call (μ-law bytes)."""

    ulaw: bytes


@dataclass(frozen=True)
class Mark:
    """Tell me when the audio queued before this has played (or was cleared)."""

    name: str


@dataclass(frozen=True)
class Clear:
    """Drop the queued audio; pending marks come back."""


Inbound = Media | Mark | Clear


def parse(frame: str | bytes, stream_sid: str) -> Inbound:
    """One message from the bot; :class:`ProtocolError` if it breaks the protocol."""
    if isinstance(frame, bytes | bytearray):
        raise ProtocolError(PROTOCOL_ERROR, "binary frame: messages are JSON text frames")
    if len(frame) > MAX_FRAME_BYTES:
        raise ProtocolError(
            PROTOCOL_ERROR, f"message of {len(frame)} bytes, above {MAX_FRAME_BYTES}"
        )
    try:
        msg = json.loads(frame)
    except ValueError as e:
        raise ProtocolError(PROTOCOL_ERROR, f"message is not JSON: {e}") from None
    if not isinstance(msg, dict):
        raise ProtocolError(PROTOCOL_ERROR, "message is not a JSON object")
    event = msg.get("event")
    sid = msg.get("streamSid")
    if sid != stream_sid:
        raise ProtocolError(INVALID_MESSAGE, f"streamSid {sid!r} is not this stream's")
    if event == "media":
        body = msg.get("media")
        payload = body.get("payload") if isinstance(body, dict) else None
        if not isinstance(payload, str):
            raise ProtocolError(INVALID_MESSAGE, "media message without a media.payload string")
        try:
            ulaw = base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            raise ProtocolError(INVALID_MESSAGE, "media.payload is not valid base64") from None
        return Media(ulaw)
    if event == "mark":
        body = msg.get("mark")
        name = body.get("name") if isinstance(body, dict) else None
        if not isinstance(name, str):
            raise ProtocolError(INVALID_MESSAGE, "mark message without a mark.name string")
        return Mark(name)
    if event == "clear":
        return Clear()
    raise ProtocolError(
        INVALID_MESSAGE, f"unknown event {event!r}: a bot may send media, mark and clear"
    )
