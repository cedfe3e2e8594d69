"""The Whisper twimlet: what the dialled party hears before the call is bridged.  Pure.

The ``url`` of a ``<Number>`` (Simulring, Find Me, Call Me).  First request: a
``<Gather numDigits="1">`` announcing the call (``Message``, or the caller's number read
out character by character); with ``HumanCheck`` the call hangs up when no key is
pressed.  Second request (``Digits``): an empty document bridges the call, unless
``Digits`` is empty (hang up).
"""

from __future__ import annotations

import re

from appliance.twimlets.document import Answer, Document
from appliance.twimlets.php import Params

__all__ = ["whisper"]


def announcement(caller: str) -> str:
    """The default prompt: each character of the number followed by ". " (``+. 1. 4. …``)."""
    spelled = re.sub(r"([^ \t\n\x0b\x0c\r])", r"\1. ", caller)
    return f"You are receiving a call from {spelled}.  Press any key to accept."


def whisper(p: Params) -> Answer:
    """Whisper: ``Message``, ``HumanCheck``; ``Digits`` on the second request."""
    doc = Document()
    digits = p.request("Digits")
    if digits is not None:
        if Params.string(digits) == "":
            doc.add("Hangup")
        return doc.answer()
    gather = doc.add("Gather", numDigits="1")
    if not doc.prompt(Params.string(p.get("Message")), gather):
        doc.add("Say", announcement(p.first_of("From", "Caller")), gather)
    if p.request("HumanCheck") is not None:
        doc.add("Hangup")
    return doc.answer()
