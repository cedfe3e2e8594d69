"""The ``<Dial>`` verb of voice TwiML and its ``<Number>`` noun: call out and bridge.

A ``<Dial>`` holds either one number as text or up to ten ``<Number>`` and ``<Client>``
nouns (Twilio's limit; more are skipped with a warning).  A ``<Client>`` names a browser
phone's identity, as text or as ``<Identity>`` with ``<Parameter name value>`` children (the
custom parameters its ``invite`` carries), and takes the ``<Number>``'s ``url``, ``method``
and status callback attributes.  The other nouns Twilio has (``<Sip>``, ``<Conference>`` …) need
more than a GSM modem and are skipped with a warning.  ``Dial answerOnBridge`` and
``Number statusCallbackEvent`` have no documented code and warn with 12200.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from appliance.twiml.reader import VerbReader, element_text
from appliance.twiml.xmltree import attributes, local_name, xml_strip

__all__ = ["CODES", "RECORDING_EVENTS", "RING_TONES", "Client", "Dial", "Number", "dial"]

#: Twilio's warning codes for ``<Dial>`` and ``<Number>``, by (verb, attribute).
CODES: dict[tuple[str, str], int] = {
    ("Dial", "method"): 13210,
    ("Dial", "timeout"): 13212,
    ("Dial", "hangupOnStar"): 13213,
    ("Dial", "callerId"): 13214,
    ("Dial", "timeLimit"): 13216,
    ("Dial", "record"): 13217,
    ("Dial", "ringTone"): 13220,
    ("Dial", "number"): 13223,
    ("Number", "method"): 13221,
    ("Number", "statusCallbackMethod"): 13221,
    ("Number", "sendDigits"): 13222,
    ("Number", "number"): 13223,
    ("Client", "method"): 13221,
    ("Client", "statusCallbackMethod"): 13221,
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
_UNSUPPORTED_NOUNS = frozenset({"Conference", "Queue", "Sim", "Sip", "Application", "WhatsApp"})
MAX_NOUNS = 10  # Twilio: "up to ten <Number> nouns within a <Dial>"
#: Twilio's ringTone values (country codes); absent means the callee's country.
RING_TONES = (
    "at au bg br be ch cl cn cz de dk ee es fi fr gr hu il in it lt jp mx my nl no nz ph"
    " pl pt ru se sg th uk us us-old tw ve za"
).split()
#: recordingStatusCallbackEvent values (Twilio's default is "completed").
RECORDING_EVENTS = ("in-progress", "completed", "absent")

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
        "recordingStatusCallback",
        "recordingStatusCallbackMethod",
        "recordingStatusCallbackEvent",
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
        "recordingTrack",
        "sequential",
        "referUrl",
        "referMethod",
        "events",
        "passports",
    }
)
_NUMBER_IGNORED = frozenset({"byoc", "amdStatusCallback", "amdStatusCallbackMethod"})
_CLIENT_KNOWN = frozenset(
    {"url", "method", "statusCallback", "statusCallbackMethod", "statusCallbackEvent"}
)
MAX_CLIENT_PARAMETERS = 40  # custom parameters of one <Client> (the SDK's own limit)


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
class Client:
    """A browser phone to ring (``<Client>``): every device registered as ``identity``.
    ``parameters`` are the ``<Parameter>`` children (the call's ``customParameters``)."""

    identity: str
    parameters: tuple[tuple[str, str], ...] = ()
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
    ring_tone: str | None = None  # one of RING_TONES; None: the first callee's country
    recording_status_callback: str | None = None
    recording_status_callback_method: str = "POST"
    recording_status_callback_events: tuple[str, ...] = ("completed",)
    clients: tuple[Client, ...] = ()


def dial(reader: VerbReader, element: Any) -> Dial | None:
    """``<Dial>``; None if it has no number to call."""
    attrs = reader.attrs(element, _DIAL_KNOWN, _DIAL_IGNORED)
    numbers: list[Number] = []
    clients: list[Client] = []
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
        if name in ("Number", "Client") and len(numbers) + len(clients) >= MAX_NOUNS:
            reader.warn(f"<Dial> rings at most {MAX_NOUNS} nouns; a further <{name}> was skipped")
        elif name == "Number":
            parsed = _number(reader, child)
            if parsed is not None:
                numbers.append(parsed)
        elif name == "Client":
            client = _client(reader, child)
            if client is not None:
                clients.append(client)
        elif name in _UNSUPPORTED_NOUNS:
            reader.warn(f"<Dial><{name}> is not supported on this appliance and was skipped")
        else:
            reader.warn(f"unknown noun <{name or child.tag}> inside <Dial> was skipped")
    if not numbers and not clients:
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
    ring_tone = None
    if "ringTone" in attrs:
        raw = xml_strip(attrs["ringTone"]).lower()
        if raw in RING_TONES:
            ring_tone = raw
        else:
            reader.invalid("Dial", "ringTone", attrs["ringTone"], "the callee's country")
    events: tuple[str, ...] = ("completed",)
    if "recordingStatusCallbackEvent" in attrs:
        raw_events = attrs["recordingStatusCallbackEvent"]
        words = [w for w in _EVENT_SEPARATORS.split(raw_events) if w]
        valid = tuple(e for e in RECORDING_EVENTS if e in words)
        if not words or set(words) - set(RECORDING_EVENTS):
            reader.invalid("Dial", "recordingStatusCallbackEvent", raw_events, "completed")
        if valid:
            events = valid
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
        recording_status_callback=reader.url(
            attrs.get("recordingStatusCallback"), "<Dial recordingStatusCallback>"
        ),
        recording_status_callback_method=reader.method(
            attrs, "Dial", "recordingStatusCallbackMethod"
        ),
        recording_status_callback_events=events,
        clients=tuple(clients),
    )


def _client(reader: VerbReader, element: Any) -> Client | None:
    """``<Client>alice</Client>``, or ``<Client><Identity>alice</Identity><Parameter name=…
    value=…/></Client>``; None (with a warning) without an identity."""
    attrs = reader.attrs(element, _CLIENT_KNOWN)
    identity = xml_strip(element.text or "")
    parameters: list[tuple[str, str]] = []
    for child in element:
        name = local_name(child)
        if name == "Identity":
            identity = element_text(child)
        elif name == "Parameter":
            values = attributes(child)
            key = xml_strip(values.get("name", ""))
            if not key:
                reader.warn("<Client><Parameter> has no name and was ignored")
            elif len(parameters) >= MAX_CLIENT_PARAMETERS:
                reader.warn(
                    f"<Client> carries at most {MAX_CLIENT_PARAMETERS} parameters; {key!r}"
                    " was ignored"
                )
            else:
                parameters.append((key, values.get("value", "")))
        else:
            reader.warn(f"unknown noun <{name}> inside <Client> was ignored")
    if not identity:
        reader.warn("<Dial><Client> has no identity and was skipped")
        return None
    return Client(
        identity=identity,
        parameters=tuple(parameters),
        url=reader.url(attrs.get("url"), "<Client url>"),
        method=reader.method(attrs, "Client"),
        status_callback=reader.url(attrs.get("statusCallback"), "<Client statusCallback>"),
        status_callback_method=reader.method(attrs, "Client", "statusCallbackMethod"),
        status_callback_events=_call_events(reader, attrs, "Client"),
    )


def _call_events(reader: VerbReader, attrs: dict[str, str], where: str) -> tuple[str, ...]:
    """``statusCallbackEvent`` of a ``<Number>`` or ``<Client>`` (default ``completed``)."""
    events: tuple[str, ...] = ("completed",)
    if "statusCallbackEvent" in attrs:
        words = [w for w in _EVENT_SEPARATORS.split(attrs["statusCallbackEvent"]) if w]
        valid = tuple(e for e in _CALL_EVENTS if e in words)
        if not words or set(words) - set(_CALL_EVENTS):
            reader.invalid(where, "statusCallbackEvent", attrs["statusCallbackEvent"], "completed")
        if valid:
            events = valid
    return events


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
    events = _call_events(reader, attrs, "Number")
    return Number(
        number=number,
        send_digits=send_digits,
        url=reader.url(attrs.get("url"), "<Number url>"),
        method=reader.method(attrs, "Number"),
        status_callback=reader.url(attrs.get("statusCallback"), "<Number statusCallback>"),
        status_callback_method=reader.method(attrs, "Number", "statusCallbackMethod"),
        status_callback_events=events,
    )
