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

The XML parser is the hardened one messaging TwiML uses too
(:func:`appliance.twiml.xmltree.parse_xml`): no entity expansion, no DTD, no
network, ``huge_tree`` off.

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

This module is the entry point and the document walk; each verb family is parsed
in its own module with :class:`appliance.twiml.reader.VerbReader`:
:mod:`~appliance.twiml.prompts` (``<Say>``, ``<Play>``, ``<Pause>``),
:mod:`~appliance.twiml.gather`, :mod:`~appliance.twiml.record`,
:mod:`~appliance.twiml.dial` (with ``<Number>``), :mod:`~appliance.twiml.control`
(``<Hangup>``, ``<Reject>``, ``<Redirect>``), :mod:`~appliance.twiml.voice_sms` and
:mod:`~appliance.twiml.stream` (``<Start>``, ``<Stop>``, ``<Connect>`` with ``<Stream>``).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from appliance.twiml import control, dial, gather, prompts, record, stream, voice_sms
from appliance.twiml.control import Hangup, Redirect, Reject
from appliance.twiml.diagnostics import (
    DOCUMENT_PARSE_FAILURE,
    INVALID_ROOT,
    SCHEMA_WARNING,
    TwimlError,
    Warning,
)
from appliance.twiml.dial import Dial, Number
from appliance.twiml.gather import Gather
from appliance.twiml.prompts import Pause, Play, Say
from appliance.twiml.reader import INVALID_URL, VerbReader
from appliance.twiml.record import Record
from appliance.twiml.stream import Connect, Start, Stop
from appliance.twiml.voice_sms import Sms
from appliance.twiml.xmltree import MAX_TWIML_BYTES, local_name, parse_xml, xml_strip

LOGGER = logging.getLogger(__name__)

__all__ = [
    "CODES",
    "DOCUMENT_PARSE_FAILURE",
    "INVALID_ROOT",
    "INVALID_URL",
    "MAX_TWIML_BYTES",
    "SCHEMA_WARNING",
    "Connect",
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
    "Start",
    "Stop",
    "TwimlError",
    "Verb",
    "Warning",
    "parse",
]

#: Twilio's warning codes, by (verb, attribute).  Twilio's error dictionary.
CODES: dict[tuple[str, str], int] = {
    **prompts.CODES,
    **gather.CODES,
    **record.CODES,
    **dial.CODES,
    **control.CODES,
    **voice_sms.CODES,
    **stream.CODES,
}

# Twilio verbs that exist but that a GSM modem cannot back.
_UNSUPPORTED_VERBS = frozenset(
    {
        "Echo",
        "Enqueue",
        "Leave",
        "Queue",
        "Pay",
        "Prompt",
        "Refer",
        "Conference",
    }
)

Verb = (
    Say
    | Play
    | Pause
    | Gather
    | Record
    | Dial
    | Hangup
    | Reject
    | Redirect
    | Sms
    | Start
    | Stop
    | Connect
)


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
    return _document(VerbReader(document_url, CODES), root)


# --------------------------------------------------------------------------- document walk


def _document(reader: VerbReader, root: Any) -> Document:
    verbs: list[Verb] = []
    ended_by: str | None = None
    if xml_strip(root.text or ""):
        reader.warn("text directly inside <Response> was ignored")
    for child in root:
        if xml_strip(child.tail or ""):
            reader.warn("text directly inside <Response> was ignored")
        name = local_name(child)
        if ended_by is not None:
            reader.warn(f"<{name}> after <{ended_by}> was ignored: it can never run")
            continue
        verb = _verb(reader, child, name)
        if verb is None:
            continue
        verbs.append(verb)
        if name in control.TERMINAL:
            ended_by = name
    return Document(verbs=tuple(verbs), warnings=tuple(reader.warnings))


def _verb(reader: VerbReader, element: Any, name: str) -> Verb | None:
    if name == "Say":
        return prompts.say(reader, element, "Say")
    if name == "Play":
        return prompts.play(reader, element, "Play")
    if name == "Pause":
        return prompts.pause(reader, element, "Pause")
    if name == "Gather":
        return gather.gather(reader, element)
    if name == "Record":
        return record.record(reader, element)
    if name == "Dial":
        return dial.dial(reader, element)
    if name == "Hangup":
        return control.hangup(reader, element)
    if name == "Reject":
        return control.reject(reader, element)
    if name == "Redirect":
        return control.redirect(reader, element)
    if name in ("Sms", "Message"):
        return voice_sms.sms(reader, element, name)
    if name == "Start":
        return stream.start(reader, element)
    if name == "Stop":
        return stream.stop(reader, element)
    if name == "Connect":
        return stream.connect(reader, element)
    if name in _UNSUPPORTED_VERBS:
        reader.warn(f"<{name}> is not supported on this appliance and was skipped")
    else:
        reader.warn(f"unknown verb <{name or element.tag}> was skipped (verbs are case-sensitive)")
    return None
