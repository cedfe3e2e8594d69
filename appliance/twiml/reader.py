"""The attribute reader every voice verb parser shares: Twilio's defaults, codes and URL rules.

A :class:`VerbReader` reads one document: it coerces attribute values (integers,
booleans, choices, methods, URLs resolved against the document's URL), records a
:class:`~appliance.twiml.diagnostics.Warning` for each invalid value (with the code
from the table it was given, keyed by (verb, attribute)) and falls back to the
attribute's default.  The verb families (:mod:`appliance.twiml.prompts`,
:mod:`~appliance.twiml.gather`, :mod:`~appliance.twiml.record`,
:mod:`~appliance.twiml.dial`, :mod:`~appliance.twiml.control`,
:mod:`~appliance.twiml.voice_sms`) build their verbs with it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urljoin, urlsplit

from appliance.twiml.diagnostics import SCHEMA_WARNING, Warning
from appliance.twiml.xmltree import attributes, local_name, xml_strip

__all__ = ["DIGIT_KEYS", "INTEGER", "INVALID_URL", "VerbReader", "element_text"]

INVALID_URL = 11100

#: The keys of a phone keypad (``finishOnKey`` values).
DIGIT_KEYS = frozenset("0123456789#*")
#: A whole number as an attribute may write it.
INTEGER = re.compile(r"^[0-9]{1,9}$")

_METHODS = ("GET", "POST")


def element_text(element: Any) -> str:
    """All text inside ``element`` (SSML tags flattened), whitespace runs collapsed."""
    return " ".join("".join(element.itertext()).split())


class VerbReader:
    """Reads the verbs of one document fetched from ``document_url`` ('' for inline
    TwiML); ``codes`` maps (verb, attribute) to Twilio's warning code."""

    def __init__(self, document_url: str, codes: Mapping[tuple[str, str], int]) -> None:
        self.document_url = document_url
        self.codes = codes
        self.warnings: list[Warning] = []

    def warn(self, message: str, code: int = SCHEMA_WARNING) -> None:
        self.warnings.append(Warning(code, message))

    def attrs(
        self, element: Any, known: frozenset[str], ignored: frozenset[str] = frozenset()
    ) -> dict[str, str]:
        """The element's attributes; unknown ones (neither ``known`` nor silently
        ``ignored``) are warned about."""
        values = attributes(element)
        for name in sorted(set(values) - known - ignored):
            self.warn(f"unknown attribute {name!r} on <{local_name(element)}> was ignored")
        return values

    def invalid(self, where: str, name: str, value: str, default: object) -> None:
        code = self.codes.get((where, name), SCHEMA_WARNING)
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
        if INTEGER.match(text) and int(text) >= minimum:
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
