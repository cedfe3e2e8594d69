"""User-defined messages on the signalling socket (Twilio's Call Message Events): pure.

The Voice JavaScript SDK's ``call.sendMessage({content, contentType, messageType})`` sends
``message`` with ``callsid``, ``content`` (any JSON value: the page's object as it is),
``contenttype`` (``application/json``, the only type), ``messagetype``
(``user-defined-message``, the only type) and ``voiceeventsid`` (``KX`` and 32 hex digits,
made by the SDK: call.ts ``sendMessage``, pstream.ts ``sendMessage``).  The server answers
``ack`` (``acktype: "message"``, the ``callsid`` and ``voiceeventsid``), on which the Call
fires ``messageSent``; or ``error`` carrying the ``voiceeventsid``, which the Call (not the
Device) raises.  The server's own ``message`` (same fields) fires the Call's
``messageReceived``.

This module checks a browser's message (:func:`parse`), builds the frames (:func:`ack`,
:func:`message`, :func:`refusal`) and checks the REST API's ``Content`` (:func:`content`).
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from typing import Any

from appliance.clients import pstream

MESSAGE_TYPE = "user-defined-message"  # the only messageType (call.ts, Call.Message)
CONTENT_TYPE = "application/json"  # the only contentType, the SDK's default
MAX_CONTENT = 10 * 1024  # bytes of content as JSON text (Twilio's documented 10 KB limit)
EVENT_TYPE_INVALID = 31210  # the SDK's CallMessageEventTypeInvalidError
PAYLOAD_TOO_LARGE = 31212  # the SDK's PayloadSizeExceededError
EVENT_SID = re.compile(r"KX[0-9a-fA-F]{32}")


class MessageRefused(pstream.ProtocolError):
    """A refused ``message``: its ``error`` carries the ``voiceeventsid`` when it had a
    good one, so the SDK's Call raises it (and forgets the message)."""

    def __init__(
        self, message: str, code: int, callsid: str | None, voiceeventsid: str | None
    ) -> None:
        super().__init__(message, code, callsid)
        self.voiceeventsid = voiceeventsid


@dataclasses.dataclass(frozen=True)
class CallMessage:
    """One checked user-defined message from a browser."""

    callsid: str  # as the browser named its call (the CA sid)
    sid: str  # the SDK's voiceeventsid (KX…): the message's Sid in the Callback
    content: str  # the content as compact JSON text: the Callback's Content


def text(value: Any) -> str:
    """``value`` as JSON text, as the browser's ``JSON.stringify`` writes it (compact)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def parse(payload: Mapping[str, Any]) -> CallMessage:
    """The message of a ``message`` payload (its ``callsid`` already checked by
    :func:`appliance.clients.pstream.parse`), or :class:`MessageRefused`: a bad
    ``voiceeventsid`` 31100 (the Device raises it), a ``messagetype`` other than
    ``user-defined-message`` 31210, a ``contenttype`` other than ``application/json`` or no
    ``content`` 31100, a content over 10 KB 31212."""
    callsid = str(payload.get("callsid", ""))
    sid = payload.get("voiceeventsid")
    if not isinstance(sid, str) or not EVENT_SID.fullmatch(sid):
        raise MessageRefused(
            "The message's voiceeventsid is not KX and 32 hex digits",
            pstream.MALFORMED,
            callsid,
            None,
        )
    kind = payload.get("messagetype")
    if kind != MESSAGE_TYPE:
        shown = repr(kind)[:40] if kind is not None else "missing"
        raise MessageRefused(
            f"Unknown messageType {shown}: the only one is {MESSAGE_TYPE!r}",
            EVENT_TYPE_INVALID,
            callsid,
            sid,
        )
    content_type = payload.get("contenttype", CONTENT_TYPE)
    if content_type is None:
        content_type = CONTENT_TYPE
    if not isinstance(content_type, str) or content_type.strip().lower() != CONTENT_TYPE:
        shown = repr(content_type)[:60]
        raise MessageRefused(
            f"Unsupported contentType {shown}: the only one is {CONTENT_TYPE!r}",
            pstream.MALFORMED,
            callsid,
            sid,
        )
    value = payload.get("content")
    if value is None:
        raise MessageRefused("The message has no content", pstream.MALFORMED, callsid, sid)
    try:
        body = text(value)
    except ValueError:  # NaN or Infinity, which Python's JSON parser lets through
        raise MessageRefused(
            "The message's content is not JSON (NaN or Infinity)", pstream.MALFORMED, callsid, sid
        ) from None
    size = len(body.encode())
    if size > MAX_CONTENT:
        raise MessageRefused(
            f"The message's content is {size} bytes as JSON (at most {MAX_CONTENT})",
            PAYLOAD_TOO_LARGE,
            callsid,
            sid,
        )
    return CallMessage(callsid, sid, body)


def content(raw: str) -> Any:
    """The REST API's ``Content`` (JSON text) as the value the browser's ``messageReceived``
    gets; ValueError saying why it is refused (not JSON, over 10 KB)."""
    size = len(raw.encode())
    if size > MAX_CONTENT:
        raise ValueError(f"Content is {size} bytes (at most {MAX_CONTENT})")
    try:
        return json.loads(raw, parse_constant=_no_constant)
    except ValueError:
        raise ValueError("Content is not valid JSON: send a JSON string") from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def ack(callsid: str, voiceeventsid: str) -> str:
    """The message was taken: the SDK's Call fires ``messageSent`` (call.ts ``_onAck``)."""
    return pstream.encode(
        "ack", {"acktype": "message", "callsid": callsid, "voiceeventsid": voiceeventsid}
    )


def message(callsid: str, value: Any, voiceeventsid: str) -> str:
    """A message from the app: the SDK's Call fires ``messageReceived`` with ``content``
    (``value``), ``contentType``, ``messageType`` and ``voiceEventSid``."""
    return pstream.encode(
        "message",
        {
            "callsid": callsid,
            "content": value,
            "contenttype": CONTENT_TYPE,
            "messagetype": MESSAGE_TYPE,
            "voiceeventsid": voiceeventsid,
        },
    )


def refusal(e: pstream.ProtocolError) -> str:
    """The ``error`` for a refused message: with its ``voiceeventsid`` the Call raises it
    (call.ts ``_onSignalingError``), without one the Device does."""
    payload: dict[str, Any] = {"error": {"code": e.code, "message": e.message}}
    if e.callsid is not None:
        payload["callsid"] = e.callsid
    sid = getattr(e, "voiceeventsid", None)
    if sid is not None:
        payload["voiceeventsid"] = sid
    return pstream.encode("error", payload)
