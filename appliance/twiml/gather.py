"""The ``<Gather>`` verb of voice TwiML: collect DTMF keys while prompts play.

Only ``<Say>``, ``<Play>`` and ``<Pause>`` may be nested.  Speech input is accepted
with a warning (this appliance recognises keys only); Twilio's speech attributes
are accepted silently.  ``Gather input`` has no documented code and warns with 12200.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from appliance.twiml import prompts
from appliance.twiml.prompts import Pause, Play, Say
from appliance.twiml.reader import DIGIT_KEYS, INTEGER, VerbReader
from appliance.twiml.xmltree import local_name, xml_strip

__all__ = ["CODES", "Gather", "gather"]

#: Twilio's warning codes for ``<Gather>``, by (verb, attribute).
CODES: dict[tuple[str, str], int] = {
    ("Gather", "finishOnKey"): 13310,
    ("Gather", "method"): 13312,
    ("Gather", "timeout"): 13313,
    ("Gather", "numDigits"): 13314,
    ("Gather", "actionOnEmptyResult"): 13338,
}

_KNOWN = frozenset(
    {"action", "method", "input", "numDigits", "timeout", "finishOnKey", "actionOnEmptyResult"}
)
# Attributes accepted silently (Twilio knows them; this appliance ignores them).
_IGNORED = frozenset(
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
)


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


def gather(reader: VerbReader, element: Any) -> Gather:
    """``<Gather>`` with its nested prompts."""
    attrs = reader.attrs(element, _KNOWN, _IGNORED)
    input_ = "dtmf"
    if "input" in attrs:
        words = xml_strip(attrs["input"]).split()
        if words and set(words) <= {"dtmf", "speech"}:
            input_ = " ".join(w for w in ("dtmf", "speech") if w in words)
            if "speech" in words:
                reader.warn(
                    "<Gather input> asks for speech: this appliance recognises DTMF keys only"
                )
        else:
            reader.invalid("Gather", "input", attrs["input"], "dtmf")
    num_digits: int | None = None
    if "numDigits" in attrs:
        raw = xml_strip(attrs["numDigits"])
        if INTEGER.match(raw) and int(raw) >= 1:
            num_digits = int(raw)
        else:
            reader.invalid("Gather", "numDigits", attrs["numDigits"], None)
    finish = "#"
    if "finishOnKey" in attrs:
        raw = xml_strip(attrs["finishOnKey"])
        if len(raw) <= 1 and set(raw) <= DIGIT_KEYS:
            finish = raw
        else:
            reader.invalid("Gather", "finishOnKey", attrs["finishOnKey"], "#")
    children = _children(reader, element)
    return Gather(
        action=reader.action(attrs, "Gather"),
        method=reader.method(attrs, "Gather"),
        input=input_,
        num_digits=num_digits,
        timeout=reader.integer(attrs, "Gather", "timeout", 5),
        finish_on_key=finish,
        action_on_empty_result=reader.boolean(attrs, "Gather", "actionOnEmptyResult", False),
        children=children,
    )


def _children(reader: VerbReader, element: Any) -> tuple[Say | Play | Pause, ...]:
    children: list[Say | Play | Pause] = []
    if xml_strip(element.text or ""):
        reader.warn("text directly inside <Gather> was ignored")
    for child in element:
        name = local_name(child)
        if xml_strip(child.tail or ""):
            reader.warn("text directly inside <Gather> was ignored")
        nested: Say | Play | Pause | None
        if name == "Say":
            nested = prompts.say(reader, child, "Gather/Say")
        elif name == "Play":
            nested = prompts.play(reader, child, "Gather/Play")
        elif name == "Pause":
            nested = prompts.pause(reader, child, "Gather/Pause")
        else:
            reader.warn(
                f"<{name or child.tag}> inside <Gather> was skipped "
                "(only <Say>, <Play> and <Pause> may be nested)"
            )
            continue
        if nested is not None:
            children.append(nested)
    return tuple(children)
