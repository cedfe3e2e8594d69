"""The Simple Menu twimlet: a greeting that takes keys and sends each option elsewhere.  Pure.

``Options[1]=url`` maps keys to URLs.  The ``<Gather>`` waits for as many digits as the
longest option has and posts them back here (its default action); a known option is a
302 to its URL, an unknown one an apology and the menu again.  Without a key press the
``<Redirect>`` starts the menu over.

The classic wrote an empty ``<Redirect/>`` (Twilio read it as "this document's URL"); the
appliance's TwiML parser skips an empty ``<Redirect>``, so the menu writes its own URL in it.
"""

from __future__ import annotations

from appliance.twimlets.document import Answer, Document, redirect_to
from appliance.twimlets.php import Params, truthy

__all__ = ["INVALID", "menu"]

INVALID = "I'm sorry, that wasn't a valid option."


def menu(p: Params, url: str) -> Answer:
    """Simple Menu: ``Message``, ``Options[digits]=url``; ``url`` is this twimlet's own URL."""
    raw = p.request("Options")
    options: dict[str, str] = (
        {k: v for k, v in raw.items() if truthy(v)}
        if isinstance(raw, dict)
        else ({"0": raw} if raw is not None and truthy(raw) else {})
    )
    doc = Document()
    digits = Params.string(p.request("Digits"))
    if digits:
        location = options.get(digits, "")
        if location:
            return redirect_to(location)
        doc.add("Say", INVALID)
    num_digits = max([1, *(len(k) for k in options)])
    gather = doc.add("Gather", numDigits=str(num_digits))
    doc.prompt(Params.string(p.get("Message")), gather, trimmed=False)
    doc.add("Redirect", url)
    return doc.answer()
