"""The ``<Dial>`` verb of voice TwiML and its ``<Number>`` noun: call out and bridge.

A ``<Dial>`` holds either one number as text or ``<Number>`` nouns; the other
nouns Twilio has (``<Client>``, ``<Sip>``, ``<Conference>`` …) need more than a GSM
modem and are skipped with a warning.  ``Dial answerOnBridge`` and ``Number
statusCallbackEvent`` have no documented code and warn with 12200.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from appliance.twiml.reader import VerbReader, element_text
from appliance.twiml.xmltree import local_name, xml_strip

__all__ = ["CODES", "Dial", "Number", "dial"]

#: Twilio's warning codes for ``<Dial>`` and ``<Number>``, by (verb, attribute).
CODES: dict[tuple[str, str], int] = {
    ("Dial", "method"): 13210,
    ("Dial", "timeout"): 13212,
    ("Dial", "hangupOnStar"): 13213,
    ("Dial", "callerId"): 13214,
    ("Dial", "timeLimit"): 13216,
    ("Dial", "record"): 13217,
    ("Dial", "number"): 13223,
    ("Number", "method"): 13221,
    ("Number", "statusCallbackMethod"): 13221,
    ("Number", "sendDigits"): 13222,
    ("Number", "number"): 13223,
}

_SEND_DIGITS = re.compile(r"^[0-9*#wW]+$")
_DIAL_NUMBER = re.compile(r"^\+?[0-9 ().\-]+$")
_EVENT_SEPARATORS = re.compile(r"[\s,\[\]'\"]+")
_CALL_EVENTS = ("initiated", "ringing", "answered", "completed")
_DIAL_RECORD = (
    "do-not-record",
    "record-from-answer",
    "record-from-ringing",
    "record-from-answer-dual",
    "record-from-ringing-dual",
)
# Twilio nouns of <Dial> that a GSM modem cannot back.
_UNSUPPORTED_NOUNS = frozenset(
    {"Client", "Conference", "Queue", "Sim", "Sip", "Application", "WhatsApp"}
)

_DIAL_KNOWN = frozenset(
    {
        "action",
        "method",
        "timeout",
        "timeLimit",
        "hangupOnStar",
        "callerId",
        "record",
        "answerOnBridge",
        "ringTone",
    }
)
_NUMBER_KNOWN = frozenset(
    {
        "sendDigits",
        "url",
        "method",
        "statusCallback",
        "statusCallbackMethod",
        "statusCallbackEvent",
    }
)
# Attributes accepted silently (Twilio knows them; this appliance ignores them).
_DIAL_IGNORED = frozenset(
    {
        "trim",
        "recordingStatusCallback",
        "recordingStatusCallbackMethod",
        "recordingStatusCallbackEvent",
        "recordingTrack",
        "sequential",
        "referUrl",
        "referMethod",
        "events",
        "passports",
    }
)
_NUMBER_IGNORED = frozenset({"byoc", "amdStatusCallback", "amdStatusCallbackMethod"})


@dataclass(frozen=True)
class Number:
    """One number to dial (as written: the engine normalises it)."""

    number: str
    send_digits: str | None = None
    url: str | None = None
    method: str = "POST"
    status_callback: str | None = None
    status_callback_method: str = "POST"
    status_callback_events: tuple[str, ...] = ("completed",)


@dataclass(frozen=True)
class Dial:
    """Call ``numbers`` and bridge the first that answers.  ``action`` None: continue
    with the next verb afterwards.  ``caller_id`` is kept so that the engine can warn
    that a SIM cannot choose its caller ID."""

    numbers: tuple[Number, ...]
    action: str | None = None
    method: str = "POST"
    timeout: int = 30
    time_limit: int = 14400
    hangup_on_star: bool = False
    caller_id: str | None = None
    record: str = "do-not-record"
    answer_on_bridge: bool = False
    ring_tone: str | None = None


def dial(reader: VerbReader, element: Any) -> Dial | None:
    """``<Dial>``; None if it has no number to call."""
    attrs = reader.attrs(element, _DIAL_KNOWN, _DIAL_IGNORED)
    numbers: list[Number] = []
    text = xml_strip(element.text or "") + "".join(xml_strip(child.tail or "") for child in element)
    if text:
        if len(element):
            reader.warn("<Dial> has both a number as text and nouns; the text was ignored")
        else:
            number = _dial_number(reader, text, "Dial")
            if number is not None:
                numbers.append(Number(number=number))
    for child in element:
        name = local_name(child)
        if name == "Number":
            parsed = _number(reader, child)
            if parsed is not None:
                numbers.append(parsed)
        elif name in _UNSUPPORTED_NOUNS:
            reader.warn(f"<Dial><{name}> is not supported on this appliance and was skipped")
        else:
            reader.warn(f"unknown noun <{name or child.tag}> inside <Dial> was skipped")
    if not numbers:
        reader.warn("<Dial> has no number to call and was skipped", CODES[("Dial", "number")])
        return None
    record = "do-not-record"
    if "record" in attrs:
        raw = xml_strip(attrs["record"])
        if raw in _DIAL_RECORD:
            record = raw
        elif raw.lower() in ("true", "false"):
            record = "record-from-answer" if raw.lower() == "true" else "do-not-record"
        else:
            reader.invalid("Dial", "record", attrs["record"], record)
    caller_id = None
    if "callerId" in attrs:
        caller_id = xml_strip(attrs["callerId"]) or None
        if caller_id is None:
            reader.invalid("Dial", "callerId", attrs["callerId"], None)
    ring_tone = xml_strip(attrs.get("ringTone", "")) or None
    action = None
    if "action" in attrs:
        action = reader.url(attrs["action"], "<Dial action>")
    return Dial(
        numbers=tuple(numbers),
        action=action,
        method=reader.method(attrs, "Dial"),
        timeout=reader.integer(attrs, "Dial", "timeout", 30),
        time_limit=reader.integer(attrs, "Dial", "timeLimit", 14400),
        hangup_on_star=reader.boolean(attrs, "Dial", "hangupOnStar", False),
        caller_id=caller_id,
        record=record,
        answer_on_bridge=reader.boolean(attrs, "Dial", "answerOnBridge", False),
        ring_tone=ring_tone,
    )


def _dial_number(reader: VerbReader, text: str, where: str) -> str | None:
    digits = sum(c.isdigit() for c in text)
    if _DIAL_NUMBER.match(text) and 1 <= digits <= 15:
        return text
    reader.warn(
        f"<{where}> {text!r} is not a phone number (E.164, at most 15 digits) and was skipped",
        CODES[(where, "number")],
    )
    return None


def _number(reader: VerbReader, element: Any) -> Number | None:
    attrs = reader.attrs(element, _NUMBER_KNOWN, _NUMBER_IGNORED)
    for child in element:
        reader.warn(f"unknown noun <{local_name(child)}> inside <Number> was ignored")
    number = _dial_number(reader, element_text(element), "Number")
    if number is None:
        return None
    send_digits = None
    if "sendDigits" in attrs:
        send_digits = xml_strip(attrs["sendDigits"])
        if not _SEND_DIGITS.match(send_digits):
            reader.invalid("Number", "sendDigits", attrs["sendDigits"], None)
            send_digits = None
    events: tuple[str, ...] = ("completed",)
    if "statusCallbackEvent" in attrs:
        words = [w for w in _EVENT_SEPARATORS.split(attrs["statusCallbackEvent"]) if w]
        valid = tuple(e for e in _CALL_EVENTS if e in words)
        if not words or set(words) - set(_CALL_EVENTS):
            reader.invalid(
                "Number", "statusCallbackEvent", attrs["statusCallbackEvent"], "completed"
            )
        if valid:
            events = valid
    return Number(
        number=number,
        send_digits=send_digits,
        url=reader.url(attrs.get("url"), "<Number url>"),
        method=reader.method(attrs, "Number"),
        status_callback=reader.url(attrs.get("statusCallback"), "<Number statusCallback>"),
        status_callback_method=reader.method(attrs, "Number", "statusCallbackMethod"),
        status_callback_events=events,
    )
