"""The form parameters of a call create or update, validated with Twilio's error codes."""

from __future__ import annotations

import re

from flask import request

from appliance.api.common import ApiError, form_value, valid_url
from appliance.twiml import voice as voice_twiml

__all__ = [
    "DEFAULT_TIMEOUT",
    "DEFAULT_TIME_LIMIT",
    "EVENTS",
    "MAX_TIMEOUT",
    "MAX_TIME_LIMIT",
    "MAX_TWIML_CHARS",
    "events",
    "integer",
    "method",
    "twiml",
    "url",
    "valid_url",
]

EVENTS = ("initiated", "ringing", "answered", "completed")
MAX_TWIML_CHARS = 4000  # Twilio refuses a longer Twiml parameter (32018)
MAX_TIMEOUT = 600  # Twilio caps Timeout at 600 seconds
DEFAULT_TIMEOUT = 60
DEFAULT_TIME_LIMIT = 14400
MAX_TIME_LIMIT = 86400


def method(name: str, code: int = 21209) -> str:
    """The HTTP method parameter ``name`` (POST when absent or empty)."""
    value = form_value(name)
    if value is None or value == "":
        return "POST"
    verb = value.strip().upper()
    if verb not in ("GET", "POST"):
        raise ApiError(400, code, f"{name} must be GET or POST, not {value!r}.")
    return verb


def url(name: str, code: int) -> str | None:
    """The URL parameter ``name`` (None when absent or empty), or a 400 with ``code``."""
    value = form_value(name)
    if value is None or value == "":
        return None
    if not valid_url(value):
        raise ApiError(
            400, code, f"{name} {value!r} is not a valid URL: use an absolute http(s) URL."
        )
    return value


def twiml() -> str | None:
    """The ``Twiml`` parameter (None when absent or blank), which must parse."""
    value = form_value("Twiml")
    if value is None or not value.strip():
        return None
    if len(value) > MAX_TWIML_CHARS:
        raise ApiError(
            400,
            32018,
            f"Twiml size exceeded maximum allowed value of {MAX_TWIML_CHARS} characters.",
        )
    try:
        voice_twiml.parse(value, "")
    except voice_twiml.TwimlError as e:
        raise ApiError(400, e.code, f"Twiml is not valid TwiML: {e.message}") from None
    return value


def integer(name: str, default: int, code: int, maximum: int) -> int:
    """The whole number of seconds ``name`` (``default`` when absent), capped at ``maximum``."""
    value = form_value(name)
    if value is None or value.strip() == "":
        return default
    text = value.strip()
    if not (text.isascii() and text.isdigit() and len(text) <= 9) or int(text) < 1:
        raise ApiError(400, code, f"{name} must be a positive whole number of seconds.")
    return min(int(text), maximum)


def events() -> str:
    """``StatusCallbackEvent`` (repeatable, or space/comma separated) as stored: the
    known events in order, space separated; ``completed`` when absent."""
    values = request.form.getlist("StatusCallbackEvent")
    words = [w for v in values for w in re.split(r"[\s,]+", v) if w]
    if not words:
        return "completed"
    unknown = sorted(set(words) - set(EVENTS))
    if unknown:
        raise ApiError(
            400,
            21626,
            f"Invalid StatusCallbackEvent {', '.join(unknown)}: use initiated, ringing,"
            " answered, completed.",
        )
    return " ".join(e for e in EVENTS if e in words)
