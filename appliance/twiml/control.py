"""The verbs of voice TwiML that end the document: ``<Hangup>``, ``<Reject>``, ``<Redirect>``.

Verbs after one of them never run.  ``Reject reason`` has no documented code and
warns with 12200.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from appliance.twiml.reader import INVALID_URL, VerbReader, element_text

__all__ = ["CODES", "TERMINAL", "Hangup", "Redirect", "Reject", "hangup", "redirect", "reject"]

#: Twilio's warning codes for these verbs, by (verb, attribute).
CODES: dict[tuple[str, str], int] = {
    ("Redirect", "method"): 13710,
}

#: The names of the verbs after which nothing runs.
TERMINAL = ("Hangup", "Reject", "Redirect")


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


def hangup(reader: VerbReader, element: Any) -> Hangup:
    """``<Hangup>``."""
    reader.attrs(element, frozenset())
    reader.no_children(element, "Hangup")
    return Hangup()


def reject(reader: VerbReader, element: Any) -> Reject:
    """``<Reject>``."""
    attrs = reader.attrs(element, frozenset({"reason"}))
    reader.no_children(element, "Reject")
    return Reject(reason=reader.choice(attrs, "Reject", "reason", ("rejected", "busy"), "rejected"))


def redirect(reader: VerbReader, element: Any) -> Redirect | None:
    """``<Redirect>``; None without a usable URL."""
    attrs = reader.attrs(element, frozenset({"method"}))
    method = reader.method(attrs, "Redirect")
    reader.no_children(element, "Redirect")
    text = element_text(element)
    if not text:
        reader.warn("<Redirect> without a URL was skipped", INVALID_URL)
        return None
    url = reader.url(text, "<Redirect>")
    if url is None:
        return None
    return Redirect(url=url, method=method)
