"""The dialling twimlets: Forward, Simulring, Find Me and Call Me.  Pure.

Each answers the call with one ``<Dial>`` whose ``action`` comes back to the same twimlet
with ``Dial=true``; that second request hangs up when the dialled party answered (or
when there is no ``FailUrl``), else goes to ``FailUrl`` with a 302.  Find Me instead
carries the numbers still to try in its ``action`` and dials them one after the other.
Simulring, Find Me and Call Me give each ``<Number>`` a ``url`` of the Whisper twimlet
(relative, so it resolves next to the twimlet that wrote it).

``path`` is the twimlet's own path (``/twimlets/forward``): the classic wrote its action
as ``SCRIPT_URL?Dial=true…``, a path without scheme and host.
"""

from __future__ import annotations

import re

from appliance.twimlets.document import Answer, Document, redirect_to
from appliance.twimlets.php import Params, loose_equal, sort_strings, truthy, urlencode

__all__ = ["FINDME_MAX_NUMBERS", "callme", "findme", "forward", "simulring"]

DEFAULT_TIMEOUT = "20"  # seconds a forwarded call rings (Forward, Simulring, Call Me)
FINDME_TIMEOUT = "60"  # seconds each of Find Me's numbers rings
FINDME_MAX_NUMBERS = 10  # Find Me dials at most this many numbers, the first ten given
RESTRICTED = "Sorry, you are calling from a restricted number. Good bye."

_s = Params.string


def _timeout(p: Params, default: str) -> str:
    """``$_REQUEST['Timeout'] ? $_REQUEST['Timeout'] : default``."""
    value = _s(p.request("Timeout"))
    return value if truthy(value) else default


def _numbers(p: Params) -> list[str]:
    """``PhoneNumbers`` as a list (one bare value is a list of one), without empty entries."""
    return [n for n in Params.strings(p.request("PhoneNumbers")) if truthy(n)]


def _after_dial(p: Params) -> Answer | None:
    """The ``action`` of the ``<Dial>`` (``Dial=true`` and a dial status): hang up when
    answered or without ``FailUrl``, else a 302 to ``FailUrl``.  None on the first request."""
    dial_status = _s(p.request("DialStatus"))
    call_status = _s(p.request("DialCallStatus"))
    if p.request("Dial") is None or not (dial_status or call_status):
        return None
    fail = _s(p.request("FailUrl"))
    if call_status == "completed" or dial_status == "answered" or not fail:
        doc = Document()
        doc.add("Hangup")
        return doc.answer()
    return redirect_to(fail)


def _digits_only(number: str) -> str:
    return re.sub(r"[^0-9]", "", number)


def _allowed(p: Params) -> bool:
    """Forward's ``AllowedCallers``: every caller when the list is absent or all empty;
    else the caller's ``From`` or the called ``To`` must equal an entry reduced to its
    digits.  As in the classic, ``From``/``To`` are compared as PHP compares two strings,
    numerically when both are numbers: ``+14155551212`` matches ``1-415-555-1212`` but not
    ``415-555-1212`` (with ``ApiVersion=2008-08-01`` a leading 1 was dropped from 11 digits)."""
    listed = p.get("AllowedCallers")
    if not isinstance(listed, dict) or not any(truthy(v) for v in listed.values()):
        return True
    old_api = _s(p.request("ApiVersion")) == "2008-08-01"
    entries = []
    for entry in listed.values():
        digits = _digits_only(entry)
        if old_api and len(digits) == 11 and digits.startswith("1"):
            digits = digits[1:]
        entries.append(digits)
    # The classic's own clean-up of From/To, preg_replace('[^0-9]', ...), only ever removed
    # a leading literal "0-9" (its brackets were read as the pattern's delimiters).
    callers = [
        re.sub(r"^0-9", "", p.first_of(a, b)) for a, b in (("From", "Caller"), ("To", "Called"))
    ]
    return any(loose_equal(c, e) for c in callers for e in entries)


def forward(p: Params, path: str) -> Answer:
    """Forward: ``PhoneNumber``, ``CallerId``, ``FailUrl``, ``Timeout`` (20),
    ``AllowedCallers[]``."""
    after = _after_dial(p)
    if after is not None:
        return after
    doc = Document()
    if not _allowed(p):
        doc.add("Say", RESTRICTED)
        return doc.answer()
    fail = _s(p.request("FailUrl"))
    action = f"{path}?Dial=true" + (f"&FailUrl={urlencode(fail)}" if truthy(fail) else "")
    attrs = {"action": action, "timeout": _timeout(p, DEFAULT_TIMEOUT)}
    if p.get("CallerId") is not None:
        attrs["callerId"] = _s(p.get("CallerId"))
    doc.add("Dial", _s(p.get("PhoneNumber")), **attrs)
    return doc.answer()


def simulring(p: Params, path: str) -> Answer:
    """Simulring: ``PhoneNumbers[]`` (dialled in sorted order), ``FailUrl``, ``Timeout`` (20),
    ``Message`` (for Whisper)."""
    after = _after_dial(p)
    if after is not None:
        return after
    doc = Document()
    dial = doc.add(
        "Dial",
        action=f"{path}?Dial=true&FailUrl={urlencode(_s(p.request('FailUrl')))}",
        timeout=_timeout(p, DEFAULT_TIMEOUT),
    )
    whisper = f"whisper?Message={urlencode(_s(p.request('Message')))}"
    for number in sort_strings(_numbers(p)):
        doc.add("Number", number, dial, url=whisper)
    return doc.answer()


def findme(p: Params, path: str) -> Answer:
    """Find Me: ``PhoneNumbers[]`` (the first 10, one after the other), ``FailUrl``,
    ``Timeout`` (60 each), ``Message`` (for Whisper, which hangs up without a key press)."""
    numbers = _numbers(p)[:FINDME_MAX_NUMBERS]
    doc = Document()
    if p.request("Dial") is not None and (
        _s(p.request("DialStatus")) == "answered" or _s(p.request("DialCallStatus")) == "completed"
    ):
        doc.add("Hangup")
        return doc.answer()
    if not numbers:
        fail = _s(p.request("FailUrl"))
        if fail:
            return redirect_to(fail)
        doc.add("Hangup")
        return doc.answer()
    first, rest = numbers[0], numbers[1:]
    message = _s(p.request("Message"))
    query = (
        f"FailUrl={urlencode(_s(p.request('FailUrl')))}"
        f"&Timeout={urlencode(_s(p.request('Timeout')))}"
        f"&Message={urlencode(message)}"
    )
    query += "".join(f"&PhoneNumbers%5B%5D={urlencode(n)}" for n in rest)
    dial = doc.add("Dial", action=f"{path}?Dial=true&{query}", timeout=_timeout(p, FINDME_TIMEOUT))
    doc.add("Number", first, dial, url=f"whisper?Message={urlencode(message)}&HumanCheck=1")
    return doc.answer()


def callme(p: Params, path: str) -> Answer:
    """Call Me: ``PhoneNumber``, ``FailUrl``, ``Timeout`` (20), ``Message`` (for Whisper)."""
    after = _after_dial(p)
    if after is not None:
        return after
    doc = Document()
    fail = p.request("FailUrl")
    action = f"{path}?Dial=true" + ("" if fail is None else f"&FailUrl={urlencode(_s(fail))}")
    dial = doc.add("Dial", action=action, timeout=_timeout(p, DEFAULT_TIMEOUT))
    whisper = f"whisper?Message={urlencode(_s(p.get('Message')))}"
    doc.add("Number", _s(p.get("PhoneNumber")), dial, url=whisper)
    return doc.answer()
