"""The prompt verbs of voice TwiML, what the caller hears: ``<Say>``, ``<Play>``, ``<Pause>``.

Each may stand alone or be nested in ``<Gather>`` (``where`` is then ``Gather/Say``
and so on: nested ``<Say>`` has its own Twilio codes, nested ``<Play>``/``<Pause>``
use the top-level ones).  ``Say language`` and ``Play digits`` have no documented
code and warn with 12200.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from appliance.twiml.reader import INVALID_URL, VerbReader, element_text
from appliance.twiml.xmltree import local_name, xml_strip

__all__ = ["CODES", "Pause", "Play", "Say", "pause", "play", "say"]

#: Twilio's warning codes for the prompt verbs, by (verb, attribute).
CODES: dict[tuple[str, str], int] = {
    ("Say", "loop"): 13510,
    ("Say", "voice"): 13511,
    ("Say", "text"): 13520,
    ("Gather/Say", "voice"): 13321,
    ("Gather/Say", "loop"): 13322,
    ("Gather/Say", "text"): 13520,
    ("Play", "loop"): 13410,
    ("Pause", "length"): 13910,
}

_PLAY_DIGITS = re.compile(r"^[0-9*#wWA-Da-d]+$")
_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")


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


def say(reader: VerbReader, element: Any, where: str) -> Say | None:
    """``<Say>`` (``where`` is ``Say`` or ``Gather/Say``); None if it has no text."""
    attrs = reader.attrs(element, frozenset({"voice", "language", "loop"}))
    voice = "man"
    if "voice" in attrs:
        voice = xml_strip(attrs["voice"])
        if not voice:
            reader.invalid(where, "voice", attrs["voice"], "man")
            voice = "man"
    language = "en-US"
    if "language" in attrs:
        language = xml_strip(attrs["language"])
        if not _LANGUAGE.match(language):
            reader.invalid(where, "language", attrs["language"], "en-US")
            language = "en-US"
    loop = reader.integer(attrs, where, "loop", 1, minimum=0)
    text = element_text(element)
    if not text:
        reader.warn(f"empty <{where.replace('/', '><')}> was skipped", CODES[(where, "text")])
        return None
    return Say(text=text, voice=voice, language=language, loop=loop)


def play(reader: VerbReader, element: Any, where: str) -> Play | None:
    """``<Play>``; None if it has neither a usable URL nor digits."""
    attrs = reader.attrs(element, frozenset({"loop", "digits"}))
    loop = reader.integer(attrs, "Play", "loop", 1, minimum=0)
    digits = None
    if "digits" in attrs:
        digits = xml_strip(attrs["digits"])
        if not _PLAY_DIGITS.match(digits):
            reader.invalid("Play", "digits", attrs["digits"], None)
            digits = None
    for child in element:
        reader.warn(f"unknown noun <{local_name(child)}> inside <Play> was ignored")
    raw = element_text(element)
    url = reader.url(raw, "<Play>") if raw else None
    if url is None and digits is None:
        if not raw:
            reader.warn("<Play> without a URL or digits was skipped", INVALID_URL)
        return None
    return Play(url=url, loop=loop, digits=digits)


def pause(reader: VerbReader, element: Any, where: str) -> Pause:
    """``<Pause>``."""
    attrs = reader.attrs(element, frozenset({"length"}))
    reader.no_children(element, "Pause")
    return Pause(length=reader.integer(attrs, "Pause", "length", 1))
