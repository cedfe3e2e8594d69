"""The ``<Record>`` verb of voice TwiML: record the caller.

``Record playBeep`` has no documented code and warns with 12200.  An invalid
``trim`` falls back to ``do-not-trim``, as Twilio documents for 13699.
Transcription is not supported: ``transcribe="true"`` is kept, with a warning.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from appliance.twiml.reader import DIGIT_KEYS, VerbReader
from appliance.twiml.xmltree import xml_strip

__all__ = ["CODES", "Record", "record"]

#: Twilio's warning codes for ``<Record>``, by (verb, attribute).
CODES: dict[tuple[str, str], int] = {
    ("Record", "method"): 13610,
    ("Record", "recordingStatusCallbackMethod"): 13610,
    ("Record", "timeout"): 13611,
    ("Record", "maxLength"): 13612,
    ("Record", "finishOnKey"): 13613,
    ("Record", "trim"): 13699,
}

_KNOWN = frozenset(
    {
        "action",
        "method",
        "timeout",
        "finishOnKey",
        "maxLength",
        "playBeep",
        "trim",
        "transcribe",
        "recordingStatusCallback",
        "recordingStatusCallbackMethod",
    }
)
# Attributes accepted silently (Twilio knows them; this appliance ignores them).
_IGNORED = frozenset(
    {"recordingStatusCallbackEvent", "transcribeCallback", "storageUrl", "storageUrlMethod"}
)


@dataclass(frozen=True)
class Record:
    """Record the caller.  ``action`` as for :class:`~appliance.twiml.gather.Gather`;
    ``timeout`` 0 disables silence detection; ``finish_on_key`` is a set of keys
    ('' = none)."""

    action: str | None = None
    method: str = "POST"
    timeout: int = 5
    finish_on_key: str = "1234567890*#"
    max_length: int = 3600
    play_beep: bool = True
    trim: str = "trim-silence"
    transcribe: bool = False
    recording_status_callback: str | None = None
    recording_status_callback_method: str = "POST"


def record(reader: VerbReader, element: Any) -> Record:
    """``<Record>``."""
    attrs = reader.attrs(element, _KNOWN, _IGNORED)
    reader.no_children(element, "Record")
    finish = "1234567890*#"
    if "finishOnKey" in attrs:
        raw = xml_strip(attrs["finishOnKey"])
        if set(raw) <= DIGIT_KEYS:
            finish = raw
        else:
            reader.invalid("Record", "finishOnKey", attrs["finishOnKey"], finish)
    trim = "trim-silence"
    if "trim" in attrs:
        raw = xml_strip(attrs["trim"])
        if raw in ("trim-silence", "do-not-trim"):
            trim = raw
        else:
            # Twilio (13699): an invalid trim value means no trimming.
            reader.invalid("Record", "trim", attrs["trim"], "do-not-trim")
            trim = "do-not-trim"
    transcribe = reader.boolean(attrs, "Record", "transcribe", False)
    if transcribe:
        reader.warn("<Record transcribe> is not supported on this appliance; no transcription")
    return Record(
        action=reader.action(attrs, "Record"),
        method=reader.method(attrs, "Record"),
        timeout=reader.integer(attrs, "Record", "timeout", 5, minimum=0),
        finish_on_key=finish,
        max_length=reader.integer(attrs, "Record", "maxLength", 3600),
        play_beep=reader.boolean(attrs, "Record", "playBeep", True),
        trim=trim,
        transcribe=transcribe,
        recording_status_callback=reader.url(
            attrs.get("recordingStatusCallback"), "<Record recordingStatusCallback>"
        ),
        recording_status_callback_method=reader.method(
            attrs, "Record", "recordingStatusCallbackMethod"
        ),
    )
