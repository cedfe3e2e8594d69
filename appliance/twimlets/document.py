"""A twimlet's answer: a TwiML document (built with lxml), or a 302 to another URL.  Pure.

The classic twimlets went to a ``FailUrl`` or a menu option with an HTTP 302 (``Location``),
not a ``<Redirect>``: a webhook client follows it with a GET, without the call's parameters.

lxml is imported by the first document built, not with this module (an idle appliance does
not load it: :mod:`appliance.twiml.xmltree`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from appliance.twimlets.php import stripslashes, trim

__all__ = ["Answer", "Document", "redirect_to"]

# Characters XML 1.0 cannot carry (a request may hold them); they are dropped.
DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'  # as Twilio's libraries write it
_PRINTABLE = "".join(chr(c) for c in range(0x21, 0x7F))  # what a Location may hold as is
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


@dataclass(frozen=True)
class Answer:
    """``twiml`` (``text/xml``), or ``location`` for a 302."""

    twiml: bytes = b""
    location: str | None = None


def redirect_to(url: str) -> Answer:
    """A 302 to ``url`` (PHP's ``header('Location: …')``); spaces, control characters and
    non-ASCII are percent-encoded, as a header carries only printable ASCII."""
    return Answer(location=quote(url, safe=_PRINTABLE))


def _xml_safe(s: str) -> str:
    return _NOT_XML.sub("", s)


class Document:
    """A ``<Response>`` being built: verbs in the order they are added, attributes in the
    order given."""

    def __init__(self) -> None:
        from lxml import etree  # here, as below: see the module docstring

        self.root: Any = etree.Element("Response")

    def add(self, tag: str, text: str | None = None, parent: Any = None, **attrs: str) -> Any:
        """Append ``<tag attrs…>text</tag>`` to ``parent`` (default the ``<Response>``)."""
        from lxml import etree

        element = etree.SubElement(self.root if parent is None else parent, tag)
        for name, value in attrs.items():
            element.set(name, _xml_safe(value))
        if text:
            element.text = _xml_safe(text)
        return element

    def prompt(self, message: str, parent: Any = None, *, trimmed: bool = True) -> bool:
        """The classic rule for a ``Message``: a value starting with ``http`` (after trim, any
        case) is played as given; other text is spoken (backslashes stripped).  ``trimmed``:
        blank text counts as none (most twimlets); else only the empty string does (menu,
        hold music).  False when nothing was added (the caller may add its default)."""
        if trim(message)[:4].lower() == "http":
            self.add("Play", message, parent)
            return True
        if (trim(message) if trimmed else message) != "":
            self.add("Say", stripslashes(message), parent)
            return True
        return False

    def answer(self) -> Answer:
        from lxml import etree

        body = etree.tostring(self.root, xml_declaration=False, encoding="UTF-8")
        return Answer(twiml=DECLARATION + body)
