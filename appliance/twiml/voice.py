"""Parser for voice TwiML (the answer to a call webhook, or a call's ``Twiml``).  Pure: no I/O.

``parse(xml, document_url)`` turns a document into a :class:`Document`: the verbs to
run in order, as frozen dataclasses carrying Twilio's attribute defaults, and
:class:`Warning` records for the debugger log.  The content type of a webhook answer
(``text/plain`` read aloud, audio played) is the engine's business, not this module's.

Fatal problems raise :class:`TwimlError` (shared with messaging TwiML):

* an empty document, XML that is not well-formed, a document above
  :data:`MAX_TWIML_BYTES`, any ``<!DOCTYPE``/``<!ENTITY`` (billion laughs, external
  entities) → 12100 "Document parse failure";
* a root element other than ``<Response>`` → 12102, Twilio's own code for it
  (twilio-compat A4; messaging TwiML uses the same parser and code).

The XML parser is messaging's hardened one (:func:`appliance.twiml.messaging.parse_xml`):
no entity expansion, no DTD, no network, ``huge_tree`` off.

Everything else is a warning and never stops the call:

* an unknown or unsupported verb or noun → ``Warning(12200)``, skipped; verbs are
  matched case-sensitively (``<say>`` is unknown);
* an invalid attribute value → a warning with Twilio's code for that attribute (table
  :data:`CODES` below) and the attribute's default is used;
* an unusable URL (not http(s) after resolving against ``document_url``) → 11100, the
  attribute is dropped (a ``<Play>``/``<Redirect>`` without a URL is skipped);
* verbs after ``<Hangup>``, ``<Reject>`` or ``<Redirect>`` never run → 12200, dropped.

Codes not documented by Twilio for an attribute fall back to the closest documented
one: 12200 (schema warning) for ``Say language``, ``Play digits``, ``Record playBeep``,
``Dial answerOnBridge``, ``Gather input``, ``Reject reason``, ``Number
statusCallbackEvent``; nested ``<Play>``/``<Pause>`` inside ``<Gather>`` use the
top-level ``<Play>``/``<Pause>`` codes.  An invalid ``Record trim`` falls back to
``do-not-trim``, as Twilio documents for 13699.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

from appliance.twiml.messaging import (
    DOCUMENT_PARSE_FAILURE,
    INVALID_ROOT,
    MAX_TWIML_BYTES,
    SCHEMA_WARNING,
    TwimlError,
    Warning,
    attributes,
    local_name,
    parse_xml,
    xml_strip,
)

LOGGER = logging.getLogger(__name__)

__all__ = [
    "CODES",
    "DOCUMENT_PARSE_FAILURE",
    "INVALID_ROOT",
    "INVALID_URL",
    "MAX_TWIML_BYTES",
    "SCHEMA_WARNING",
    "Dial",
    "Document",
    "Gather",
    "Hangup",
    "Number",
    "Pause",
    "Play",
    "Record",
    "Redirect",
    "Reject",
    "Say",
    "Sms",
    "TwimlError",
    "Verb",
    "Warning",
    "parse",
]

INVALID_URL = 11100

#: Twilio's warning codes, by (verb, attribute).  Twilio's error dictionary.
CODES: dict[tuple[str, str], int] = {
    ("Say", "loop"): 13510,
    ("Say", "voice"): 13511,
    ("Say", "text"): 13520,
    ("Gather/Say", "voice"): 13321,
    ("Gather/Say", "loop"): 13322,
    ("Gather/Say", "text"): 13520,
    ("Play", "loop"): 13410,
    ("Pause", "length"): 13910,
    ("Gather", "finishOnKey"): 13310,
    ("Gather", "method"): 13312,
    ("Gather", "timeout"): 13313,
    ("Gather", "numDigits"): 13314,
    ("Gather", "actionOnEmptyResult"): 13338,
    ("Record", "method"): 13610,
    ("Record", "recordingStatusCallbackMethod"): 13610,
    ("Record", "timeout"): 13611,
    ("Record", "maxLength"): 13612,
    ("Record", "finishOnKey"): 13613,
    ("Record", "trim"): 13699,
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
    ("Redirect", "method"): 13710,
    ("Sms", "to"): 14101,
    ("Sms", "from"): 14102,
    ("Sms", "body"): 14103,
    ("Sms", "method"): 14104,
    ("Sms", "statusCallback"): 14105,
}

_METHODS = ("GET", "POST")
_DIGIT_KEYS = frozenset("0123456789#*")
_PLAY_DIGITS = re.compile(r"^[0-9*#wWA-Da-d]+$")
_SEND_DIGITS = re.compile(r"^[0-9*#wW]+$")
_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
_DIAL_NUMBER = re.compile(r"^\+?[0-9 ().\-]+$")
_INTEGER = re.compile(r"^[0-9]{1,9}$")
_EVENT_SEPARATORS = re.compile(r"[\s,\[\]'\"]+")
_CALL_EVENTS = ("initiated", "ringing", "answered", "completed")
_DIAL_RECORD = (
    "do-not-record",
    "record-from-answer",
    "record-from-ringing",
    "record-from-answer-dual",
    "record-from-ringing-dual",
)
_TERMINAL = ("Hangup", "Reject", "Redirect")
# Twilio verbs and nouns that exist but that a GSM modem cannot back.
_UNSUPPORTED_VERBS = frozenset(
    {
        "Connect",
        "Echo",
        "Enqueue",
        "Leave",
        "Queue",
        "Pay",
        "Prompt",
        "Start",
        "Stop",
        "Refer",
        "Conference",
    }
)
_UNSUPPORTED_DIAL_NOUNS = frozenset(
    {"Client", "Conference", "Queue", "Sim", "Sip", "Application", "WhatsApp"}
)

# Attributes accepted silently (Twilio knows them; this appliance ignores them).
_IGNORED: dict[str, frozenset[str]] = {
    "Say": frozenset(),
    "Play": frozenset(),
    "Pause": frozenset(),
    "Gather": frozenset(
        {
            "speechTimeout",
            "maxSpeechTime",
            "profanityFilter",
            "partialResultCallback",
            "partialResultCallbackMethod",
            "language",
            "hints",
            "bargeIn",
            "debug",
            "speechModel",
            "enhanced",
        }
    ),
    "Record": frozenset(
        {"recordingStatusCallbackEvent", "transcribeCallback", "storageUrl", "storageUrlMethod"}
    ),
    "Dial": frozenset(
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
    ),
    "Number": frozenset({"byoc", "amdStatusCallback", "amdStatusCallbackMethod"}),
    "Hangup": frozenset(),
    "Reject": frozenset(),
    "Redirect": frozenset(),
    "Sms": frozenset(),
}


# --------------------------------------------------------------------------- verbs


@dataclass(frozen=True)
class Say:
    """Speak ``text`` ``loop`` times (0 = until the call ends)."""

    text: str
    voice: str = "man"
    language: str = "en-US"
    loop: int = 1


@dataclass(frozen=True)
class Play:
    """Play the audio at ``url`` ``loop`` times (0 = until the call ends), or send the
    DTMF ``digits`` (``w`` = half a second's pause)."""

    url: str | None = None
    loop: int = 1
    digits: str | None = None


@dataclass(frozen=True)
class Pause:
    """Wait ``length`` seconds."""

    length: int = 1


@dataclass(frozen=True)
class Gather:
    """Collect DTMF digits while playing ``children``.

    ``action`` is absolute; when the attribute is absent it is the document's URL
    (None for a call's inline ``Twiml``, which has no URL: the call then continues
    with the next verb).  ``num_digits`` None means unlimited; ``finish_on_key`` ''
    disables the finishing key.
    """

    action: str | None = None
    method: str = "POST"
    input: str = "dtmf"
    num_digits: int | None = None
    timeout: int = 5
    finish_on_key: str = "#"
    action_on_empty_result: bool = False
    children: tuple[Say | Play | Pause, ...] = ()


@dataclass(frozen=True)
class Record:
    """Record the caller.  ``action`` as for :class:`Gather`; ``timeout`` 0 disables
    silence detection; ``finish_on_key`` is a set of keys ('' = none)."""

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


@dataclass(frozen=True)
class Hangup:
    """End the call."""


@dataclass(frozen=True)
class Reject:
    """Refuse an unanswered call; ``reason`` is ``rejected`` or ``busy``."""

    reason: str = "rejected"


@dataclass(frozen=True)
class Redirect:
    """Fetch new TwiML from ``url`` (absolute) with ``method``; later verbs never run."""

    url: str
    method: str = "POST"


@dataclass(frozen=True)
class Sms:
    """Send an SMS during the call (``<Sms>`` or ``<Message>``).  ``to``/``from_`` None
    mean the caller and the appliance's number in the call."""

    body: str
    to: str | None = None
    from_: str | None = None
    action: str | None = None
    method: str = "POST"
    status_callback: str | None = None


Verb = Say | Play | Pause | Gather | Record | Dial | Hangup | Reject | Redirect | Sms


@dataclass(frozen=True)
class Document:
    """The verbs to run in order, plus the warnings found while parsing."""

    verbs: tuple[Verb, ...] = ()
    warnings: tuple[Warning, ...] = ()


# --------------------------------------------------------------------------- entry point

_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")


def parse(xml: bytes | str, document_url: str) -> Document:
    """Parse voice TwiML; see the module docstring for the rules.

    ``document_url`` is the URL the document came from (after redirects), against
    which relative URLs resolve; '' for a call's inline ``Twiml``.
    """
    if isinstance(xml, str):
        # Already decoded: an encoding named in the declaration no longer applies.
        data = _DECLARATION.sub("", xml, count=1).encode("utf-8")
    else:
        data = xml
    if len(data) > MAX_TWIML_BYTES:
        raise TwimlError(
            DOCUMENT_PARSE_FAILURE,
            f"Document parse failure: the document is {len(data)} bytes, "
            f"more than the {MAX_TWIML_BYTES} allowed",
        )
    if not data.strip():
        raise TwimlError(DOCUMENT_PARSE_FAILURE, "Document parse failure: the document is empty")
    root = parse_xml(data, None)
    return _Builder(document_url).document(root)


# --------------------------------------------------------------------------- builder


def _text(element: Any) -> str:
    """All text inside ``element`` (SSML tags flattened), whitespace runs collapsed."""
    return " ".join("".join(element.itertext()).split())


class _Builder:
    def __init__(self, document_url: str) -> None:
        self.document_url = document_url
        self.warnings: list[Warning] = []

    def warn(self, message: str, code: int = SCHEMA_WARNING) -> None:
        self.warnings.append(Warning(code, message))

    # ----------------------------------------------------------------- attribute values

    def attrs(self, element: Any, verb: str, known: frozenset[str]) -> dict[str, str]:
        values = attributes(element)
        for name in sorted(set(values) - known - _IGNORED[verb]):
            self.warn(f"unknown attribute {name!r} on <{local_name(element)}> was ignored")
        return values

    def invalid(self, where: str, name: str, value: str, default: object) -> None:
        code = CODES.get((where, name), SCHEMA_WARNING)
        self.warn(
            f"<{where.replace('/', '><')}> {name}={value!r} is invalid; the default {default!r} is used",
            code,
        )

    def integer(
        self, attrs: dict[str, str], where: str, name: str, default: int, minimum: int = 1
    ) -> int:
        raw = attrs.get(name)
        if raw is None:
            return default
        text = xml_strip(raw)
        if _INTEGER.match(text) and int(text) >= minimum:
            return int(text)
        self.invalid(where, name, raw, default)
        return default

    def boolean(self, attrs: dict[str, str], where: str, name: str, default: bool) -> bool:
        raw = attrs.get(name)
        if raw is None:
            return default
        text = xml_strip(raw).lower()
        if text in ("true", "false"):
            return text == "true"
        self.invalid(where, name, raw, "true" if default else "false")
        return default

    def choice(
        self, attrs: dict[str, str], where: str, name: str, choices: tuple[str, ...], default: str
    ) -> str:
        raw = attrs.get(name)
        if raw is None:
            return default
        text = xml_strip(raw)
        if text in choices:
            return text
        self.invalid(where, name, raw, default)
        return default

    def method(self, attrs: dict[str, str], where: str, name: str = "method") -> str:
        raw = attrs.get(name)
        if raw is None:
            return "POST"
        text = xml_strip(raw).upper()
        if text in _METHODS:
            return text
        self.invalid(where, name, raw, "POST")
        return "POST"

    def url(self, raw: str | None, where: str, code: int = INVALID_URL) -> str | None:
        """``raw`` resolved against the document URL; None (with ``code``) if unusable."""
        if raw is None:
            return None
        text = xml_strip(raw)
        if not text:
            self.warn(f"empty URL in {where} was ignored", code)
            return None
        resolved = urljoin(self.document_url, text) if self.document_url else text
        try:
            parts = urlsplit(resolved)
            parts.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError:
            parts = None
        if parts is None or parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            self.warn(
                f"invalid URL {text!r} in {where} was ignored (an absolute http(s) URL is"
                " needed, or a relative one in a document fetched from a URL)",
                code,
            )
            return None
        return resolved

    def action(self, attrs: dict[str, str], where: str) -> str | None:
        """``action``, defaulting to the document's own URL (None for inline TwiML)."""
        if "action" in attrs:
            url = self.url(attrs["action"], f"<{where} action>")
            if url is not None:
                return url
        return self.document_url or None

    def no_children(self, element: Any, verb: str) -> None:
        for child in element:
            self.warn(f"unknown noun <{local_name(child)}> inside <{verb}> was ignored")

    # ----------------------------------------------------------------- document

    def document(self, root: Any) -> Document:
        verbs: list[Verb] = []
        ended_by: str | None = None
        if xml_strip(root.text or ""):
            self.warn("text directly inside <Response> was ignored")
        for child in root:
            if xml_strip(child.tail or ""):
                self.warn("text directly inside <Response> was ignored")
            name = local_name(child)
            if ended_by is not None:
                self.warn(f"<{name}> after <{ended_by}> was ignored: it can never run")
                continue
            verb = self.verb(child, name)
            if verb is None:
                continue
            verbs.append(verb)
            if name in _TERMINAL:
                ended_by = name
        return Document(verbs=tuple(verbs), warnings=tuple(self.warnings))

    def verb(self, element: Any, name: str) -> Verb | None:
        if name == "Say":
            return self.say(element, "Say")
        if name == "Play":
            return self.play(element, "Play")
        if name == "Pause":
            return self.pause(element, "Pause")
        if name == "Gather":
            return self.gather(element)
        if name == "Record":
            return self.record(element)
        if name == "Dial":
            return self.dial(element)
        if name == "Hangup":
            self.attrs(element, "Hangup", frozenset())
            self.no_children(element, "Hangup")
            return Hangup()
        if name == "Reject":
            attrs = self.attrs(element, "Reject", frozenset({"reason"}))
            self.no_children(element, "Reject")
            return Reject(
                reason=self.choice(attrs, "Reject", "reason", ("rejected", "busy"), "rejected")
            )
        if name == "Redirect":
            return self.redirect(element)
        if name in ("Sms", "Message"):
            return self.sms(element, name)
        if name in _UNSUPPORTED_VERBS:
            self.warn(f"<{name}> is not supported on this appliance and was skipped")
        else:
            self.warn(
                f"unknown verb <{name or element.tag}> was skipped (verbs are case-sensitive)"
            )
        return None

    # ----------------------------------------------------------------- verbs

    def say(self, element: Any, where: str) -> Say | None:
        attrs = self.attrs(element, "Say", frozenset({"voice", "language", "loop"}))
        voice = "man"
        if "voice" in attrs:
            voice = xml_strip(attrs["voice"])
            if not voice:
                self.invalid(where, "voice", attrs["voice"], "man")
                voice = "man"
        language = "en-US"
        if "language" in attrs:
            language = xml_strip(attrs["language"])
            if not _LANGUAGE.match(language):
                self.invalid(where, "language", attrs["language"], "en-US")
                language = "en-US"
        loop = self.integer(attrs, where, "loop", 1, minimum=0)
        text = _text(element)
        if not text:
            self.warn(f"empty <{where.replace('/', '><')}> was skipped", CODES[(where, "text")])
            return None
        return Say(text=text, voice=voice, language=language, loop=loop)

    def play(self, element: Any, where: str) -> Play | None:
        attrs = self.attrs(element, "Play", frozenset({"loop", "digits"}))
        loop = self.integer(attrs, "Play", "loop", 1, minimum=0)
        digits = None
        if "digits" in attrs:
            digits = xml_strip(attrs["digits"])
            if not _PLAY_DIGITS.match(digits):
                self.invalid("Play", "digits", attrs["digits"], None)
                digits = None
        for child in element:
            self.warn(f"unknown noun <{local_name(child)}> inside <Play> was ignored")
        raw = _text(element)
        url = self.url(raw, "<Play>") if raw else None
        if url is None and digits is None:
            if not raw:
                self.warn("<Play> without a URL or digits was skipped", INVALID_URL)
            return None
        return Play(url=url, loop=loop, digits=digits)

    def pause(self, element: Any, where: str) -> Pause:
        attrs = self.attrs(element, "Pause", frozenset({"length"}))
        self.no_children(element, "Pause")
        return Pause(length=self.integer(attrs, "Pause", "length", 1))

    def gather(self, element: Any) -> Gather:
        attrs = self.attrs(
            element,
            "Gather",
            frozenset(
                {
                    "action",
                    "method",
                    "input",
                    "numDigits",
                    "timeout",
                    "finishOnKey",
                    "actionOnEmptyResult",
                }
            ),
        )
        input_ = "dtmf"
        if "input" in attrs:
            words = xml_strip(attrs["input"]).split()
            if words and set(words) <= {"dtmf", "speech"}:
                input_ = " ".join(w for w in ("dtmf", "speech") if w in words)
                if "speech" in words:
                    self.warn(
                        "<Gather input> asks for speech: this appliance recognises DTMF keys only"
                    )
            else:
                self.invalid("Gather", "input", attrs["input"], "dtmf")
        num_digits: int | None = None
        if "numDigits" in attrs:
            raw = xml_strip(attrs["numDigits"])
            if _INTEGER.match(raw) and int(raw) >= 1:
                num_digits = int(raw)
            else:
                self.invalid("Gather", "numDigits", attrs["numDigits"], None)
        finish = "#"
        if "finishOnKey" in attrs:
            raw = xml_strip(attrs["finishOnKey"])
            if len(raw) <= 1 and set(raw) <= _DIGIT_KEYS:
                finish = raw
            else:
                self.invalid("Gather", "finishOnKey", attrs["finishOnKey"], "#")
        children: list[Say | Play | Pause] = []
        if xml_strip(element.text or ""):
            self.warn("text directly inside <Gather> was ignored")
        for child in element:
            name = local_name(child)
            if xml_strip(child.tail or ""):
                self.warn("text directly inside <Gather> was ignored")
            nested: Say | Play | Pause | None
            if name == "Say":
                nested = self.say(child, "Gather/Say")
            elif name == "Play":
                nested = self.play(child, "Gather/Play")
            elif name == "Pause":
                nested = self.pause(child, "Gather/Pause")
            else:
                self.warn(
                    f"<{name or child.tag}> inside <Gather> was skipped "
                    "(only <Say>, <Play> and <Pause> may be nested)"
                )
                continue
            if nested is not None:
                children.append(nested)
        return Gather(
            action=self.action(attrs, "Gather"),
            method=self.method(attrs, "Gather"),
            input=input_,
            num_digits=num_digits,
            timeout=self.integer(attrs, "Gather", "timeout", 5),
            finish_on_key=finish,
            action_on_empty_result=self.boolean(attrs, "Gather", "actionOnEmptyResult", False),
            children=tuple(children),
        )

    def record(self, element: Any) -> Record:
        attrs = self.attrs(
            element,
            "Record",
            frozenset(
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
            ),
        )
        self.no_children(element, "Record")
        finish = "1234567890*#"
        if "finishOnKey" in attrs:
            raw = xml_strip(attrs["finishOnKey"])
            if set(raw) <= _DIGIT_KEYS:
                finish = raw
            else:
                self.invalid("Record", "finishOnKey", attrs["finishOnKey"], finish)
        trim = "trim-silence"
        if "trim" in attrs:
            raw = xml_strip(attrs["trim"])
            if raw in ("trim-silence", "do-not-trim"):
                trim = raw
            else:
                # Twilio (13699): an invalid trim value means no trimming.
                self.invalid("Record", "trim", attrs["trim"], "do-not-trim")
                trim = "do-not-trim"
        transcribe = self.boolean(attrs, "Record", "transcribe", False)
        if transcribe:
            self.warn("<Record transcribe> is not supported on this appliance; no transcription")
        return Record(
            action=self.action(attrs, "Record"),
            method=self.method(attrs, "Record"),
            timeout=self.integer(attrs, "Record", "timeout", 5, minimum=0),
            finish_on_key=finish,
            max_length=self.integer(attrs, "Record", "maxLength", 3600),
            play_beep=self.boolean(attrs, "Record", "playBeep", True),
            trim=trim,
            transcribe=transcribe,
            recording_status_callback=self.url(
                attrs.get("recordingStatusCallback"), "<Record recordingStatusCallback>"
            ),
            recording_status_callback_method=self.method(
                attrs, "Record", "recordingStatusCallbackMethod"
            ),
        )

    def dial(self, element: Any) -> Dial | None:
        attrs = self.attrs(
            element,
            "Dial",
            frozenset(
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
            ),
        )
        numbers: list[Number] = []
        text = xml_strip(element.text or "") + "".join(
            xml_strip(child.tail or "") for child in element
        )
        if text:
            if len(element):
                self.warn("<Dial> has both a number as text and nouns; the text was ignored")
            else:
                number = self.dial_number(text, "Dial")
                if number is not None:
                    numbers.append(Number(number=number))
        for child in element:
            name = local_name(child)
            if name == "Number":
                parsed = self.number(child)
                if parsed is not None:
                    numbers.append(parsed)
            elif name in _UNSUPPORTED_DIAL_NOUNS:
                self.warn(f"<Dial><{name}> is not supported on this appliance and was skipped")
            else:
                self.warn(f"unknown noun <{name or child.tag}> inside <Dial> was skipped")
        if not numbers:
            self.warn("<Dial> has no number to call and was skipped", CODES[("Dial", "number")])
            return None
        record = "do-not-record"
        if "record" in attrs:
            raw = xml_strip(attrs["record"])
            if raw in _DIAL_RECORD:
                record = raw
            elif raw.lower() in ("true", "false"):
                record = "record-from-answer" if raw.lower() == "true" else "do-not-record"
            else:
                self.invalid("Dial", "record", attrs["record"], record)
        caller_id = None
        if "callerId" in attrs:
            caller_id = xml_strip(attrs["callerId"]) or None
            if caller_id is None:
                self.invalid("Dial", "callerId", attrs["callerId"], None)
        ring_tone = xml_strip(attrs.get("ringTone", "")) or None
        action = None
        if "action" in attrs:
            action = self.url(attrs["action"], "<Dial action>")
        return Dial(
            numbers=tuple(numbers),
            action=action,
            method=self.method(attrs, "Dial"),
            timeout=self.integer(attrs, "Dial", "timeout", 30),
            time_limit=self.integer(attrs, "Dial", "timeLimit", 14400),
            hangup_on_star=self.boolean(attrs, "Dial", "hangupOnStar", False),
            caller_id=caller_id,
            record=record,
            answer_on_bridge=self.boolean(attrs, "Dial", "answerOnBridge", False),
            ring_tone=ring_tone,
        )

    def dial_number(self, text: str, where: str) -> str | None:
        digits = sum(c.isdigit() for c in text)
        if _DIAL_NUMBER.match(text) and 1 <= digits <= 15:
            return text
        self.warn(
            f"<{where}> {text!r} is not a phone number (E.164, at most 15 digits) and was skipped",
            CODES[(where, "number")],
        )
        return None

    def number(self, element: Any) -> Number | None:
        attrs = self.attrs(
            element,
            "Number",
            frozenset(
                {
                    "sendDigits",
                    "url",
                    "method",
                    "statusCallback",
                    "statusCallbackMethod",
                    "statusCallbackEvent",
                }
            ),
        )
        for child in element:
            self.warn(f"unknown noun <{local_name(child)}> inside <Number> was ignored")
        number = self.dial_number(_text(element), "Number")
        if number is None:
            return None
        send_digits = None
        if "sendDigits" in attrs:
            send_digits = xml_strip(attrs["sendDigits"])
            if not _SEND_DIGITS.match(send_digits):
                self.invalid("Number", "sendDigits", attrs["sendDigits"], None)
                send_digits = None
        events: tuple[str, ...] = ("completed",)
        if "statusCallbackEvent" in attrs:
            words = [w for w in _EVENT_SEPARATORS.split(attrs["statusCallbackEvent"]) if w]
            valid = tuple(e for e in _CALL_EVENTS if e in words)
            if not words or set(words) - set(_CALL_EVENTS):
                self.invalid(
                    "Number", "statusCallbackEvent", attrs["statusCallbackEvent"], "completed"
                )
            if valid:
                events = valid
        return Number(
            number=number,
            send_digits=send_digits,
            url=self.url(attrs.get("url"), "<Number url>"),
            method=self.method(attrs, "Number"),
            status_callback=self.url(attrs.get("statusCallback"), "<Number statusCallback>"),
            status_callback_method=self.method(attrs, "Number", "statusCallbackMethod"),
            status_callback_events=events,
        )

    def redirect(self, element: Any) -> Redirect | None:
        attrs = self.attrs(element, "Redirect", frozenset({"method"}))
        method = self.method(attrs, "Redirect")
        self.no_children(element, "Redirect")
        text = _text(element)
        if not text:
            self.warn("<Redirect> without a URL was skipped", INVALID_URL)
            return None
        url = self.url(text, "<Redirect>")
        if url is None:
            return None
        return Redirect(url=url, method=method)

    def sms(self, element: Any, name: str) -> Sms | None:
        attrs = self.attrs(
            element, "Sms", frozenset({"to", "from", "action", "method", "statusCallback"})
        )
        pieces = [element.text or ""]
        for child in element:
            if local_name(child) == "Body":
                pieces.append("".join(child.itertext()))
            else:
                self.warn(f"unknown noun <{local_name(child)}> inside <{name}> was ignored")
            pieces.append(child.tail or "")
        body = xml_strip("".join(pieces))
        if not body:
            self.warn(f"empty <{name}> was skipped", CODES[("Sms", "body")])
            return None
        to = from_ = None
        for attr in ("to", "from"):
            if attr in attrs:
                value = xml_strip(attrs[attr]) or None
                if value is None:
                    self.invalid("Sms", attr, attrs[attr], None)
                if attr == "to":
                    to = value
                else:
                    from_ = value
        status_callback = None
        if "statusCallback" in attrs:
            status_callback = self.url(
                attrs["statusCallback"],
                f"<{name} statusCallback>",
                CODES[("Sms", "statusCallback")],
            )
        action = None
        if "action" in attrs:
            action = self.url(attrs["action"], f"<{name} action>")
        return Sms(
            body=body,
            to=to,
            from_=from_,
            action=action,
            method=self.method(attrs, "Sms"),
            status_callback=status_callback,
        )
